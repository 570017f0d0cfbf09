"""The one reader of a prepared dataset (what ``prepare_data.py`` writes).

A prepared dataset is a folder of TFRecord shards plus JSON beside them: ``summary.json``,
``vocabulary.json``, ``data_entry.json`` ({id: sentences}), ``{split}_split.json`` and
``studies.json`` ({id: split, normal flag, CheXpert labels}). Everything but the pixels is
read from the JSON, so nothing decodes images to learn which studies are normal.
"""
from __future__ import annotations

import functools
import json
import logging
import math
import os
from typing import Dict, List, Optional

from tfreport import fileio
from tfreport.data import build
from tfreport.data.study import ABNORMAL, NORMAL, UNKNOWN, Study
from tfreport.labels import CHEXPERT_OBSERVATIONS

log = logging.getLogger("tfreport.data")

STUDIES = "studies.json"
SPLITS = ("train", "val", "test")


def studies_record(kept: Dict[str, List[Study]]) -> Dict[str, dict]:
    """What ``studies.json`` holds for the studies a build kept: split, normal (1, 0, -1)
    and the labels the layout gave (observation -> 1, 0 or -1; absent when unknown)."""
    return {s.id: {"split": split, "normal": int(s.normal),
                   "labels": {o: float(v) for o, v in s.labels.items()
                              if v is not None and not (isinstance(v, float) and math.isnan(v))}}
            for split, studies in kept.items() for s in studies}


class PreparedDataset:
    """Summary, vocabulary, references, normal flags, labels, splits and files of one build."""

    def __init__(self, data_dir: str):
        self.path = data_dir
        self.summary = build.read_summary(data_dir)  # clear errors for a missing/old build

    @property
    def name(self) -> str:
        return self.summary["dataset"]

    def _json(self, name: str):
        path = os.path.join(self.path, name)
        if not fileio.exists(path):
            raise FileNotFoundError(f"{path}: not found; the prepared dataset is incomplete "
                                    "(rebuild it with prepare_data.py)")
        with fileio.open(path, encoding="utf-8") as f:
            return json.load(f)

    @functools.cached_property
    def vocabulary(self):
        from tfreport.vocab import Vocabulary
        return Vocabulary.load(os.path.join(self.path, "vocabulary.json"))

    @functools.cached_property
    def entry(self) -> Dict[str, List[str]]:
        """{study id: its legacy-normalised sentences} (``data_entry.json``)."""
        return self._json("data_entry.json")

    def ids(self, split: str) -> List[str]:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
        return self._json(f"{split}_split.json")

    def files(self, split: str) -> List[str]:
        return build.split_files(self.path, split)

    def references(self, split: str, legacy_scoring: bool = False) -> Dict[str, str]:
        """Reference text per study: the sentences joined, untruncated, or with
        ``legacy_scoring`` cut as the legacy project scored (8 sentences of 49 words)."""
        from tfreport.text import join_report, legacy_reference
        join = legacy_reference if legacy_scoring else join_report
        entry = self.entry
        return {i: join(entry[i]) for i in self.ids(split)}

    @functools.cached_property
    def studies(self) -> Dict[str, dict]:
        """``studies.json``; a build from before it existed is read from its records once."""
        if fileio.exists(os.path.join(self.path, STUDIES)):
            return self._json(STUDIES)
        log.warning("%s has no %s (built by an older tfreport): reading normal flags and "
                    "labels from the records; rebuild to skip this", self.path, STUDIES)
        return _from_records(self.path)

    def normal(self, split: str) -> Dict[str, bool]:
        """{id: True (normal) | False (abnormal)}; studies of unknown status left out."""
        studies = self.studies
        return {i: studies[i]["normal"] == NORMAL for i in self.ids(split)
                if studies.get(i, {}).get("normal", UNKNOWN) in (NORMAL, ABNORMAL)}

    def labels(self, split: Optional[str] = None) -> Dict[str, Dict[str, float]]:
        """{id: {observation: 1 | 0 | -1}} as the layout gave them (empty where it gave none),
        for one split or all."""
        studies = self.studies
        ids = self.ids(split) if split else list(studies)
        return {i: dict(studies[i]["labels"]) for i in ids if i in studies}

    def has_labels(self) -> bool:
        return any(s["labels"] for s in self.studies.values())


def _from_records(data_dir: str) -> Dict[str, dict]:
    from tfreport.data import pipeline
    out: Dict[str, dict] = {}
    shards = build.read_summary(data_dir)["shards"]
    for split in SPLITS:
        if split not in shards:
            continue
        ds = pipeline.dataset(data_dir, split, batch_size=256, image_size=8, max_sentences=1,
                              max_words=2)
        for batch in ds:
            for sid, normal, labels in zip(batch["id"].numpy(), batch["normal"].numpy(),
                                           batch["labels"].numpy()):
                out[sid.decode()] = {
                    "split": split, "normal": int(normal),
                    "labels": {o: float(v) for o, v in zip(CHEXPERT_OBSERVATIONS, labels)
                               if not math.isnan(v)}}
    return out


def demo_dataset(quiet: bool = False, num_studies: Optional[int] = None) -> str:
    """The demo's prepared folder, built first when missing: the one place that does it."""
    from tfreport.data import demo
    from tfreport.data.prepare import DEMO_DATA_DIR, demo_needs_generating, prepare
    if fileio.exists(os.path.join(DEMO_DATA_DIR, "summary.json")):
        if not (num_studies and demo_needs_generating(demo.DEFAULT_RAW_DIR, num_studies)):
            print(f"No --data_dir given: using the demo dataset in {DEMO_DATA_DIR}")
            return DEMO_DATA_DIR
        print(f"--num_studies {num_studies}: the demo in {DEMO_DATA_DIR} has another size; "
              "rebuilding it")
    print(f"No --data_dir given: building the demo dataset in {DEMO_DATA_DIR} ...")
    kwargs = {"num_studies": num_studies} if num_studies else {}
    prepare("demo", DEMO_DATA_DIR, quiet=quiet, **kwargs)
    return DEMO_DATA_DIR
