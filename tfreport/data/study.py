"""The in-memory form of one study between a raw layout and the record writer."""
from __future__ import annotations

import collections
import logging
from dataclasses import dataclass, field
from typing import Dict, List, Optional

log = logging.getLogger("tfreport.data")

NORMAL, ABNORMAL, UNKNOWN = 1, 0, -1  # the record's `normal` field


@dataclass
class Study:
    """One study: two views, its report and its labels."""
    id: str
    patient: str
    frontal: Optional[str]  # image path
    lateral: Optional[str]
    text: str  # the selected report sections, as written
    sentences: List[str]  # legacy-normalised sentences, uncapped
    normal: int = UNKNOWN  # NORMAL, ABNORMAL or UNKNOWN (excluded from the breakdown)
    labels: Dict[str, float] = field(default_factory=dict)  # CheXpert observation -> 1/0/-1
    split: Optional[str] = None  # the layout's own split, where it has one (R2Gen)


MISSING_VIEW = ("drop", "duplicate", "mask")
DROPPED = object()  # resolve_views' answer when the study is dropped


def check_missing_view(policy: str) -> str:
    if policy not in MISSING_VIEW:
        raise ValueError(f"--missing_view {policy!r}; valid: {', '.join(MISSING_VIEW)}")
    return policy


def resolve_views(drops: "DropCounter", policy: str, where: str, frontal: Optional[str],
                  lateral: Optional[str], no_frontal: str = "no frontal view"):
    """(frontal, lateral) after the ``--missing_view`` policy, or DROPPED (counted, named)."""
    if frontal is None:
        drops.drop("missing_view", f"{where}: {no_frontal}")
        return DROPPED
    if lateral is None:
        if policy == "drop":
            drops.drop("missing_view", f"{where}: no lateral view")
            return DROPPED
        drops.counts["kept_" + policy + "_lateral"] += 1
        lateral = frontal if policy == "duplicate" else None
    return frontal, lateral


class DropCounter:
    """Counts skipped studies by reason and logs each one with its file and problem."""

    def __init__(self):
        self.counts: Dict[str, int] = collections.Counter()
        self.examples: Dict[str, List[str]] = collections.defaultdict(list)
        self.source: Dict[str, int] = {}  # what the raw layout held, before any drop

    LOGGED_PER_REASON = 10

    def drop(self, reason: str, message: str) -> None:
        self.counts[reason] += 1
        if len(self.examples[reason]) < 20:
            self.examples[reason].append(message)
        if self.counts[reason] <= self.LOGGED_PER_REASON:
            log.warning("skipped: %s", message)
        if self.counts[reason] == self.LOGGED_PER_REASON:
            log.warning("more studies skipped for %r are counted in summary.json, not logged",
                        reason)

    def as_dict(self) -> Dict[str, int]:
        return dict(sorted(self.counts.items()))
