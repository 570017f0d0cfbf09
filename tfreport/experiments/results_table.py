"""The one results-table pipeline: the row, the seed aggregation and the groups.

Both tables built here, the image benchmark (``benchmark``) and the image-free text floors
(``text_benchmark``), hold the same kind of row and aggregate seeds the same way:

- a **row** is a dict ``{"label", "seeds", "groups", ...}``: ``groups`` maps each group name
  (All, Normal, Abnormal) to a **block** of figures, ``{column: value, column_sd: sd,
  "studies": n, "ci": {column: [low, high]}, "diagnostics": {...}}``; a row may carry more
  keys of its own (the benchmark's weights and timings, the text table's split and scoring);
- one **seed aggregation** (``aggregate``) turns the per-seed scoring results
  (``scoring.score`` or ``evaluation``'s metrics) into those blocks: the mean and sd of every
  figure over the seeds that have it;
- the cells are formatted by ``metrics.table.cell`` and files written by ``tfreport.atomic``.
"""
from __future__ import annotations

import statistics
from typing import Any, Dict, List, Optional, Sequence

from tfreport.metrics import diagnostics
from tfreport.metrics.table import COLUMNS

GROUPS = (("All", None), ("Normal", "normal"), ("Abnormal", "abnormal"))
# every diagnostic a block may carry: the predictions' and the references' means
DIAGNOSTICS = tuple(k for k, _ in diagnostics.COLUMNS + diagnostics.REFERENCE_COLUMNS)


def group_block(result: dict, group: Optional[str]) -> dict:
    """One group's figures in a scoring result: the result itself for All (group None)."""
    return result if group is None else result.get("groups", {}).get(group, {})


def mean_sd(blocks: Sequence[dict], cols: Sequence[str]) -> dict:
    """{col: mean, col_sd: sd (None for one value)} over the blocks that have the figure;
    None where every block has it as None (a diagnostic that is n/a)."""
    out: Dict[str, Any] = {}
    for col in cols:
        present = [b[col] for b in blocks if col in b]
        values = [v for v in present if v is not None]
        if values:
            out[col] = statistics.fmean(values)
            out[col + "_sd"] = statistics.stdev(values) if len(values) > 1 else None
        elif present:
            out[col] = out[col + "_sd"] = None
    return out


def mean_intervals(blocks: Sequence[dict], cols: Sequence[str]) -> Dict[str, List[float]]:
    """Each column's per-seed bootstrap intervals, averaged bound by bound."""
    out = {}
    for col in cols:
        bounds = [b["ci"][col] for b in blocks if col in b.get("ci", {})]
        if bounds:
            out[col] = [statistics.fmean(x[0] for x in bounds),
                        statistics.fmean(x[1] for x in bounds)]
    return out


def aggregate(results: Sequence[dict], intervals: bool = False) -> Dict[str, dict]:
    """The seed aggregation: per group, the mean ± sd over ``results`` (one scoring result
    per seed) of every score, the study count and every diagnostic the results carry; with ``intervals``, the
    per-seed bootstrap intervals averaged as ``ci``."""
    groups = {}
    for name, group in GROUPS:
        blocks = [group_block(r, group) for r in results]
        block = mean_sd(blocks, COLUMNS + ("studies",))
        if intervals:
            block["ci"] = mean_intervals(blocks, COLUMNS)
        diags = [b.get("diagnostics", {}) for b in blocks]
        diag = mean_sd(diags, list(dict.fromkeys(k for d in diags for k in d
                                                 if not k.endswith("_sd"))))
        if diag:
            block["diagnostics"] = diag
        groups[name] = block
    return groups


def row(label: str, groups: Dict[str, dict], seeds: Optional[List[int]] = None,
        **info: Any) -> dict:
    """A table row: its label, the seeds behind it (None: deterministic, one run) and its
    group blocks, plus whatever the table keeps of its own (``info``)."""
    return {"label": label, "seeds": seeds, "groups": groups, **info}
