"""Writing a benchmark: results.md, results.csv, results.json and the per-condition chart."""
from __future__ import annotations

import csv
import os
from typing import Dict, List, Optional

from tfreport import fileio
from tfreport.atomic import write_json, write_text, writing
from tfreport.experiments.results_table import DIAGNOSTICS, GROUPS
from tfreport.labelers import RULES_NAME
from tfreport.labels import CHEXPERT_OBSERVATIONS
from tfreport.metrics import diagnostics
from tfreport.metrics.table import COLUMNS, cell as _cell
from tfreport.experiments.published import published

CHART = "ce_f1_per_condition.png"
DIAG = tuple(k for k, _ in diagnostics.COLUMNS)
REF = {header: key for key, header in diagnostics.REFERENCE_COLUMNS}


def _reference_cells(d: dict) -> List[str]:
    """The references' own figures (sentences, words, novel) under those columns, blank
    elsewhere."""
    keys = [REF.get(header) for _, header in diagnostics.COLUMNS]
    return [_cell({k: d[k]}, k) if k in d else "" for k in keys]


def _seconds(value: Optional[float]) -> str:
    if value is None:
        return "-"
    return f"{value / 60:.1f} min" if value >= 60 else f"{value:.0f} s"


def markdown(rows: List[dict], meta: dict) -> str:
    lines = [f"# Benchmark: {meta['name']}", ""]
    lines += [f"- Dataset: `{meta['data_dir']}` ({meta['dataset']}; test split "
              f"{meta['counts'].get('test', '?')} studies: {meta['normal_test']} normal, "
              f"{meta['abnormal_test']} abnormal; normal = {meta['normal_definition']})",
              f"- Preset: {meta['preset']}; seeds: {meta['seeds']}"
              + (" (mean ± sd over the seeds each row has finished; rows with one seed "
                 "show no sd)" if meta["seeds"] > 1 else "")
              + ("; rows marked (frozen) train from cached features of a frozen extractor, "
                 "rows marked (fine-tuned) train it end to end"),
              f"- Command: `{meta['command']}`",
              "- Test decoding: " + ("; ".join(sorted({r["decoding"] for r in rows
                                                        if r.get("decoding")})) or "-"),
              "- Scoring: pycocoevalcap 1.2 on legacy-normalised text, untruncated references "
              "(tfreport default); each group scored as its own corpus. CE-F1: "
              + ("tfreport's rule-based CheXpert labeler" if meta.get("labeler", RULES_NAME)
                 == RULES_NAME else meta["labeler"])
              + " on prediction and reference, micro over the 14 observations, positive only.",
              "- Training time is the whole train.py run (training, validation, checkpoints); "
              "for a run continued by --reuse, the sum of its epochs' times (steps and "
              "validation), or - where its first epochs predate them; "
              "decoding is best.keras on the test split after a warm-up batch.",
              "- " + diagnostics.NOTE + " The references row gives the references' own figures; "
              "copied and novel are against the dataset's training reports."]
    if meta.get("not_run"):
        lines.append("- Not run yet (no finished record): " + ", ".join(meta["not_run"]))
    lines.append("")
    cols = list(COLUMNS)
    lines.append("| model | weights | group | studies | " + " | ".join(cols) + " | "
                 + " | ".join(h for _, h in diagnostics.COLUMNS) + " | training | reports/s |")
    lines.append("|---|---|---|---|" + "---|" * (len(cols) + len(DIAG)) + "---|---|")
    for name, _ in GROUPS:  # the references: the same test studies for every row
        block = next((r["groups"][name] for r in rows
                      if "diagnostics" in r["groups"].get(name, {})), None)
        if block is not None:
            cells = (["references (test)" if name == "All" else "", "", name,
                      str(int(block["studies"]))] + [""] * len(cols)
                     + _reference_cells(block["diagnostics"]) + ["", ""])
            lines.append("| " + " | ".join(cells) + " |")
    for r in rows:
        for name, _ in GROUPS:
            block = r["groups"].get(name, {})
            first = name == "All"
            rate = r.get("reports_per_second")
            lines.append(
                f"| {r['label'] if first else ''} | {r['weights'] if first else ''} | {name} | "
                f"{int(block['studies']) if 'studies' in block else ''} | "
                + " | ".join(_cell(block, c) for c in cols) + " | "
                + " | ".join(_cell(block.get("diagnostics", {}), c) for c in DIAG)
                + f" | {_seconds(r.get('train_seconds')) if first else ''} | "
                + (f"{rate:.1f}" if first and rate else "") + " |")
    if meta.get("grounding"):
        lines += [""] + grounding_section(rows, meta["grounding"])
    lines += ["", "## Published results (reported, not run here)", "",
              "Different datasets, splits, scoring and labelers: not comparable cell by cell "
              "with the rows above.", ""]
    pub_cols = [c for c in COLUMNS + ("CE-5-micro-F1",)]
    lines.append("| source | model | dataset | split | scoring | group | "
                 + " | ".join(pub_cols) + " |")
    lines.append("|---|---|---|---|---|---|" + "---|" * len(pub_cols))
    for p in published():
        lines.append(f"| {p['source']} | {p['model']} | {p['dataset']} | {p['split']} | "
                     f"{p['scoring']} | {p['group']} | "
                     + " | ".join(f"{p[c]:.4f}" if c in p else "" for c in pub_cols) + " |")
    lines += ["", f"![CE-F1 per condition]({chart_name(meta)})", "",
              "## Per-condition CE-F1 (mean over seeds)", ""]
    present = [o for o in CHEXPERT_OBSERVATIONS
               if any(r["support_per_condition"].get(o) for r in rows)]
    lines.append("| model | " + " | ".join(present) + " |")
    lines.append("|---|" + "---|" * len(present))
    support = rows[0]["support_per_condition"]
    lines.append("| (test positives) | " + " | ".join(str(support.get(o, 0)) for o in present)
                 + " |")
    for r in rows:
        lines.append(f"| {r['label']} | " + " | ".join(
            f"{r['ce_f1_per_condition'].get(o, 0):.3f}" for o in present) + " |")
    lines += ["", "## Commands", ""]
    for r in rows:
        for cmd in r["commands"]:
            lines.append(f"- {r['label']}: `{cmd}`")
    lines.append("")
    lines.append(f"Each row's resolved config is in `results{file_tag(meta)}.json` and in "
                 "`runs/<row>/seed<N>/config.json`.")
    return "\n".join(lines) + "\n"


# issue #15's bars: sighted beats image-blind by this much CE-macro-F1; the report-shape bars
# (sentences per report, distinct reports) are diagnostics'.
MIN_GAP = 0.15
SENTENCE_TOLERANCE, MIN_DISTINCT = diagnostics.SENTENCE_TOLERANCE, diagnostics.MIN_DISTINCT


def _ci(block: dict) -> str:
    low, high = block["ci"]
    return f"[{low:.3f}, {high:.3f}]"


def _vs_best(v: Optional[dict]) -> str:
    """"best", "tied: -.021 [-.09, .05] p .55" or "-.183 [-.24, -.13] p .002"."""
    if not v:
        return ""
    if v["is_best"]:
        return "best"
    text = f"{v['gap']:+.3f} [{v['ci'][0]:.3f}, {v['ci'][1]:.3f}] p {v['p']:.3f}"
    return ("tied: " + text) if v["tied"] else text


def _kept(r: dict) -> str:
    """Each seed's kept epoch of its epochs run, "13/14, 9/14"; "?" for a seed whose record
    predates them; empty for the floor, which trains nothing."""
    if not r.get("model"):
        return ""
    kept = r.get("kept_epochs") or [None] * len(r.get("seeds") or [None])
    return ", ".join(f"{k['epoch']}/{k['of']}" if k else "?" for k in kept)


def _missing_note(rows: List[dict]) -> str:
    """A sentence saying what "?" (epoch kept) and "n/a" (novel) stand for where a record made
    before the figure existed leaves it out, its run not here to read it from."""
    sighted = [r for r in rows if r.get("grounding") and r.get("model")]
    kept = any("?" in _kept(r) for r in sighted)
    novel = any("novel_sentences" not in r["groups"]["All"].get("diagnostics", {})
                for r in sighted)
    what = " and ".join(w for w, on in (("? (epoch kept)", kept), ("n/a (novel)", novel)) if on)
    if not what:
        return ""
    return (f" {what}: not in the record, which predates the figure, and its run "
            "(history.json, predictions_test.json) is not here to fill it in.")


def grounding_section(rows: List[dict], reference: dict) -> List[str]:
    """CE-macro-F1 over the observations with enough test positives, each sighted row
    against its image-blind variant, and the report-shape checks, row by row."""
    obs = reference["observations"]
    lines = ["## Image grounding and report shape", "",
             f"CE-macro-F1: F1 (positive only) averaged over the {len(obs)} observations with "
             f"at least {reference['min_positives']} test positives: "
             + ", ".join(f"{o} ({reference['positives'][o]})" for o in obs)
             + ". Mean ± sd over seeds; [95% interval of the seed mean over resampled test "
               "studies]. The gap is the row minus its image-blind variant, the interval "
               "paired (the same resamples for both). vs best: this row minus the best sighted "
               "row, paired likewise, with its p-value; tied where the interval holds 0 (not "
               "significantly different from the best; the best is picked on the same test "
               "studies and the comparisons are not corrected for their number). Epoch kept: "
               "the epoch of each seed's best.keras, of the epochs it ran (by the validation "
               "metric in its command; for a +SCST row, of its SCST epochs, the first of "
               "which is always kept until a later one scores higher). Checks: gap "
               "at least "
             f"{MIN_GAP:.2f}; sentences per report within {SENTENCE_TOLERANCE:.0%} of the "
             f"references'; at least {MIN_DISTINCT:.0%} of reports distinct."
             + _missing_note(rows), "",
             "| model | decoding | seeds | epoch kept | CE-macro-F1 | gap to image-blind "
             "| vs best | sentences (ref) | distinct | repeated | copied | novel (ref) | checks |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        g = r.get("grounding")
        if not g:
            continue
        d = r["groups"]["All"].get("diagnostics", {})
        sd = f" ± {g['sd']:.3f}" if g.get("sd") is not None else ""
        cells = [r["label"], r.get("decoding") or "-", str(len(r["seeds"])),
                 _kept(r), f"{g['mean']:.3f}{sd} {_ci(g)}"]
        gap = r.get("grounding_gap")
        cells.append(f"{gap['gap']:+.3f} {_ci(gap)}" if gap else "")
        cells.append(_vs_best(r.get("grounding_vs_best")))
        sent, ref_sent = d.get("sentences"), d.get("ref_sentences")
        cells.append(f"{sent:.2f} ({ref_sent:.2f})" if sent is not None and ref_sent else "n/a")
        cells += [f"{d[k]:.3f}" if d.get(k) is not None else "n/a"
                  for k in ("distinct", "repeated_sentences", "copied")]
        novel, ref_novel = d.get("novel_sentences"), d.get("ref_novel_sentences")
        cells.append("n/a" if novel is None else f"{novel:.3f}"
                     + (f" ({ref_novel:.3f})" if ref_novel is not None else ""))
        checks = []
        if gap:
            checks.append(("gap", gap["gap"] >= MIN_GAP))
        if r.get("model") and sent is not None and ref_sent:
            checks.append(("length", abs(sent - ref_sent) <= SENTENCE_TOLERANCE * ref_sent))
        if r.get("model") and d.get("distinct") is not None:
            checks.append(("distinct", d["distinct"] >= MIN_DISTINCT))
        cells.append(", ".join(f"{name} {'ok' if ok else 'FAILS'}" for name, ok in checks))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def write_csv(path: str, rows: List[dict]) -> None:
    with writing(path) as tmp, fileio.open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["model", "weights", "group", "studies"]
                   + [x for c in COLUMNS + DIAGNOSTICS for x in (c, c + "_sd")]
                   + ["train_seconds", "reports_per_second"])
        for r in rows:
            for name, _ in GROUPS:
                block = r["groups"].get(name, {})
                cells = {**block, **block.get("diagnostics", {})}
                w.writerow([r["label"], r["weights"], name, block.get("studies", "")]
                           + [cells.get(x, "") if cells.get(x) is not None else ""
                              for c in COLUMNS + DIAGNOSTICS for x in (c, c + "_sd")]
                           + [r.get("train_seconds") or "", r.get("reports_per_second") or ""])


def chart(path: str, rows: List[dict]) -> None:
    """Grouped bars: CE-F1 per observation (those with test positives), one bar per model."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    support = rows[0]["support_per_condition"]
    present = [o for o in CHEXPERT_OBSERVATIONS if support.get(o)]
    x = np.arange(len(present))
    width = 0.8 / max(1, len(rows))
    fig, ax = plt.subplots(figsize=(max(8, 1.1 * len(present) + 3), 4.5))
    # tab10 repeats its colours after ten rows; a full table (sighted, image-blind, floor) has more
    palette = plt.get_cmap("tab10" if len(rows) <= 10 else "tab20")
    for i, r in enumerate(rows):
        ax.bar(x + i * width - 0.4 + width / 2,
               [r["ce_f1_per_condition"].get(o, 0.0) for o in present], width, label=r["label"],
               color=palette(i % palette.N))
    ax.set_xticks(x, [f"{o}\n(n={support[o]})" for o in present], rotation=30, ha="right",
                  fontsize=8)
    ax.set_ylabel("CE-F1 (test)")
    ax.set_ylim(0, 1)
    ax.set_title("CE-F1 per condition, by model")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    with writing(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def file_tag(meta: dict) -> str:
    """What every table file's name carries: ``-TAG`` for ``--table_tag`` (two tables of one
    benchmark folder, say fine-tuned and frozen-extractor rows), then the labeler's tag."""
    table = meta.get("table_tag") or ""
    return (f"-{table}" if table else "") + meta.get("labeler_tag", "")


def chart_name(meta: dict) -> str:
    """The chart's file name, tagged like the tables (``file_tag``)."""
    return CHART.replace(".png", f"{file_tag(meta)}.png")


def write(out: str, rows: List[dict], meta: dict) -> Dict[str, str]:
    """Writes the four files into ``out`` (``results{tag}.md`` ...: ``meta['labeler_tag']``
    keeps a CheXbert table beside the rule-based one); returns their paths."""
    fileio.makedirs(out)
    tag = file_tag(meta)
    paths = {k: os.path.join(out, v) for k, v in
             (("md", f"results{tag}.md"), ("csv", f"results{tag}.csv"),
              ("json", f"results{tag}.json"), ("png", chart_name(meta)))}
    write_text(paths["md"], markdown(rows, meta))
    write_csv(paths["csv"], rows)
    write_json(paths["json"], {"meta": meta, "rows": rows, "published": published()})
    chart(paths["png"], rows)
    return paths
