"""The benchmark: every model trained on one dataset, scored on its test split, one table.

Each row is trained through ``train.py``'s own code path (so its command line is exact and
recorded), decoded with a timed pass, and scored for All, Normal and Abnormal. A finished
row leaves ``benchmark_row.json``; ``--reuse`` picks those up instead of retraining.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shlex
import statistics
import time
from typing import Any, Dict, List, Optional

from tfreport import fileio
from tfreport import evaluation, labelers
from tfreport.evaluation import decoding_name
from tfreport.atomic import write_json
from tfreport.experiments import baselines, results_table
from tfreport.metrics import diagnostics, grounding, scoring
ROW_FILE = "benchmark_row.json"
RECORDS = "rows"  # committed per-row records (see record_path)
# every diagnostic a record's metrics carry; a reused record missing one gains it (_catch_up)
DIAGNOSTIC_KEYS = results_table.DIAGNOSTICS
# --quick: a tiny demo and tiny settings, so the whole benchmark runs inside CI.
QUICK_STUDIES = 64
QUICK_MODEL = dict(image_size=32, max_sentences=4, max_words=12, backbone_width=8)
QUICK_TRAIN = dict(epochs=1, batch_size=4, beam_size=1, val_samples=4)
QUICK_STEPS = 2
QUICK_MIN_POSITIVES = 1  # the quick demo's test split is a handful of studies


@dataclasses.dataclass
class Row:
    key: str  # its directory under runs/
    label: str
    model: Optional[str]  # None: the most frequent training report
    overrides: Dict = dataclasses.field(default_factory=dict)
    weights: str = ""  # the weight source it actually used
    control: Optional[str] = None  # the key of this row's image-blind variant, if any
    scst_from: Optional[str] = None  # +SCST rows: the NLL row whose best.keras SCST tunes


BASELINE_BACKBONES = ("small", "densenet121", "resnet50")


def default_rows(resnet_weights: str = "none", densenet_weights: str = "none",
                 small_weights: str = "none", blind: bool = False,
                 baseline_backbone: str = "small") -> List[Row]:
    """The five models (M2 with three extractors) and the most-frequent-report floor; with
    ``blind``, each model's image-blind variant too (one for M2: a blind model has no
    extractor to vary), and every sighted row names its variant as ``control``.

    ``baseline_backbone`` is the four baselines' extractor: the preset's small CNN by
    default, or DenseNet121 / ResNet50 with their weights, so that every model can read the
    same features (the M2 DenseNet121 row's)."""
    def source(w: str) -> str:
        return {"none": "random init", "imagenet": "ImageNet"}.get(w, os.path.basename(w))
    if baseline_backbone not in BASELINE_BACKBONES:
        raise ValueError(f"unknown baseline backbone {baseline_backbone!r}; "
                         f"valid: {', '.join(BASELINE_BACKBONES)}")
    if baseline_backbone == "small":
        small = {} if small_weights == "none" else dict(backbone_weights=small_weights)
    else:
        weights = densenet_weights if baseline_backbone == "densenet121" else resnet_weights
        small = dict(backbone=baseline_backbone, backbone_weights=weights)
    def control(model: str) -> Optional[str]:
        return f"{model}-blind" if blind else None
    rows = [Row(m, m, m, dict(small), control=control(m))
            for m in ("cnn_rnn", "cnn_rnn_att", "hier_rnn", "mrna")]
    rows += [
        Row("m2_transformer-resnet50", "m2_transformer (ResNet50)", "m2_transformer",
            dict(backbone="resnet50", backbone_weights=resnet_weights),
            f"ResNet50: {source(resnet_weights)}", control("m2_transformer")),
        Row("m2_transformer-densenet121", "m2_transformer (DenseNet121)", "m2_transformer",
            dict(backbone="densenet121", backbone_weights=densenet_weights),
            f"DenseNet121: {source(densenet_weights)}", control("m2_transformer")),
        Row("m2_transformer-dual", "m2_transformer (dual)", "m2_transformer",
            dict(backbone="dual", backbone_weights=resnet_weights,
                 backbone_weights_dual=densenet_weights),
            f"ResNet50: {source(resnet_weights)}; DenseNet121: {source(densenet_weights)}",
            control("m2_transformer")),
    ]
    if blind:
        for m in ("cnn_rnn", "cnn_rnn_att", "hier_rnn", "mrna"):
            rows.append(Row(f"{m}-blind", f"{m} (image-blind)", m, dict(small, image_blind=True),
                            "no images"))
        rows.append(Row("m2_transformer-blind", "m2_transformer (image-blind)", "m2_transformer",
                        dict(backbone="densenet121", backbone_weights=densenet_weights,
                             image_blind=True), "no images"))
    rows.append(Row("most_frequent", "most frequent training report", None,
                    weights="no model, no images"))
    return rows


FLAT_MODELS = ("cnn_rnn", "cnn_rnn_att", "m2_transformer")  # the models SCST covers
SCST_DEFAULTS = dict(reward="cider:1", scst_baseline="mean", scst_samples=5, temperature=1.0,
                     scst_sampling="sample", epochs=5, batch_size=None, learning_rate=5e-5,
                     val_metric="CIDEr")


def with_scst_rows(rows: List[Row], frozen_backbone: bool = False) -> List[Row]:
    """``rows`` with a "+SCST" row after every sighted flat-model row: the same model
    fine-tuned by self-critical sequence training from that row's best.keras, seed for
    seed (``rl.stage``; Settings.scst holds the recipe). With ``frozen_backbone`` the
    rows keep their extractor fixed and are keyed apart (``+scst-frozen``), so their runs
    and records sit beside those of the plain recipe rather than over them."""
    suffix, note = ("+scst-frozen", " +SCST (extractor fixed)") if frozen_backbone else (
        "+scst", " +SCST")
    out = []
    for row in rows:
        out.append(row)
        if row.model in FLAT_MODELS and not row.overrides.get("image_blind"):
            out.append(Row(f"{row.key}{suffix}", f"{row.label}{note}", row.model,
                           dict(row.overrides), row.weights, scst_from=row.key))
    return out


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
    mbr_samples: int = 0  # decode the test split by MBR over the beam and this many samples
    mbr_no_repeat: bool = True  # hierarchical rows: MBR never picks a report that repeats itself
    temperature: float = 1.0  # the samples' temperature
    row_temperatures: Dict[str, float] = dataclasses.field(default_factory=dict)  # per row key
    blind_seeds: int = 1  # image-blind rows run the first this many seeds
    min_positives: int = grounding.MIN_POSITIVES  # CE-macro-F1's observations need this many
    reuse: bool = False
    table_only: bool = False  # no training: the table from the records that exist (a record
    # missing a newer field gains it from its run, and is rewritten: _catch_up)
    quiet: bool = False
    labeler: Any = labelers.RULES  # CE labels (labelers.get); records say which they used
    scst: Dict[str, Any] = dataclasses.field(default_factory=dict)  # +SCST rows' scst.py flags

    @property
    def labeler_tag(self) -> str:
        """'' for the rule-based default; else the suffix of this labeler's records and
        table files (``-chexbert``), so tables of two labelers never overwrite each other."""
        return "" if self.labeler is labelers.RULES else "-chexbert"

    def temperature_for(self, key: str) -> float:
        """The MBR samples' temperature of one row (``--row_temperature``, else the shared).
        A +SCST row decodes as the NLL row it was tuned from, so only the weights differ."""
        parent = key.partition("+scst")[0]
        return self.row_temperatures.get(key, self.row_temperatures.get(parent, self.temperature))


def _option_value(value) -> str:
    """A --model_option VALUE that train.py reads back as ``value`` (JSON, else a string)."""
    if isinstance(value, str):
        try:
            json.loads(value)
        except json.JSONDecodeError:
            return value
    return json.dumps(value)


def train_argv(row: Row, s: Settings, seed: int, model_dir: str) -> List[str]:
    """train.py's flags for one row and seed. The benchmark parses these with train.py's own
    parser and trains what that parse says, so the recorded command is what ran."""
    from tfreport.training.run import MODEL_FLAGS
    argv = ["--model", row.model, "--data_dir", s.data_dir, "--model_dir", model_dir,
            "--logdir", os.path.join(s.out, "summary"), "--run_name", f"{row.key}-seed{seed}",
            "--evaluate_test", "false", "--show_samples", "0"]
    if s.preset:
        argv += ["--preset", s.preset]
    if s.steps_per_epoch:
        argv += ["--steps_per_epoch", str(s.steps_per_epoch)]
    if s.feature_cache:
        argv += ["--feature_cache", "true"]
    for k, v in {**s.model_overrides, **row.overrides}.items():
        if k in MODEL_FLAGS:
            flag = {"share_views": "share_view_extractor"}.get(k, k)
            argv += [f"--{flag}", ("true" if v else "false") if isinstance(v, bool) else str(v)]
        else:
            argv += ["--model_option", f"{k}={_option_value(v)}"]
    for k, v in {**s.train_overrides, "seed": seed}.items():
        if k == "deterministic":
            argv += ["--deterministic"] if v else []
        elif isinstance(v, bool):
            argv += [f"--{k}", "true" if v else "false"]
        else:
            argv += [f"--{k}", str(v)]
    if s.quiet:
        argv.append("--quiet")
    return argv


def scst_argv(row: Row, s: Settings, seed: int, model_dir: str) -> List[str]:
    """scst.py's flags for a +SCST row and seed: SCST from the NLL row's run of that seed."""
    flags = {**SCST_DEFAULTS, **s.scst}
    argv = ["--init_from", os.path.join(s.out, "runs", row.scst_from, f"seed{seed}"),
            "--model_dir", model_dir, "--data_dir", s.data_dir, "--seed", str(seed)]
    for key, value in flags.items():
        if isinstance(value, bool):  # a switch (--freeze_backbone): present or absent
            argv += [f"--{key}"] if value else []
        elif value is not None:
            argv += [f"--{key}", f"{value:g}" if isinstance(value, float) else str(value)]
    if s.steps_per_epoch:
        argv += ["--steps_per_epoch", str(s.steps_per_epoch)]
    return argv


# Flags that change where logs go and what is printed, never what is trained.
BOOKKEEPING_FLAGS = {"--logdir": 1, "--run_name": 1, "--show_samples": 1, "--quiet": 0}


def train_command(row: Row, s: Settings, seed: int, model_dir: str) -> List[str]:
    """The train.py command a row ran (scst.py for a +SCST row), less its bookkeeping
    flags: what a record is matched on by ``--reuse``, and what a reader reruns."""
    if row.scst_from:
        return ["python", "scripts/scst.py"] + scst_argv(row, s, seed, model_dir)
    argv, out = train_argv(row, s, seed, model_dir), []
    i = 0
    while i < len(argv):
        if argv[i] in BOOKKEEPING_FLAGS:
            i += 1 + BOOKKEEPING_FLAGS[argv[i]]
            continue
        out.append(argv[i])
        i += 1
    return ["python", "scripts/train.py"] + out


def timed_predictions(model_dir: str, data_dir: str, beam_size: int, quiet: bool,
                      mbr_samples: int = 0, temperature: float = 1.0,
                      mbr_no_repeat: bool = True):
    """Test predictions of best.keras (``evaluation.predict``, so the benchmark decodes as
    evaluate.py does), the decoding rate (reports/s, after a warm-up batch so tracing is not
    counted) and the normal flags."""
    from tfreport.data import pipeline
    from tfreport.inference import load_model
    from tfreport.vocab import Vocabulary

    with fileio.open(os.path.join(model_dir, "config.json")) as f:
        mc = json.load(f)["model_config"]
    model = load_model(model_dir)
    vocab = Vocabulary.load(os.path.join(model_dir, "vocabulary.json"))
    ds = pipeline.dataset(data_dir, "test", batch_size=32, image_size=mc["image_size"],
                          max_sentences=mc["max_sentences"], max_words=mc["max_words"])
    options = dict(beam_size=beam_size, mbr_samples=mbr_samples, temperature=temperature,
                   mbr_no_repeat=mbr_no_repeat)
    evaluation.predict(model, vocab, ds.take(1), quiet=True, **options)  # warm-up
    start = time.perf_counter()
    predictions = evaluation.predict(model, vocab, ds, quiet=quiet, **options)
    seconds = time.perf_counter() - start
    from tfreport.data.prepared import PreparedDataset
    return predictions, len(predictions) / max(seconds, 1e-9), PreparedDataset(data_dir).normal("test")


def _mbr_no_repeat(row: Row, s: Settings) -> bool:
    """Whether the row's MBR avoids repeating candidates: only hierarchical models do."""
    from tfreport.models import model_class
    return bool(s.mbr_no_repeat and row.model and model_class(row.model).hierarchical)


def weight_source(model_config: dict, scst_config: Optional[dict] = None) -> str:
    """What the row's visual extractor actually started from, e.g. "small: random init";
    a +SCST run that held a fine-tuned extractor fixed says so."""
    def name(w) -> str:
        if w in (None, "", "none"):
            return "random init"
        return "ImageNet" if w == "imagenet" else os.path.basename(str(w))
    if model_config.get("image_blind"):
        return "no images (image-blind)"
    backbone = model_config["backbone"]
    mode = "fine-tuned" if model_config.get("trainable_backbone", True) else "frozen"
    if mode == "fine-tuned" and (scst_config or {}).get("freeze_backbone"):
        mode = "fine-tuned in NLL, fixed in SCST"
    if backbone == "dual":
        return (f"ResNet50: {name(model_config.get('backbone_weights'))}; "
                f"DenseNet121: {name(model_config.get('backbone_weights_dual'))} ({mode})")
    return f"{backbone}: {name(model_config.get('backbone_weights'))} ({mode})"


def record_path(s: Settings, row: Row, seed: int) -> str:
    """A finished row's record: scores, command, config and each test report's positive
    findings. Small and free of report text, so it is committed beside the table, and a
    fresh clone's ``--reuse`` resumes a benchmark that took several sessions."""
    return os.path.join(s.out, RECORDS, f"{row.key}-seed{seed}{s.labeler_tag}.json")


def rules_record_path(s: Settings, row: Row, seed: int) -> str:
    """The rule-based labeler's record of a row (what another labeler rescores)."""
    return os.path.join(s.out, RECORDS, f"{row.key}-seed{seed}.json")


def predictions_digest(predictions: Dict[str, str]) -> str:
    """A short fingerprint of a run's test predictions: a record names the text it scored."""
    import hashlib
    return hashlib.sha1(json.dumps(predictions, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def rescore(found: dict, s: Settings, row_dir: str) -> tuple:
    """(``found`` scored again with ``s.labeler`` from the run's test predictions, without
    training or decoding, or None; why not). Only text that is the record's is rescored:
    its digest, or for older records its rule-based positives, must match."""
    path = os.path.join(row_dir, "predictions_test.json")
    if not fileio.exists(path):
        return None, f"its test predictions ({path}) are gone"
    with fileio.open(path, encoding="utf-8") as f:
        predictions = json.load(f)
    if "predictions_digest" in found:
        same = found["predictions_digest"] == predictions_digest(predictions)
    elif found.get("labeler", labelers.RULES_NAME) == labelers.RULES_NAME:
        same = json.loads(json.dumps(grounding.positives(
            labelers.RULES.label_reports(predictions)))) == found.get("positives")
    else:
        same = False
    if not same:
        return None, f"{path} is not the text it scored (decoded again since)"
    from tfreport.data.prepared import PreparedDataset
    again = _score(dict(found), predictions, PreparedDataset(s.data_dir).normal("test"), s)
    kept = None if "kept_epoch" in again else kept_epoch(row_dir)  # the run is the record's
    if kept:
        again["kept_epoch"] = kept
    return again, ""


def _catch_up(found: dict, row: Row, s: Settings, row_dir: str) -> bool:
    """Gives a reused record what records have gained since it was written: its kept epoch
    (from the run's history) and any diagnostic added since (from its test predictions),
    leaving every figure it has as it is. Only from a run that is still the record's: its
    test predictions must be the text it scored (a run wiped by a later, unfinished rerun
    holds another history). True when the record changed."""
    missing = [k for k in DIAGNOSTIC_KEYS
               if k not in found.get("metrics", {}).get("diagnostics", {})]
    wants_epoch = bool(row.model) and "kept_epoch" not in found
    if not missing and not wants_epoch:
        return False
    path = os.path.join(row_dir, "predictions_test.json")
    why = None
    if "predictions_digest" not in found:
        why = "the record names no predictions digest"
    elif not fileio.exists(path):
        why = f"its run's test predictions ({path}) are not here"
    else:
        with fileio.open(path, encoding="utf-8") as f:
            predictions = json.load(f)
        if found["predictions_digest"] != predictions_digest(predictions):
            why = f"{path} is not the text it scored (decoded again since)"
    if why:
        print(f"[{row.label}] seed {found.get('seed')}: not adding "
              + ", ".join((["kept_epoch"] if wants_epoch else []) + missing)
              + f" to its record: {why}")
        return False
    kept = kept_epoch(row_dir) if wants_epoch else None
    if kept:
        found["kept_epoch"] = kept
    if missing:
        from tfreport.data.prepared import PreparedDataset
        fresh: dict = {"groups": {g: {} for g in found["metrics"].get("groups", {})}}
        scoring.add_diagnostics(fresh, predictions, evaluation.references(s.data_dir, "test"),
                                PreparedDataset(s.data_dir).normal("test"),
                                diagnostics.training_reports(s.data_dir))
        blocks = [(found["metrics"], fresh)] + [
            (found["metrics"]["groups"][g], fresh["groups"][g]) for g in fresh["groups"]]
        for block, new in blocks:
            for k in missing:
                block.setdefault("diagnostics", {})[k] = new["diagnostics"].get(k)
    return bool(kept) or bool(missing)


def _score(result: dict, predictions: Dict[str, str], normal, s: Settings) -> dict:
    """``result`` with the test scores of ``predictions`` by ``s.labeler``: the metrics,
    each report's positive findings, the labeler's name and the predictions' digest."""
    refs = evaluation.references(s.data_dir, "test")
    result["metrics"] = scoring.score(predictions, refs, normal, labeler=s.labeler,
                                      training_reports=diagnostics.training_reports(s.data_dir))
    result["positives"] = grounding.positives(s.labeler.label_reports(predictions))
    result["labeler"] = s.labeler.name
    result["predictions_digest"] = predictions_digest(predictions)
    return result


def run_row(row: Row, s: Settings, seed: int) -> dict:
    """Trains (or reuses) one row for one seed and scores it on the test split.

    A record is reused only when it was made by this row's train.py recipe and decoded as
    this benchmark decodes the row; a record that differs only in its decoding is decoded
    again from its ``best.keras`` when the run is still there, without training."""
    row_dir = os.path.join(s.out, "runs", row.key, f"seed{seed}")
    done = os.path.join(row_dir, ROW_FILE.replace(".json", f"{s.labeler_tag}.json"))
    record = record_path(s, row, seed)
    temperature = s.temperature_for(row.key)
    redecode = None
    if s.reuse or s.table_only:
        command = None if row.model is None else shlex.join(train_command(row, s, seed, row_dir))
        candidates = [record, done]
        if s.labeler_tag:  # no record of this labeler yet: rescore the rule-based one's run
            candidates += [rules_record_path(s, row, seed), os.path.join(row_dir, ROW_FILE)]
        for path in candidates:
            if not fileio.exists(path):
                continue
            with fileio.open(path, encoding="utf-8") as f:
                found = json.load(f)
            if found.get("command") != command:
                # A record of another recipe under the same key (say, another extractor)
                # must not pass for this one.
                print(f"[{row.label}] seed {seed}: not reusing {path}: it was made by "
                      f"{found.get('command')!r}, this benchmark runs {command!r}")
                continue
            if row.scst_from and found.get("init_digest") != parent_digest(row, s, seed):
                # tuned from an NLL run that has been trained or decoded again since
                print(f"[{row.label}] seed {seed}: not reusing {path}: the {row.scst_from} "
                      "run it was tuned from has changed")
                continue
            changed = [] if row.model is None else _config_changes(row, s, seed, row_dir,
                                                                   found["config"])
            if changed:
                # The same command under a preset that has changed since (say, more epochs).
                print(f"[{row.label}] seed {seed}: not reusing {path}: its config differs "
                      f"from what this command now resolves to in {', '.join(changed)}")
                continue
            want = None if row.model is None else decoding_name(
                found["config"]["train_config"]["beam_size"], s.mbr_samples, temperature,
                _mbr_no_repeat(row, s))
            if found.get("decoding") != want:
                if not s.table_only and fileio.exists(os.path.join(row_dir, "best.keras")):
                    print(f"[{row.label}] seed {seed}: {path} was decoded by "
                          f"{found.get('decoding')}; decoding its best.keras again by {want}")
                    redecode = found
                    break
                print(f"[{row.label}] seed {seed}: not reusing {path}: decoded by "
                      f"{found.get('decoding')}, this benchmark decodes by {want}")
                continue
            if s.labeler_tag and found.get("labeler") == s.labeler.name:
                stale = _stale(found, row_dir)
                if stale:  # the run was trained or decoded again under the other labeler
                    print(f"[{row.label}] seed {seed}: not reusing {path}: {stale}")
                    continue
            if found.get("labeler", labelers.RULES_NAME) != s.labeler.name:
                again, why = rescore(found, s, row_dir)
                if again is None:
                    print(f"[{row.label}] seed {seed}: not reusing {path}: its CE figures are "
                          f"{found.get('labeler', labelers.RULES_NAME)}'s and {s.labeler.name} "
                          f"cannot rescore them: {why}")
                    continue
                print(f"[{row.label}] seed {seed}: rescoring {path}'s test predictions with "
                      f"{s.labeler.name}")
                write_json(done, again)
                fileio.makedirs(os.path.dirname(record))
                write_json(record, again)
                return again
            print(f"[{row.label}] seed {seed}: reusing {path}")
            if _catch_up(found, row, s, row_dir):
                write_json(path, found)
            return found
    if s.table_only:
        return None
    result = {"label": row.label, "key": row.key, "model": row.model, "seed": seed,
              "weights": row.weights, "control": row.control}
    if row.model is None:
        fileio.makedirs(row_dir)
        predictions = baselines.most_frequent_predictions(s.data_dir, "test")
        from tfreport.data.prepared import PreparedDataset
        normal = PreparedDataset(s.data_dir).normal("test")
        result.update(train_seconds=None, reports_per_second=None, decoding=None,
                      command=None, config={"baseline": "most frequent training report"})
    else:
        if redecode is not None:
            train_seconds, config = redecode["train_seconds"], redecode["config"]
        else:
            train_seconds = _train_row(row, s, seed, row_dir)
            with fileio.open(os.path.join(row_dir, "config.json")) as f:
                config = json.load(f)
        beam = config["train_config"]["beam_size"]
        predictions, rate, normal = timed_predictions(row_dir, s.data_dir, beam, s.quiet,
                                                      s.mbr_samples, temperature,
                                                      _mbr_no_repeat(row, s))
        result["weights"] = weight_source(config["model_config"], config.get("scst_config"))
        result.update(train_seconds=train_seconds, reports_per_second=rate,
                      decoding=decoding_name(beam, s.mbr_samples, temperature,
                                             _mbr_no_repeat(row, s)),
                      command=shlex.join(train_command(row, s, seed, row_dir)), config=config)
        result["kept_epoch"] = kept_epoch(row_dir)
        if row.scst_from:
            result["init_digest"] = parent_digest(row, s, seed)
    result = _score(result, predictions, normal, s)
    write_json(os.path.join(row_dir, "predictions_test.json"), predictions)
    write_json(done, result)
    fileio.makedirs(os.path.dirname(record))
    write_json(record, result)
    return result


def _stale(found: dict, row_dir: str) -> str:
    """Why a record no longer describes its run ('' when it does, or the run is gone)."""
    path = os.path.join(row_dir, "predictions_test.json")
    if "predictions_digest" not in found or not fileio.exists(path):
        return ""
    with fileio.open(path, encoding="utf-8") as f:
        if predictions_digest(json.load(f)) != found["predictions_digest"]:
            return f"{path} has changed since it was scored"
    return ""


def _config_changes(row: Row, s: Settings, seed: int, row_dir: str, saved: dict) -> List[str]:
    """The model and training fields where a record's resolved config differs from what the
    row's command resolves to now, as "field (old -> new)". Fields the record predates are
    not compared, nor a +SCST row's (its command holds its whole recipe)."""
    if row.scst_from:
        return []
    from tfreport.commands.train import parse
    from tfreport.data.build import read_summary
    from tfreport.models import make_config
    from tfreport.training.config import TrainConfig, default_preset
    spec, model_over, train_over, _ = parse(train_argv(row, s, seed, row_dir))
    preset = spec.preset or default_preset(read_summary(s.data_dir)["dataset"])
    now = {"model_config": make_config(spec.model, preset,
                                       vocab_size=saved["model_config"]["vocab_size"],
                                       **model_over).to_dict(),
           "train_config": TrainConfig.preset(preset, spec.model, **train_over).to_dict()}
    changes = []
    for part, fields in now.items():
        old = saved.get(part, {})
        changes += [f"{k} ({old[k]!r} -> {v!r})" for k, v in fields.items()
                    if k in old and old[k] != v]
    return changes


def _train_row(row: Row, s: Settings, seed: int, row_dir: str) -> Optional[float]:
    """Trains the row into ``row_dir``; returns the seconds it took. An unfinished earlier
    attempt with a saved training state continues from it (a benchmark longer than one
    session loses at most an epoch); anything else starts over. A continued run's time is
    its epochs' (``_history_seconds``), not the last call's."""
    from tfreport.commands.train import parse
    from tfreport.training.run import train
    resume = s.reuse and all(fileio.exists(os.path.join(row_dir, name))
                             for name in ("config.json", "resume"))
    if row.scst_from:
        return _scst_row(row, s, seed, row_dir, resume)
    if not resume:
        fileio.rmtree(row_dir, ignore_errors=True)
        fileio.makedirs(row_dir)
    print(f"[{row.label}] seed {seed}: " + ("resuming" if resume else "training into")
          + f" {row_dir}")
    argv = train_argv(row, s, seed, row_dir) + (["--resume"] if resume else [])
    spec, model_overrides, train_overrides, _ = parse(argv)
    start = time.perf_counter()
    train(spec, model_overrides, train_overrides)
    elapsed = time.perf_counter() - start
    return _history_seconds(row_dir) if resume else elapsed


def _history_seconds(row_dir: str) -> Optional[float]:
    """A resumed run's whole training time: the sum of its epochs' wall times (steps and
    validation; the setup and the checkpoint writes of each call are not in it). None when
    an epoch predates them: the resumed call's own time would pass for the whole run's."""
    history = _history(row_dir)
    if not history or any("seconds" not in r for r in history):
        return None
    return float(sum(r["seconds"] for r in history))


def _history(row_dir: str) -> Optional[List[dict]]:
    """The run's per-epoch ``history.json``, or None where it has none."""
    path = os.path.join(row_dir, "history.json")
    if not fileio.exists(path):
        return None
    with fileio.open(path) as f:
        return json.load(f)


def kept_epoch(row_dir: str) -> Optional[dict]:
    """The epoch ``best.keras`` holds and how many ran: ``{"epoch": 13, "of": 14}``, read
    from the run's ``history.json`` (its last epoch flagged best). None without a history.
    A table that shows it says at a glance whether a row kept an early, template epoch."""
    history = _history(row_dir) or []
    kept = [r["epoch"] for r in history if r.get("best")]
    return {"epoch": kept[-1], "of": len(history)} if kept else None


def parent_digest(row: Row, s: Settings, seed: int) -> Optional[str]:
    """The predictions digest of the NLL row's record of ``seed``: which run a +SCST row
    was tuned from (None without a record)."""
    path = os.path.join(s.out, RECORDS, f"{row.scst_from}-seed{seed}.json")
    if not fileio.exists(path):
        return None
    with fileio.open(path, encoding="utf-8") as f:
        return json.load(f).get("predictions_digest")


SCST_STAMP = "benchmark_scst.json"  # a +SCST run's recipe and parent: what it may resume


def _scst_row(row: Row, s: Settings, seed: int, row_dir: str, resume: bool) -> Optional[float]:
    """Fine-tunes the NLL row's run of ``seed`` by SCST into ``row_dir``; returns the
    seconds the SCST stage took (the NLL training is the other row's). An unfinished run
    continues only if it has this recipe and this parent run; anything else starts over."""
    from tfreport.commands.scst import main as scst_main
    init = os.path.join(s.out, "runs", row.scst_from, f"seed{seed}")
    if not fileio.exists(os.path.join(init, "best.keras")):
        raise FileNotFoundError(f"[{row.label}] seed {seed}: SCST starts from {init}/best.keras, "
                                f"which is not there; run the {row.scst_from} row first (a "
                                "committed record without its run cannot be fine-tuned)")
    stamp = {"command": shlex.join(train_command(row, s, seed, row_dir)),
             "init_digest": parent_digest(row, s, seed)}
    stamp_path = os.path.join(row_dir, SCST_STAMP)
    if resume and fileio.exists(stamp_path):
        with fileio.open(stamp_path, encoding="utf-8") as f:
            resume = json.load(f) == stamp
    else:
        resume = False
    if not resume:
        fileio.rmtree(row_dir, ignore_errors=True)
        fileio.makedirs(row_dir)
        write_json(stamp_path, stamp)
    print(f"[{row.label}] seed {seed}: " + ("resuming" if resume else "SCST into")
          + f" {row_dir} from {init}")
    argv = scst_argv(row, s, seed, row_dir) + [
        "--no_test", "--logdir", os.path.join(s.out, "summary"),
        "--run_name", f"{row.key}-seed{seed}"] + (
        ["--resume"] if resume else []) + (["--quiet"] if s.quiet else [])
    start = time.perf_counter()
    scst_main(argv)
    elapsed = time.perf_counter() - start
    return _history_seconds(row_dir) if resume else elapsed


def summarise(results: List[dict]) -> dict:
    """Mean and sd over seeds of every figure, per group."""
    out = results_table.row(results[0]["label"],
                            results_table.aggregate([r["metrics"] for r in results]),
                            [r["seed"] for r in results], key=results[0]["key"],
                            model=results[0]["model"], weights=results[0]["weights"])
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
    out["kept_epochs"] = [r.get("kept_epoch") for r in results]
    out["commands"] = [r["command"] for r in results if r.get("command")]
    out["config"] = results[0].get("config")
    out["decoding"] = results[0].get("decoding")
    out["control"] = results[0].get("control")
    return out


def ce_observations() -> List[str]:
    """The observations CE-macro-F1 may range over: the 13 findings (not No Finding)."""
    return list(grounding.FINDINGS)


def add_grounding(summaries: List[dict], raw: Dict[str, List[dict]], data_dir: str,
                  min_positives: int = grounding.MIN_POSITIVES,
                  labeler=labelers.RULES) -> Optional[dict]:
    """Adds ``grounding`` (CE-macro-F1 over the test set's supported observations: seed
    mean, sd, interval) to every row, and ``grounding_gap`` (sighted - image-blind, paired
    interval) to every row whose control ran; returns the reference side (observations and
    their test positives), or None where no observation has enough positives."""
    refs = evaluation.references(data_dir, "test")
    ref = grounding.positives(labeler.label_reports(refs))  # the rows' labeler's
    observations = grounding.supported(ref, ce_observations(), min_positives)
    if not observations:
        print(f"No observation has {min_positives} test positives: no CE-macro-F1 table.")
        return None
    for summary in summaries:
        runs = [r["positives"] for r in raw[summary["key"]]]
        summary["grounding"] = grounding.seed_mean(runs, ref, observations)
        control = raw.get(summary.get("control") or "")
        if control:
            summary["grounding_gap"] = grounding.gap(
                runs, [r["positives"] for r in control], ref, observations)
    _against_the_best(summaries, raw, ref, observations)
    support = {o: sum(o in v for v in ref.values()) for o in observations}
    return {"observations": observations, "positives": support,
            "min_positives": min_positives}


def _against_the_best(summaries: List[dict], raw: Dict[str, List[dict]], ref,
                      observations: List[str]) -> None:
    """Adds ``grounding_vs_best`` to every sighted row: this row's CE-macro-F1 minus the best
    sighted row's (by mean), paired over resampled test studies, with its p-value, the same
    direction as ``grounding_gap``. A row whose interval holds 0 is tied with the best: not
    significantly worse (issue #19). The best is chosen on the same test studies and the
    comparisons are not corrected for their number, so "tied" is generous to the best."""
    def blind(s: dict) -> bool:
        return bool(((s.get("config") or {}).get("model_config") or {}).get("image_blind"))
    sighted = [s for s in summaries if s.get("model") and s.get("grounding") and not blind(s)]
    if len(sighted) < 2:
        return
    best = max(sighted, key=lambda s: s["grounding"]["mean"])
    best_runs = [r["positives"] for r in raw[best["key"]]]
    for s in sighted:
        if s is best:
            s["grounding_vs_best"] = {"best": best["label"], "is_best": True}
            continue
        g = grounding.gap([r["positives"] for r in raw[s["key"]]], best_runs, ref, observations)
        low, high = g["ci"]
        s["grounding_vs_best"] = {"best": best["label"], "is_best": False, "gap": g["gap"],
                                  "ci": g["ci"], "p": g["p"], "tied": low <= 0.0 <= high}


def seeds_for(row: Row, s: Settings) -> range:
    if row.model is None:  # the floor is deterministic
        return range(s.first_seed, s.first_seed + 1)
    n = s.blind_seeds if row.overrides.get("image_blind") else s.seeds
    return range(s.first_seed, s.first_seed + n)


def review_runs(rows: List[Row], s: Settings) -> tuple:
    """The rows' first-seed run folders a review page can show (decoded, checkpoint kept):
    ([(folder, row label)], [labels left out and why])."""
    found, missing = [], []
    for row in rows:
        if row.model is None:
            continue  # the most-frequent floor has no model and no maps
        row_dir = os.path.join(s.out, "runs", row.key, f"seed{s.first_seed}")
        need = [f for f in ("predictions_test.json", "best.keras")
                if not fileio.exists(os.path.join(row_dir, f))]
        if need:
            missing.append(f"{row.label} (no {' or '.join(need)} in {row_dir})")
        else:
            found.append((row_dir, row.label))
    return found, missing


def run(rows: List[Row], s: Settings) -> tuple:
    """Runs every row for its seeds; returns one summary per row (rows with no finished
    seed left out, which only ``table_only`` allows) and the grounding's reference side."""
    fileio.makedirs(s.out)
    raw: Dict[str, List[dict]] = {}
    for row in rows:
        results = [r for r in (run_row(row, s, seed) for seed in seeds_for(row, s)) if r]
        if results:
            raw[row.key] = results
    summaries = [summarise(raw[row.key]) for row in rows if row.key in raw]
    if not summaries:
        raise FileNotFoundError(f"no finished rows in {s.out} (records in {RECORDS}/)")
    reference = add_grounding(summaries, raw, s.data_dir, s.min_positives, s.labeler)
    return summaries, reference
