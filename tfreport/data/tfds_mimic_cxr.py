"""MIMIC-CXR-JPG as a tensorflow-datasets builder with a ``manual_dir``.

Importing this module registers ``mimic_cxr_reports``, so that::

    import tfreport.data.tfds_mimic_cxr  # noqa: F401
    ds = tfds.load("mimic_cxr_reports", split="train", data_dir=D,
                   download_and_prepare_kwargs={"download_config":
                       tfds.download.DownloadConfig(manual_dir=JPG_ROOT)})

MIMIC-CXR is credentialed: users hold their own copy. manual_dir is the MIMIC-CXR-JPG top
level, with the MIMIC-CXR report files merged into its files/ (or an R2Gen annotation.json
with images/). The split is the official one; each example carries its 14 CheXpert labels.

The ``beam`` config generates the same examples with Apache Beam (``pip install -r
requirements-beam.txt``), so the build runs on a distributed runner (Dataflow, Spark, Flink):
reading the tables and reports stays on the launcher, encoding the images is spread over the
workers. See README "MIMIC-CXR-JPG at scale".
"""
from __future__ import annotations

import io
import logging

import numpy as np
import tensorflow_datasets as tfds

from tfreport.data import mimic_cxr, records
from tfreport.data.study import DropCounter
from tfreport.data.tfds_iu_xray import study_features
from tfreport.labels import CHEXPERT_OBSERVATIONS

log = logging.getLogger("tfreport.data")


class MimicCxrReports(tfds.core.GeneratorBasedBuilder):
    """Frontal (+ lateral) chest X-rays with findings (else impression) and CheXpert labels."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release: the tfreport record contents."}
    BUILDER_CONFIGS = [
        tfds.core.BuilderConfig(name="default", description="generated in this process"),
        tfds.core.BuilderConfig(name="beam", description="generated with Apache Beam"),
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "MIMIC-CXR-JPG and MIMIC-CXR need PhysioNet credentials. Put the MIMIC-CXR-JPG top "
        "level (files/ and the mimic-cxr-2.0.0-*.csv(.gz) tables) in manual_dir, with the "
        "MIMIC-CXR report files (files/pXX/p<subject>/s<study>.txt) unpacked into its files/.")

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                **study_features(),
                # 1 positive, 0 negative, -1 uncertain, NaN blank, in CHEXPERT_OBSERVATIONS order
                "labels": tfds.features.Tensor(shape=(len(CHEXPERT_OBSERVATIONS),),
                                               dtype=np.float32),
            }),
            homepage="https://physionet.org/content/mimic-cxr-jpg/",
            license="PhysioNet Credentialed Health Data License 1.5.0",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        drops = DropCounter()
        _, studies = mimic_cxr.read_layout(str(dl_manager.manual_dir), drops)
        splits = mimic_cxr.official_splits(studies)
        generate = self._generate_beam if self.builder_config.name == "beam" else \
            self._generate_examples
        return {name: generate(items) for name, items in splits.items() if items}

    def _generate_beam(self, studies):
        beam = tfds.core.lazy_imports.apache_beam
        return beam.Create(studies) | beam.FlatMap(example)

    def _generate_examples(self, studies):
        for study in studies:
            yield from example(study)


def example(study):
    """(key, features) of one study, or nothing when an image cannot be read."""
    try:
        frontal = records.encode_image(study.frontal)
        lateral = records.encode_image(study.lateral) if study.lateral else None
    except (FileNotFoundError, ValueError) as e:  # one bad study never stops the build
        log.warning("skipped: study %s: %s", study.id, e)
        return
    yield study.id, {
        "id": study.id,
        "frontal": io.BytesIO(frontal),
        "lateral": io.BytesIO(frontal if lateral is None else lateral),
        "lateral_present": lateral is not None,
        "text": study.text,
        "sentences": study.sentences,
        "normal": study.normal,
        "labels": np.array([study.labels.get(o, np.nan) for o in CHEXPERT_OBSERVATIONS],
                           np.float32),
    }
