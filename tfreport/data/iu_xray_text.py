"""IU X-Ray report text without images: the legacy and R2Gen splits as sentence lists.

The image-free floors (``experiments.text_benchmark``) score reports written without any
image against these splits' test reports. Both readers give legacy-normalised sentences
and each test study's MeSH verdict (normal or abnormal; "No Indexing" studies have none).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, Iterable, List

from tfreport.data.iu_xray import _load_json, normal_flag, read_mesh, study_id, uid_of
from tfreport.data.study import NORMAL, UNKNOWN
from tfreport.text import normalise_report


@dataclass
class TextSplit:
    name: str
    description: str
    train: Dict[str, List[str]]  # id -> legacy-normalised sentences
    test: Dict[str, List[str]]
    normal: Dict[str, bool]  # test ids with a MeSH verdict


def _normal(ids: Iterable[str], reports_csv: str) -> Dict[str, bool]:
    mesh = read_mesh(reports_csv)
    out = {}
    for i in ids:
        flag = normal_flag(mesh.get(study_id(uid_of(i)), ""))
        if flag != UNKNOWN:
            out[i] = flag == NORMAL
    return out


def legacy_text_split(legacy_dir: str, reports_csv: str) -> TextSplit:
    """The legacy data_entry.json sentences with its train/test lists."""
    entry = _load_json(os.path.join(legacy_dir, "data_entry.json"))
    train = {i: entry[i] for i in _load_json(os.path.join(legacy_dir, "train_split.json"))
             if entry.get(i)}
    test = {i: entry[i] for i in _load_json(os.path.join(legacy_dir, "test_split.json"))
            if entry.get(i)}
    return TextSplit("legacy", f"legacy {len(train):,}/{len(test)} (impression + findings)",
                     train, test, _normal(test, reports_csv))


def r2gen_text_split(annotation: str, reports_csv: str) -> TextSplit:
    """R2Gen's annotation.json (findings), legacy-normalised; its train and test parts."""
    ann = _load_json(annotation)
    parts = {k: {e["id"]: normalise_report(e["report"]) for e in v} for k, v in ann.items()}
    train = {k: v for k, v in parts["train"].items() if v}
    test = {k: v for k, v in parts["test"].items() if v}
    return TextSplit("r2gen", f"R2Gen {len(parts['train']):,}/{len(parts.get('val', {}))}/"
                     f"{len(parts['test'])} (findings)", train, test,
                     _normal(test, reports_csv))
