"""Image-free floors on real IU X-Ray reports: what a table's numbers mean before any image.

For the legacy split (2,811/300) and the R2Gen split (2,069/296/590), scored with tfreport's
default scoring and with the legacy scoring, for All, Normal and Abnormal (MeSH "normal"):
- the most frequent training report, written for every test study;
- a random training report per test study (several seeds: mean ± sd).
Each figure carries a 95% bootstrap interval over the test studies (for the random report,
each seed's interval, averaged bound by bound).
"""
from __future__ import annotations

import csv
import json
import os
import statistics
from dataclasses import dataclass
from typing import Dict, List, Optional

from tfreport.baselines import most_frequent_text, random_texts
from tfreport.data.iu_xray import normal_flag, uid_of
from tfreport.data.study import NORMAL, UNKNOWN
from tfreport.metrics import scoring
from tfreport.metrics.table import COLUMNS
from tfreport.text import join_report, legacy_reference, normalise_report

GROUPS = (("All", None), ("Normal", "normal"), ("Abnormal", "abnormal"))
SCORINGS = {"default": "untruncated references", "legacy": "references cut to 8 x 49 words"}


@dataclass
class TextSplit:
    name: str
    description: str
    train: Dict[str, List[str]]  # id -> legacy-normalised sentences
    test: Dict[str, List[str]]
    normal: Dict[str, bool]  # test ids with a MeSH verdict


def mesh_by_uid(reports_csv: str) -> Dict[str, str]:
    with open(reports_csv, newline="", encoding="utf-8") as f:
        return {row["uid"]: row.get("MeSH", "") for row in csv.DictReader(f)}


def _normal(ids, mesh: Dict[str, str]) -> Dict[str, bool]:
    out = {}
    for i in ids:
        flag = normal_flag(mesh[uid_of(i)]) if uid_of(i) in mesh else UNKNOWN
        if flag != UNKNOWN:
            out[i] = flag == NORMAL
    return out


def legacy_text_split(legacy_dir: str, reports_csv: str) -> TextSplit:
    """The legacy data_entry.json sentences with its train/test lists."""
    def load(name):
        with open(os.path.join(legacy_dir, name), encoding="utf-8") as f:
            return json.load(f)
    entry = load("data_entry.json")
    train = {i: entry[i] for i in load("train_split.json") if entry.get(i)}
    test = {i: entry[i] for i in load("test_split.json") if entry.get(i)}
    return TextSplit("legacy", f"legacy {len(train):,}/{len(test)} (impression + findings)",
                     train, test, _normal(test, mesh_by_uid(reports_csv)))


def r2gen_text_split(annotation: str, reports_csv: str) -> TextSplit:
    """R2Gen's annotation.json (findings), legacy-normalised; its train and test parts."""
    with open(annotation, encoding="utf-8") as f:
        ann = json.load(f)
    parts = {k: {e["id"]: normalise_report(e["report"]) for e in v} for k, v in ann.items()}
    train = {k: v for k, v in parts["train"].items() if v}
    test = {k: v for k, v in parts["test"].items() if v}
    return TextSplit("r2gen", f"R2Gen {len(parts['train']):,}/{len(parts.get('val', {}))}/"
                     f"{len(parts['test'])} (findings)", train, test,
                     _normal(test, mesh_by_uid(reports_csv)))


def most_frequent(split: TextSplit) -> Dict[str, str]:
    best = most_frequent_text(split.train.values())
    return {i: best for i in split.test}


def random_report(split: TextSplit, seed: int) -> Dict[str, str]:
    return random_texts(split.train.values(), split.test, seed)


def references(split: TextSplit, scoring_name: str) -> Dict[str, str]:
    join = legacy_reference if scoring_name == "legacy" else join_report
    return {i: join(s) for i, s in split.test.items()}


def _groups(result: dict) -> Dict[str, dict]:
    return {name: (result if key is None else result.get("groups", {}).get(key, {}))
            for name, key in GROUPS}


def run(splits: List[TextSplit], seeds: int = 5, bootstrap: int = 1000,
        boot_seed: int = 0) -> List[dict]:
    """Rows: one per (split, scoring, baseline), each with per-group figures and intervals."""
    rows = []
    for split in splits:
        for scoring_name in SCORINGS:
            refs = references(split, scoring_name)
            mf = scoring.score(most_frequent(split), refs, split.normal, bootstrap=bootstrap,
                               seed=boot_seed)
            rows.append({"split": split.description, "scoring": scoring_name,
                         "baseline": "most frequent training report", "seeds": None,
                         "groups": _groups(mf)})
            runs = [scoring.score(random_report(split, s), refs, split.normal,
                                  bootstrap=bootstrap, seed=boot_seed) for s in range(seeds)]
            groups = {}
            for name, block in _groups(runs[0]).items():
                per_seed = [_groups(r)[name] for r in runs]
                g = {"studies": block.get("studies"), "ci": {}}
                for col in COLUMNS:
                    values = [b[col] for b in per_seed if col in b]
                    if values:
                        g[col] = statistics.fmean(values)
                        g[col + "_sd"] = statistics.stdev(values) if len(values) > 1 else 0.0
                    bounds = [b["ci"][col] for b in per_seed if col in b.get("ci", {})]
                    if bounds:  # the per-seed intervals, averaged bound by bound
                        g["ci"][col] = [statistics.fmean(x[0] for x in bounds),
                                        statistics.fmean(x[1] for x in bounds)]
                groups[name] = g
            rows.append({"split": split.description, "scoring": scoring_name,
                         "baseline": f"random training report ({seeds} seeds)", "seeds": seeds,
                         "groups": groups})
    return rows


def _cell(block: dict, col: str) -> str:
    if col not in block:
        return ""
    text = f"{block[col]:.3f}"
    if block.get(col + "_sd") is not None:
        text += f" ± {block[col + '_sd']:.3f}"
    ci = block.get("ci", {}).get(col)
    return text + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def markdown(rows: List[dict], published: Optional[List[dict]] = None) -> str:
    lines = ["| split | scoring | baseline | group | studies | " + " | ".join(COLUMNS) + " |",
             "|---|---|---|---|---|" + "---|" * len(COLUMNS)]
    for r in rows:
        for name, _ in GROUPS:
            b = r["groups"].get(name, {})
            first = name == "All"
            lines.append(f"| {r['split'] if first else ''} | {r['scoring'] if first else ''} | "
                         f"{r['baseline'] if first else ''} | {name} | {b.get('studies', '')} | "
                         + " | ".join(_cell(b, c) for c in COLUMNS) + " |")
    return "\n".join(lines)


def report(rows: List[dict], meta: dict) -> str:
    """results.md: the floors beside the published IU X-Ray rows, and what they imply."""
    from tfreport.published import published
    lines = ["# Image-free floors on the real IU X-Ray reports", "",
             "Reports written without looking at any image, scored like every tfreport table "
             "(pycocoevalcap 1.2 on legacy-normalised text; CE-F1: tfreport's labeler, micro over "
             "the 14 CheXpert observations, positive only). Normal = MeSH exactly `normal`; MeSH "
             "`No Indexing` studies are in All only. `default` scoring keeps references whole; "
             "`legacy` cuts them to 8 sentences of 49 words, as the legacy project scored. "
             f"Intervals: 95% bootstrap over the test studies ({meta['bootstrap']} resamples, "
             f"seed {meta['bootstrap_seed']}); the random report is the mean ± sd over "
             f"{meta['seeds']} seeds with the per-seed intervals averaged.", "",
             f"Command: `{meta['command']}`", "", "## Run here", "", markdown(rows), "",
             "## Published (reported, not run here)", "",
             "| source | model | split | scoring | group | BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 | "
             "METEOR | ROUGE-L | CIDEr |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in published("IU X-Ray"):
        cells = " | ".join(f"{p[c]:.3f}" if c in p else "" for c in COLUMNS[:7])
        lines.append(f"| {p['source']} | {p['model']} | {p['split']} | {p['scoring']} | "
                     f"{p['group']} | {cells} |")
    lines += ["", "## What the floors imply", "", meta.get("reading", "")]
    return "\n".join(lines) + "\n"
