"""95% bootstrap intervals for the headline figures, by resampling test studies.

Every metric is recomputed from per-report sufficient statistics, so a resample costs
sums, not a rescoring:
- BLEU-1..4: pycocoevalcap's per-report n-gram counts and lengths (the corpus formula is
  recomputed from their sums, exactly as BleuScorer does);
- METEOR: the Java scorer's per-segment statistics, re-aggregated by its own ``EVAL`` for
  each resample (exact);
- ROUGE-L and CIDEr-D: pycocoevalcap's corpus figures are means of per-report scores (CIDEr's
  document frequencies stay those of the full reference set);
- CE-F1: per-report true/false positives and false negatives (micro over the 14);
- external per-report scores (RadGraph-F1, GREEN ...): their mean.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np

from tfreport.labels import CHEXPERT_OBSERVATIONS
from tfreport.metrics import nlg

LEVEL = 0.95


@dataclass
class ReportStats:
    """Per-report statistics, rows in the order of ``ids``."""
    ids: List[str]
    testlen: np.ndarray  # [N]
    reflen: np.ndarray  # [N]
    guess: np.ndarray  # [N, 4]
    correct: np.ndarray  # [N, 4]
    rouge: np.ndarray  # [N]
    cider: np.ndarray  # [N]
    ce: np.ndarray  # [N, 3]: tp, fp, fn over the 14 observations
    meteor: Optional[List[str]] = None  # Java's per-segment statistics
    rouge_stemmed: Optional[np.ndarray] = None  # [N]: rouge-score's stemmed ROUGE-L
    # [N, O, 3]: tp, fp, fn per observation, for the grounding figure's macro F1 (the
    # benchmark's CE-macro-F1 over the observations with enough test positives)
    ce_obs: Optional[np.ndarray] = None
    # {name: [N]}: per-report scores from another tool (metrics/external.py); figure = mean
    external: Optional[Dict[str, np.ndarray]] = None


def _bleu_stats(res, gts, ids):
    from pycocoevalcap.bleu.bleu_scorer import BleuScorer
    scorer = BleuScorer(n=4)
    for i in ids:
        scorer += (res[i][0], gts[i])
    testlen, reflen, guess, correct = [], [], [], []
    for comps in scorer.ctest:
        testlen.append(comps["testlen"])
        reflen.append(scorer._single_reflen(comps["reflen"], "closest", comps["testlen"]))
        guess.append(comps["guess"])
        correct.append(comps["correct"])
    return (np.array(testlen, float), np.array(reflen, float), np.array(guess, float),
            np.array(correct, float))


def _ce_counts(pred: Mapping, ref: Mapping, uncertain: int) -> List[int]:
    def positive(v):
        return v == 1 or (uncertain and v == -1)
    tp = fp = fn = 0
    for o in CHEXPERT_OBSERVATIONS:
        p, t = positive(pred.get(o)), positive(ref.get(o))
        tp, fp, fn = tp + (p and t), fp + (p and not t), fn + (t and not p)
    return [tp, fp, fn]


def collect(predictions: Mapping[str, str], references: Mapping[str, str],
            predicted_labels: Mapping, reference_labels: Mapping, uncertain: int = 0,
            meteor=None, stemmed: Optional[Mapping[str, float]] = None) -> ReportStats:
    """Statistics of every report; ``meteor`` is an open pycocoevalcap Meteor (or None);
    ``stemmed``, each report's rouge-score ROUGE-L when the caller has it already."""
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge
    res, gts = nlg._inputs(predictions, references)
    ids = sorted(res)
    testlen, reflen, guess, correct = _bleu_stats(res, gts, ids)
    _, rouge = Rouge().compute_score(gts, nlg._nonempty(res))
    _, cider = Cider().compute_score(gts, res)
    ce = np.array([_ce_counts(predicted_labels[i], reference_labels[i], uncertain)
                   for i in ids], float)
    if stemmed is None:
        stemmed = nlg.rouge_l_stemmed_per_report(predictions, references)
    stats = ReportStats(ids, testlen, reflen, guess, correct, np.asarray(rouge, float),
                        np.asarray(cider, float), ce,
                        rouge_stemmed=np.array([stemmed[i] for i in ids], float))
    if meteor is not None:
        nonempty = nlg._nonempty(res)
        with meteor.lock:
            stats.meteor = [meteor._stat(nonempty[i][0], gts[i]) for i in ids]
    return stats


def _bleu(s: ReportStats, idx: np.ndarray) -> Dict[str, float]:
    small, tiny = 1e-9, 1e-15
    correct, guess = s.correct[idx].sum(0), s.guess[idx].sum(0)
    testlen, reflen = s.testlen[idx].sum(), s.reflen[idx].sum()
    out, bleu = {}, 1.0
    for k in range(4):
        bleu *= (correct[k] + tiny) / (guess[k] + small)
        out[nlg.BLEU[k]] = bleu ** (1.0 / (k + 1))
    ratio = (testlen + tiny) / (reflen + small)
    if ratio < 1:
        out = {m: v * math.exp(1 - 1 / ratio) for m, v in out.items()}
    return out


def _meteor(meteor, stats: Sequence[str]) -> float:
    eval_line = "EVAL ||| " + " ||| ".join(stats)
    with meteor.lock:
        meteor.meteor_p.stdin.write(f"{eval_line}\n".encode())
        meteor.meteor_p.stdin.flush()
        for _ in stats:
            meteor.meteor_p.stdout.readline()
        return float(meteor.meteor_p.stdout.readline().strip())


def corpus(s: ReportStats, idx: np.ndarray, meteor=None) -> Dict[str, float]:
    """Every figure over the reports ``idx`` (indices may repeat)."""
    out = _bleu(s, idx)
    if meteor is not None and s.meteor is not None:
        out["METEOR"] = _meteor(meteor, [s.meteor[i] for i in idx])
    out["ROUGE-L"] = float(s.rouge[idx].mean())
    out["CIDEr"] = float(s.cider[idx].mean())
    if s.rouge_stemmed is not None:
        out[nlg.ROUGE_STEMMED] = float(s.rouge_stemmed[idx].mean())
    tp, fp, fn = s.ce[idx].sum(0)
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    out["CE-F1"] = 2 * p * r / (p + r) if p + r else 0.0
    for name, values in (s.external or {}).items():
        out[name] = float(values[idx].mean())
    if s.ce_obs is not None:
        from tfreport.metrics.grounding import _macro
        out[f"CE-macro-F1 ({s.ce_obs.shape[1]} obs)"] = float(_macro(s.ce_obs[idx].sum(0)))
    return out


def percentile_interval(draws, level: float = LEVEL) -> List[float]:
    """[low, high]: the central ``level`` share of the draws (the percentile interval)."""
    tail = (1 - level) / 2 * 100
    return [float(np.percentile(draws, tail)), float(np.percentile(draws, 100 - tail))]


def two_sided_p(differences) -> float:
    """Paired-bootstrap p-value of resampled differences: twice the share on the far side of
    zero, counted as (count + 1) / (draws + 1) so it is never 0."""
    d = np.asarray(differences)
    far = min(int((d <= 0).sum()), int((d >= 0).sum()))
    return min(1.0, 2 * (far + 1) / (len(d) + 1))


def intervals(s: ReportStats, resamples: int = 1000, seed: int = 0, meteor=None,
              level: float = LEVEL) -> Dict[str, List[float]]:
    """{metric: [low, high]}: percentile intervals over ``resamples`` resamples of the
    studies (seeded, so the same seed gives the same intervals)."""
    n = len(s.ids)
    rng = np.random.default_rng(seed)
    draws: Dict[str, List[float]] = {}
    for _ in range(resamples):
        for k, v in corpus(s, rng.integers(0, n, n), meteor).items():
            draws.setdefault(k, []).append(v)
    return {k: percentile_interval(v, level) for k, v in draws.items()}


@contextlib.contextmanager
def open_meteor():
    """The shared pycocoevalcap Meteor process (None without Java)."""
    yield nlg.meteor_scorer() if nlg.java_available() else None
