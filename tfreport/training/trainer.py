"""The trainer owns its loop (``strategy.run``), so it works under every tf.distribute strategy
(Keras 3 ``model.fit`` fails under MultiWorkerMirroredStrategy, keras-team/keras#20585).

- Each replica returns its token-loss *sum* and token count; the loss is divided by the global
  count, so averaging never depends on how the batch is split.
- Gradients are summed over replicas once, clipped by their global norm, then applied.
- Each epoch's data order is fixed by (seed, epoch); the resume state records the epoch and
  step, so a resumed run continues exactly where an uninterrupted one would be.
"""
from __future__ import annotations

import json
import logging
import math
import os
import signal
import time
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import tensorflow as tf
import keras

from tfreport import fileio
from tfreport.decoding import Decoder
from tfreport.metrics import nlg
from tfreport.progress import progress
from tfreport.text import join_report
from tfreport.training import checkpoint, precision
from tfreport.training.config import TrainConfig
from tfreport.training.optimizer import backbone_lr_factors, clip_global_norm, make_optimizer
from tfreport.training.profiling import StepProfiler
from tfreport.training.schedules import make_schedule
from tfreport.training.strategy import batch_plan, is_chief, worker_index
from tfreport.vocab import Vocabulary

log = logging.getLogger("tfreport.train")

LAST, BEST = "last.keras", "best.keras"
# (epoch, steps to skip in it, input context) -> that epoch's dataset of per-replica batches
DatasetFn = Callable[[int, int, tf.distribute.InputContext, int], tf.data.Dataset]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite, or grew far past where it started."""


# A loss whose recent mean exceeds this many times its start has diverged. The start is the
# larger of the first step's loss and log(vocabulary size), a uniform guess's cross-entropy:
# a healthy run only falls from there, while one that blows up can do so at its second step.
DIVERGENCE_FACTOR = 10.0
DIVERGENCE_WINDOW = 10  # recent steps averaged


class TrainingInterrupted(RuntimeError):
    """SIGTERM arrived; the state was saved and ``--resume`` continues from it."""


def save_model(model: keras.Model, path: str) -> None:
    """Saves atomically: a crash mid-save never leaves a file that looks complete. ``path``
    may be a URL (gs://, ram://): the file is written locally, then uploaded and renamed."""
    from tfreport.atomic import writing
    try:
        with writing(path, suffix=".tmp.keras") as tmp:
            model.save(tmp)
    except OSError as e:  # a full disk mid-save: name the file, keep the previous one
        raise OSError(e.errno, e.strerror or str(e), path) from None


def _tensors(batch: dict) -> dict:
    """The batch without its string fields (ids), which XLA cannot take as arguments."""
    return {k: v for k, v in batch.items() if v.dtype != tf.string}


def copy_file(src: str, dst: str) -> None:
    """Copies atomically (via a temporary name), on any filesystem."""
    fileio.copy(src, dst + ".tmp")
    fileio.replace(dst + ".tmp", dst)


def run_eta(steps_per_epoch: int, epochs: int, epoch: int, steps_done: int,
            seconds_per_step: float, extra_seconds: List[float]) -> str:
    """The whole run's time left, as the progress bar shows it from the first steps: this
    epoch's and later epochs' steps at the current rate, plus each epoch's validation at the
    mean of those measured so far (none yet in the first epoch, which the text says)."""
    steps_left = (steps_per_epoch - steps_done) + (epochs - epoch) * steps_per_epoch
    seconds = steps_left * seconds_per_step
    if extra_seconds:
        seconds += (epochs - epoch + 1) * float(np.mean(extra_seconds))
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    text = f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
    return text if extra_seconds else text + "+val"


def _hparams(config: dict) -> dict:
    """A flat {name: scalar} view of a nested config, for TensorBoard's HParams tab."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{k}": v for k, v in _hparams(value).items()})
        elif isinstance(value, (bool, int, float, str)):
            flat[key] = value
        else:
            flat[key] = str(value)
    return flat


def _ce_f1(predictions: Dict[str, str], references: Dict[str, str]) -> float:
    """CE-F1 (the rule-based labeler, micro over the 14 observations, positive only) of
    validation reports: a checkpoint can be chosen by clinical content (--val_metric CE-F1)."""
    from tfreport import labeler
    from tfreport.metrics.clinical import clinical_efficacy
    return clinical_efficacy(labeler.label_reports(predictions),
                             labeler.label_reports({k: references[k] for k in predictions}))["micro"]["f1"]



def improves(metric: float, loss: Optional[float], best: float, best_loss: float) -> bool:
    """Whether an epoch's validation beats the best so far: a higher ``--val_metric``, or the
    same one with a lower validation loss. Ties are exact where the decoded reports are the
    same, as for a model that writes one report for every study at every epoch (an image-blind
    MRNA at beam 3); without the tie-break the first of the tied epochs, the least trained,
    stayed best.keras."""
    return metric > best or (metric == best and loss is not None and loss < best_loss)

class Trainer:
    # what a training batch keeps: its tensors (the ids are strings, which XLA cannot take);
    # the SCST stage keeps the ids, to find each study's reference
    _fields = staticmethod(_tensors)

    def __init__(self, model_fn: Callable[[], keras.Model], vocab: Vocabulary,
                 train_config: TrainConfig, model_dir: str, logdir: str,
                 train_examples: int, strategy: Optional[tf.distribute.Strategy] = None,
                 steps_per_epoch: Optional[int] = None, text_summaries: bool = True,
                 quiet: bool = False, write_logs: bool = True,
                 profile_steps: Optional[Tuple[int, int]] = None):
        self.cfg = cfg = train_config
        self.vocab = vocab
        self.strategy = strategy or tf.distribute.get_strategy()
        self.plan = batch_plan(self.strategy, cfg.batch_size)
        self.steps_per_epoch = steps_per_epoch or self.plan.steps_per_epoch(train_examples)
        self.chief = is_chief(self.strategy)
        # Non-chief workers keep their own copy of the checkpoints, apart from the chief's.
        self.model_dir = model_dir if self.chief else os.path.join(
            model_dir, "workers", f"worker{worker_index(self.strategy)}")
        self.text_summaries = text_summaries
        self.quiet = quiet or not self.chief
        self.policy = precision.resolve(cfg.mixed_precision)
        with self.strategy.scope():
            with precision.policy_scope(self.policy):
                self.model = model_fn()
            self.schedule = make_schedule(cfg, self.steps_per_epoch)
            factors = backbone_lr_factors(self.model, cfg.learning_rate,
                                          cfg.backbone_learning_rate)
            self.optimizer = make_optimizer(self.schedule, self.model.trainable_variables,
                                            factors, precision.needs_loss_scaling(self.policy),
                                            beta_2=cfg.adam_beta_2)
        # the run's TensorBoard folder: its HParams session, above the train and val runs
        self.logdir = logdir if self.chief and write_logs else None
        if self.chief and write_logs:
            self.train_writer = tf.summary.create_file_writer(os.path.join(logdir, "train"))
            self.val_writer = tf.summary.create_file_writer(os.path.join(logdir, "val"))
        else:
            self.train_writer = self.val_writer = tf.summary.create_noop_writer()
        # --profile_steps: a profile of those steps beside the train scalars (chief only)
        self.profiler = StepProfiler(os.path.join(logdir, "train"),
                                     profile_steps if self.chief and write_logs else None,
                                     total_steps=cfg.epochs * self.steps_per_epoch)
        replica_step = (tf.function(self._replica_step, jit_compile=True)
                        if cfg.jit_compile else self._replica_step)
        self._replica_fn = replica_step
        self._train_step = tf.function(self._distributed_step)
        self._eval_step = tf.function(self._eval, reduce_retracing=True)
        self.history: List[Dict[str, float]] = []
        self.step_losses: List[float] = []  # this process's steps, in order
        # seconds each finished epoch spent after its steps (validation): the whole-run ETA
        # counts them for the epochs still to come
        self._epoch_extra_seconds: List[float] = []
        self._decoder: Optional[Decoder] = None
        self._heatmap_warned = False
        self._stop_signal: Optional[int] = None
        # seconds the epoch in progress had run before a stop mid-epoch (from the resume
        # state), so that its history entry still holds the whole epoch's time
        self._carried_seconds = 0.0
        self._best_loss = math.inf  # validation loss of the best epoch: breaks exact ties

    # -- steps ---------------------------------------------------------------------------
    def _replica_step(self, batch):
        ctx = tf.distribute.get_replica_context()
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            outputs = self.model(batch, training=True)
            terms = self.model.loss_terms(batch, outputs)
            loss = self.model.combine(
                terms, lambda n: ctx.all_reduce(tf.distribute.ReduceOp.SUM, n))
            scaled = self.optimizer.scale_loss(loss)
        grads = tape.gradient(scaled, variables)
        present = [i for i, g in enumerate(grads) if g is not None]
        reduced = ctx.all_reduce(tf.distribute.ReduceOp.SUM, [grads[i] for i in present])
        reduced = clip_global_norm(reduced, self.optimizer, self.cfg.clip_norm)
        self.optimizer.apply(reduced, [variables[i] for i in present])
        return terms["loss_sum"], terms["count"]

    def _distributed_step(self, batch):
        loss_sum, count = self.strategy.run(self._replica_fn, args=(batch,))
        loss_sum = self.strategy.reduce(tf.distribute.ReduceOp.SUM, loss_sum, axis=None)
        count = self.strategy.reduce(tf.distribute.ReduceOp.SUM, count, axis=None)
        return loss_sum / tf.maximum(count, 1.0)

    def _eval(self, batch):
        """Validation loss terms of a whole (undistributed) batch, on this worker alone."""
        terms = self.model.loss_terms(batch, self.model(batch, training=False))
        return terms["loss_sum"], terms["count"]

    # -- loop ----------------------------------------------------------------------------
    def write_hparams(self, config: dict) -> None:
        """The run's flattened config as an HParams session, and as text in ``train``.

        The session is written in the run's own folder (``logdir``), the parent of its
        ``train`` and ``val`` runs: the HParams tab takes a session's metrics from the runs
        below it, named by their sub-folder, so validation BLEU-4, CIDEr, CE-F1 and loss show
        as group ``val`` and the training scalars as group ``train``. (In ``train`` itself,
        as before, the tab saw no validation metric.) No ``hparams_config`` is written: the
        tab would take one run's config for every run under the logdir, while without it it
        lists the hyperparameters and metrics of all the runs it finds."""
        if self.logdir is None:
            return  # not the chief, or no logs: nothing would be written
        from tensorboard.plugins.hparams import api as hp
        session = tf.summary.create_file_writer(self.logdir)
        with session.as_default(step=0):
            hp.hparams(_hparams(config))
        session.close()
        with self.train_writer.as_default(step=0):
            tf.summary.text("config", "```\n" + json.dumps(config, indent=1) + "\n```")

    def _on_sigterm(self, signum, frame):
        self._stop_signal = signum

    def _state(self, epoch: int, step_in_epoch: int, best: float, stale: int,
               seconds_in_epoch: float = 0.0) -> dict:
        return {"epoch": epoch, "step_in_epoch": step_in_epoch, "best": best, "stale": stale,
                "best_loss": self._best_loss,
                "history": self.history, "steps_per_epoch": self.steps_per_epoch,
                "seconds_in_epoch": seconds_in_epoch}

    def restore(self) -> Optional[dict]:
        """Loads the saved state of ``model_dir`` (None when there is none)."""
        path = checkpoint.find_state(self.model_dir)
        if path is None:
            return None
        meta = checkpoint.load_state(path, self.model, self.optimizer)
        if meta["steps_per_epoch"] != self.steps_per_epoch:
            raise ValueError(f"{path}: saved with {meta['steps_per_epoch']} steps per epoch, "
                             f"this run has {self.steps_per_epoch}; resume with the same "
                             "--batch_size, --steps_per_epoch and number of replicas")
        self.history = meta["history"]
        return meta

    def fit(self, train_fn: DatasetFn, val_ds: Optional[tf.data.Dataset],
            val_references: Optional[Dict[str, str]] = None,
            calibration_ds: Optional[tf.data.Dataset] = None,
            resume: bool = False) -> List[Dict[str, float]]:
        """Trains to ``epochs``; saves last.keras and the resume state every epoch, and
        best.keras on the validation metric.

        ``train_fn(epoch, skip_batches, input_context, per_replica_batch)`` makes one
        epoch's dataset. ``calibration_ds`` (unaugmented training batches) lets a model
        re-estimate its normalisation statistics before each validation and save.
        """
        cfg = self.cfg
        fileio.makedirs(self.model_dir)
        first_epoch, first_step, best, stale = 1, 0, -math.inf, 0
        self._best_loss = math.inf
        if resume:
            meta = self.restore()
            if meta is None:
                print(f"--resume: no saved state in {self.model_dir}; starting from scratch")
            else:
                first_epoch, first_step = meta["epoch"], meta["step_in_epoch"]
                best, stale = meta["best"], meta["stale"]
                self._best_loss = meta.get("best_loss", math.inf)  # states before the tie-break
                if first_step >= self.steps_per_epoch:
                    first_epoch, first_step = first_epoch + 1, 0
                elif first_step:
                    self._carried_seconds = meta.get("seconds_in_epoch", 0.0)
                if self.chief:
                    print(f"Resuming at epoch {first_epoch}, step {first_step} "
                          f"(state in {self.model_dir})")
        local_replicas = max(1, self.plan.replicas // self.plan.workers)
        sigterm = self.plan.workers == 1  # a lone worker can stop mid-epoch by itself
        previous = signal.signal(signal.SIGTERM, self._on_sigterm) if sigterm else None
        try:
            for epoch in range(first_epoch, cfg.epochs + 1):
                skip = first_step if epoch == first_epoch else 0
                record = self._train_epoch(train_fn, epoch, skip, local_replicas, best, stale)
                started = time.time()
                if calibration_ds is not None:
                    self.model.recalibrate(list(calibration_ds))
                if val_ds is not None:
                    record.update(self.validate(val_ds, val_references or {},
                                                epoch * self.steps_per_epoch))
                self._epoch_extra_seconds.append(time.time() - started)
                # the epoch's wall time, validation included: a resumed run's history still
                # adds up to the whole training time
                record["seconds"] += self._epoch_extra_seconds[-1]
                # Without validation the best epoch is the one with the lowest training loss.
                metric = record.get("val_" + cfg.val_metric,
                                    -record.get("val_loss", record["train_loss"]))
                improved = improves(metric, record.get("val_loss"), best, self._best_loss)
                if improved:
                    self._best_loss = record.get("val_loss", math.inf)
                best, stale = (metric, 0) if improved else (best, stale + 1)
                record["best"] = improved
                self.history.append(record)
                save_model(self.model, os.path.join(self.model_dir, LAST))
                if improved:  # the same weights: copy rather than serialise again
                    copy_file(os.path.join(self.model_dir, LAST),
                              os.path.join(self.model_dir, BEST))
                checkpoint.save_state(self.model_dir, self.model, self.optimizer,
                                      self._state(epoch + 1, 0, best, stale))
                with fileio.open(os.path.join(self.model_dir, "history.json"), "w") as f:
                    json.dump(self.history, f, indent=1)
                log.info("epoch %d: %s", epoch, {k: round(v, 4) if isinstance(v, float) else v
                                                for k, v in record.items()})
                if cfg.early_stopping and stale >= cfg.early_stopping:
                    print(f"Early stopping: validation {cfg.val_metric} has not improved for "
                          f"{stale} epochs (best {best:.4f})")
                    break
        finally:
            self.profiler.stop()
            if sigterm:
                signal.signal(signal.SIGTERM, previous)
        return self.history

    def _train_epoch(self, train_fn: DatasetFn, epoch: int, skip: int, local_replicas: int,
                     best: float, stale: int) -> dict:
        cfg = self.cfg
        per_replica = self.plan.per_replica
        dist = self.strategy.distribute_datasets_from_function(
            lambda ctx: train_fn(epoch, skip * local_replicas, ctx, per_replica).map(self._fields))
        iterator = iter(dist)
        start, losses = time.time(), []
        step = (epoch - 1) * self.steps_per_epoch + skip
        bar = progress(range(skip, self.steps_per_epoch), desc=f"epoch {epoch}/{cfg.epochs}",
                       disable=self.quiet, unit="step", total=self.steps_per_epoch - skip)
        for i in bar:
            if self._stop_signal is not None:
                so_far = self._carried_seconds + time.time() - start
                path = checkpoint.save_state(self.model_dir, self.model, self.optimizer,
                                             self._state(epoch, i, best, stale, so_far))
                raise TrainingInterrupted(
                    f"stopped by signal {self._stop_signal} at epoch {epoch}, step {i}; state "
                    f"saved in {path}. Rerun the same command with --resume to continue")
            with self.profiler.step(step + 1):
                loss = self._run_step(next(iterator), step)
            self._check_divergence(loss, epoch, i)
            losses.append(loss)
            self.step_losses.append(loss)
            step += 1
            rate = (i + 1 - skip) * self.plan.global_batch / max(1e-9, time.time() - start)
            if i == skip:  # the first step traces the step function: not the pace
                first_done = time.time()
            seconds_per_step = ((time.time() - first_done) / (i - skip) if i > skip
                                else time.time() - start)
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}", ex_s=f"{rate:.1f}",
                            run_left=run_eta(self.steps_per_epoch, cfg.epochs, epoch, i + 1,
                                             seconds_per_step, self._epoch_extra_seconds))
            if step % 10 == 0:
                with self.train_writer.as_default(step=step):
                    tf.summary.scalar("loss", loss)
                    tf.summary.scalar("learning_rate", float(self.schedule(step)))
                    tf.summary.scalar("examples_per_second", rate)
        elapsed = time.time() - start
        self.profiler.stop()  # a window that outlasts its epoch ends here, before validation
        carried, self._carried_seconds = self._carried_seconds, 0.0
        return {"epoch": epoch, "train_loss": float(np.mean(losses)) if losses else math.nan,
                "examples_per_second": len(losses) * self.plan.global_batch / max(elapsed, 1e-9),
                "seconds": carried + elapsed}

    def _run_step(self, batch, step: int) -> float:
        """One update on ``batch`` (``step`` updates done before it); returns its loss.
        The SCST stage (``rl.stage``) replaces it."""
        return float(self._train_step(batch))

    def _check_divergence(self, loss: float, epoch: int, step: int) -> None:
        """Stops the run when the loss is not finite, or when its mean over the last
        DIVERGENCE_WINDOW steps exceeds DIVERGENCE_FACTOR times its start."""
        recent = (self.step_losses + [loss])[-DIVERGENCE_WINDOW:]
        start = max([math.log(max(len(self.vocab), 2))] + self.step_losses[:1])
        grown = (len(recent) == DIVERGENCE_WINDOW
                 and float(np.mean(recent)) > DIVERGENCE_FACTOR * start)
        if math.isfinite(loss) and not grown:
            return
        what = (f"loss is {loss}" if not math.isfinite(loss) else
                f"loss is {np.mean(recent):.3g} over the last {DIVERGENCE_WINDOW} steps, more "
                f"than {DIVERGENCE_FACTOR:g}x its start ({start:.3g})")
        raise TrainingDiverged(
            f"{what} at epoch {epoch}, step {step}: training diverged and was stopped. Try a "
            f"lower --learning_rate or a --clip_norm; {self.last_good_checkpoint()}")

    def last_good_checkpoint(self) -> str:
        """Names the checkpoints that exist (the diverged weights are never saved)."""
        found = [p for p in (os.path.join(self.model_dir, BEST), os.path.join(self.model_dir, LAST))
                 if fileio.exists(p)]
        if not found:
            return "no checkpoint was saved yet (the first epoch did not finish)"
        return "the last good checkpoints are " + " and ".join(found)

    def validate(self, val_ds, references: Dict[str, str], step: int) -> Dict[str, float]:
        loss_sum = count = 0.0
        if self._decoder is None:
            self._decoder = Decoder(self.model, self.vocab, self.cfg.beam_size,
                                    length_penalty=self.cfg.length_penalty)
        decoder = self._decoder
        predictions: Dict[str, str] = {}
        written: Dict[str, list] = {}  # the sample studies' sentences, for their heatmaps
        samples = []
        limit = self.cfg.val_samples or math.inf
        for batch in val_ds:
            s, c = self._eval_step(batch)
            loss_sum, count = loss_sum + float(s), count + float(c)
            if len(predictions) < limit:
                for sid, sentences in zip(batch["id"].numpy(), decoder.reports(batch)):
                    # periods between sentences: the labeler's boundaries; NLG drops them
                    predictions[sid.decode()] = join_report(sentences)
                    if not samples:
                        written[sid.decode()] = list(sentences)
                if len(samples) < self.cfg.num_text_samples:
                    samples.append(batch)
        out = {"val_loss": loss_sum / max(count, 1.0)}
        if predictions and references:
            scores = nlg.score(predictions, references, metrics=nlg.BLEU + ("CIDEr",))
            out.update({"val_" + k: v for k, v in scores.items()})
            out["val_CE-F1"] = _ce_f1(predictions, references)
            out["val_CE-F1+BLEU-4"] = out["val_CE-F1"] + out["val_BLEU-4"]
        with self.val_writer.as_default(step=step):
            for k, v in out.items():
                tf.summary.scalar(k[4:], v)
            if self.text_summaries and samples:
                self._write_samples(samples[0], predictions, references, written)
        return out

    def _write_samples(self, batch, predictions, references, sentences=None):
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
            if sentences:
                self._write_heatmaps(batch, n, sentences)

    def _write_heatmaps(self, batch, n: int, sentences: Dict[str, list]) -> None:
        """Each sample study's per-sentence heatmaps (attention, or Grad-CAM), both views
        side by side: the overlays generate.py and the review page show."""
        from tfreport.attention_maps import sentence_figure, study_maps
        ids = [s.decode() for s in batch["id"].numpy()[:n]]
        inputs = {k: np.asarray(batch[k])[:n] for k in ("frontal", "lateral", "lateral_present")}
        reports = [sentences.get(i, []) for i in ids]
        try:
            maps, kind = study_maps(self.model, inputs, reports, self.vocab)
        except (ValueError, tf.errors.OpError) as e:  # a picture must not stop training
            if not self._heatmap_warned:
                log.warning("sample heatmaps not written: %s", e)
                self._heatmap_warned = True
            return
        for k, (sid, study) in enumerate(zip(ids, maps)):
            if not study:
                continue
            lateral = inputs["lateral"][k] if inputs["lateral_present"][k] > 0 else None
            figures = np.stack([sentence_figure(inputs["frontal"][k], lateral, m)
                                for m in study]) / 255.0
            tf.summary.image(f"sample_heatmaps/{sid} ({kind})", figures,
                             max_outputs=len(study),
                             description="; ".join(f"{j}. {m['sentence']}"
                                                   for j, m in enumerate(study, start=1)))
