"""Image-free baselines: reports written without looking at any image.

They are the floors every benchmark row should be read against: on IU X-Ray, always writing
the most frequent training report already scores a CIDEr near the legacy CNN-RNN's.
"""
from __future__ import annotations

import collections
import random
from typing import Dict, Iterable, List

from tfreport.text import join_report


def _split_reports(data_dir: str, split: str) -> Dict[str, List[str]]:
    from tfreport.data.prepared import PreparedDataset
    data = PreparedDataset(data_dir)
    entry = data.entry
    return {i: entry[i] for i in data.ids(split)}


def most_frequent_text(reports: Iterable[List[str]]) -> str:
    """The most frequent report (joined sentences); ties go to the first in sort order."""
    counts = collections.Counter(join_report(s) for s in reports)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]


def random_texts(reports: Iterable[List[str]], ids: Iterable[str], seed: int) -> Dict[str, str]:
    """{id: a report drawn from ``reports``}, seeded, ids in sort order."""
    pool = sorted(join_report(s) for s in reports)
    rng = random.Random(seed)
    return {i: rng.choice(pool) for i in sorted(ids)}


def most_frequent_report(data_dir: str, split: str = "train") -> str:
    """The most frequent (normalised) report of a prepared dataset's split."""
    return most_frequent_text(_split_reports(data_dir, split).values())


def most_frequent_predictions(data_dir: str, split: str = "test",
                              source: str = "train") -> Dict[str, str]:
    """{study id: the most frequent ``source`` report} for every study of ``split``."""
    text = most_frequent_report(data_dir, source)
    return {sid: text for sid in _split_reports(data_dir, split)}
