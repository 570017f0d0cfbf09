"""One scoring entry point: NLG + CE, for all, normal and abnormal (each its own corpus)."""
from __future__ import annotations

from typing import Dict, Iterable, Mapping, Optional

from tfreport import labelers
from tfreport.metrics import nlg
from tfreport.metrics.external import check_cover, per_report
from tfreport.metrics.clinical import clinical_efficacy
from tfreport.metrics.diagnostics import report_diagnostics

Labels = Mapping[str, Mapping[str, Optional[int]]]


def score_group(predictions: Mapping[str, str], references: Mapping[str, str],
                predicted_labels: Labels, reference_labels: Labels, uncertain: int = 0,
                metrics=None, stemmed: Optional[Mapping[str, float]] = None) -> dict:
    """NLG metrics (pycocoevalcap) and CE figures for one group of studies. ``stemmed``:
    each report's rouge-score ROUGE-L, computed once for all groups (None: computed here
    when every metric is asked for)."""
    out: dict = dict(nlg.score(predictions, references, metrics))
    if metrics is None:
        if stemmed is None:
            stemmed = nlg.rouge_l_stemmed_per_report(predictions, references)
        out[nlg.ROUGE_STEMMED] = sum(stemmed[k] for k in predictions) / len(predictions)
    ce = clinical_efficacy({k: predicted_labels[k] for k in predictions}, reference_labels,
                           uncertain=uncertain)
    out.update({"CE-P": ce["micro"]["precision"], "CE-R": ce["micro"]["recall"],
                "CE-F1": ce["micro"]["f1"], "CE-macro-F1": ce["macro"]["f1"],
                "CE-5-micro-F1": ce["miura5_micro"]["f1"], "CE-example-F1": ce["example"]["f1"],
                "CE": ce, "studies": len(predictions)})
    return out


GROUP_FLAGS = (("normal", True), ("abnormal", False))


def _group_ids(predictions: Mapping[str, str], normal: Mapping[str, bool], flag: bool):
    return [k for k in predictions if normal.get(k) is flag]


def add_diagnostics(result: dict, predictions: Mapping[str, str],
                    references: Mapping[str, str], normal: Optional[Mapping[str, bool]] = None,
                    training_reports: Optional[Iterable[str]] = None) -> dict:
    """Sets ``diagnostics`` on ``result`` (``score``'s result for ``predictions`` and
    ``normal``) and on each of its groups, over that group's studies. Also how a saved
    result gains diagnostics added since it was scored, without scoring it again."""
    if result.get("groups") and normal is None:
        raise ValueError("the result has normal and abnormal groups: give the normal flags "
                         "that made them")
    training_reports = None if training_reports is None else list(training_reports)
    result["diagnostics"] = report_diagnostics(predictions, references, training_reports)
    for name, flag in GROUP_FLAGS:
        if name in result.get("groups", {}):
            ids = _group_ids(predictions, normal, flag)
            result["groups"][name]["diagnostics"] = report_diagnostics(
                {k: predictions[k] for k in ids}, references, training_reports)
    return result


def score(predictions: Mapping[str, str], references: Mapping[str, str],
          normal: Optional[Mapping[str, bool]] = None, uncertain: int = 0,
          predicted_labels: Optional[Labels] = None, reference_labels: Optional[Labels] = None,
          metrics=None, bootstrap: int = 0, seed: int = 0,
          training_reports: Optional[Iterable[str]] = None,
          external: Optional[Mapping[str, Mapping[str, float]]] = None,
          labeler=None) -> dict:
    """Scores predictions against references; with ``normal`` ({id: bool}) the normal and
    abnormal studies are also scored, each as its own corpus (ids without a flag are left
    out of both groups). Labels default to ``labeler`` (``labelers.get``; tfreport's
    rule-based one when None) on each text; ``CE-labeler`` names where they came from.

    The whole and each group carry ``diagnostics`` (``diagnostics.report_diagnostics`` on
    that group's studies); ``training_reports`` (texts) give their ``copied`` and
    ``novel_sentences`` shares.

    ``bootstrap`` > 0 adds ``ci``, {metric: [low, high]} 95% intervals over that many
    resamples of the studies (seeded), to the whole and to each group.

    ``external``: {name: {id: score}} per-report scores from another tool; each becomes a
    figure (the mean over the group) with its interval, and ``external`` lists the names."""
    if not predictions:
        raise ValueError("no predictions to score")
    missing = [k for k in predictions if k not in references]
    if missing:
        raise KeyError(f"{len(missing)} prediction ids have no reference, e.g. {missing[:3]}")
    labeler = labeler or labelers.RULES
    pl = predicted_labels or labeler.label_reports(predictions)
    rl = reference_labels or labeler.label_reports({k: references[k] for k in predictions})
    # rouge-score's ROUGE-L per report, once for every group and the bootstrap
    stemmed = nlg.rouge_l_stemmed_per_report(predictions, references) if metrics is None else None
    result = score_group(predictions, references, pl, rl, uncertain, metrics, stemmed)
    external = dict(external or {})
    for name, scores in external.items():
        check_cover(name, scores, predictions)
    result["CE-labeler"] = ("external labels" if predicted_labels is not None
                            else labeler.name)
    subsets = {None: list(predictions)}
    if normal is not None:
        groups: Dict[str, dict] = {}
        for name, flag in GROUP_FLAGS:
            ids = _group_ids(predictions, normal, flag)
            if ids:
                groups[name] = score_group({k: predictions[k] for k in ids}, references, pl, rl,
                                           uncertain, metrics, stemmed)
                subsets[name] = ids
        result["groups"] = groups
    if external:
        result["external"] = list(external)
    for name, ids in subsets.items():
        block = result if name is None else result["groups"][name]
        for metric, scores in external.items():
            block[metric] = sum(scores[k] for k in ids) / len(ids)
    add_diagnostics(result, predictions, references, normal, training_reports)
    if bootstrap:
        from tfreport.metrics import bootstrap as boot
        with boot.open_meteor() as meteor:
            for name, ids in subsets.items():
                stats = boot.collect({k: predictions[k] for k in ids}, references, pl, rl,
                                     uncertain, meteor, stemmed)
                if external:
                    stats.external = per_report(external, stats.ids)
                block = result if name is None else result["groups"][name]
                block["ci"] = boot.intervals(stats, bootstrap, seed, meteor)
        result["bootstrap"] = {"resamples": bootstrap, "seed": seed, "level": boot.LEVEL}
    return result
