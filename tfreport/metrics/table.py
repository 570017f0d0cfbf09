"""Markdown tables of scores: one row per group (All, Normal, Abnormal)."""
from __future__ import annotations

from typing import List, Mapping

COLUMNS = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr", "CE-F1")


def group_rows(result: Mapping) -> List[tuple]:
    rows = [("All", result)]
    for name, block in result.get("groups", {}).items():
        rows.append((name.capitalize(), block))
    return rows


def cell(block: Mapping, col: str) -> str:
    """"0.1234", or "0.1234 [0.1100, 0.1350]" with a bootstrap interval."""
    if col not in block:
        return ""
    ci = block.get("ci", {}).get(col)
    return f"{block[col]:.4f}" + (f" [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "")


def markdown(result: Mapping, title: str = "") -> str:
    cols = [c for c in COLUMNS if c in result]
    lines = [f"### {title}", ""] if title else []
    lines.append("| group | studies | " + " | ".join(cols) + " |")
    lines.append("|---|---|" + "---|" * len(cols))
    for name, block in group_rows(result):
        cells = " | ".join(cell(block, c) for c in cols)
        lines.append(f"| {name} | {block.get('studies', '')} | {cells} |")
    if "bootstrap" in result:
        b = result["bootstrap"]
        lines += ["", f"[low, high]: {b['level']:.0%} bootstrap interval, {b['resamples']} "
                      f"resamples of the studies, seed {b['seed']}."]
    if "CE" in result:
        lines.append("")
        lines.append(f"CE-F1: micro over the 14 CheXpert observations; {result['CE']['recipe']}"
                     f" ({result.get('CE-labeler', 'tfreport rule-based labeler')}).")
    return "\n".join(lines)
