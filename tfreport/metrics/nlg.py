"""Paper-comparable NLG metrics: the coco-caption toolkit (pycocoevalcap 1.2) on normalised text.

Inputs are ``{id: text}`` dicts. Text is sanitised first (newlines and ``|||`` break
METEOR's Java bridge). An empty prediction is scored as empty.
"""
from __future__ import annotations

import atexit
import contextlib
import io
import logging
import re
import shutil
from typing import Dict, Iterable, Mapping, Optional

log = logging.getLogger("tfreport.metrics")

BLEU = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4")
ALL_METRICS = BLEU + ("METEOR", "ROUGE-L", "CIDEr")
_PUNCT = re.compile(r"[^a-z ]+")


def normalise(text: str) -> str:
    """Lower-case, punctuation removed, one space between words (legacy text)."""
    text = (text or "").lower().replace("|||", " ").replace("\n", " ")
    return " ".join(_PUNCT.sub("", text).split())


def _inputs(predictions: Mapping[str, str], references: Mapping[str, str]):
    missing = [k for k in predictions if k not in references]
    if missing:
        raise KeyError(f"{len(missing)} prediction ids have no reference, e.g. {missing[:3]}")
    ids = sorted(predictions)
    res = {i: [normalise(predictions[i])] for i in ids}
    gts = {i: [normalise(references[i])] for i in ids}
    return res, gts


def java_available() -> bool:
    return shutil.which("java") is not None


_METEOR = None


def meteor_scorer():
    """One METEOR Java process per Python process, started on first use and reused: its
    start-up costs seconds, a scoring call milliseconds."""
    global _METEOR
    if _METEOR is None or _METEOR.meteor_p.poll() is not None:
        from pycocoevalcap.meteor.meteor import Meteor
        _METEOR = Meteor()
        atexit.register(close_meteor)
    return _METEOR


def close_meteor() -> None:
    global _METEOR
    if _METEOR is not None:
        with contextlib.suppress(Exception):
            _METEOR.close()
        _METEOR = None


ROUGE_STEMMED = "ROUGE-L (rouge-score)"  # a named extra figure, beside pycocoevalcap's


def rouge_l_stemmed_per_report(predictions: Mapping[str, str],
                               references: Mapping[str, str]) -> Dict[str, float]:
    """Each report's ROUGE-L F-measure by Google's ``rouge-score`` with the Porter stemmer
    (``RougeScorer(["rougeL"], use_stemmer=True)``), on the normalised text. Papers built on
    Hugging Face's ``evaluate`` quote this figure (its mean); it is not pycocoevalcap's
    ROUGE-L, whose F weights recall by beta 1.2 and which neither stems nor drops punctuation."""
    from rouge_score import rouge_scorer
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return {k: float(scorer.score(normalise(references[k]), normalise(v))["rougeL"].fmeasure)
            for k, v in predictions.items()}


def rouge_l_stemmed(predictions: Mapping[str, str], references: Mapping[str, str]) -> float:
    """The mean of :func:`rouge_l_stemmed_per_report` over the ids in ``predictions``."""
    per = rouge_l_stemmed_per_report(predictions, references)
    return float(sum(per.values()) / len(per))


def score(predictions: Mapping[str, str], references: Mapping[str, str],
          metrics: Optional[Iterable[str]] = None) -> Dict[str, float]:
    """Corpus-level scores for the ids in ``predictions``.

    METEOR needs Java; without it METEOR is left out with a warning and the rest is
    reported.
    """
    metrics = tuple(metrics or ALL_METRICS)
    unknown = set(metrics) - set(ALL_METRICS)
    if unknown:
        raise ValueError(f"unknown metrics {sorted(unknown)}; valid: {', '.join(ALL_METRICS)}")
    if not predictions:
        raise ValueError("no predictions to score")
    res, gts = _inputs(predictions, references)
    out: Dict[str, float] = {}
    if any(m in BLEU for m in metrics):
        from pycocoevalcap.bleu.bleu import Bleu
        with contextlib.redirect_stdout(io.StringIO()):  # its BLEU prints to stdout
            bleu, _ = Bleu(4).compute_score(gts, res)
        out.update({m: float(v) for m, v in zip(BLEU, bleu) if m in metrics})
    if "METEOR" in metrics:
        if java_available():
            meteor = meteor_scorer()
            try:
                out["METEOR"] = float(meteor.compute_score(gts, _nonempty(res))[0])
            except Exception:
                close_meteor()  # its pipe may be out of step: start afresh next time
                raise
        else:
            log.warning("METEOR needs Java, which is not installed: METEOR is not reported "
                        "(install a JRE, e.g. apt-get install default-jre-headless)")
    if "ROUGE-L" in metrics:
        from pycocoevalcap.rouge.rouge import Rouge
        out["ROUGE-L"] = float(Rouge().compute_score(gts, _nonempty(res))[0])
    if "CIDEr" in metrics:
        from pycocoevalcap.cider.cider import Cider
        out["CIDEr"] = float(Cider().compute_score(gts, res)[0])
    return out


def _nonempty(res):
    """METEOR and ROUGE's scorers cannot take an empty string; a lone unmatched token
    (a digit, which normalised references never hold) scores the
    same as empty: no matches."""
    return {k: [v[0] if v[0] else "0"] for k, v in res.items()}


def per_report(predictions: Mapping[str, str], references: Mapping[str, str]) -> Dict[str, Dict[str, float]]:
    """Sentence-level scores per id: BLEU-1..4, ROUGE-L and CIDEr (CIDEr's document
    frequencies come from the references of the same call, as in coco-caption)."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge
    res, gts = _inputs(predictions, references)
    ids = sorted(res)
    with contextlib.redirect_stdout(io.StringIO()):
        _, bleu = Bleu(4).compute_score(gts, res)
    _, rouge = Rouge().compute_score(gts, _nonempty(res))
    _, cider = Cider().compute_score(gts, res)
    out = {}
    for j, i in enumerate(ids):
        out[i] = {m: float(bleu[n][j]) for n, m in enumerate(BLEU)}
        out[i].update({"ROUGE-L": float(rouge[j]), "CIDEr": float(cider[j])})
    return out
