"""CE-macro-F1 over the findings a test set has enough of, with bootstrap intervals.

Issue #15 judges image grounding by one figure: the macro F1 (positive only) over the
observations with at least ``MIN_POSITIVES`` test positives, averaged over seeds, and the gap
between a sighted model and its image-blind variant. Both are resampled over test studies:
one resample draws studies with replacement and recomputes every seed's macro F1 on the same
draw, so the interval of the seed mean and of the sighted - blind gap are paired.

Predictions are kept as the positive observations of each report (``positives``), which is
all the figure needs and small enough to store beside a benchmark row.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np

from tfreport.labels import CHEXPERT_OBSERVATIONS
from tfreport.metrics.bootstrap import percentile_interval, two_sided_p

MIN_POSITIVES = 20
# The observations CE-macro-F1 may range over: the 13 findings (not No Finding).
FINDINGS = tuple(o for o in CHEXPERT_OBSERVATIONS if o != "No Finding")
LEVEL = 0.95
RESAMPLES = 1000

Positives = Mapping[str, Sequence[str]]  # {study id: its positive observations}


def positives(labels: Mapping[str, Mapping[str, Optional[int]]]) -> Dict[str, List[str]]:
    """{id: sorted observations labelled 1} from labeler output (uncertain is not positive)."""
    return {k: sorted(o for o, v in obs.items() if v == 1) for k, obs in labels.items()}


def supported(reference: Positives, observations: Sequence[str],
              min_positives: int = MIN_POSITIVES) -> List[str]:
    """The observations (in the given order) with at least ``min_positives`` references."""
    counts = {o: 0 for o in observations}
    for obs in reference.values():
        for o in obs:
            if o in counts:
                counts[o] += 1
    return [o for o in observations if counts[o] >= min_positives]


def _counts(pred: Positives, ref: Positives, ids: Sequence[str],
            observations: Sequence[str]) -> np.ndarray:
    """[N, O, 3]: per study and observation, true positive, false positive, false negative."""
    out = np.zeros((len(ids), len(observations), 3), np.int64)
    for i, k in enumerate(ids):
        if k not in pred:
            raise KeyError(f"no prediction for study {k!r}")
        p, r = set(pred[k]), set(ref[k])
        for j, o in enumerate(observations):
            out[i, j] = (o in p and o in r, o in p and o not in r, o not in p and o in r)
    return out


def _macro(counts: np.ndarray) -> np.ndarray:
    """Macro F1 from summed counts [..., O, 3]; an observation with no predicted and no true
    positive scores 0 (it cannot be found, so it cannot be credited)."""
    tp, fp, fn = counts[..., 0], counts[..., 1], counts[..., 2]
    denom = 2 * tp + fp + fn
    f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)
    return f1.mean(axis=-1)


def macro_f1(pred: Positives, ref: Positives, observations: Sequence[str]) -> float:
    """Macro F1 over ``observations`` on the studies of ``ref``."""
    ids = sorted(ref)
    return float(_macro(_counts(pred, ref, ids, observations).sum(0)))


def _resampled(runs: Sequence[Positives], ref: Positives, observations: Sequence[str],
               resamples: int, seed: int) -> np.ndarray:
    """[1 + resamples, runs]: each run's macro F1 on the full set, then on each resample
    (the same draws for every run, so callers can pair runs)."""
    if not observations:
        raise ValueError("no observations to average over")
    ids = sorted(ref)
    counts = np.stack([_counts(p, ref, ids, observations) for p in runs])  # [R, N, O, 3]
    rng = np.random.default_rng(seed)
    full = _macro(counts.sum(1))  # [R]
    draws = [full]
    for _ in range(resamples):
        weights = np.bincount(rng.integers(0, len(ids), len(ids)), minlength=len(ids))
        draws.append(_macro(np.einsum("n,rnoc->roc", weights, counts)))
    return np.stack(draws)


def seed_mean(runs: Sequence[Positives], ref: Positives, observations: Sequence[str],
              resamples: int = RESAMPLES, seed: int = 0) -> dict:
    """Mean over seeds of the macro F1, the sd across seeds, and a 95% interval of the mean
    over resampled test studies (the seeds' own spread is the sd, not the interval)."""
    draws = _resampled(runs, ref, observations, resamples, seed)
    per_seed = draws[0]
    return {"mean": float(per_seed.mean()),
            "sd": float(per_seed.std(ddof=1)) if len(runs) > 1 else None,
            "per_seed": [float(v) for v in per_seed],
            "ci": percentile_interval(draws[1:].mean(1), LEVEL), "resamples": resamples,
            "observations": list(observations)}


def gap(sighted: Sequence[Positives], blind: Sequence[Positives], ref: Positives,
        observations: Sequence[str], resamples: int = RESAMPLES, seed: int = 0) -> dict:
    """First mean minus second mean of the macro F1 (a sighted row minus its image-blind
    variant, or the best row minus another), with a paired 95% interval and a two-sided
    paired-bootstrap p-value: twice the share of resampled differences on the far side of
    zero, (count + 1) / (resamples + 1) so it is never 0."""
    draws = _resampled(list(sighted) + list(blind), ref, observations, resamples, seed)
    n = len(sighted)
    diff = draws[:, :n].mean(1) - draws[:, n:].mean(1)
    return {"gap": float(diff[0]), "ci": percentile_interval(diff[1:], LEVEL),
            "resamples": resamples, "p": two_sided_p(diff[1:]),
            "observations": list(observations)}
