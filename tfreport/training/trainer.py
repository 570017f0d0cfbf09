"""The trainer owns its loop (``strategy.run``), so it works under every tf.distribute strategy.

Each replica returns its token-loss *sum* and token count; the loss is divided by the
global count, so averaging never depends on how the batch is split.
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
from typing import Callable, Dict, List, Optional

import numpy as np
import tensorflow as tf
import keras

from tfreport.decoding import Decoder
from tfreport.metrics import nlg
from tfreport.progress import progress
from tfreport.training.config import TrainConfig
from tfreport.training.schedules import StepDecay
from tfreport.vocab import Vocabulary

log = logging.getLogger("tfreport.train")

LAST, BEST = "last.keras", "best.keras"


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def save_model(model: keras.Model, path: str) -> None:
    """Saves atomically: a crash mid-save never leaves a file that looks complete."""
    tmp = path + ".tmp.keras"
    model.save(tmp)
    os.replace(tmp, path)


class Trainer:
    def __init__(self, model_fn: Callable[[], keras.Model], vocab: Vocabulary,
                 train_config: TrainConfig, model_dir: str, logdir: str,
                 steps_per_epoch: int, strategy: Optional[tf.distribute.Strategy] = None,
                 text_summaries: bool = True, quiet: bool = False):
        self.cfg = train_config
        self.vocab = vocab
        self.model_dir, self.logdir = model_dir, logdir
        self.steps_per_epoch = steps_per_epoch
        self.strategy = strategy or tf.distribute.get_strategy()
        self.text_summaries = text_summaries
        self.quiet = quiet
        with self.strategy.scope():
            self.model = model_fn()
            self.schedule = StepDecay(self.cfg.learning_rate, self.cfg.lr_decay,
                                      self.cfg.decay_epochs, steps_per_epoch)
            self.optimizer = keras.optimizers.Adam(self.schedule)
            self.optimizer.build(self.model.trainable_variables)
        self.train_writer = tf.summary.create_file_writer(os.path.join(logdir, "train"))
        self.val_writer = tf.summary.create_file_writer(os.path.join(logdir, "val"))
        self._train_step = tf.function(self._distributed_step, reduce_retracing=True)
        self._eval_step = tf.function(self._distributed_eval, reduce_retracing=True)
        self.history: List[Dict[str, float]] = []
        self._decoder: Optional[Decoder] = None

    # -- steps ---------------------------------------------------------------------------
    def _replica_step(self, batch):
        ctx = tf.distribute.get_replica_context()
        with tf.GradientTape() as tape:
            outputs = self.model(batch, training=True)
            terms = self.model.loss_terms(batch, outputs)
            loss = self.model.combine(
                terms, lambda n: ctx.all_reduce(tf.distribute.ReduceOp.SUM, n))
        variables = self.model.trainable_variables
        grads = tape.gradient(loss, variables)
        grads = ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads)
        if self.cfg.clip_norm:
            grads, _ = tf.clip_by_global_norm(grads, self.cfg.clip_norm)
        self.optimizer.apply(grads, variables)
        return terms["loss_sum"], terms["count"]

    def _distributed_step(self, batch):
        loss_sum, count = self.strategy.run(self._replica_step, args=(batch,))
        loss_sum = self.strategy.reduce(tf.distribute.ReduceOp.SUM, loss_sum, axis=None)
        count = self.strategy.reduce(tf.distribute.ReduceOp.SUM, count, axis=None)
        return loss_sum / tf.maximum(count, 1.0)

    def _replica_eval(self, batch):
        outputs = self.model(batch, training=False)
        terms = self.model.loss_terms(batch, outputs)
        return terms["loss_sum"], terms["count"]

    def _distributed_eval(self, batch):
        loss_sum, count = self.strategy.run(self._replica_eval, args=(batch,))
        return (self.strategy.reduce(tf.distribute.ReduceOp.SUM, loss_sum, axis=None),
                self.strategy.reduce(tf.distribute.ReduceOp.SUM, count, axis=None))

    # -- loop ----------------------------------------------------------------------------
    def fit(self, train_ds: tf.data.Dataset, val_ds: Optional[tf.data.Dataset],
            val_references: Optional[Dict[str, str]] = None,
            calibration_ds: Optional[tf.data.Dataset] = None) -> List[Dict[str, float]]:
        """Trains for ``epochs``; saves last.keras every epoch and best.keras on validation.

        ``calibration_ds`` (unaugmented training batches) lets a model re-estimate its
        normalisation statistics before each validation and save.
        """
        os.makedirs(self.model_dir, exist_ok=True)
        dist_train = self.strategy.experimental_distribute_dataset(train_ds)
        iterator = iter(dist_train)
        best = -math.inf
        step = 0
        for epoch in range(1, self.cfg.epochs + 1):
            start, seen, losses = time.time(), 0, []
            bar = progress(range(self.steps_per_epoch), desc=f"epoch {epoch}/{self.cfg.epochs}",
                           disable=self.quiet, unit="step")
            for _ in bar:
                loss = float(self._train_step(next(iterator)))
                if not math.isfinite(loss):
                    raise TrainingDiverged(
                        f"loss is {loss} at epoch {epoch}, step {step}: training stopped. Try a "
                        "lower --learning_rate or --clip_norm; the last good checkpoint is "
                        f"{os.path.join(self.model_dir, LAST)}")
                losses.append(loss)
                step += 1
                seen += self.cfg.batch_size
                rate = seen / max(1e-9, time.time() - start)
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}", ex_s=f"{rate:.1f}")
                if step % 10 == 0:
                    with self.train_writer.as_default(step=step):
                        tf.summary.scalar("loss", loss)
                        tf.summary.scalar("learning_rate", float(self.schedule(step)))
                        tf.summary.scalar("examples_per_second", rate)
            if calibration_ds is not None:
                self.model.recalibrate(list(calibration_ds))
            record = {"epoch": epoch, "train_loss": float(np.mean(losses)),
                      "examples_per_second": seen / (time.time() - start)}
            if val_ds is not None:
                record.update(self.validate(val_ds, val_references or {}, step))
            self.history.append(record)
            save_model(self.model, os.path.join(self.model_dir, LAST))
            metric = record.get("val_" + self.cfg.val_metric, -record.get("val_loss", 0.0))
            if metric > best:
                best = metric
                save_model(self.model, os.path.join(self.model_dir, BEST))
                record["best"] = True
            with open(os.path.join(self.model_dir, "history.json"), "w") as f:
                json.dump(self.history, f, indent=1)
            log.info("epoch %d: %s", epoch, {k: round(v, 4) if isinstance(v, float) else v
                                            for k, v in record.items()})
        return self.history

    def validate(self, val_ds, references: Dict[str, str], step: int) -> Dict[str, float]:
        loss_sum = count = 0.0
        if self._decoder is None:
            self._decoder = Decoder(self.model, self.vocab, self.cfg.beam_size)
        decoder = self._decoder
        predictions: Dict[str, str] = {}
        samples = []
        limit = self.cfg.val_samples or math.inf
        for batch in val_ds:
            s, c = self._eval_step(batch)
            loss_sum, count = loss_sum + float(s), count + float(c)
            if len(predictions) < limit:
                for sid, sentences in zip(batch["id"].numpy(), decoder.reports(batch)):
                    predictions[sid.decode()] = " ".join(sentences)
                if len(samples) < self.cfg.num_text_samples:
                    samples.append(batch)
        out = {"val_loss": loss_sum / max(count, 1.0)}
        if predictions and references:
            scores = nlg.score(predictions, references, metrics=nlg.BLEU + ("CIDEr",))
            out.update({"val_" + k: v for k, v in scores.items()})
        with self.val_writer.as_default(step=step):
            for k, v in out.items():
                tf.summary.scalar(k[4:], v)
            if self.text_summaries and samples:
                self._write_samples(samples[0], predictions, references)
        return out

    def _write_samples(self, batch, predictions, references):
        n = min(self.cfg.num_text_samples, int(batch["id"].shape[0]))
        rows = []
        for sid in batch["id"].numpy()[:n]:
            sid = sid.decode()
            rows.append(f"**{sid}**\n\n*generated:* {predictions.get(sid, '')}\n\n"
                        f"*reference:* {references.get(sid, '')}")
        tf.summary.text("sample_reports", "\n\n---\n\n".join(rows))
        if "frontal" in batch:  # a feature-cache batch has no pixels
            images = tf.concat([batch["frontal"][:n], batch["lateral"][:n]], axis=2) / 255.0
            tf.summary.image("sample_images", images, max_outputs=n)
