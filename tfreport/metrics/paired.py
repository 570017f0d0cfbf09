"""Paired significance between two systems' reports for the same studies.

Two tests, both on the per-report statistics that ``bootstrap`` already keeps, so each
resample or shuffle recomputes the corpus figures from sums (BLEU exactly as BleuScorer,
ROUGE-L and CIDEr-D as means of per-report scores, CE-F1 from summed counts; METEOR by the
Java scorer's own aggregation):

- **paired bootstrap** (Koehn 2004): resample the studies with replacement, the same draw
  for both systems, and take the difference each time. Gives the difference's 95% interval,
  and a two-sided p-value: twice the share of draws on the far side of zero.
- **approximate randomisation** (Noreen 1989; Riezler & Maxwell 2005): under the null
  hypothesis the two systems are exchangeable, so swap the two reports of each study with
  probability 1/2 and count how often the swapped difference is at least as large as the
  observed one. p = (count + 1) / (trials + 1).

The difference is always ``b - a``: the second system minus the first.
"""
from __future__ import annotations

import contextlib
import dataclasses
from typing import Dict, Optional

import numpy as np

from tfreport.metrics.bootstrap import (LEVEL, ReportStats, corpus, percentile_interval,
                                        two_sided_p)


def mix(a: ReportStats, b: ReportStats, take_b: np.ndarray) -> ReportStats:
    """A system that has ``b``'s report where ``take_b`` is true and ``a``'s elsewhere."""
    if a.ids != b.ids:
        raise ValueError("paired statistics must cover the same studies in the same order")
    fields = {}
    for field in dataclasses.fields(ReportStats):
        x, y = getattr(a, field.name), getattr(b, field.name)
        if field.name == "ids":
            fields["ids"] = a.ids
        elif x is None or y is None:
            fields[field.name] = None
        elif isinstance(x, dict):
            if set(x) != set(y):
                raise ValueError(f"the systems have different external metrics: "
                                 f"{sorted(x)} and {sorted(y)}")
            fields[field.name] = {k: np.where(take_b, y[k], x[k]) for k in x}
        elif isinstance(x, list):
            fields[field.name] = [yi if t else xi for xi, yi, t in zip(x, y, take_b)]
        else:
            mask = take_b.reshape((-1,) + (1,) * (x.ndim - 1))
            fields[field.name] = np.where(mask, y, x)
    return ReportStats(**fields)


def compare(a: ReportStats, b: ReportStats, resamples: int = 1000, trials: int = 1000,
            seed: int = 0, meteor=None, level: float = LEVEL,
            desc: Optional[str] = None) -> Dict[str, dict]:
    """{metric: {a, b, diff, ci: [low, high], p_bootstrap, p_randomisation}} for ``b - a``.

    Seeded: the same seed gives the same intervals and p-values. ``resamples`` or ``trials``
    0 leaves that test out (its fields None). ``desc``: show a progress bar so named."""
    from tfreport.progress import progress
    if a.ids != b.ids:
        raise ValueError("paired statistics must cover the same studies in the same order")
    n = len(a.ids)
    if n == 0:
        raise ValueError("no studies to compare")
    everything = np.arange(n)
    score_a, score_b = corpus(a, everything, meteor), corpus(b, everything, meteor)
    metrics = [m for m in score_a if m in score_b]
    observed = {m: score_b[m] - score_a[m] for m in metrics}
    rng = np.random.default_rng(seed)

    boot: Dict[str, list] = {m: [] for m in metrics}
    extreme = {m: 0 for m in metrics}
    # the bootstrap draws first, then the randomisation trials, under one progress bar
    for step in progress(range(resamples + trials), desc=desc or "", disable=desc is None,
                         unit="draw"):
        if step < resamples:
            idx = rng.integers(0, n, n)
            ra, rb = corpus(a, idx, meteor), corpus(b, idx, meteor)
            for m in metrics:
                boot[m].append(rb[m] - ra[m])
        else:
            swap = rng.random(n) < 0.5
            ra = corpus(mix(a, b, swap), everything, meteor)
            rb = corpus(mix(b, a, swap), everything, meteor)
            for m in metrics:
                # a small tolerance, so ties with the observed difference count as extreme
                extreme[m] += abs(rb[m] - ra[m]) >= abs(observed[m]) - 1e-12

    out = {}
    for m in metrics:
        row = {"a": score_a[m], "b": score_b[m], "diff": observed[m], "ci": None,
               "p_bootstrap": None, "p_randomisation": None}
        if resamples:
            row["ci"] = percentile_interval(boot[m], level)
            row["p_bootstrap"] = two_sided_p(boot[m])
        if trials:
            row["p_randomisation"] = (extreme[m] + 1) / (trials + 1)
        out[m] = row
    return out


def significant(row: dict, alpha: float = 0.05) -> Optional[bool]:
    """Whether both tests that ran reject equality at ``alpha`` (None: neither ran)."""
    ps = [p for p in (row.get("p_bootstrap"), row.get("p_randomisation")) if p is not None]
    return None if not ps else all(p < alpha for p in ps)


GROUPS = (("All", None), ("Normal", True), ("Abnormal", False))


def compare_systems(systems: Dict[str, Dict[str, str]], references: Dict[str, str],
                    normal: Optional[Dict[str, bool]] = None, resamples: int = 1000,
                    trials: int = 1000, seed: int = 0, uncertain: int = 0,
                    use_meteor: bool = True, min_positives: int = 20,
                    quiet: bool = False,
                    external: Optional[Dict[str, Dict[str, Dict[str, float]]]] = None,
                    labeler=None) -> dict:
    """Every system after the first against the first, per group (All, and Normal and
    Abnormal when ``normal`` is given): {"baseline", "groups": {group: {system: {metric:
    row}}}, "studies": {group: n}}. Every system must cover the same studies.

    Beside the corpus figures, "CE-macro-F1 (K obs)" is the benchmark's grounding figure:
    the F1 (positive only) averaged over the K findings (not No Finding) with at least
    ``min_positives`` positive references among the group's studies (a group with none, as
    Normal usually is, has no such figure). ``external``:
    {system: {metric: {id: score}}}, per-report scores from another tool, compared as their
    means. ``labeler``: the CheXpert labeler of the CE figures (``labelers.get``; the
    rule-based one when None); ``result["labeler"]`` names it."""
    from tfreport import labelers
    from tfreport.metrics import bootstrap as boot, grounding
    if len(systems) < 2:
        raise ValueError("compare needs two or more systems")
    names = list(systems)
    ids = sorted(systems[names[0]])
    for name in names:
        missing = sorted(set(ids) ^ set(systems[name]))
        if missing:
            raise ValueError(f"{name}: its studies differ from {names[0]}'s in {len(missing)} "
                             f"ids (e.g. {missing[:3]}); a paired test needs the same studies")
    from tfreport.metrics.external import check_cover, per_report
    external = external or {}
    metric_sets = {tuple(sorted(external.get(n, {}))) for n in names}
    if len(metric_sets) > 1:
        raise ValueError("every system needs the same external metrics")
    for name in names:
        for metric, scores in external.get(name, {}).items():
            check_cover(f"{metric} of {name}", scores, ids)
    unknown = [i for i in ids if i not in references]
    if unknown:
        raise KeyError(f"{len(unknown)} studies predicted by {', '.join(names)} have no "
                       f"reference, e.g. {unknown[:3]}")
    labeler = labeler or labelers.RULES
    ref_labels = labeler.label_reports({i: references[i] for i in ids})
    ref_pos = grounding.positives(ref_labels)
    out = {"baseline": names[0], "groups": {}, "studies": {}, "observations": {},
           "min_positives": min_positives, "labeler": labeler.name,
           "resamples": resamples, "trials": trials, "seed": seed, "level": LEVEL}
    with (boot.open_meteor() if use_meteor else contextlib.nullcontext()) as meteor:
        for group, flag in GROUPS:
            if flag is not None and normal is None:
                continue
            members = [i for i in ids if flag is None or normal.get(i) is flag]
            if not members:
                continue
            # the grounding figure's findings: those with enough positives in this group
            observations = grounding.supported({i: ref_pos[i] for i in members},
                                               grounding.FINDINGS, min_positives)
            out["observations"][group] = observations
            stats = {}
            for name in names:
                preds = {i: systems[name][i] for i in members}
                labels = labeler.label_reports(preds)
                stats[name] = boot.collect(preds, references, labels, ref_labels, uncertain,
                                           meteor)
                if external.get(name):
                    stats[name].external = per_report(external[name], stats[name].ids)
                if observations:
                    stats[name].ce_obs = grounding._counts(
                        grounding.positives(labels), ref_pos, stats[name].ids, observations)
            out["studies"][group] = len(members)
            out["groups"][group] = {
                name: compare(stats[names[0]], stats[name], resamples, trials, seed, meteor,
                              desc=None if quiet else f"{group}: {name} vs {names[0]}")
                for name in names[1:]}
    return out


def markdown(result: dict, digits: int = 4) -> str:
    """One table per group: each metric, the two systems, the difference with its interval,
    and both p-values; * where both tests reject equality at .05."""
    lines = []
    base = result["baseline"]
    for group, by_system in result["groups"].items():
        for name, rows in by_system.items():
            lines += [f"### {group} ({result['studies'][group]} studies): {name} - {base}", "",
                      f"| metric | {base} | {name} | difference | 95% interval | "
                      "p (bootstrap) | p (randomisation) |",
                      "|---|---|---|---|---|---|---|"]
            for metric, r in rows.items():
                ci = "" if r["ci"] is None else f"[{r['ci'][0]:+.{digits}f}, {r['ci'][1]:+.{digits}f}]"
                pb = "" if r["p_bootstrap"] is None else f"{r['p_bootstrap']:.3f}"
                pr = "" if r["p_randomisation"] is None else f"{r['p_randomisation']:.3f}"
                mark = " *" if significant(r) else ""
                lines.append(f"| {metric} | {r['a']:.{digits}f} | {r['b']:.{digits}f} | "
                             f"{r['diff']:+.{digits}f}{mark} | {ci} | {pb} | {pr} |")
            lines.append("")
    lines.append(f"Differences are the second system minus {base}, on the same studies; "
                 f"{result['resamples']} paired bootstrap resamples and {result['trials']} "
                 f"approximate-randomisation trials (seed {result['seed']}). * : both tests "
                 "reject equality at .05. CE labels: "
                 f"{result.get('labeler', 'tfreport rule-based labeler')}.")
    for group, observations in result.get("observations", {}).items():
        if observations:
            lines.append(f"CE-macro-F1 ({len(observations)} obs), {group}: F1 (positive only) "
                         f"averaged over the findings with at least {result['min_positives']} "
                         f"positive references in the group: {', '.join(observations)}.")
    return "\n".join(lines)
