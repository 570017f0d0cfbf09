"""Markdown tables of scores: one row per group (All, Normal, Abnormal)."""
from __future__ import annotations

from typing import List, Mapping

from tfreport.metrics import diagnostics
from tfreport.metrics.nlg import ROUGE_STEMMED

COLUMNS = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr", "CE-F1")
# named extras, shown where a result has them (evaluate.py's tables)
EXTRA_COLUMNS = (ROUGE_STEMMED,)


def group_rows(result: Mapping) -> List[tuple]:
    rows = [("All", result)]
    for name, block in result.get("groups", {}).items():
        rows.append((name.capitalize(), block))
    return rows


def cell(block: Mapping, col: str, digits: int = 4) -> str:
    """The one cell formatter of every table: "0.1234", with " ± 0.0100" where the block
    has a seed sd (``col_sd``) and " [0.1100, 0.1350]" where it has a bootstrap interval;
    "n/a" for None, "" for a figure the block lacks."""
    if col not in block:
        return ""
    if block[col] is None:
        return "n/a"
    text = f"{block[col]:.{digits}f}"
    sd = block.get(col + "_sd")
    if sd is not None:
        text += f" ± {sd:.{digits}f}"
    ci = block.get("ci", {}).get(col)
    return text + (f" [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]" if ci else "")


def markdown(result: Mapping, title: str = "") -> str:
    cols = [c for c in COLUMNS + EXTRA_COLUMNS + tuple(result.get("external", ()))
            if c in result]
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
    if ROUGE_STEMMED in result:
        lines.append("ROUGE-L (rouge-score): Google's rouge-score, Porter-stemmed F-measure, the "
                     "mean per report (as Hugging Face's evaluate gives it); ROUGE-L is "
                     "pycocoevalcap's.")
    if result.get("external"):
        lines.append(f"{', '.join(result['external'])}: per-report scores from another tool "
                     "(score.py --external), the mean over the group.")
    lines += diagnostics_lines(result)
    return "\n".join(lines)


def diagnostics_lines(result: Mapping) -> List[str]:
    """The second table: each group's report diagnostics, the references' means in
    brackets."""
    rows = [(name, block["diagnostics"]) for name, block in group_rows(result)
            if "diagnostics" in block]
    if not rows:
        return []
    ref_of = {header: key for key, header in diagnostics.REFERENCE_COLUMNS}
    heads = [h + (" (ref)" if h in ref_of else "") for _, h in diagnostics.COLUMNS]
    lines = ["", "| group | studies | " + " | ".join(heads) + " |",
             "|---|---|" + "---|" * len(heads)]
    for name, d in rows:
        cells = [cell(d, k) + (f" ({cell(d, ref_of[h])})" if h in ref_of else "")
                 for k, h in diagnostics.COLUMNS]
        lines.append(f"| {name} | {d['studies']} | " + " | ".join(cells) + " |")
    lines += ["", diagnostics.NOTE]
    warnings = (diagnostics.shape_warnings(rows[0][1], {n.lower(): d for n, d in rows[1:]})
                if rows[0][0] == "All" else [])
    if warnings:
        # Already chosen by MBR: the hint would send the reader back where they are.
        hint = "" if result.get("mbr_samples") else " " + diagnostics.DECODING_HINT
        lines += ["", "**Warning:** " + "; ".join(warnings) + "." + hint]
    return lines
