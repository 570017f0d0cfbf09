"""Per-report rewards for SCST: CIDEr-D, BLEU-4 and a clinical F1, combined by weight.

Each reward scores a batch of sampled reports against their studies' references and returns
one float per sample. The references' side (n-gram vectors, labels) is computed once per
reference text and cached, so a training step only counts the samples' n-grams and labels
them. Texts are compared as the metrics compare them (``nlg.normalise``: lower case, no
punctuation), so a reward of the test metric is that metric's per-report score.

- ``cider``: CIDEr-D (pycocoevalcap's Cider: clipped tf-idf n-gram cosine, n = 1..4, a
  Gaussian length penalty with sigma 6, x10) with document frequencies from a fixed corpus,
  the training references (as Miura et al. precompute them), not from the batch.
- ``bleu4``: sentence BLEU-4 as pycocoevalcap scores one report (its smoothing constants,
  the brevity penalty against the one reference).
- ``ce`` / ``ce5``: the labeler's positive findings of sample and reference (uncertain as
  not positive), F1 over the 14 CheXpert observations or Miura's 5; 1 when neither has a
  positive one. Averaged over reports this is CE-example-F1 (metrics/clinical.py).
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from tfreport.labels import CHEXPERT_OBSERVATIONS
from tfreport.metrics.clinical import MIURA_5
from tfreport.metrics.nlg import normalise

NAMES = ("cider", "bleu4", "ce", "ce5")


def ngrams(words: Sequence[str], n: int = 4) -> Counter:
    """Counts of every 1..n-gram (tuples) of ``words``."""
    out: Counter = Counter()
    for k in range(1, n + 1):
        for i in range(len(words) - k + 1):
            out[tuple(words[i:i + k])] += 1
    return out


class CiderD:
    """CIDEr-D against one reference per study, document frequencies from ``corpus``."""

    def __init__(self, corpus: Iterable[str], n: int = 4, sigma: float = 6.0):
        self.n, self.sigma = n, sigma
        docs = [normalise(t) for t in corpus]
        if not docs:
            raise ValueError("CIDEr-D needs a corpus of reference reports for its document frequencies")
        self.df: Counter = Counter()
        for d in docs:
            self.df.update(set(ngrams(d.split(), n)))
        self.log_docs = math.log(float(len(docs)))
        self._refs: Dict[str, tuple] = {}

    def vector(self, text: str) -> Tuple[List[Dict[tuple, float]], np.ndarray, int]:
        """(tf-idf weights per n-gram order, their norms, the word count) of a normalised text."""
        words = text.split()
        vec: List[Dict[tuple, float]] = [{} for _ in range(self.n)]
        for gram, tf in ngrams(words, self.n).items():
            vec[len(gram) - 1][gram] = tf * (self.log_docs - math.log(max(1.0, self.df[gram])))
        norms = np.array([math.sqrt(sum(v * v for v in d.values())) for d in vec])
        return vec, norms, len(words)

    def _reference(self, text: str):
        if text not in self._refs:
            self._refs[text] = self.vector(text)
        return self._refs[text]

    def score(self, candidate: str, reference: str) -> float:
        c_vec, c_norm, c_len = self.vector(normalise(candidate))
        r_vec, r_norm, r_len = self._reference(normalise(reference))
        penalty = math.exp(-((c_len - r_len) ** 2) / (2 * self.sigma ** 2))
        total = 0.0
        for k in range(self.n):
            dot = sum(min(w, r_vec[k].get(g, 0.0)) * r_vec[k].get(g, 0.0)
                      for g, w in c_vec[k].items())
            if c_norm[k] and r_norm[k]:
                dot /= c_norm[k] * r_norm[k]
            total += dot * penalty
        return 10.0 * total / self.n

    def __call__(self, candidates: Sequence[str], references: Sequence[str]) -> np.ndarray:
        return np.array([self.score(c, r) for c, r in zip(candidates, references)], np.float32)


def sentence_bleu4(candidate: str, reference: str) -> float:
    """pycocoevalcap's BLEU-4 of one report against one reference."""
    small, tiny = 1e-9, 1e-15  # pycocoevalcap's constants
    c, r = normalise(candidate).split(), normalise(reference).split()
    cg, rg = ngrams(c), ngrams(r)
    bleu = 1.0
    for k in range(1, 5):
        correct = sum(min(v, rg[g]) for g, v in cg.items() if len(g) == k)
        guess = max(0, len(c) - k + 1)
        bleu *= (correct + tiny) / (guess + small)
    bleu **= 0.25
    ratio = (len(c) + tiny) / (len(r) + small)
    return bleu * math.exp(1 - 1 / ratio) if ratio < 1 else bleu


def bleu4(candidates: Sequence[str], references: Sequence[str]) -> np.ndarray:
    return np.array([sentence_bleu4(c, r) for c, r in zip(candidates, references)], np.float32)


class ClinicalF1:
    """Per-report F1 of positive findings, sample against reference, by a labeler."""

    def __init__(self, observations: Sequence[str] = CHEXPERT_OBSERVATIONS, labeler=None):
        from tfreport import labelers
        self.observations = tuple(observations)
        self.labeler = labeler or labelers.RULES
        self._cache: Dict[str, frozenset] = {}

    def positives(self, texts: Sequence[str]) -> List[frozenset]:
        todo = {t for t in texts if t not in self._cache}
        if todo:
            keyed = {str(i): t for i, t in enumerate(sorted(todo))}
            from tfreport.metrics.grounding import positives
            for k, found in positives(self.labeler.label_reports(keyed)).items():
                self._cache[keyed[k]] = frozenset(found).intersection(self.observations)
        return [self._cache[t] for t in texts]

    def __call__(self, candidates: Sequence[str], references: Sequence[str]) -> np.ndarray:
        out = []
        for p, t in zip(self.positives(candidates), self.positives(references)):
            tp = len(p & t)
            out.append(1.0 if not p and not t else 2 * tp / (len(p) + len(t)))
        return np.array(out, np.float32)


def parse_spec(spec: str) -> Dict[str, float]:
    """``cider:1,ce:0.5`` -> {"cider": 1.0, "ce": 0.5}; a bare name weighs 1."""
    weights: Dict[str, float] = {}
    for part in (spec or "").split(","):
        part = part.strip()
        if not part:
            continue
        name, _, w = part.partition(":")
        if name not in NAMES:
            raise ValueError(f"--reward: unknown reward {name!r}; choose from {', '.join(NAMES)}")
        try:
            weight = float(w) if w else 1.0
        except ValueError:
            raise ValueError(f"--reward: {part!r} needs a number after the colon") from None
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(f"--reward: {part!r}: a weight is a finite number >= 0")
        if name in weights:
            raise ValueError(f"--reward: {name} is given twice")
        weights[name] = weight
    if not weights or not any(weights.values()):
        raise ValueError(f"--reward {spec!r}: give at least one reward with a weight above 0")
    return weights


class Reward:
    """The weighted sum of the named rewards; ``components`` keeps each for TensorBoard."""

    def __init__(self, weights: Mapping[str, float], corpus: Optional[Iterable[str]] = None,
                 labeler=None):
        self.weights = dict(weights)
        self.parts = {}
        for name in self.weights:
            if name == "cider":
                if corpus is None:
                    raise ValueError("the cider reward needs the training references (corpus)")
                self.parts[name] = CiderD(corpus)
            elif name == "bleu4":
                self.parts[name] = bleu4
            else:
                obs = CHEXPERT_OBSERVATIONS if name == "ce" else MIURA_5
                self.parts[name] = ClinicalF1(obs, labeler)

    def components(self, candidates: Sequence[str], references: Sequence[str]) -> Dict[str, np.ndarray]:
        if len(candidates) != len(references):
            raise ValueError(f"{len(candidates)} samples for {len(references)} references")
        return {name: fn(candidates, references) for name, fn in self.parts.items()}

    def __call__(self, candidates: Sequence[str], references: Sequence[str]):
        """(total [N], {name: [N]})."""
        parts = self.components(candidates, references)
        total = sum(self.weights[n] * v for n, v in parts.items())
        return np.asarray(total, np.float32), parts
