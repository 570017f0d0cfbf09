"""MIMIC-CXR-JPG as a tensorflow-datasets builder with a ``manual_dir``.

Importing this module registers ``mimic_cxr_reports``, so that::

    import tfreport.data.tfds_mimic_cxr  # noqa: F401
    ds = tfds.load("mimic_cxr_reports", split="train", data_dir=D,
                   download_and_prepare_kwargs={"download_config":
                       tfds.download.DownloadConfig(manual_dir=JPG_ROOT)})

MIMIC-CXR is credentialed: users hold their own copy. manual_dir is the MIMIC-CXR-JPG top
level, with the MIMIC-CXR report files merged into its files/ (or an R2Gen annotation.json
with images/). The split is the official one. The examples are ``prepare_data.py --dataset
mimic_cxr --raw_dir JPG_ROOT``'s records (14 CheXpert labels each), and the version folder
``D/mimic_cxr_reports/default/2.0.0`` is a prepared dataset: ``train.py --data_dir`` trains
on it (see :mod:`tfreport.data.tfds_records`).

The ``beam`` config generates the same examples with Apache Beam (``pip install -r
requirements-beam.txt``), so the build runs on a distributed runner (Dataflow, Spark, Flink):
reading the tables and reports and building the vocabulary stay on the launcher, encoding the
images is spread over the workers. See README "MIMIC-CXR-JPG at scale".
"""
from __future__ import annotations

from typing import Dict, List, Tuple

import tensorflow_datasets as tfds

from tfreport.data import mimic_cxr
from tfreport.data.study import DropCounter, Study
from tfreport import fileio
from tfreport.data.tfds_records import RecordBuilder, RecordConfig


class MimicCxrReports(RecordBuilder):
    """Frontal (+ lateral) chest X-rays with findings (else impression) and CheXpert labels,
    as tfreport records."""

    VERSION = tfds.core.Version("2.0.0")
    RELEASE_NOTES = {
        "1.0.0": "First release: the tfreport record contents.",
        "2.0.0": "The examples are prepare_data.py's records (schema_version 1): images as "
                 "JPEG bytes (lateral empty when missing), token_ids and sentence_lengths from "
                 "a train-split vocabulary (min count 10), lateral_present and normal as "
                 "int64. The version folder also holds summary.json, vocabulary.json, "
                 "studies.json, ...: train.py --data_dir reads it.",
    }
    BUILDER_CONFIGS = [
        RecordConfig(name="default", description="generated in this process"),
        RecordConfig(name="beam", description="generated with Apache Beam", beam=True),
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "MIMIC-CXR-JPG and MIMIC-CXR need PhysioNet credentials. Put the MIMIC-CXR-JPG top "
        "level (files/ and the mimic-cxr-2.0.0-*.csv(.gz) tables) in manual_dir, with the "
        "MIMIC-CXR report files (files/pXX/p<subject>/s<study>.txt) unpacked into its files/.")
    DATASET = "mimic_cxr"
    HOMEPAGE = "https://physionet.org/content/mimic-cxr-jpg/"
    LICENSE = "PhysioNet Credentialed Health Data License 1.5.0"

    def _read(self, raw_dir: str, config: RecordConfig, sections: str, missing_view: str
              ) -> Tuple[str, Dict[str, List[Study]], DropCounter, dict]:
        """As ``prepare.prepare_mimic``: the official split by patient."""
        drops = DropCounter()
        layout, studies = mimic_cxr.read_layout(raw_dir, drops, sections=sections,
                                                missing_view=missing_view)
        settings = {"raw_dir": fileio.abspath(raw_dir), "split": "official",
                    "reports_dir": None, "sections": sections, "missing_view": missing_view}
        return layout, mimic_cxr.official_splits(studies), drops, settings
