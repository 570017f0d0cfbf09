"""Image-free floors on real IU X-Ray reports: what a table's numbers mean before any image.

For the legacy split (2,811/300) and the R2Gen split (2,069/296/590), scored with tfreport's
default scoring and with the legacy scoring, for All, Normal and Abnormal (MeSH "normal"):
- the most frequent training report, written for every test study;
- a random training report per test study (several seeds: mean ± sd);
- each zoo model's image-blind variant (``--image_blind true``: one constant image for every
  study), trained on the split's real training reports; its test predictions are read from a
  runs folder and scored against the same references as the floors.
Each figure carries a 95% bootstrap interval over the test studies (for the random report,
each seed's interval, averaged bound by bound).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Dict, List, Optional

from tfreport import fileio
from tfreport.data.iu_xray import uid_of
from tfreport.data.iu_xray_text import TextSplit
from tfreport.experiments import results_table
from tfreport.experiments.baselines import most_frequent_text, random_texts
from tfreport.experiments.results_table import GROUPS
from tfreport.metrics import diagnostics, scoring
from tfreport.metrics.table import COLUMNS, cell
from tfreport.text import join_report, legacy_reference

SCORINGS = {"default": "untruncated references", "legacy": "references cut to 8 x 49 words"}
DIAGNOSTICS = tuple(k for k, _ in diagnostics.COLUMNS)
REF = {header: key for key, header in diagnostics.REFERENCE_COLUMNS}


def most_frequent(split: TextSplit) -> Dict[str, str]:
    best = most_frequent_text(split.train.values())
    return {i: best for i in split.test}


def random_report(split: TextSplit, seed: int) -> Dict[str, str]:
    return random_texts(split.train.values(), split.test, seed)


MODEL_NAMES = {"cnn_rnn": "CNN-RNN", "cnn_rnn_att": "CNN-RNN-Att", "hier_rnn": "Hier-RNN",
               "mrna": "MRNA", "m2_transformer": "M2 transformer"}


@dataclass
class BlindRun:
    """One image-blind model's test predictions on a split, with how it was trained."""
    model: str
    predictions: Dict[str, str]  # prepared study id -> report
    preset: str
    epochs: int
    learning_rate: float
    decoding: Optional[str] = None  # as evaluate.py's metrics_test.json says; None: unknown

    @property
    def label(self) -> str:
        decoding = f"; {self.decoding}" if self.decoding else ""
        return (f"image-blind {MODEL_NAMES.get(self.model, self.model)} ({self.preset} preset, "
                f"{self.epochs} epoch{'s' if self.epochs != 1 else ''}, lr {self.learning_rate:g}"
                f"{decoding})")


def load_blind_runs(runs_dir: str, split_name: str) -> List[BlindRun]:
    """``runs_dir/<split>/<model>/`` train.py model directories, each with config.json and
    predictions_test.json (and metrics_test.json, which names the decoding); a run that is not
    image-blind is an error, not a row."""
    from tfreport.evaluation import decoding_label  # names the decoding as evaluate.py does
    folder = os.path.join(runs_dir, split_name)
    if not fileio.isdir(folder):
        return []
    runs = []
    for model in sorted(fileio.listdir(folder)):
        run_dir = os.path.join(folder, model)
        config, preds = (os.path.join(run_dir, n) for n in ("config.json", "predictions_test.json"))
        if not fileio.exists(preds):
            raise FileNotFoundError(f"{preds}: no test predictions (did the run finish?)")
        with fileio.open(config, encoding="utf-8") as f:
            cfg = json.load(f)
        if not cfg["model_config"].get("image_blind"):
            raise ValueError(f"{config}: not an image-blind run (train with --image_blind true)")
        with fileio.open(preds, encoding="utf-8") as f:
            predictions = json.load(f)
        history = os.path.join(run_dir, "history.json")
        epochs = cfg["train_config"]["epochs"]
        if fileio.exists(history):
            with fileio.open(history, encoding="utf-8") as f:
                epochs = len(json.load(f))
        decoding = None
        metrics = os.path.join(run_dir, "metrics_test.json")  # written with the predictions
        if fileio.exists(metrics):
            with fileio.open(metrics, encoding="utf-8") as f:
                decoding = decoding_label(json.load(f))
        runs.append(BlindRun(cfg["model"], predictions, cfg["preset"], epochs,
                             cfg["train_config"]["learning_rate"], decoding))
    return runs


def align_predictions(split: TextSplit, predictions: Dict[str, str], what: str) -> Dict[str, str]:
    """Predictions keyed by the split's test ids (matched by IU X-Ray uid); every test study
    must have one."""
    by_uid = {uid_of(k): v for k, v in predictions.items()}
    missing = [i for i in split.test if uid_of(i) not in by_uid]
    if missing:
        raise ValueError(f"{what}: no prediction for {len(missing)} of the {len(split.test)} "
                         f"{split.name} test studies (e.g. {missing[:3]})")
    return {i: by_uid[uid_of(i)] for i in split.test}


def references(split: TextSplit, scoring_name: str) -> Dict[str, str]:
    join = legacy_reference if scoring_name == "legacy" else join_report
    return {i: join(s) for i, s in split.test.items()}


CARRIED = "; earlier run, carried from the previous table"


def _label(row: dict) -> str:
    """A row's label; rows of older tables named it ``baseline``."""
    return row.get("label") or row.get("baseline", "")


def blind_model(row: dict) -> Optional[str]:
    """The zoo model behind an image-blind row (``None``: a floor); rows written before
    rows named their model are matched by their label."""
    if row.get("model"):
        return row["model"]
    return next((m for m, name in MODEL_NAMES.items()
                 if _label(row).startswith(f"image-blind {name} (")), None)


def carried_rows(earlier: List[dict], split: TextSplit, scoring_name: str,
                 fresh: List[str]) -> List[dict]:
    """The earlier table's image-blind rows for this split and scoring whose model has no
    run in ``fresh``, relabelled as carried: a partial rerun keeps the other models' rows
    rather than dropping them, and says which rows it did not recompute."""
    rows = []
    for r in earlier:
        model = blind_model(r)
        if (r["split"] == split.description and r["scoring"] == scoring_name
                and model is not None and model not in fresh):
            label = _label(r)
            rows.append({**{k: v for k, v in r.items() if k != "baseline"},
                         "label": label if label.endswith(CARRIED) else label + CARRIED,
                         "model": model, "carried": True})
    return rows


def _score(job: tuple) -> dict:
    """One score run (a module-level function, so a worker process can run it)."""
    predictions, refs, normal, bootstrap, seed, training = job
    return scoring.score(predictions, refs, normal, bootstrap=bootstrap, seed=seed,
                         training_reports=training)


def _score_all(jobs: List[tuple], workers: int) -> List[dict]:
    """Every score run, in order, on ``workers`` processes (1: in this one). Each run is
    METEOR's Java plus the bootstrap, single-threaded, about a minute and a half: the runs
    are independent, so a second core halves the table's time. A bar ticks per run."""
    from tfreport.progress import progress
    bar = progress(None, desc="scoring", unit="run", total=len(jobs))
    out: List[Optional[dict]] = [None] * len(jobs)
    if workers <= 1:
        for i, job in enumerate(jobs):
            out[i] = _score(job)
            bar.update(1)
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed
        # spawn: a fresh interpreter per worker, not a fork of one that may hold threads
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(_score, job): i for i, job in enumerate(jobs)}
            for future in as_completed(futures):
                out[futures[future]] = future.result()
                bar.update(1)
    bar.close()
    return out


def run(splits: List[TextSplit], seeds: int = 5, bootstrap: int = 1000,
        boot_seed: int = 0, blind: Optional[Dict[str, List[BlindRun]]] = None,
        earlier: Optional[List[dict]] = None, workers: int = 1) -> List[dict]:
    """Rows (``results_table.row``): one per (split, scoring, baseline), each with per-group
    figures, intervals and report diagnostics (copied and novel: against the split's
    training reports); ``blind`` adds each split's image-blind model runs, and ``earlier``
    (a previous results.json's rows) the image-blind rows of models not run again. The random
    report is aggregated over its seeds like a benchmark row, its intervals averaged bound by
    bound. ``workers`` processes share the score runs; the rows do not depend on it."""
    # first every (split, scoring) block's predictions, then all score runs at once, so the
    # workers stay busy across blocks
    blocks, jobs = [], []
    for split in splits:
        training = [join_report(s) for s in split.train.values()]
        for scoring_name in SCORINGS:
            refs = references(split, scoring_name)
            runs = list((blind or {}).get(split.name, []))
            predictions = ([most_frequent(split)]
                           + [random_report(split, s) for s in range(seeds)]
                           + [align_predictions(split, r.predictions, r.label) for r in runs])
            blocks.append((split, scoring_name, runs, len(jobs), len(predictions)))
            jobs += [(p, refs, split.normal, bootstrap, boot_seed, training)
                     for p in predictions]
    scored = _score_all(jobs, workers)
    rows = []
    for split, scoring_name, runs, first, count in blocks:
        info = {"split": split.description, "scoring": scoring_name}
        frequent, randoms, models_scored = (scored[first], scored[first + 1:first + 1 + seeds],
                                            scored[first + 1 + seeds:first + count])
        rows.append(results_table.row("most frequent training report",
                                      results_table.aggregate([frequent], intervals=True),
                                      **info))
        rows.append(results_table.row(f"random training report ({seeds} seeds)",
                                      results_table.aggregate(randoms, intervals=True),
                                      list(range(seeds)), **info))
        models = [results_table.row(r.label, results_table.aggregate([s], intervals=True),
                                    model=r.model, **info)
                  for r, s in zip(runs, models_scored)]
        models += carried_rows(earlier or [], split, scoring_name, [m["model"] for m in models])
        rows += sorted(models, key=lambda m: m["model"])
    return rows


def _studies(block: dict) -> str:
    return str(int(block["studies"])) if block.get("studies") is not None else ""


def markdown(rows: List[dict], published: Optional[List[dict]] = None) -> str:
    """One line per row and group, the report diagnostics after the scores; each split and
    scoring opens with a references row (the references' mean sentences and words, and
    their novel share)."""
    heads = [h for _, h in diagnostics.COLUMNS]
    lines = ["| split | scoring | baseline | group | studies | " + " | ".join(COLUMNS) + " | "
             + " | ".join(heads) + " |",
             "|---|---|---|---|---|" + "---|" * (len(COLUMNS) + len(heads))]
    seen = set()
    for r in rows:
        if (r["split"], r["scoring"]) not in seen:
            seen.add((r["split"], r["scoring"]))
            for name, _ in GROUPS:
                b = r["groups"].get(name, {})
                d = b.get("diagnostics", {})
                refs = [cell({REF[h]: d[REF[h]]}, REF[h], 3) if REF.get(h) in d else ""
                        for h in heads]
                first = name == "All"
                lines.append(f"| {r['split'] if first else ''} | "
                             f"{r['scoring'] if first else ''} | "
                             f"{'references (test)' if first else ''} | {name} | "
                             f"{_studies(b)} | " + " | " * len(COLUMNS)
                             + " | ".join(refs) + " |")
        for name, _ in GROUPS:
            b = r["groups"].get(name, {})
            first = name == "All"
            lines.append(f"| {r['split'] if first else ''} | {r['scoring'] if first else ''} | "
                         f"{r['label'] if first else ''} | {name} | {_studies(b)} | "
                         + " | ".join(cell(b, c, 3) for c in COLUMNS) + " | "
                         + " | ".join(cell(b.get("diagnostics", {}), c, 3) for c in DIAGNOSTICS)
                         + " |")
    return "\n".join(lines)


def report(rows: List[dict], meta: dict) -> str:
    """results.md: the floors beside the published IU X-Ray rows, and what they imply."""
    from tfreport.experiments.published import published
    lines = ["# Image-free floors on the real IU X-Ray reports", "",
             "Reports written without looking at any image: fixed or random training reports, "
             "and each model's image-blind variant trained on the real training reports; all "
             "scored like every tfreport table "
             "(pycocoevalcap 1.2 on legacy-normalised text; CE-F1: tfreport's labeler, micro over "
             "the 14 CheXpert observations, positive only). Normal = MeSH exactly `normal`; MeSH "
             "`No Indexing` studies are in All only. `default` scoring keeps references whole; "
             "`legacy` cuts them to 8 sentences of 49 words, as the legacy project scored. "
             f"Intervals: 95% bootstrap over the test studies ({meta['bootstrap']} resamples, "
             f"seed {meta['bootstrap_seed']}); the random report is the mean ± sd over "
             f"{meta['seeds']} seeds with the per-seed intervals averaged.", "",
             f"Command: `{meta['command']}`", ""] + (
                 [meta["blind_note"], ""] if meta.get("blind_note") else []) + [
             "## Run here", "", markdown(rows), "", diagnostics.NOTE + " Copied is against "
             "the split's training reports.", "",
             "## Published (reported, not run here)", "",
             "| source | model | split | scoring | group | BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 | "
             "METEOR | ROUGE-L | CIDEr |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in published("IU X-Ray"):
        cells = " | ".join(f"{p[c]:.3f}" if c in p else "" for c in COLUMNS[:7])
        lines.append(f"| {p['source']} | {p['model']} | {p['split']} | {p['scoring']} | "
                     f"{p['group']} | {cells} |")
    lines += ["", "## What the floors imply", "", meta.get("reading", "")]
    return "\n".join(lines) + "\n"
