"""Clinical efficacy (CE): precision, recall and F1 of CheXpert labels, each recipe named.

The default recipe (docs/design.md §4): micro-averaged F1 over the 14 observations, positive only
(uncertain counts as 0), with the same labeler applied to prediction and reference.
"""
from __future__ import annotations

from typing import Dict, Iterable, Mapping, Optional, Sequence

from tfreport.labels import CHEXPERT_OBSERVATIONS

MIURA_5 = ("Cardiomegaly", "Edema", "Consolidation", "Atelectasis", "Pleural Effusion")
UNCERTAIN_POLICIES = (0, 1)


def _positive(value: Optional[int], uncertain: int) -> bool:
    return value == 1 or (value == -1 and uncertain == 1)


def _prf(tp: int, fp: int, fn: int) -> Dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def clinical_efficacy(predicted: Mapping[str, Mapping[str, Optional[int]]],
                      reference: Mapping[str, Mapping[str, Optional[int]]],
                      uncertain: int = 0,
                      observations: Sequence[str] = CHEXPERT_OBSERVATIONS) -> dict:
    """CE figures over the ids of ``predicted`` (each must have reference labels).

    Recipes: ``micro`` and ``macro`` over ``observations``; ``miura5_micro`` over Miura's
    five findings; ``example`` (per-report P/R/F1 averaged; a report where both sides have
    no positive observation scores 1). ``uncertain`` says whether -1 counts as 0 or 1.
    """
    if uncertain not in UNCERTAIN_POLICIES:
        raise ValueError(f"uncertain must be 0 or 1, got {uncertain!r}")
    missing = [k for k in predicted if k not in reference]
    if missing:
        raise KeyError(f"{len(missing)} ids have no reference labels, e.g. {missing[:3]}")
    counts = {o: [0, 0, 0] for o in observations}  # tp, fp, fn
    example = []
    for sid, pred in predicted.items():
        ref = reference[sid]
        tp = fp = fn = 0
        for o in observations:
            p, t = _positive(pred.get(o), uncertain), _positive(ref.get(o), uncertain)
            counts[o][0] += p and t
            counts[o][1] += p and not t
            counts[o][2] += t and not p
            tp, fp, fn = tp + (p and t), fp + (p and not t), fn + (t and not p)
        example.append({"precision": 1.0, "recall": 1.0, "f1": 1.0} if tp + fp + fn == 0
                        else _prf(tp, fp, fn))
    per = {o: dict(_prf(*c), support=c[0] + c[2]) for o, c in counts.items()}

    def micro(obs: Iterable[str]) -> Dict[str, float]:
        obs = [o for o in obs if o in counts]
        return _prf(sum(counts[o][0] for o in obs), sum(counts[o][1] for o in obs),
                    sum(counts[o][2] for o in obs))

    n = max(1, len(example))
    policy = "uncertain as positive" if uncertain else "positive only (uncertain as 0)"
    return {
        "recipe": f"CheXpert labels from the same labeler on prediction and reference; {policy}",
        "micro": micro(observations),
        "macro": {k: sum(per[o][k] for o in observations) / len(observations)
                  for k in ("precision", "recall", "f1")},
        "miura5_micro": micro(MIURA_5),
        "example": {k: sum(e[k] for e in example) / n for k in ("precision", "recall", "f1")},
        "per_condition": per,
    }
