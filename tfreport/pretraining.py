"""Domain-specific backbone pretraining: a multi-label classifier of the 14 CheXpert
observations on chest X-rays, whose backbone then feeds the report models
(``--backbone_weights OUT``). ImageNet features suit photographs; this is tfreport's way to a
"CheXpert-style" DenseNet121 when no such weights can be downloaded.

Labels are 1 / 0 / -1 (uncertain) / blank. Blanks are masked out of the loss; uncertain ones
follow the CheXpert paper's policies: U-Ignore (masked), U-Zeros (0) or U-Ones (1).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from typing import Dict, Optional, Tuple

import keras
import numpy as np
import tensorflow as tf

from tfreport import fileio
from tfreport.labels import CHEXPERT_OBSERVATIONS
from tfreport.layers.backbones import PRETRAINED_FILE as WEIGHTS_FILE
from tfreport.progress import progress

UNCERTAIN_POLICIES = ("ignore", "zeros", "ones")
LABEL_SOURCES = ("dataset", "labeler")


@dataclasses.dataclass
class PretrainConfig:
    backbone: str = "densenet121"
    image_size: int = 224
    labels: str = "dataset"  # dataset | labeler
    uncertain: str = "ones"  # ignore | zeros | ones (U-Ones: the CheXpert paper's best for most)
    epochs: int = 3
    batch_size: int = 16  # studies; both views are classified, so up to 2x images
    learning_rate: float = 1e-4
    backbone_width: int = 32  # the small backbone only
    init_weights: Optional[str] = None  # start from imagenet | PATH (default: random)
    seed: int = 0
    labeler: str = "rules"  # with labels="labeler": rules | chexbert (labelers.NAMES)
    chexbert_weights: Optional[str] = None  # the converted CheXbert folder (labeler chexbert)

    def __post_init__(self):
        if self.labels not in LABEL_SOURCES:
            raise ValueError(f"unknown --labels {self.labels!r}; valid: {', '.join(LABEL_SOURCES)}")
        if self.labels == "dataset" and (self.labeler != "rules" or self.chexbert_weights):
            raise ValueError("--labeler and --chexbert_weights go with --labels labeler; "
                             "--labels dataset reads the dataset's own labels")
        if self.uncertain not in UNCERTAIN_POLICIES:
            raise ValueError(f"unknown --uncertain {self.uncertain!r}; valid: "
                             f"{', '.join(UNCERTAIN_POLICIES)}")
        if self.backbone == "dual":
            raise ValueError("pretrain one backbone at a time (resnet50 or densenet121); dual "
                             "takes both files: --backbone_weights and --backbone_weights_dual")


def targets_and_mask(labels: np.ndarray, policy: str) -> Tuple[np.ndarray, np.ndarray]:
    """[N, 14] labels (1, 0, -1, NaN) -> (0/1 targets, 0/1 loss mask) under a policy."""
    labels = np.asarray(labels, np.float32)
    if policy not in UNCERTAIN_POLICIES:
        raise ValueError(f"unknown uncertainty policy {policy!r}")
    known = ~np.isnan(labels)
    uncertain = labels == -1
    targets = np.where(labels == 1, 1.0, 0.0)
    mask = known.astype(np.float32)
    if policy == "ignore":
        mask = np.where(uncertain, 0.0, mask)
    elif policy == "ones":
        targets = np.where(uncertain, 1.0, targets)
    return targets.astype(np.float32), mask.astype(np.float32)


def auroc(scores: np.ndarray, labels: np.ndarray) -> Optional[float]:
    """Area under the ROC curve (ties count one half); None without both classes."""
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels).astype(bool)
    pos, neg = scores[labels], scores[~labels]
    if len(pos) == 0 or len(neg) == 0:
        return None
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order))
    values = np.concatenate([pos, neg])[order]
    # average ranks over ties
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def auroc_table(scores: np.ndarray, labels: np.ndarray, mask: np.ndarray) -> Dict[str, object]:
    """Per-observation AUROC over the masked-in studies, and their mean."""
    per = {}
    for j, obs in enumerate(CHEXPERT_OBSERVATIONS):
        keep = mask[:, j] > 0
        value = auroc(scores[keep, j], labels[keep, j] > 0.5)
        if value is not None:
            per[obs] = {"auroc": value, "positives": int((labels[keep, j] > 0.5).sum()),
                        "negatives": int((labels[keep, j] <= 0.5).sum())}
    mean = float(np.mean([v["auroc"] for v in per.values()])) if per else math.nan
    return {"per_observation": per, "mean": mean}


# -- labels -----------------------------------------------------------------------------------
def dataset_labels(data_dir: str) -> Dict[str, np.ndarray]:
    """{study id: [14]} from the dataset's own labels (MIMIC-CXR's chexpert CSV, the demo's and
    the rendered set's labels.csv), as the build stored them; blank is NaN."""
    from tfreport.data.prepared import PreparedDataset
    data = PreparedDataset(data_dir)
    if not data.has_labels():
        raise ValueError(f"{data_dir}: the dataset carries no CheXpert labels; use "
                         "--labels labeler to label its reports with tfreport's labeler")
    return {k: np.array([v.get(o, math.nan) for o in CHEXPERT_OBSERVATIONS], np.float32)
            for k, v in data.labels().items()}


def labeler_labels(data_dir: str, labeler=None) -> Dict[str, np.ndarray]:
    """{study id: [14]} from a labeler (``labelers.get``; the rule-based one when None) run
    on each study's report."""
    from tfreport import labelers
    from tfreport.data.prepared import PreparedDataset
    labeler = labeler or labelers.RULES
    from tfreport.text import join_report
    entry = PreparedDataset(data_dir).entry
    labelled = labeler.label_reports({k: join_report(v) for k, v in entry.items()})
    return {k: np.array([math.nan if v.get(o) is None else float(v[o])
                         for o in CHEXPERT_OBSERVATIONS], np.float32)
            for k, v in labelled.items()}


def study_labels(data_dir: str, source: str, labeler=None) -> Dict[str, np.ndarray]:
    if source not in LABEL_SOURCES:
        raise ValueError(f"unknown --labels {source!r}; valid: {', '.join(LABEL_SOURCES)}")
    return dataset_labels(data_dir) if source == "dataset" else labeler_labels(data_dir, labeler)


# -- model ------------------------------------------------------------------------------------
def weights_target(backbone: keras.Model) -> keras.Model:
    """The sub-model whose weights ``--backbone_weights`` loads: the keras.applications
    network inside the preprocessing wrapper, or the small backbone itself."""
    inner = [layer for layer in backbone.layers if isinstance(layer, keras.Model)]
    return inner[-1] if inner else backbone


def build_classifier(cfg: PretrainConfig) -> Tuple[keras.Model, keras.Model]:
    """(classifier image -> 14 logits, its backbone)."""
    from tfreport.layers.backbones import build_backbone
    backbone = build_backbone(cfg.backbone, cfg.image_size, cfg.init_weights,
                              width=cfg.backbone_width)
    inp = keras.Input((cfg.image_size, cfg.image_size, 1))
    x = keras.layers.GlobalAveragePooling2D()(backbone(inp))
    logits = keras.layers.Dense(len(CHEXPERT_OBSERVATIONS), name="observations")(x)
    return keras.Model(inp, logits, name=f"{cfg.backbone}_chexpert"), backbone


def _views(batch, labels: Dict[str, np.ndarray], policy: str):
    """Both views of each labelled study as classifier examples: (images, targets, mask)."""
    ids = [s.decode() for s in batch["id"].numpy()]
    rows = np.stack([labels.get(s, np.full(len(CHEXPERT_OBSERVATIONS), np.nan, np.float32))
                     for s in ids])
    targets, mask = targets_and_mask(rows, policy)
    present = batch["lateral_present"].numpy() > 0
    images = tf.concat([batch["frontal"], tf.boolean_mask(batch["lateral"], present)], axis=0)
    return (images, np.concatenate([targets, targets[present]]),
            np.concatenate([mask, mask[present]]))


def predict_split(model, data_dir: str, split: str, labels, cfg: PretrainConfig, quiet: bool):
    """(scores, targets, mask) over both views of every study of a split."""
    from tfreport.data import pipeline
    ds = pipeline.dataset(data_dir, split, batch_size=cfg.batch_size, image_size=cfg.image_size,
                          max_sentences=1, max_words=2)
    fn = tf.function(lambda x: tf.sigmoid(model(x, training=False)))
    scores, targets, masks = [], [], []
    for batch in progress(ds, desc=f"scoring {split}", disable=quiet, unit="batch"):
        images, t, m = _views(batch, labels, cfg.uncertain)
        scores.append(fn(images).numpy())
        targets.append(t)
        masks.append(m)
    return np.concatenate(scores), np.concatenate(targets), np.concatenate(masks)


def pretrain(data_dir: str, out: str, cfg: PretrainConfig, quiet: bool = False) -> dict:
    """Trains the classifier, writes OUT/backbone.weights.h5, config.json and auroc.{json,md};
    returns the validation AUROC table."""
    from tfreport.data import pipeline
    from tfreport.data.build import read_summary
    keras.utils.set_random_seed(cfg.seed)
    summary = read_summary(data_dir)
    labeler = None
    if cfg.labels == "labeler":
        from tfreport import labelers
        labeler = labelers.get(cfg.labeler, cfg.chexbert_weights, quiet=quiet)
    labels = study_labels(data_dir, cfg.labels, labeler)
    model, backbone = build_classifier(cfg)
    opt = keras.optimizers.Adam(cfg.learning_rate)

    @tf.function(reduce_retracing=True)
    def step(images, targets, mask):
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            bce = tf.nn.sigmoid_cross_entropy_with_logits(targets, tf.cast(logits, tf.float32))
            loss = tf.reduce_sum(bce * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply(grads, model.trainable_variables)
        return loss

    steps = max(1, summary["counts"]["train"] // cfg.batch_size)
    history = []
    start = time.time()
    for epoch in range(1, cfg.epochs + 1):
        ds = pipeline.dataset(data_dir, "train", batch_size=cfg.batch_size,
                              image_size=cfg.image_size, max_sentences=1, max_words=2,
                              training=True, seed=cfg.seed, epoch=epoch).take(steps)
        losses = []
        bar = progress(ds, desc=f"pretrain epoch {epoch}/{cfg.epochs}", total=steps,
                       disable=quiet, unit="step")
        for batch in bar:
            loss = float(step(*_views(batch, labels, cfg.uncertain)))
            if not math.isfinite(loss):
                raise RuntimeError(f"pretraining loss is {loss} at epoch {epoch}; lower "
                                   "--learning_rate")
            losses.append(loss)
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        history.append({"epoch": epoch, "loss": float(np.mean(losses))})

    val_split = "val" if summary["counts"].get("val") else "train"
    scores, targets, mask = predict_split(model, data_dir, val_split, labels, cfg, quiet)
    table = auroc_table(scores, targets, mask)
    train_table = auroc_table(*predict_split(model, data_dir, "train", labels, cfg, quiet))
    table.update(split=val_split, uncertain=cfg.uncertain,
                 labels=cfg.labels if labeler is None else f"labeler ({labeler.name})",
                 train_mean=train_table["mean"], train_per_observation=train_table["per_observation"])
    fileio.makedirs(out)
    weights_path = os.path.join(out, WEIGHTS_FILE)
    weights_target(backbone).save_weights(weights_path + ".tmp.weights.h5")
    fileio.replace(weights_path + ".tmp.weights.h5", weights_path)
    with fileio.open(os.path.join(out, "config.json"), "w") as f:
        json.dump({"pretrain_config": dataclasses.asdict(cfg), "data_dir": fileio.abspath(data_dir),
                   "history": history, "seconds": time.time() - start,
                   "load_with": f"--backbone {cfg.backbone} --backbone_weights {weights_path}"},
                  f, indent=1)
    with fileio.open(os.path.join(out, "auroc.json"), "w") as f:
        json.dump(table, f, indent=1)
    with fileio.open(os.path.join(out, "auroc.md"), "w") as f:
        f.write(auroc_markdown(table, cfg))
    return table


def auroc_markdown(table: dict, cfg: PretrainConfig) -> str:
    lines = [f"# {cfg.backbone} pretrained on the 14 CheXpert observations", "",
             f"Validation split: {table['split']}; labels: {table['labels']}; uncertain: "
             f"U-{table['uncertain'].capitalize()}; both views of each study scored.", "",
             "| observation | AUROC | positives | negatives |", "|---|---|---|---|"]
    for obs, v in table["per_observation"].items():
        lines.append(f"| {obs} | {v['auroc']:.3f} | {v['positives']} | {v['negatives']} |")
    lines.append(f"| **mean** | **{table['mean']:.3f}** | | |")
    if "train_mean" in table:
        lines += ["", f"Mean AUROC on the training split: {table['train_mean']:.3f}."]
    return "\n".join(lines) + "\n"
