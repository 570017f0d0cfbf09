"""The in-memory form of one study between a raw layout and the record writer."""
from __future__ import annotations

import collections
import csv
import logging
from dataclasses import dataclass, field
from typing import Dict, List, Optional

log = logging.getLogger("tfreport.data")

NORMAL, ABNORMAL, UNKNOWN = 1, 0, -1  # the record's `normal` field


class LayoutError(ValueError):
    """A raw layout (or one of its tables) that cannot be read at all, as opposed to one
    bad study; shared by every dataset reader."""


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
                  lateral: Optional[str], no_frontal: str = "no frontal view",
                  study: str = "", file: str = "", no_frontal_reason: str = "missing_view"):
    """(frontal, lateral) after the ``--missing_view`` policy, or DROPPED (counted, named)."""
    if frontal is None:
        drops.drop(no_frontal_reason, f"{where}: {no_frontal}", study, file)
        return DROPPED
    if lateral is None:
        if policy == "drop":
            drops.drop("missing_view", f"{where}: no lateral view", study, file)
            return DROPPED
        drops.counts["kept_" + policy + "_lateral"] += 1
        lateral = frontal if policy == "duplicate" else None
    return frontal, lateral


SKIPPED = "skipped.csv"  # the skip log, beside summary.json
SKIPPED_COLUMNS = ("study_id", "reason", "file", "detail")


class DropCounter:
    """Counts skipped studies by reason, logs the first few of each reason and keeps every
    one, with its file and problem, for the skip log (``skipped.csv``)."""

    def __init__(self):
        self.counts: Dict[str, int] = collections.Counter()
        self.examples: Dict[str, List[str]] = collections.defaultdict(list)
        self.source: Dict[str, int] = {}  # what the raw layout held, before any drop
        self.skipped: List[List[str]] = []  # [study_id, reason, file, detail], in order

    LOGGED_PER_REASON = 10

    def drop(self, reason: str, message: str, study: str = "", file: str = "") -> None:
        """One skipped study (or one image of a study: ``missing_image_file``)."""
        self.counts[reason] += 1
        self.skipped.append([str(study), reason, str(file), message])
        if len(self.examples[reason]) < 20:
            self.examples[reason].append(message)
        if self.counts[reason] <= self.LOGGED_PER_REASON:
            log.warning("skipped: %s", message)
        if self.counts[reason] == self.LOGGED_PER_REASON:
            log.warning("more studies skipped for %r are not logged; %s lists every one",
                        reason, SKIPPED)

    def as_dict(self) -> Dict[str, int]:
        return dict(sorted(self.counts.items()))


def write_skipped(path: str, rows: List[List[str]]) -> None:
    """Writes the skip log atomically (a temporary file, then a rename; any filesystem)."""
    from tfreport import fileio
    tmp = path + ".tmp"
    with fileio.open(tmp, "w", newline="", encoding="utf-8", errors="backslashreplace") as f:
        writer = csv.writer(f)
        writer.writerow(SKIPPED_COLUMNS)
        writer.writerows(rows)
    fileio.replace(tmp, path)
