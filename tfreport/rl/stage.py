"""The SCST stage: fine-tune a trained flat model with self-critical sequence training.

    python scripts/scst.py --init_from models/RUN --reward cider:1,ce:1 [--scst_baseline mean]

It loads ``RUN/best.keras`` (the NLL model), trains on the same data with the SCST step
(``rl.step``) in place of teacher forcing, and keeps everything else a training run has:
the Trainer's loop, validation every epoch with best.keras chosen by ``--val_metric``
(CIDEr by default), last.keras, ``--resume`` after a kill, TensorBoard (each reward
component, the baseline, the entropy and sampled reports) and the test split scored at the
end. The stage writes a model directory of its own, which loads and decodes like any other.
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Dict, Optional

import keras
import tensorflow as tf

from tfreport import fileio
from tfreport import evaluation
from tfreport.atomic import write_json
from tfreport.rl.rewards import Reward, parse_spec
from tfreport.rl.scst import BASELINES
from tfreport.training.config import TrainConfig
from tfreport.training.trainer import BEST, Trainer
from tfreport.vocab import Vocabulary


@dataclasses.dataclass
class SCSTConfig:
    """The stage's own settings; the optimiser's come from a TrainConfig (``train_config``)."""
    reward: str = "cider:1"  # weighted rewards (rl.rewards.NAMES)
    baseline: str = "mean"  # greedy | mean (the other samples' mean reward)
    samples: int = 5  # sampled reports per study per step
    temperature: float = 1.0  # the samples' softmax temperature
    sampling: str = "sample"  # sample (multinomial) | beam (the k best beams, M2's recipe)
    freeze_backbone: bool = False  # keep the image extractor fixed: only the decoder learns

    def __post_init__(self):
        parse_spec(self.reward)  # a clear error before any model loads
        if self.baseline not in BASELINES:
            raise ValueError(f"unknown --scst_baseline {self.baseline!r}; choose from "
                             f"{', '.join(BASELINES)}")
        if self.samples < 1 or (self.baseline == "mean" and self.samples < 2):
            raise ValueError("--scst_samples must be 1 or more (2 or more with the mean baseline)")
        from tfreport.rl.step import SAMPLINGS
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"unknown --scst_sampling {self.sampling!r}; choose from "
                             f"{', '.join(SAMPLINGS)}")
        if not self.temperature > 0:
            raise ValueError("--temperature must be above 0")


class SCSTTrainer(Trainer):
    """The Trainer with the SCST step: same loop, validation, checkpoints and resume, under
    the same strategies. Each training batch carries its studies' row numbers in the
    reference table (ids are strings, which a GPU replica cannot hold)."""

    def __init__(self, *args, scst_config: SCSTConfig, references: Dict[str, str],
                 reward: Reward, **kwargs):
        super().__init__(*args, **kwargs)
        if isinstance(self.strategy, tf.distribute.TPUStrategy):
            raise ValueError("SCST does not run on TPUs yet: each step goes back to the host "
                             "for the rewards, between the sampling and the update; use GPUs")
        from tfreport.rl.step import SCSTStep
        self.reference_ids = sorted(references)
        self.reference_texts = [references[i] for i in self.reference_ids]
        self.row_of = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
            tf.constant(self.reference_ids), tf.range(len(self.reference_ids), dtype=tf.int32)), -1)
        self.scst = SCSTStep(self.model, self.vocab, self.optimizer, reward,
                             samples=scst_config.samples, baseline=scst_config.baseline,
                             temperature=scst_config.temperature, seed=self.cfg.seed,
                             clip_norm=self.cfg.clip_norm, strategy=self.strategy,
                             sampling=scst_config.sampling)

    def _fields(self, batch):
        out = {k: v for k, v in batch.items() if v.dtype != tf.string}
        out["reference_row"] = self.row_of.lookup(batch["id"])
        return out

    def _run_step(self, batch, step: int) -> float:
        references = []
        for rows in self.scst.local(batch["reference_row"]):
            if (rows < 0).any():
                raise ValueError("a training study has no reference report; prepare the "
                                 "dataset again")
            references.append([self.reference_texts[r] for r in rows])
        out = self.scst(batch, references, step)  # keyed by step: a resumed run draws the same
        if (step + 1) % 10 == 0:
            with self.train_writer.as_default(step=step + 1):
                for key in ("reward", "baseline", "entropy", "seconds/sample", "seconds/reward",
                            "seconds/update"):
                    tf.summary.scalar(f"scst/{key}", out[key])
                for key, value in out.items():
                    if key.startswith("reward/"):
                        tf.summary.scalar(f"scst/{key}", value)
                tf.summary.text("scst/sampled_reports", "\n\n".join(out["samples"]))
        return out["loss"]


def load_run(init_from: str) -> dict:
    """The NLL run's resolved config (config.json), checked to be a finished run."""
    for name in ("config.json", BEST, "vocabulary.json"):
        if not fileio.exists(os.path.join(init_from, name)):
            raise FileNotFoundError(f"--init_from {init_from}: no {name}; give the model "
                                    "directory of a finished train.py run")
    with fileio.open(os.path.join(init_from, "config.json"), encoding="utf-8") as f:
        return json.load(f)


def load_policy(init_from: str, freeze_backbone: bool = False):
    """The NLL run's best.keras, SCST's starting policy; with ``freeze_backbone`` its image
    extractor is fixed (Rennie et al.'s and M2's fixed image features)."""
    from tfreport.inference import load_model
    model = load_model(os.path.join(init_from, BEST))
    if freeze_backbone:
        model.visual_encoder.trainable = False
    return model


def _check_resumed_recipe(model_dir: str, init_from: str, scst_config: SCSTConfig) -> None:
    """--resume continues a run only with the recipe and starting model it began with."""
    with fileio.open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        saved = json.load(f)
    now = dataclasses.asdict(scst_config)
    was = {**dataclasses.asdict(SCSTConfig()), **saved.get("scst_config", {})}  # older runs
    changed = sorted(k for k in now if was.get(k) != now[k])
    if saved.get("init_from") != fileio.abspath(init_from):
        changed.insert(0, f"init_from ({saved.get('init_from')} before)")
    if changed:
        raise ValueError(f"--resume {model_dir}: the run began with another recipe; it differs "
                         f"in {', '.join(changed)}. Pass the flags it began with, or start a "
                         "new --model_dir")


def run(init_from: str, model_dir: str, scst_config: SCSTConfig, train_overrides: dict,
        logdir: str = "summary", data_dir: Optional[str] = None, resume: bool = False,
        steps_per_epoch: Optional[int] = None, quiet: bool = False,
        evaluate_test: bool = True, strategy: str = "auto",
        run_name: Optional[str] = None) -> dict:
    """Runs the stage into ``model_dir`` under ``--strategy`` (train.py's choices); returns
    the test scores of its best.keras."""
    from tfreport.data import pipeline
    from tfreport.data.build import read_summary
    from tfreport.models import model_class
    from tfreport.training.run import guard_model_dir
    from tfreport.training.strategy import make_strategy
    distribution = make_strategy(strategy)  # first: multi-worker wants it before other TF ops
    init = load_run(init_from)
    if model_class(init["model"]).hierarchical:
        raise ValueError(f"--init_from {init_from} is a {init['model']} run; SCST covers the "
                         "flat models (cnn_rnn, cnn_rnn_att, m2_transformer)")
    data_dir = data_dir or init["data_dir"]
    model_cfg = dict(init["model_config"])
    train_values = dict(init["train_config"])
    # SCST's optimisation: a small constant learning rate from the NLL model, no warm-up
    train_values.update(lr_schedule="step", lr_decay=1.0, warmup=0.0, learning_rate=5e-5,
                        epochs=5, val_metric="CIDEr", early_stopping=0,
                        backbone_learning_rate=None)  # the backbone at the decoder's rate
    train_values.update({k: v for k, v in train_overrides.items() if v is not None})
    train_cfg = TrainConfig(**train_values)
    keras.utils.set_random_seed(train_cfg.seed)
    vocab = Vocabulary.load(os.path.join(init_from, "vocabulary.json"))
    summary = read_summary(data_dir)
    if not summary["counts"].get("val"):
        raise ValueError(f"{data_dir} has no validation split: SCST chooses best.keras by "
                         "--val_metric on it (the SCST loss says nothing about quality)")
    if not resume:
        guard_model_dir(model_dir, False, False)
    elif fileio.exists(os.path.join(model_dir, "config.json")):
        _check_resumed_recipe(model_dir, init_from, scst_config)
    fileio.makedirs(model_dir)
    run_name = run_name or os.path.basename(os.path.normpath(model_dir))
    resolved = {"model": init["model"], "preset": init.get("preset"), "objective": "scst",
                "init_from": fileio.abspath(init_from), "data_dir": fileio.abspath(data_dir),
                "run_name": run_name, "strategy": strategy,
                "scst_config": dataclasses.asdict(scst_config),
                "model_config": model_cfg, "train_config": train_cfg.to_dict()}
    write_json(os.path.join(model_dir, "config.json"), resolved)
    fileio.copy(os.path.join(init_from, "vocabulary.json"), os.path.join(model_dir, "vocabulary.json"))
    train_refs = evaluation.references(data_dir, "train")
    reward = Reward(parse_spec(scst_config.reward), corpus=list(train_refs.values()))

    def load_model():
        return load_policy(init_from, scst_config.freeze_backbone)

    trainer = SCSTTrainer(load_model, vocab, train_cfg, model_dir, os.path.join(logdir, run_name),
                          summary["counts"]["train"], strategy=distribution,
                          steps_per_epoch=steps_per_epoch, quiet=quiet,
                          scst_config=scst_config, references=train_refs, reward=reward)
    trainer.write_hparams(resolved)
    if not quiet:
        print(f"SCST from {init_from} ({init['model']}): reward {scst_config.reward}, "
              f"{scst_config.samples} samples a study, {scst_config.baseline} baseline; "
              f"{type(distribution).__name__}, {trainer.plan.replicas} replica(s) x batch "
              f"{trainer.plan.per_replica}; model directory {model_dir}, TensorBoard {os.path.join(logdir, run_name)}")

    def ds(split, training, **kw):
        return pipeline.dataset(data_dir, split, image_size=model_cfg["image_size"],
                                max_sentences=model_cfg["max_sentences"],
                                max_words=model_cfg["max_words"], training=training,
                                seed=train_cfg.seed, **kw)

    def train_fn(epoch, skip, ctx, per_replica):
        return ds("train", True, batch_size=per_replica, epoch=epoch, skip_batches=skip,
                  input_context=ctx)

    trainer.fit(train_fn, ds("val", False, batch_size=trainer.plan.per_replica),
                evaluation.references(data_dir, "val"),
                calibration_ds=ds("train", False, batch_size=trainer.plan.per_replica).take(16),
                resume=resume)
    trainer.train_writer.flush()
    trainer.val_writer.flush()
    if not evaluate_test:
        return {}
    return evaluation.evaluate(model_dir, data_dir, "test", train_cfg.beam_size, BEST, quiet=quiet,
                               length_penalty=train_cfg.length_penalty)
