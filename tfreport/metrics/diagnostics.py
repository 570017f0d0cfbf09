"""Report diagnostics (docs/design.md §4): what a table's scores cannot show on their own.

A model that writes one report for every study can still score well, so every score table
carries, computed on the same ``{study_id: report text}`` strings the metrics score, after
the metrics' normalisation (``nlg.normalise``: lower-cased, punctuation removed):

- ``sentences``, ``words``: mean sentences and words per predicted report, beside
  ``ref_sentences`` and ``ref_words``, the references' means over the same studies;
- ``distinct``: the share of predictions whose text occurs only once among the predictions
  scored together (one report for every study gives 0.0; each group of a table is its own
  set); ``unique_reports`` is the number of different texts; ``ref_distinct``, the
  references' own share over the same studies (templated normal reports repeat);
- ``copied``: the share of predictions identical to some training report (None when no
  training reports are given);
- ``repeated_sentences``: the share of all predicted sentences that occur earlier in the same
  report ("a b. a b." is 0.5; None when there is no sentence at all);
- ``novel_sentences``: the share of all predicted sentences that occur in no training report,
  beside ``ref_novel_sentences``, the references' share (None without training reports).
  IU X-Ray's sentences recur from report to report, so a model far above the references'
  share is writing sentences no radiologist wrote: sampled word salad, which ``distinct``
  alone would count as variety.

Sentences are read back from the text as ``text.join_report`` writes them, each ended by a
period (``text.split_sentences``). Text without any period, such as report files written
before ``join_report`` ended sentences with one, has no sentence boundaries: when no report
of a set holds a period but some hold words, its sentence figures are None ("n/a").
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, List, Mapping, Optional, Sequence

from tfreport.metrics.nlg import normalise
from tfreport.text import split_sentences

# (key, table header); the references' means are printed beside, or once above, these.
COLUMNS = (("sentences", "sentences"), ("words", "words"), ("distinct", "distinct"),
           ("copied", "copied"), ("repeated_sentences", "repeated"),
           ("novel_sentences", "novel"))
REFERENCE_COLUMNS = (("ref_sentences", "sentences"), ("ref_words", "words"),
                     ("ref_novel_sentences", "novel"))
NOTE = ("Diagnostics on the scored text: sentences and words are means per report; distinct "
        "is the share of reports whose text occurs only once among the predictions scored "
        "together; copied, the share identical to a training report; repeated, the share of "
        "predicted sentences that occur earlier in the same report; novel, the share of "
        "predicted sentences found in no training report (the references' share beside it). "
        "n/a: sentence figures, the text has no sentence boundaries (no periods); copied and "
        "novel, no training reports given.")


# The shape of reports a reader would accept (issue #15's bars): sentences per report within
# this fraction of the references', at least this share of reports distinct (the benchmark's
# grounding table checks these two as stated; the warnings below lower the distinct bar where
# the references themselves repeat), and, for the warnings only, at most this share of
# sentences said twice in a report (the references repeat almost none).
SENTENCE_TOLERANCE, MIN_DISTINCT, MAX_REPEATED = 0.25, 0.30, 0.05
DECODING_HINT = ("Try decoding as the benchmarks do: evaluate.py --mbr_samples 8 (the "
                 "minimum-Bayes-risk choice among the beam report and 8 samples; MRNA and "
                 "Hier-RNN then pass over candidates that repeat a sentence).")


def shape_warnings(d: Mapping, groups: Optional[Mapping[str, Mapping]] = None) -> List[str]:
    """One sentence for each bar a set of predictions' diagnostics ``d`` fails: few distinct
    reports, reports too short or too long against the references', sentences said twice.
    ``groups`` ({name: diagnostics}, say normal and abnormal) add each group's distinct share.
    Empty when the reports pass, or when a figure cannot be computed."""
    out = []
    # Where the references themselves repeat (templated normal reports), the bar is half their
    # own share: a model that writes as the references do is never flagged.
    bar = MIN_DISTINCT if d.get("ref_distinct") is None else min(MIN_DISTINCT,
                                                                  d["ref_distinct"] / 2)
    if d.get("distinct") is not None and d["distinct"] < bar and (d.get("studies") or 0) > 1:
        where = ", ".join(f"{name} {g['distinct']:.1%}" for name, g in (groups or {}).items()
                          if g.get("distinct") is not None)
        texts = (f"; {d['unique_reports']:g} different texts"
                 if d.get("unique_reports") is not None else "")
        out.append(f"only {d['distinct']:.1%} of the {d['studies']:g} reports are distinct "
                   f"(bar {bar:.1%}{texts}" + (f"; {where}" if where else "")
                   + "): many studies get the same report, word for word")
    sent, ref = d.get("sentences"), d.get("ref_sentences")
    if sent is not None and ref and abs(sent - ref) > SENTENCE_TOLERANCE * ref:
        out.append(f"{sent:.2f} sentences a report against the references' {ref:.2f} (bar: "
                   f"within {SENTENCE_TOLERANCE:.0%})")
    if d.get("repeated_sentences") is not None and d["repeated_sentences"] > MAX_REPEATED:
        out.append(f"{d['repeated_sentences']:.1%} of the sentences repeat an earlier one in "
                   f"the same report (bar {MAX_REPEATED:.0%})")
    return out


def sentences(texts: Iterable[str]) -> Optional[List[List[str]]]:
    """Each text's normalised, non-empty sentences, or None when the texts carry no sentence
    boundaries (not one period, yet some words)."""
    texts = [t or "" for t in texts]
    if not any("." in t for t in texts) and any(normalise(t) for t in texts):
        return None
    return [[s for s in (normalise(x) for x in split_sentences(t)) if s] for t in texts]


def _mean(values: Iterable[float]) -> Optional[float]:
    values = list(values)
    return sum(values) / len(values) if values else None


def report_diagnostics(predictions: Mapping[str, str], references: Mapping[str, str],
                       training_reports: Optional[Iterable[str]] = None) -> dict:
    """The diagnostics of ``predictions`` ({id: text}) with the references' means over the
    same ids; ``training_reports`` (texts) give ``copied`` and ``novel_sentences``."""
    if not predictions:
        raise ValueError("no predictions to diagnose")
    ids = list(predictions)
    missing = [i for i in ids if i not in references]
    if missing:
        raise KeyError(f"{len(missing)} prediction ids have no reference, e.g. {missing[:3]}")
    texts = [normalise(predictions[i]) for i in ids]
    ref_texts = [normalise(references[i]) for i in ids]
    pred_sents = sentences(predictions[i] for i in ids)
    ref_sents = sentences(references[i] for i in ids)
    copied = novel = ref_novel = None
    if training_reports is not None:
        training_reports = list(training_reports)
        train = {normalise(t) for t in training_reports}
        copied = sum(t in train for t in texts) / len(ids)
        # a training report without a period is one sentence
        known = {normalise(x) for t in training_reports for x in split_sentences(t or "")}
        novel, ref_novel = (_novel(s, known) for s in (pred_sents, ref_sents))
    repeated = None
    if pred_sents is not None:
        total = sum(len(s) for s in pred_sents)
        repeated = sum(len(s) - len(set(s)) for s in pred_sents) / total if total else None
    return {
        "studies": len(ids),
        "sentences": None if pred_sents is None else _mean(len(s) for s in pred_sents),
        "ref_sentences": None if ref_sents is None else _mean(len(s) for s in ref_sents),
        "words": _mean(len(t.split()) for t in texts),
        "ref_words": _mean(len(t.split()) for t in ref_texts),
        "distinct": _distinct(texts),
        "ref_distinct": _distinct(ref_texts),
        "unique_reports": len(set(texts)),
        "copied": copied,
        "repeated_sentences": repeated,
        "novel_sentences": novel,
        "ref_novel_sentences": ref_novel,
    }


def _distinct(texts: Sequence[str]) -> float:
    """The share of ``texts`` that occur only once among them."""
    return sum(n == 1 for n in Counter(texts).values()) / len(texts)


def _novel(reports: Optional[List[List[str]]], known: set) -> Optional[float]:
    """The share of all sentences of ``reports`` not in ``known``; None without any."""
    if not reports or not known:
        return None
    total = sum(len(r) for r in reports)
    return sum(x not in known for r in reports for x in r) / total if total else None


def training_reports(data_dir: str) -> List[str]:
    """The training reports of a prepared dataset (``data_entry.json`` and
    ``train_split.json``, joined as the references are), as ``copied`` compares them."""
    from tfreport.evaluation import references
    return list(references(data_dir, "train").values())
