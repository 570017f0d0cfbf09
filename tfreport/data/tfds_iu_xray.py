"""IU X-Ray as a tensorflow-datasets builder with a ``manual_dir``.

Importing this module registers ``iu_xray``, so that::

    import tfreport.data.tfds_iu_xray  # noqa: F401
    ds = tfds.load("iu_xray", split="train", data_dir=D,
                   download_and_prepare_kwargs={"download_config":
                       tfds.download.DownloadConfig(manual_dir=RAW)})

works on any of the four raw layouts tfreport reads (RAW is what ``--raw_dir`` would be).
The examples are ``prepare_data.py --dataset iu_xray --raw_dir RAW``'s records, and the
version folder ``D/iu_xray/2.0.0`` is a prepared dataset: ``train.py --data_dir`` trains on
it (see :mod:`tfreport.data.tfds_records`).
"""
from __future__ import annotations

import os
from typing import Dict, List, Tuple

import tensorflow_datasets as tfds

from tfreport.data import iu_xray
from tfreport.data.prepare import (DEFAULT_SPLIT_RATIOS, RAW_LABELS, attach_raw_labels,
                                   legacy_split, r2gen_split)
from tfreport.data.splits import parse_ratios, random_split
from tfreport.data.study import DropCounter, Study
from tfreport import fileio
from tfreport.data.tfds_records import RecordBuilder, RecordConfig


class IuXray(RecordBuilder):
    """Frontal + lateral chest X-rays with their legacy-normalised reports, as tfreport
    records (token ids, normal flag, CheXpert labels from the raw ``labels.csv``)."""

    VERSION = tfds.core.Version("2.0.0")
    RELEASE_NOTES = {
        "1.0.0": "First release: the tfreport record contents.",
        "2.0.0": "The examples are prepare_data.py's records (schema_version 1): images as "
                 "JPEG bytes (lateral empty when missing), token_ids and sentence_lengths from "
                 "a train-split vocabulary, lateral_present and normal as int64, 14 CheXpert "
                 "labels (from the raw labels.csv, else blank). The version folder also holds "
                 "summary.json, vocabulary.json, studies.json, ...: train.py --data_dir reads it.",
    }
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Put one IU X-Ray raw layout in manual_dir: the Kaggle CSVs with images/, the NLM "
        "ecgen-radiology/ XML with NLMCXR_png/, R2Gen's annotation.json with images/, or the "
        "legacy data_entry.json with split files and images. The split is the layout's own "
        "(R2Gen, legacy) or a seeded random split by patient.")
    DATASET = "iu_xray"
    HOMEPAGE = "https://openi.nlm.nih.gov/"
    LICENSE = "CC BY-NC-ND 4.0 (Open-i); check with Open-i before redistributing"

    def _read(self, raw_dir: str, config: RecordConfig, sections: str, missing_view: str
              ) -> Tuple[str, Dict[str, List[Study]], DropCounter, dict]:
        """As ``prepare.prepare("iu_xray", ...)`` with the layout's default split."""
        drops = DropCounter()
        layout, studies = iu_xray.read_layout(raw_dir, drops, sections=sections,
                                              missing_view=missing_view)
        attach_raw_labels(studies, os.path.join(raw_dir, RAW_LABELS))
        split = {"r2gen": "r2gen", "legacy": "legacy"}.get(layout, "random")
        ratios = config.split_ratios or DEFAULT_SPLIT_RATIOS
        if split == "r2gen":
            splits = r2gen_split(studies, None, drops)
        elif split == "legacy":
            splits = legacy_split(studies, raw_dir, config.seed, drops)
        else:
            splits = random_split(studies, parse_ratios(ratios), config.seed)
        settings = {"raw_dir": fileio.abspath(raw_dir), "split": split,
                    "split_ratios": ratios if split == "random" else None, "seed": config.seed,
                    "sections": sections, "missing_view": missing_view}
        return layout, splits, drops, settings
