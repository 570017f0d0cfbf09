"""The benchmark: every model trained on one dataset, scored on its test split, one table.

Each row is trained through ``train.py``'s own code path (so its command line is exact and
recorded), decoded with a timed pass, and scored for All, Normal and Abnormal. A finished
row leaves ``benchmark_row.json``; ``--reuse`` picks those up instead of retraining.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import statistics
import time
from typing import Dict, List, Optional

from tfreport import baselines, evaluation
from tfreport.metrics import diagnostics, scoring
from tfreport.metrics.table import COLUMNS

GROUPS = (("All", None), ("Normal", "normal"), ("Abnormal", "abnormal"))
ROW_FILE = "benchmark_row.json"
# --quick: a tiny demo and tiny settings, so the whole benchmark runs inside CI.
QUICK_STUDIES = 64
QUICK_MODEL = dict(image_size=32, max_sentences=4, max_words=12, backbone_width=8)
QUICK_TRAIN = dict(epochs=1, batch_size=4, beam_size=1, val_samples=4)
QUICK_STEPS = 2


@dataclasses.dataclass
class Row:
    key: str  # its directory under runs/
    label: str
    model: Optional[str]  # None: the most frequent training report
    overrides: Dict = dataclasses.field(default_factory=dict)
    weights: str = ""  # the weight source it actually used


def default_rows(resnet_weights: str = "none", densenet_weights: str = "none") -> List[Row]:
    """The five models (M2 with three extractors) and the most-frequent-report floor."""
    def source(w: str) -> str:
        return {"none": "random init", "imagenet": "ImageNet"}.get(w, os.path.basename(w))
    rows = [Row(m, m, m) for m in ("cnn_rnn", "cnn_rnn_att", "hier_rnn", "mrna")]
    rows += [
        Row("m2_transformer-resnet50", "m2_transformer (ResNet50)", "m2_transformer",
            dict(backbone="resnet50", backbone_weights=resnet_weights),
            f"ResNet50: {source(resnet_weights)}"),
        Row("m2_transformer-densenet121", "m2_transformer (DenseNet121)", "m2_transformer",
            dict(backbone="densenet121", backbone_weights=densenet_weights),
            f"DenseNet121: {source(densenet_weights)}"),
        Row("m2_transformer-dual", "m2_transformer (dual)", "m2_transformer",
            dict(backbone="dual", backbone_weights=resnet_weights,
                 backbone_weights_dual=densenet_weights),
            f"ResNet50: {source(resnet_weights)}; DenseNet121: {source(densenet_weights)}"),
        Row("most_frequent", "most frequent training report", None,
            weights="no model, no images"),
    ]
    return rows


@dataclasses.dataclass
class Settings:
    data_dir: str
    out: str
    preset: Optional[str] = None
    model_overrides: Dict = dataclasses.field(default_factory=dict)
    train_overrides: Dict = dataclasses.field(default_factory=dict)
    steps_per_epoch: Optional[int] = None
    seeds: int = 1
    first_seed: int = 0  # seeds first_seed .. first_seed + seeds - 1
    feature_cache: bool = False  # frozen backbones, trained from cached features
    reuse: bool = False
    quiet: bool = False


def _flag(name: str, value) -> List[str]:
    name = {"share_views": "share_view_extractor"}.get(name, name)
    if isinstance(value, bool):
        return [f"--{name}", "true" if value else "false"]
    return [f"--{name}", str(value)]


def train_command(row: Row, s: Settings, seed: int, model_dir: str) -> List[str]:
    """The exact train.py command a row ran."""
    cmd = ["python", "scripts/train.py", "--model", row.model, "--data_dir", s.data_dir,
           "--model_dir", model_dir, "--evaluate_test", "false"]
    if s.preset:
        cmd += ["--preset", s.preset]
    if s.steps_per_epoch:
        cmd += ["--steps_per_epoch", str(s.steps_per_epoch)]
    if s.feature_cache:
        cmd += ["--feature_cache", "true"]
    for k, v in {**s.model_overrides, **row.overrides}.items():
        cmd += _flag(k, v)
    for k, v in {**s.train_overrides, "seed": seed}.items():
        cmd += _flag(k, v)
    return cmd


def timed_predictions(model_dir: str, data_dir: str, beam_size: int, quiet: bool):
    """Test predictions of best.keras and the decoding rate (reports/s, after a warm-up
    batch so tracing is not counted)."""
    from tfreport.data import pipeline
    from tfreport.decoding import Decoder
    from tfreport.inference import load_model
    from tfreport.progress import progress
    from tfreport.text import join_report
    from tfreport.vocab import Vocabulary

    with open(os.path.join(model_dir, "config.json")) as f:
        mc = json.load(f)["model_config"]
    model = load_model(model_dir)
    vocab = Vocabulary.load(os.path.join(model_dir, "vocabulary.json"))
    ds = pipeline.dataset(data_dir, "test", batch_size=32, image_size=mc["image_size"],
                          max_sentences=mc["max_sentences"], max_words=mc["max_words"])
    decoder = Decoder(model, vocab, beam_size)
    for batch in ds.take(1):
        decoder.reports(batch)
    predictions, seconds = {}, 0.0
    for batch in progress(ds, desc="decoding test", disable=quiet, unit="batch"):
        start = time.perf_counter()
        reports = decoder.reports(batch)
        seconds += time.perf_counter() - start
        for sid, sentences in zip(batch["id"].numpy(), reports):
            predictions[sid.decode()] = join_report(sentences)
    return predictions, len(predictions) / max(seconds, 1e-9), evaluation.normal_flags(ds)


def weight_source(model_config: dict) -> str:
    """What the row's visual extractor actually started from, e.g. "small: random init"."""
    def name(w) -> str:
        if w in (None, "", "none"):
            return "random init"
        return "ImageNet" if w == "imagenet" else os.path.basename(str(w))
    backbone = model_config["backbone"]
    mode = "fine-tuned" if model_config.get("trainable_backbone", True) else "frozen"
    if backbone == "dual":
        return (f"ResNet50: {name(model_config.get('backbone_weights'))}; "
                f"DenseNet121: {name(model_config.get('backbone_weights_dual'))} ({mode})")
    return f"{backbone}: {name(model_config.get('backbone_weights'))} ({mode})"


def _atomic_json(path: str, obj) -> None:
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1)
    os.replace(path + ".tmp", path)


def run_row(row: Row, s: Settings, seed: int) -> dict:
    """Trains (or reuses) one row for one seed and scores it on the test split."""
    row_dir = os.path.join(s.out, "runs", row.key, f"seed{seed}")
    done = os.path.join(row_dir, ROW_FILE)
    if s.reuse and os.path.exists(done):
        with open(done, encoding="utf-8") as f:
            print(f"[{row.label}] seed {seed}: reusing {row_dir}")
            return json.load(f)
    shutil.rmtree(row_dir, ignore_errors=True)  # an unfinished earlier attempt
    os.makedirs(row_dir)
    refs = evaluation.references(s.data_dir, "test")
    result = {"label": row.label, "key": row.key, "model": row.model, "seed": seed,
              "weights": row.weights}
    if row.model is None:
        predictions = baselines.most_frequent_predictions(s.data_dir, "test")
        normal = _normal_flags(s.data_dir)
        result.update(train_seconds=None, reports_per_second=None,
                      command=None, config={"baseline": "most frequent training report"})
    else:
        from tfreport.training.run import RunSpec, train
        print(f"[{row.label}] seed {seed}: training into {row_dir}")
        spec = RunSpec(model=row.model, preset=s.preset, data_dir=s.data_dir,
                       model_dir=row_dir, logdir=os.path.join(s.out, "summary"),
                       run_name=f"{row.key}-seed{seed}", steps_per_epoch=s.steps_per_epoch,
                       feature_cache=s.feature_cache, evaluate_test=False, show_samples=0,
                       quiet=s.quiet)
        start = time.perf_counter()
        train(spec, {**s.model_overrides, **row.overrides},
              {**s.train_overrides, "seed": seed})
        train_seconds = time.perf_counter() - start
        with open(os.path.join(row_dir, "config.json")) as f:
            config = json.load(f)
        beam = config["train_config"]["beam_size"]
        predictions, rate, normal = timed_predictions(row_dir, s.data_dir, beam, s.quiet)
        result["weights"] = weight_source(config["model_config"])
        result.update(train_seconds=train_seconds, reports_per_second=rate,
                      command=" ".join(train_command(row, s, seed, row_dir)), config=config)
    metrics = scoring.score(predictions, refs, normal,
                            training_reports=diagnostics.training_reports(s.data_dir))
    _atomic_json(os.path.join(row_dir, "predictions_test.json"), predictions)
    result["metrics"] = metrics
    _atomic_json(done, result)
    return result


def _normal_flags(data_dir: str) -> Dict[str, bool]:
    from tfreport.data import pipeline
    ds = pipeline.dataset(data_dir, "test", batch_size=64, image_size=8, max_sentences=1,
                          max_words=2)
    return evaluation.normal_flags(ds)


def group_metrics(metrics: dict, group: Optional[str]) -> dict:
    return metrics if group is None else metrics.get("groups", {}).get(group, {})


DIAGNOSTICS = tuple(k for k, _ in diagnostics.COLUMNS + diagnostics.REFERENCE_COLUMNS)


def _mean_sd(blocks: List[dict], cols) -> dict:
    """{col: mean, col_sd: sd (None for one value)} over the blocks that have the figure;
    None where every block has it as None (a diagnostic that is n/a)."""
    out = {}
    for col in cols:
        present = [b[col] for b in blocks if col in b]
        values = [v for v in present if v is not None]
        if values:
            out[col] = statistics.fmean(values)
            out[col + "_sd"] = statistics.stdev(values) if len(values) > 1 else None
        elif present:
            out[col] = out[col + "_sd"] = None
    return out


def summarise(results: List[dict]) -> dict:
    """Mean and sd over seeds of every figure, per group."""
    out = {"label": results[0]["label"], "key": results[0]["key"],
           "model": results[0]["model"], "weights": results[0]["weights"],
           "seeds": [r["seed"] for r in results], "groups": {}}
    for name, group in GROUPS:
        blocks = [group_metrics(r["metrics"], group) for r in results]
        block = _mean_sd(blocks, COLUMNS + ("studies",))
        diag = _mean_sd([b.get("diagnostics", {}) for b in blocks], DIAGNOSTICS)
        if diag:
            block["diagnostics"] = diag
        out["groups"][name] = block
    for key in ("train_seconds", "reports_per_second"):
        values = [r[key] for r in results if r.get(key) is not None]
        out[key] = statistics.fmean(values) if values else None
    per = {}
    for r in results:
        for obs, v in r["metrics"]["CE"]["per_condition"].items():
            per.setdefault(obs, []).append(v["f1"])
    out["ce_f1_per_condition"] = {k: statistics.fmean(v) for k, v in per.items()}
    out["support_per_condition"] = {
        k: v["support"] for k, v in results[0]["metrics"]["CE"]["per_condition"].items()}
    out["commands"] = [r["command"] for r in results if r.get("command")]
    out["config"] = results[0].get("config")
    return out


def run(rows: List[Row], s: Settings) -> List[dict]:
    """Runs every row for every seed; returns one summary per row."""
    os.makedirs(s.out, exist_ok=True)
    seeds = range(s.first_seed, s.first_seed + s.seeds)
    return [summarise([run_row(row, s, seed) for seed in seeds]) for row in rows]
