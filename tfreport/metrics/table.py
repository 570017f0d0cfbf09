"""Markdown tables of scores: one row per group (All, Normal, Abnormal)."""
from __future__ import annotations

from typing import List, Mapping

COLUMNS = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr", "CE-F1")


def group_rows(result: Mapping) -> List[tuple]:
    rows = [("All", result)]
    for name, block in result.get("groups", {}).items():
        rows.append((name.capitalize(), block))
    return rows


def markdown(result: Mapping, title: str = "") -> str:
    cols = [c for c in COLUMNS if c in result]
    lines = [f"### {title}", ""] if title else []
    lines.append("| group | studies | " + " | ".join(cols) + " |")
    lines.append("|---|---|" + "---|" * len(cols))
    for name, block in group_rows(result):
        cells = " | ".join(f"{block[c]:.4f}" if c in block else "" for c in cols)
        lines.append(f"| {name} | {block.get('studies', '')} | {cells} |")
    if "CE" in result:
        lines.append("")
        lines.append(f"CE-F1: micro over the 14 CheXpert observations; {result['CE']['recipe']}"
                     f" ({result.get('CE-labeler', 'tfreport rule-based labeler')}).")
    return "\n".join(lines)
