"""Minimum-Bayes-risk choice of a report among candidates from the model.

Beam search follows the mode of the report distribution. On IU X-Ray-like text the normal
impression is one phrasing while abnormal ones are spread over many, so the mode can be the
normal report even when most of the probability says abnormal (docs/mrna_reports.md). MBR
instead picks, among the searched report and some samples, the candidate that agrees most
with all the others (Kumar & Byrne 2004): agreement is the F1 between the two reports'
positive CheXpert labels (tfreport's labeler) plus their word-overlap F1, so the choice
follows the findings most samples state and stays fluent.
"""
from __future__ import annotations

import collections
from typing import List, Sequence

from tfreport import labeler
from tfreport.metrics.nlg import normalise
from tfreport.text import join_report


def _f1(a, b) -> float:
    """F1 between two multisets (Counters); 1.0 when both are empty."""
    if not a and not b:
        return 1.0
    overlap = sum((a & b).values())
    return 2.0 * overlap / (sum(a.values()) + sum(b.values()))


def agreement(first: Sequence[str], second: Sequence[str]) -> float:
    """Label F1 (positive observations, No Finding included) + word F1, in [0, 2]."""
    return (_f1(*(collections.Counter(_positives(r)) for r in (first, second)))
            + _f1(*(collections.Counter(normalise(join_report(r)).split())
                    for r in (first, second))))


def _positives(report: Sequence[str]) -> List[str]:
    return [o for o, v in labeler.label_report(join_report(report)).items() if v == 1]


def choose(candidates: List[List[str]]) -> List[str]:
    """The candidate with the highest total agreement with the others (ties: the first)."""
    if len(candidates) == 1:
        return candidates[0]
    labels = [collections.Counter(_positives(c)) for c in candidates]
    words = [collections.Counter(normalise(join_report(c)).split()) for c in candidates]
    def total(i: int) -> float:
        return sum(_f1(labels[i], labels[j]) + _f1(words[i], words[j])
                   for j in range(len(candidates)) if j != i)
    best = max(range(len(candidates)), key=lambda i: (total(i), -i))
    return candidates[best]
