"""Grad-CAM of each generated sentence, for the models that do not attend over grid cells.

For sentence k of a study's report, y_k is the sum of its words' log-probabilities under
teacher forcing. On the extractor's last grid A (per view, cells x channels) Grad-CAM weighs
each channel by its mean gradient, alpha_c = mean_cells dy_k/dA_c, and keeps the positive part
of sum_c alpha_c A_c (Selvaraju et al., 2017). The two views' maps are scaled to sum to 1
together, as the attention maps do, so both kinds read the same way; a masked view gets None.
"""
from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np

from tfreport.vocab import END_ID, PAD_ID, Vocabulary


def sentence_masks(model, grid: np.ndarray, counts: Sequence[int]) -> List[np.ndarray]:
    """One float mask per sentence index k over the model's targets (flat [B, T] or grid
    [B, S, W]): 1 on the words of study b's sentence k (not its </S>, not padding)."""
    words = ~np.isin(grid, (PAD_ID, END_ID))
    if model.hierarchical:
        rows = np.arange(grid.shape[1])[None, :, None]
        return [(words & (rows == k)).astype(np.float32) for k in range(max(counts, default=0))]
    targets = np.asarray(model.targets({"report": grid}))
    words = ~np.isin(targets, (PAD_ID, END_ID))
    sentence = np.cumsum(targets == END_ID, axis=1) - (targets == END_ID)  # index per token
    return [(words & (sentence == k)).astype(np.float32) for k in range(max(counts, default=0))]


def sentence_log_probs(model, grids, view_mask, grid: np.ndarray, mask: np.ndarray):
    """[B]: each study's sum of log-probabilities of the tokens ``mask`` selects, with the
    report ``grid`` teacher-forced over the extractor grids given (not the images)."""
    import tensorflow as tf
    out = model({"grids": grids, "view_mask": view_mask,
                 "report": tf.constant(grid, tf.int32)}, training=False)
    logits = out["logits"] if isinstance(out, dict) else out
    logp = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)
    target = grid if model.hierarchical else np.asarray(model.targets({"report": grid}))
    picked = tf.reduce_sum(logp * tf.one_hot(target.astype(np.int32), logp.shape[-1]), -1)
    return tf.reduce_sum(tf.reshape(picked * mask, (tf.shape(picked)[0], -1)), axis=1)


def _normalised(cam: np.ndarray, present: float) -> np.ndarray:
    """[2, N] -> maps summing to 1 over the visible views' cells (uniform when all zero)."""
    cam = cam.copy()
    if present <= 0:
        cam[1] = 0.0
    total = cam.sum()
    if total <= 0:
        cam = np.zeros_like(cam)
        cam[0] = 1.0
        if present > 0:
            cam[1] = 1.0
        total = cam.sum()
    return cam / total


def gradcam_maps(model, batch: Dict, reports: Sequence[Sequence[str]],
                 vocab: Vocabulary) -> List[List[Dict]]:
    """Per study, per sentence of its report: ``{"sentence", "frontal": [h, w], "lateral":
    [h, w] or None}``, the Grad-CAM of the sentence's log-probability (see the module doc)."""
    import tensorflow as tf
    from tfreport.attention_maps import _grid_side, report_grid

    grid = report_grid(model, reports, vocab)
    inputs = {k: batch[k] for k in ("frontal", "lateral", "lateral_present")}
    grids, view_mask = model.raw_visual_features(inputs, training=False)
    grids = tf.convert_to_tensor(grids)
    view_mask = tf.convert_to_tensor(view_mask)
    counts = [len(r) for r in reports]
    masks = sentence_masks(model, grid, counts)
    cams = []
    for mask in masks:
        with tf.GradientTape() as tape:
            tape.watch(grids)
            y = tf.reduce_sum(sentence_log_probs(model, grids, view_mask, grid, mask))
        grad = tape.gradient(y, grids).numpy()  # studies are independent: each its own part
        weights = grad.mean(axis=2, keepdims=True)  # per view and channel
        cams.append(np.maximum((weights * grids.numpy()).sum(-1), 0.0))  # [B, 2, N]
    present = np.asarray(batch["lateral_present"], np.float32)
    out = []
    for i, sentences in enumerate(reports):
        side = _grid_side(grids.shape[2])
        study = []
        for k, sentence in enumerate(sentences):
            cam = _normalised(cams[k][i], present[i])
            study.append({"sentence": sentence, "frontal": cam[0].reshape(side, side),
                          "lateral": cam[1].reshape(side, side) if present[i] > 0 else None})
        out.append(study)
    return out
