"""``train.py``'s work: resolve the preset, make sure data exists, train, then test."""
from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import os
import shutil
from typing import Optional

import keras
import tensorflow as tf

from tfreport import evaluation
from tfreport.data import pipeline
from tfreport.data.build import read_summary
from tfreport.data.prepare import DEMO_DATA_DIR, prepare
from tfreport.metrics.table import markdown
from tfreport.models import build_model, make_config
from tfreport.training.config import TrainConfig
from tfreport.training.trainer import BEST, Trainer
from tfreport.vocab import Vocabulary

log = logging.getLogger("tfreport.train")

CALIBRATION_BATCHES = 16  # unaugmented training batches for recalibrate()
MODEL_FLAGS = ("backbone", "image_size", "backbone_weights", "backbone_weights_dual",
               "share_views", "trainable_backbone", "max_sentences", "max_words")
TRAIN_FLAGS = ("epochs", "batch_size", "learning_rate", "lr_decay", "decay_epochs", "clip_norm",
               "seed", "beam_size", "val_metric", "val_samples")


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
    show_samples: int = 3
    quiet: bool = False


def ensure_data(spec: RunSpec) -> str:
    """The data directory; with no --data_dir, the demo dataset (built when missing)."""
    if spec.data_dir:
        read_summary(spec.data_dir)  # clear error for a missing or unfinished build
        return spec.data_dir
    if not os.path.exists(os.path.join(DEMO_DATA_DIR, "summary.json")):
        print(f"No --data_dir given: building the demo dataset in {DEMO_DATA_DIR} ...")
        kwargs = {"num_studies": spec.num_studies} if spec.num_studies else {}
        prepare("demo", DEMO_DATA_DIR, quiet=spec.quiet, **kwargs)
    else:
        print(f"No --data_dir given: using the demo dataset in {DEMO_DATA_DIR}")
    return DEMO_DATA_DIR


def train(spec: RunSpec, model_overrides: dict, train_overrides: dict) -> dict:
    """Trains, evaluates the best checkpoint on the test split and returns the test scores."""
    data_dir = ensure_data(spec)
    summary = read_summary(data_dir)
    preset = spec.preset or ("demo" if summary["dataset"] == "demo" else "legacy")
    print(f"Using the '{preset}' preset" + (" (the default for the demo dataset)"
                                             if not spec.preset and preset == "demo" else ""))
    vocab = Vocabulary.load(os.path.join(data_dir, "vocabulary.json"))
    model_cfg = make_config(spec.model, preset, vocab_size=len(vocab), **model_overrides)
    train_cfg = TrainConfig.preset(preset, spec.model, **train_overrides)
    keras.utils.set_random_seed(train_cfg.seed)

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_name = spec.run_name or f"{spec.model}-{preset}-{stamp}"
    model_dir = spec.model_dir or os.path.join("models", run_name)
    logdir = os.path.join(spec.logdir, run_name)
    os.makedirs(model_dir, exist_ok=True)
    resolved = {"model": spec.model, "preset": preset, "data_dir": os.path.abspath(data_dir),
                "run_name": run_name, "model_config": model_cfg.to_dict(),
                "train_config": train_cfg.to_dict()}
    with open(os.path.join(model_dir, "config.json"), "w") as f:
        json.dump(resolved, f, indent=1)
    shutil.copy(os.path.join(data_dir, "vocabulary.json"), os.path.join(model_dir, "vocabulary.json"))
    print(f"Model directory: {model_dir}\nTensorBoard logs: {logdir}  "
          f"(tensorboard --logdir {spec.logdir})")

    def make_ds(split, training):
        return pipeline.dataset(data_dir, split, batch_size=train_cfg.batch_size,
                                image_size=model_cfg.image_size,
                                max_sentences=model_cfg.max_sentences,
                                max_words=model_cfg.max_words, training=training,
                                seed=train_cfg.seed, repeat=training, drop_remainder=training)

    n_train = summary["counts"]["train"]
    steps = spec.steps_per_epoch or max(1, n_train // train_cfg.batch_size)
    trainer = Trainer(lambda: build_model(spec.model, model_cfg), vocab, train_cfg, model_dir,
                      logdir, steps, text_summaries=spec.text_summaries, quiet=spec.quiet)
    with trainer.train_writer.as_default(step=0):
        tf.summary.text("config", "```\n" + json.dumps(resolved, indent=1) + "\n```")
    has_val = summary["counts"].get("val", 0) > 0
    if spec.feature_cache:
        if model_cfg.trainable_backbone:
            raise ValueError("--feature_cache true needs a frozen backbone: add "
                             "--trainable_backbone false")
        from tfreport.data import feature_cache
        paths = {s: feature_cache.build(trainer.model, data_dir, s, quiet=spec.quiet)
                 for s in ("train", "val") if s == "train" or has_val}
        print(f"Training from the feature cache in {os.path.dirname(paths['train'])}")

        def make_ds(split, training):  # noqa: F811  (the cached twin of the image pipeline)
            return feature_cache.dataset(paths[split], trainer.model,
                                         batch_size=train_cfg.batch_size, training=training,
                                         seed=train_cfg.seed, repeat=training,
                                         drop_remainder=training)
    trainer.fit(make_ds("train", True), make_ds("val", False) if has_val else None,
                evaluation.references(data_dir, "val") if has_val else None,
                calibration_ds=make_ds("train", False).take(CALIBRATION_BATCHES))

    result = evaluation.evaluate(model_dir, data_dir, "test", train_cfg.beam_size, BEST,
                                 quiet=spec.quiet)
    with open(os.path.join(model_dir, "predictions_test.json"), encoding="utf-8") as f:
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
