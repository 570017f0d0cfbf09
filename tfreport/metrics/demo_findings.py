"""Does a model use the images? Macro-F1 over positive mentions of the demo's findings.

A report "states" a finding when it mentions it without a preceding negation
(:func:`tfreport.data.demo.findings_mentioned`); the truth is the demo's ``labels.csv``.
"""
from __future__ import annotations

import collections
import os
from typing import Dict, Mapping

from tfreport import fileio
from tfreport.data.demo import FINDINGS, findings_mentioned, read_labels


def findings_f1(predictions: Mapping[str, str], truth: Mapping[str, Mapping[str, int]]) -> dict:
    """Per-finding precision/recall/F1 and their macro average over the demo findings."""
    missing = [k for k in predictions if k not in truth]
    if missing:
        raise KeyError(f"{len(missing)} predicted ids have no ground truth, e.g. {missing[:3]}")
    tp, fp, fn = collections.Counter(), collections.Counter(), collections.Counter()
    for sid, text in predictions.items():
        said = findings_mentioned([text])
        for f in FINDINGS:
            t, p = truth[sid][f], said[f]
            tp[f] += t and p
            fp[f] += p and not t
            fn[f] += t and not p
    per = {}
    for f in FINDINGS:
        prec = tp[f] / (tp[f] + fp[f]) if tp[f] + fp[f] else 0.0
        rec = tp[f] / (tp[f] + fn[f]) if tp[f] + fn[f] else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per[f] = {"precision": prec, "recall": rec, "f1": f1, "support": tp[f] + fn[f]}
    return {"macro_f1": sum(v["f1"] for v in per.values()) / len(FINDINGS), "per_finding": per,
            "studies": len(predictions)}


def demo_truth(data_dir: str) -> Dict[str, Dict[str, int]]:
    """Ground truth from the demo raw layout that the prepared dataset was built from."""
    from tfreport.data.build import read_summary
    raw_dir = read_summary(data_dir)["settings"].get("raw_dir")
    if not raw_dir or not fileio.exists(os.path.join(raw_dir, "labels.csv")):
        raise FileNotFoundError(f"{data_dir}: its raw demo layout ({raw_dir}) with labels.csv is "
                                "missing; rebuild it with prepare_data.py --dataset demo")
    return read_labels(raw_dir)
