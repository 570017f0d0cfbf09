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
from typing import Dict, List, Optional, Sequence, Union

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


Runs = Union[ReportStats, Sequence[ReportStats]]


def _runs(x: Runs) -> List[ReportStats]:
    return [x] if isinstance(x, ReportStats) else list(x)


def _seed_mean(runs: List[ReportStats], idx: np.ndarray, meteor) -> List[Dict[str, float]]:
    return [corpus(r, idx, meteor) for r in runs]


def compare(a: Runs, b: Runs, resamples: int = 1000, trials: int = 1000,
            seed: int = 0, meteor=None, level: float = LEVEL,
            desc: Optional[str] = None) -> Dict[str, dict]:
    """{metric: {a, b, diff, ci: [low, high], p_bootstrap, p_randomisation, a_ci, b_ci,
    a_sd, b_sd, seeds}} for ``b - a``.

    ``a`` and ``b`` are one run each, or several (seeds): a system's figure is then the
    mean over its runs, ``a_sd``/``b_sd`` the sd across them, and every resample draws the
    same studies for every run. ``a_ci``/``b_ci`` are each system's own 95% interval over
    the resamples (of the seed mean). Approximate randomisation pairs run i of ``a`` with
    run i of ``b`` (a fine-tuned model with the run it started from), so it needs as many
    runs on both sides.

    Seeded: the same seed gives the same intervals and p-values. ``resamples`` or ``trials``
    0 leaves that test out (its fields None). ``desc``: show a progress bar so named."""
    from tfreport.progress import progress
    a, b = _runs(a), _runs(b)
    if not a or not b:
        raise ValueError("each system needs at least one run")
    if any(r.ids != a[0].ids for r in a + b):
        raise ValueError("paired statistics must cover the same studies in the same order")
    if trials and len(a) != len(b):
        raise ValueError(f"approximate randomisation pairs the runs, but the systems have "
                         f"{len(a)} and {len(b)}; give as many of each, or no trials")
    n = len(a[0].ids)
    if n == 0:
        raise ValueError("no studies to compare")
    everything = np.arange(n)
    runs_a, runs_b = _seed_mean(a, everything, meteor), _seed_mean(b, everything, meteor)
    metrics = [m for m in runs_a[0] if m in runs_b[0]]
    mean = lambda runs, m: float(np.mean([r[m] for r in runs]))  # noqa: E731
    sd = lambda runs, m: float(np.std([r[m] for r in runs], ddof=1)) if len(runs) > 1 else None  # noqa: E731
    observed = {m: mean(runs_b, m) - mean(runs_a, m) for m in metrics}
    rng = np.random.default_rng(seed)

    boot: Dict[str, list] = {m: [] for m in metrics}
    boot_a: Dict[str, list] = {m: [] for m in metrics}
    boot_b: Dict[str, list] = {m: [] for m in metrics}
    extreme = {m: 0 for m in metrics}
    # the bootstrap draws first, then the randomisation trials, under one progress bar
    for step in progress(range(resamples + trials), desc=desc or "", disable=desc is None,
                         unit="draw"):
        if step < resamples:
            idx = rng.integers(0, n, n)
            ra, rb = _seed_mean(a, idx, meteor), _seed_mean(b, idx, meteor)
            for m in metrics:
                boot_a[m].append(mean(ra, m))
                boot_b[m].append(mean(rb, m))
                boot[m].append(boot_b[m][-1] - boot_a[m][-1])
        else:
            swap = rng.random(n) < 0.5
            ra = [corpus(mix(x, y, swap), everything, meteor) for x, y in zip(a, b)]
            rb = [corpus(mix(y, x, swap), everything, meteor) for x, y in zip(a, b)]
            for m in metrics:
                # a small tolerance, so ties with the observed difference count as extreme
                extreme[m] += abs(mean(rb, m) - mean(ra, m)) >= abs(observed[m]) - 1e-12

    out = {}
    for m in metrics:
        row = {"a": mean(runs_a, m), "b": mean(runs_b, m), "diff": observed[m], "ci": None,
               "p_bootstrap": None, "p_randomisation": None, "a_ci": None, "b_ci": None,
               "a_sd": sd(runs_a, m), "b_sd": sd(runs_b, m), "seeds": [len(a), len(b)]}
        if resamples:
            row["ci"] = percentile_interval(boot[m], level)
            row["p_bootstrap"] = two_sided_p(boot[m])
            row["a_ci"] = percentile_interval(boot_a[m], level)
            row["b_ci"] = percentile_interval(boot_b[m], level)
        if trials:
            row["p_randomisation"] = (extreme[m] + 1) / (trials + 1)
        out[m] = row
    return out


def significant(row: dict, alpha: float = 0.05) -> Optional[bool]:
    """Whether both tests that ran reject equality at ``alpha`` (None: neither ran)."""
    ps = [p for p in (row.get("p_bootstrap"), row.get("p_randomisation")) if p is not None]
    return None if not ps else all(p < alpha for p in ps)


GROUPS = (("All", None), ("Normal", True), ("Abnormal", False))


def compare_systems(systems: Dict[str, Union[Dict[str, str], List[Dict[str, str]]]],
                    references: Dict[str, str],
                    normal: Optional[Dict[str, bool]] = None, resamples: int = 1000,
                    trials: int = 1000, seed: int = 0, uncertain: int = 0,
                    use_meteor: bool = True, min_positives: int = 20,
                    quiet: bool = False,
                    external: Optional[Dict[str, Dict[str, Dict[str, float]]]] = None,
                    labeler=None) -> dict:
    """Every system after the first against the first, per group (All, and Normal and
    Abnormal when ``normal`` is given): {"baseline", "groups": {group: {system: {metric:
    row}}}, "studies": {group: n}}. Every system must cover the same studies. A system is
    one run's predictions {id: report}, or a list of them (seeds), compared by their mean
    (``compare``).

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
    runs = {n: [v] if isinstance(v, dict) else list(v) for n, v in systems.items()}
    if not all(runs.values()):
        raise ValueError("every system needs at least one run's predictions")
    ids = sorted(runs[names[0]][0])
    for name in names:
        for run in runs[name]:
            missing = sorted(set(ids) ^ set(run))
            if missing:
                raise ValueError(f"{name}: its studies differ from {names[0]}'s in "
                                 f"{len(missing)} ids (e.g. {missing[:3]}); a paired test "
                                 "needs the same studies")
    from tfreport.metrics.external import check_cover, per_report
    external = external or {}
    metric_sets = {tuple(sorted(external.get(n, {}))) for n in names}
    if len(metric_sets) > 1:
        raise ValueError("every system needs the same external metrics")
    for name in names:
        if external.get(name) and len(runs[name]) > 1:
            raise ValueError(f"{name}: external metrics need one run per system, not "
                             f"{len(runs[name])}")
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
                stats[name] = []
                for run in runs[name]:
                    preds = {i: run[i] for i in members}
                    labels = labeler.label_reports(preds)
                    one = boot.collect(preds, references, labels, ref_labels, uncertain, meteor)
                    if external.get(name):
                        one.external = per_report(external[name], one.ids)
                    if observations:
                        one.ce_obs = grounding._counts(grounding.positives(labels), ref_pos,
                                                       one.ids, observations)
                    stats[name].append(one)
            out["studies"][group] = len(members)
            out["groups"][group] = {
                name: compare(stats[names[0]], stats[name], resamples, trials, seed, meteor,
                              desc=None if quiet else f"{group}: {name} vs {names[0]}")
                for name in names[1:]}
    return out


def _figure(row: dict, side: str, digits: int) -> str:
    """One system's figure: the value, or for several runs mean ± sd [interval]."""
    value = f"{row[side]:.{digits}f}"
    if row.get(f"{side}_sd") is None:
        return value
    ci = row.get(f"{side}_ci")
    ci = "" if ci is None else f" [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"
    return f"{value} ± {row[f'{side}_sd']:.{digits}f}{ci}"


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
                lines.append(f"| {metric} | {_figure(r, 'a', digits)} | {_figure(r, 'b', digits)} | "
                             f"{r['diff']:+.{digits}f}{mark} | {ci} | {pb} | {pr} |")
            lines.append("")
    seeded = any(max(r.get("seeds") or [1]) > 1 for by in result["groups"].values()
                 for rows in by.values() for r in rows.values())
    if seeded:
        lines.append("A system of several runs (seeds) shows mean ± sd over them [95% interval "
                     "of the mean over resampled studies]; the difference is of the means, and "
                     "randomisation swaps the reports of run i of each system.")
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
