"""Training throughput of each model (examples per second).

Measures the trainer's own distributed step (forward, backward, all-reduce, clip, Adam) on
synthetic batches. By default they are feature-cache batches shaped like a frozen backbone's
grids, so the figure is the head's cost alone: what training with ``--feature_cache true``
spends per example. With ``fine_tune`` they are images at the preset's size and the preset's
extractor trains too: what a GPU run with ``--trainable_backbone true`` spends.
"""
from __future__ import annotations

import time
from typing import Dict, Optional

import numpy as np
import tensorflow as tf

from tfreport.models import build_model, make_config
from tfreport.training.config import TrainConfig
from tfreport.training.trainer import Trainer
from tfreport.vocab import END_ID, PAD_ID


def synthetic_batch(batch_size: int, cells: int, channels: int, max_sentences: int,
                    max_words: int, vocab_size: int, seed: int = 0) -> Dict[str, tf.Tensor]:
    """Grids and reports with IU X-Ray-like lengths (about 5 sentences of 7 words)."""
    rng = np.random.default_rng(seed)
    report = np.full((batch_size, max_sentences, max_words), PAD_ID, np.int32)
    for b in range(batch_size):
        for s in range(min(max_sentences - 1, rng.integers(3, 8))):
            n = min(max_words - 1, int(rng.integers(3, 12)))
            report[b, s, :n] = rng.integers(4, vocab_size, n)
            report[b, s, n] = END_ID
        report[b, min(max_sentences - 1, s + 1), 0] = END_ID  # the empty closing sentence
    return {
        "grids": tf.constant(rng.normal(size=(batch_size, 2, cells, channels)), tf.float32),
        "view_mask": tf.ones((batch_size, 2)),
        "lateral_present": tf.ones((batch_size,)),
        "report": tf.constant(report),
        "id": tf.constant([f"s{i}" for i in range(batch_size)]),
        "normal": tf.zeros((batch_size,), tf.int64),
    }


def measure(model_name: str, preset: str, mixed_precision: str, vocab_size: int,
            batch_size: Optional[int] = None, steps: int = 5, warmup: int = 2,
            backbone: Optional[str] = None, image_size: Optional[int] = None,
            fine_tune: bool = False, jit_compile: bool = False,
            **model_overrides) -> Dict[str, float]:
    """Examples per second of the training step, best of ``steps`` timed steps.

    ``fine_tune``: images in, the extractor trained (random init); ``backbone`` and
    ``image_size`` default to the preset's. Otherwise cached grids feed the head alone, shaped
    as ResNet50's at 224 px unless ``backbone`` and ``image_size`` say otherwise.
    ``jit_compile`` XLA-compiles the step."""
    if not fine_tune:
        backbone, image_size = backbone or "resnet50", image_size or 224
    overrides = {k: v for k, v in (("backbone", backbone), ("image_size", image_size))
                 if v is not None}
    cfg = make_config(model_name, preset, vocab_size=vocab_size, backbone_weights="none",
                      trainable_backbone=fine_tune, **{**overrides, **model_overrides})
    train_cfg = TrainConfig.preset(preset, model_name, mixed_precision=mixed_precision,
                                   jit_compile=jit_compile,
                                   **({"batch_size": batch_size} if batch_size else {}))
    trainer = Trainer(lambda: build_model(model_name, cfg), vocab=None, train_config=train_cfg,
                      model_dir="", logdir="", train_examples=train_cfg.batch_size,
                      steps_per_epoch=1, quiet=True, write_logs=False)
    enc = trainer.model.visual_encoder
    cells = int(np.prod(enc.frontal_net.output.shape[1:3]))
    batch = synthetic_batch(train_cfg.batch_size, cells, enc.channels, cfg.max_sentences,
                            cfg.max_words, vocab_size)
    if fine_tune:  # pixels in [0, 255], as the pipeline gives them
        batch = {k: v for k, v in batch.items() if k not in ("grids", "view_mask")}
        rng = np.random.default_rng(1)
        for view in ("frontal", "lateral"):
            batch[view] = tf.constant(rng.uniform(0, 255, (train_cfg.batch_size, cfg.image_size,
                                                           cfg.image_size, 1)), tf.float32)
    batch = trainer._fields(batch)  # the tensors a training batch keeps (no string ids)
    dist = trainer.strategy.experimental_distribute_values_from_function(lambda _: batch)
    for _ in range(warmup):
        trainer._train_step(dist)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        float(trainer._train_step(dist))
        times.append(time.perf_counter() - start)
    return {"examples_per_second": train_cfg.batch_size / min(times),
            "median_step_s": float(np.median(times)), "batch_size": train_cfg.batch_size,
            "policy": trainer.policy, "backbone": cfg.backbone, "image_size": cfg.image_size,
            "fine_tune": fine_tune, "jit_compile": jit_compile}
