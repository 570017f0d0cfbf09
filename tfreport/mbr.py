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


def _features(report: Sequence[str]):
    """(positive labeler observations, words) of a report, as multisets."""
    text = join_report(report)
    positives = [o for o, v in labeler.label_report(text).items() if v == 1]
    return collections.Counter(positives), collections.Counter(normalise(text).split())


def _agree(first, second) -> float:
    return _f1(first[0], second[0]) + _f1(first[1], second[1])


def agreement(first: Sequence[str], second: Sequence[str]) -> float:
    """Label F1 (positive observations, No Finding included) + word F1, in [0, 2]."""
    return _agree(_features(first), _features(second))


def says_a_sentence_twice(report: Sequence[str]) -> bool:
    """Whether the report says one sentence twice (after normalisation)."""
    said = [normalise(s) for s in report if normalise(s)]
    return len(said) != len(set(said))


def choose(candidates: List[List[str]], avoid_repeats: bool = False) -> List[str]:
    """The candidate with the highest total agreement with the others (ties: the first).

    With ``avoid_repeats``, a candidate that says a sentence twice is chosen only when every
    candidate does: it still counts as evidence for the others, since the findings it states
    are the model's, but a report that repeats itself is a defect whatever it agrees with."""
    if len(candidates) == 1:
        return candidates[0]
    features = [_features(c) for c in candidates]

    def total(i: int) -> float:
        return sum(_agree(features[i], features[j]) for j in range(len(candidates)) if j != i)
    eligible = list(range(len(candidates)))
    if avoid_repeats:
        eligible = [i for i in eligible if not says_a_sentence_twice(candidates[i])] or eligible
    best = max(eligible, key=lambda i: (total(i), -i))
    return candidates[best]
