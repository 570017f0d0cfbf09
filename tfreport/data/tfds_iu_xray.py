"""IU X-Ray as a tensorflow-datasets builder with a ``manual_dir``.

Importing this module registers ``iu_xray``, so that::

    import tfreport.data.tfds_iu_xray  # noqa: F401
    ds = tfds.load("iu_xray", split="train", data_dir=D,
                   download_and_prepare_kwargs={"download_config":
                       tfds.download.DownloadConfig(manual_dir=RAW)})

works on any of the four raw layouts tfreport reads (RAW is what ``--raw_dir`` would be).
The builder reuses tfreport's readers, text normalisation and splits.
"""
from __future__ import annotations

import io
import logging

import numpy as np
import tensorflow_datasets as tfds

from tfreport.data import iu_xray, records
from tfreport.data.prepare import DEFAULT_SPLIT_RATIOS, legacy_split, r2gen_split
from tfreport.data.splits import parse_ratios, random_split
from tfreport.data.study import DropCounter

log = logging.getLogger("tfreport.data")


def study_features() -> dict:
    """The features every tfreport TFDS builder shares (one study, both views)."""
    image = tfds.features.Image(shape=(None, None, 1), encoding_format="jpeg")
    return {
        "id": tfds.features.Text(),
        "frontal": image,
        "lateral": image,
        "lateral_present": tfds.features.Scalar(dtype=np.bool_),
        "text": tfds.features.Text(),
        "sentences": tfds.features.Sequence(tfds.features.Text()),
        "normal": tfds.features.Scalar(dtype=np.int32),
    }


class IuXray(tfds.core.GeneratorBasedBuilder):
    """Frontal + lateral chest X-rays with their legacy-normalised reports."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release: the tfreport record contents."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Put one IU X-Ray raw layout in manual_dir: the Kaggle CSVs with images/, the NLM "
        "ecgen-radiology/ XML with NLMCXR_png/, R2Gen's annotation.json with images/, or the "
        "legacy data_entry.json with split files and images. The split is the layout's own "
        "(R2Gen, legacy) or a seeded random split by patient.")

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(study_features()),
            homepage="https://openi.nlm.nih.gov/",
            license="CC BY-NC-ND 4.0 (Open-i); check with Open-i before redistributing",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        raw = str(dl_manager.manual_dir)
        drops = DropCounter()
        layout, studies = iu_xray.read_layout(raw, drops)
        if layout == "r2gen":
            splits = r2gen_split(studies, None, drops)
        elif layout == "legacy":
            splits = legacy_split(studies, raw, 0, drops)
        else:
            splits = random_split(studies, parse_ratios(DEFAULT_SPLIT_RATIOS), seed=0)
        return {name: self._generate_examples(items) for name, items in splits.items() if items}

    def _generate_examples(self, studies):
        for study in studies:
            try:
                frontal = records.encode_image(study.frontal)
                lateral = records.encode_image(study.lateral) if study.lateral else None
            except (FileNotFoundError, ValueError) as e:  # one bad study never stops the build
                log.warning("skipped: study %s: %s", study.id, e)
                continue
            blank = frontal if lateral is None else lateral
            yield study.id, {
                "id": study.id,
                "frontal": io.BytesIO(frontal),
                "lateral": io.BytesIO(blank),
                "lateral_present": lateral is not None,
                "text": study.text,
                "sentences": study.sentences,
                "normal": study.normal,
            }
