"""Image-free baselines: reports written without looking at any image.

They are the floors every benchmark row should be read against: on IU X-Ray, always writing
the most frequent training report already scores a CIDEr near the legacy CNN-RNN's.
"""
from __future__ import annotations

import collections
import json
import os
import random
from typing import Dict, List

from tfreport.text import join_report


def _split_reports(data_dir: str, split: str) -> Dict[str, List[str]]:
    with open(os.path.join(data_dir, "data_entry.json"), encoding="utf-8") as f:
        entry = json.load(f)
    with open(os.path.join(data_dir, f"{split}_split.json"), encoding="utf-8") as f:
        ids = json.load(f)
    return {i: entry[i] for i in ids}


def most_frequent_report(data_dir: str, split: str = "train") -> str:
    """The most frequent (normalised) report of a split; ties go to the first in sort order."""
    counts = collections.Counter(join_report(s) for s in _split_reports(data_dir, split).values())
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]


def most_frequent_predictions(data_dir: str, split: str = "test",
                              source: str = "train") -> Dict[str, str]:
    """{study id: the most frequent ``source`` report} for every study of ``split``."""
    text = most_frequent_report(data_dir, source)
    return {sid: text for sid in _split_reports(data_dir, split)}


def random_predictions(data_dir: str, split: str = "test", source: str = "train",
                       seed: int = 0) -> Dict[str, str]:
    """{study id: a training report drawn at random (seeded)} for every study of ``split``."""
    pool = sorted(join_report(s) for s in _split_reports(data_dir, source).values())
    rng = random.Random(seed)
    return {sid: rng.choice(pool) for sid in sorted(_split_reports(data_dir, split))}
