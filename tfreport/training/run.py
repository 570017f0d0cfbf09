"""``train.py``'s work: resolve the preset, make sure data exists, train, then test."""
from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import logging
import os
from typing import Optional, Tuple

import keras
import tensorflow as tf

from tfreport import evaluation, fileio, hardware
from tfreport.data import pipeline
from tfreport.data.build import read_summary
from tfreport.errors import ensure_writable_dir, find_bad_shard
from tfreport.metrics.table import markdown
from tfreport.models import build_model, make_config
from tfreport.training import precision
from tfreport.training.config import TrainConfig, default_preset
from tfreport.training.strategy import batch_plan, is_chief, make_strategy
from tfreport.training.trainer import BEST, Trainer
from tfreport.vocab import Vocabulary

log = logging.getLogger("tfreport.train")

CALIBRATION_BATCHES = 16  # unaugmented training batches for recalibrate()
MODEL_FLAGS = ("backbone", "image_size", "backbone_weights", "backbone_weights_dual",
               "share_views", "trainable_backbone", "image_blind", "max_sentences", "max_words",
               "report_memory", "spatial_attention")
TRAIN_FLAGS = ("epochs", "batch_size", "learning_rate", "lr_schedule", "lr_decay", "decay_epochs",
               "warmup", "backbone_learning_rate", "adam_beta_2", "clip_norm", "seed",
               "deterministic",
               "mixed_precision", "jit_compile", "beam_size", "length_penalty", "val_metric",
               "val_samples", "early_stopping")


@dataclasses.dataclass
class RunSpec:
    """Everything train.py was asked, before presets are applied."""
    model: str = "mrna"
    preset: Optional[str] = None
    data_dir: Optional[str] = None
    model_dir: Optional[str] = None
    logdir: str = "summary"
    run_name: Optional[str] = None
    steps_per_epoch: Optional[int] = None
    num_studies: Optional[int] = None
    text_summaries: bool = True
    feature_cache: bool = False  # train from frozen-backbone features computed once
    feature_cache_shards: int = 0  # shard files per cached split; 0: chosen from its size
    show_samples: int = 3
    strategy: str = "auto"  # auto | one_device | mirrored | multi_worker | tpu
    resume: bool = False  # continue the run in model_dir from its saved state
    overwrite: bool = False  # replace the run already in model_dir
    evaluate_test: bool = True  # score best.keras on the test split at the end
    quiet: bool = False
    profile_steps: Optional[Tuple[int, int]] = None  # (first, last) training steps to profile


@contextlib.contextmanager
def named_data_errors(shards: dict):
    """A read that fails mid-training (a shard truncated after the checks) becomes one
    message naming the shard, found by reading each shard of the run's splits."""
    try:
        yield
    except tf.errors.DataLossError as e:
        bad = find_bad_shard([f for files in shards.values() for f in files])
        where = f"{bad[0]}: {bad[1]}" if bad else f"a shard is unreadable ({e.message.splitlines()[0]})"
        raise ValueError(f"{where}; rebuild the dataset with prepare_data.py. The run's "
                         "last saved state, if any, is kept: --resume continues it") from None


def ensure_data(spec: RunSpec) -> str:
    """The data directory; with no --data_dir, the demo dataset (built when missing)."""
    if spec.data_dir:
        read_summary(spec.data_dir)  # clear error for a missing or unfinished build
        return spec.data_dir
    from tfreport.data.prepared import demo_dataset
    return demo_dataset(quiet=spec.quiet, num_studies=spec.num_studies)


def _resolve_configs(spec: RunSpec, preset: str, vocab_size: int, model_overrides: dict,
                     train_overrides: dict):
    """The model and training configs: from the preset and flags, or, when resuming, from
    the run's own config.json (only --epochs may change)."""
    saved = os.path.join(spec.model_dir or "", "config.json")
    if spec.resume and fileio.exists(saved):
        with fileio.open(saved) as f:
            cfg = json.load(f)
        if cfg["model"] != spec.model:
            raise ValueError(f"--resume: {saved} is a {cfg['model']} run, not {spec.model}")
        ignored = sorted(
            [k for k, v in model_overrides.items() if cfg["model_config"].get(k) != v]
            + [k for k, v in train_overrides.items()
               if k != "epochs" and cfg["train_config"].get(k) != v])
        if ignored:
            print(f"--resume: using the saved config; ignoring --{', --'.join(ignored)}")
        train_values = dict(cfg["train_config"])
        if "epochs" in train_overrides:
            train_values["epochs"] = train_overrides["epochs"]
        model_cfg = make_config(spec.model, cfg["preset"], **cfg["model_config"])
        return cfg["preset"], model_cfg, TrainConfig(**train_values)
    model_cfg = make_config(spec.model, preset, vocab_size=vocab_size, **model_overrides)
    return preset, model_cfg, TrainConfig.preset(preset, spec.model, **train_overrides)


# What a train.py run leaves in its model_dir; another run there replaces them only when asked.
RUN_FILES = ("config.json", "vocabulary.json", "history.json", "best.keras", "last.keras",
             "resume", "resume.old", "metrics_test.json", "metrics_test.md",
             "predictions_test.json", "metrics_val.json", "metrics_val.md",
             "predictions_val.json")


def guard_model_dir(model_dir: str, resume: bool, overwrite: bool) -> None:
    """A run directory that already holds a run is never replaced unasked: ``--resume``
    continues it, ``--overwrite`` removes its files first, else one clear refusal."""
    if resume and overwrite:
        raise ValueError("--resume and --overwrite contradict each other: choose one")
    found = [n for n in RUN_FILES if fileio.exists(os.path.join(model_dir, n))]
    if not found or resume:
        return
    if not overwrite:
        raise ValueError(
            f"{model_dir} already holds a run ({', '.join(found)}); nothing was changed. "
            "Add --resume to continue it, --overwrite to replace it, or give a new --model_dir")
    print(f"--overwrite: removing the earlier run in {model_dir} ({', '.join(found)})")
    for name in found:
        path = os.path.join(model_dir, name)
        fileio.rmtree(path) if fileio.isdir(path) else fileio.remove(path)


def check_data(data_dir: str, summary: dict, evaluate_test: bool) -> dict:
    """{split: shard files} for the splits this run reads, each checked for studies and
    schema (shard_check) before any model is built."""
    from tfreport.data.shard_check import check_split
    splits = ["train"] + (["val"] if summary["counts"].get("val", 0) > 0 else [])
    if evaluate_test:
        if summary["counts"].get("test", 0) == 0:
            raise ValueError(f"{data_dir}: the test split has no studies, so the run could "
                             "not be scored at the end; add --evaluate_test false, or rebuild "
                             "the dataset with a test split")
        splits.append("test")
    return {split: check_split(data_dir, split) for split in splits}


def set_determinism(seed: int, deterministic: bool) -> None:
    """Seeds Python, NumPy and TF; ``deterministic`` also makes TF ops deterministic."""
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def train(spec: RunSpec, model_overrides: dict, train_overrides: dict) -> dict:
    """Trains, evaluates the best checkpoint on the test split and returns the test scores."""
    if spec.resume and not spec.model_dir:
        raise ValueError("--resume needs --model_dir (the directory of the run to continue)")
    strategy = make_strategy(spec.strategy)  # first: multi-worker wants it before other TF ops
    if is_chief(strategy):
        hardware.announce_devices(strategy)  # and a warning when a GPU machine trains on its CPU
    data_dir = ensure_data(spec)
    summary = read_summary(data_dir)
    preset = spec.preset or default_preset(summary["dataset"])
    print(f"Using the '{preset}' preset" + (f" (the default for the {summary['dataset']} dataset)"
                                             if not spec.preset else ""))
    vocab = Vocabulary.load(os.path.join(data_dir, "vocabulary.json"))
    preset, model_cfg, train_cfg = _resolve_configs(spec, preset, len(vocab), model_overrides,
                                                    train_overrides)
    set_determinism(train_cfg.seed, train_cfg.deterministic)

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_name = spec.run_name or (os.path.basename(os.path.normpath(spec.model_dir))
                                 if spec.resume else f"{spec.model}-{preset}-{stamp}")
    model_dir = spec.model_dir or os.path.join("models", run_name)
    logdir = os.path.join(spec.logdir, run_name)
    plan = batch_plan(strategy, train_cfg.batch_size)
    resolved = {"model": spec.model, "preset": preset, "data_dir": fileio.abspath(data_dir),
                "run_name": run_name, "strategy": spec.strategy,
                "replicas": plan.replicas, "workers": plan.workers,
                "global_batch_size": plan.global_batch,
                "mixed_precision_policy": precision.resolve(train_cfg.mixed_precision),
                "model_config": model_cfg.to_dict(), "train_config": train_cfg.to_dict()}
    chief = is_chief(strategy)
    shards = check_data(data_dir, summary, spec.evaluate_test)
    if chief:
        guard_model_dir(model_dir, spec.resume, spec.overwrite)
        ensure_writable_dir(model_dir, "--model_dir")
        ensure_writable_dir(logdir, "TensorBoard --logdir")
        with fileio.open(os.path.join(model_dir, "config.json"), "w") as f:
            json.dump(resolved, f, indent=1)
        fileio.copy(os.path.join(data_dir, "vocabulary.json"),
                    os.path.join(model_dir, "vocabulary.json"))
        print(f"Model directory: {model_dir}\nTensorBoard logs: {logdir}  "
              f"(tensorboard --logdir {spec.logdir})")
        print(f"Strategy: {type(strategy).__name__}, {plan.replicas} replica(s) x batch "
              f"{plan.per_replica} = global batch {plan.global_batch}; precision "
              f"{resolved['mixed_precision_policy']}")

    def image_ds(split, training, **kw):
        return pipeline.dataset(data_dir, split, image_size=model_cfg.image_size,
                                max_sentences=model_cfg.max_sentences,
                                max_words=model_cfg.max_words, training=training,
                                seed=train_cfg.seed, **kw)

    make_ds = image_ds
    cache_errors = contextlib.nullcontext()  # a bad feature-cache shard, named
    trainer = Trainer(lambda: build_model(spec.model, model_cfg), vocab, train_cfg, model_dir,
                      logdir, summary["counts"]["train"], strategy=strategy,
                      steps_per_epoch=spec.steps_per_epoch, text_summaries=spec.text_summaries,
                      quiet=spec.quiet, profile_steps=spec.profile_steps)
    trainer.write_hparams(resolved)
    has_val = "val" in shards
    if not has_val and chief:
        print("No validation split: best.keras is the epoch with the lowest training "
              "loss (no validation metric to choose by)")
    if spec.feature_cache:
        if model_cfg.trainable_backbone:
            raise ValueError("--feature_cache true needs a frozen backbone: add "
                             "--trainable_backbone false")
        from tfreport.data import feature_cache
        with named_data_errors(shards):
            caches = {s: feature_cache.build(trainer.model, data_dir, s, quiet=trainer.quiet,
                                             num_shards=spec.feature_cache_shards or None)
                      for s in ("train", "val") if s == "train" or has_val}
        if chief:
            print(f"Training from the feature cache in {caches['train'].folder} "
                  f"({len(caches['train'].files)} train shards, {caches['train'].dtype})")

        def cached_ds(split, training, **kw):  # the cached twin of image_ds
            return feature_cache.dataset(caches[split], trainer.model, training=training,
                                         seed=train_cfg.seed, **kw)
        cache_errors = feature_cache.named_errors(caches)
        make_ds = cached_ds

    def train_fn(epoch, skip, ctx, per_replica):
        return make_ds("train", True, batch_size=per_replica, epoch=epoch,
                       skip_batches=skip, input_context=ctx)

    eval_batch = plan.per_replica
    with named_data_errors(shards), cache_errors:
        trainer.fit(train_fn,
                    make_ds("val", False, batch_size=eval_batch) if has_val else None,
                    evaluation.references(data_dir, "val") if has_val else None,
                    calibration_ds=make_ds("train", False, batch_size=eval_batch).take(
                        CALIBRATION_BATCHES),
                    resume=spec.resume)
    if not chief or not spec.evaluate_test:
        return {}
    return report_test(spec, model_dir, data_dir, train_cfg)


def report_test(spec: RunSpec, model_dir: str, data_dir: str, train_cfg: TrainConfig) -> dict:
    """Evaluates best.keras on the test split and prints samples and scores."""
    result = evaluation.evaluate(model_dir, data_dir, "test", train_cfg.beam_size, BEST,
                                 quiet=spec.quiet, length_penalty=train_cfg.length_penalty)
    with fileio.open(os.path.join(model_dir, "predictions_test.json"), encoding="utf-8") as f:
        predictions = json.load(f)
    refs = evaluation.references(data_dir, "test")
    print(f"\nGenerated test reports (best checkpoint, beam {train_cfg.beam_size}):")
    for sid in sorted(predictions)[: spec.show_samples]:
        print(f"  [{sid}] generated: {predictions[sid]}\n  [{sid}] reference: {refs[sid]}\n")
    print(f"Test scores on {len(predictions)} studies (pycocoevalcap on legacy-normalised text; "
          "CE-F1: tfreport labeler, micro over 14 observations, positive only):")
    print(markdown(result))
    print(f"Checkpoint: {os.path.join(model_dir, BEST)}")
    return result
