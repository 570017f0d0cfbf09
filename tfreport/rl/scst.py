"""The self-critical policy gradient (Rennie et al. 2017) and its two baselines.

For k sampled reports y_1..y_k of a study with rewards r_i, the loss is
    - sum_i (r_i - b_i) * log p(y_i | image)
averaged over the samples' tokens, so a sample better than its baseline becomes more
likely and a worse one less. The baseline b_i is
- ``greedy``: the reward of the study's greedy (test-time) report, the original SCST;
- ``mean``: the mean reward of the study's other k - 1 samples (Luo 2020's "new
  baseline"), which needs no greedy decode and k >= 2.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from keras import ops

from tfreport.vocab import PAD_ID

BASELINES = ("greedy", "mean")


def advantages(rewards: np.ndarray, baseline: str = "mean",
               greedy: Optional[np.ndarray] = None) -> np.ndarray:
    """[B, k] reward minus baseline for ``rewards`` [B, k] (k samples of each of B studies)."""
    rewards = np.asarray(rewards, np.float32)
    if rewards.ndim != 2:
        raise ValueError(f"rewards must be [studies, samples], got shape {rewards.shape}")
    if baseline == "greedy":
        if greedy is None:
            raise ValueError("the greedy baseline needs the greedy reports' rewards")
        return rewards - np.asarray(greedy, np.float32).reshape(-1, 1)
    if baseline == "mean":
        k = rewards.shape[1]
        if k < 2:
            raise ValueError("the mean baseline needs at least 2 samples per study")
        return rewards - (rewards.sum(1, keepdims=True) - rewards) / (k - 1)
    raise ValueError(f"unknown baseline {baseline!r}; choose from {', '.join(BASELINES)}")


def token_log_probs(logits, tokens):
    """[N, T] log p of each sampled token (0 at PAD) from teacher-forced ``logits`` [N, T, V]."""
    logp = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
    picked = ops.take_along_axis(logp, ops.expand_dims(ops.cast(tokens, "int32"), -1), axis=-1)[..., 0]
    return picked * ops.cast(ops.not_equal(tokens, PAD_ID), "float32")


def policy_loss_terms(logits, tokens, advantage):
    """(sum of -(advantage x token log p) over the non-PAD tokens, their count): one
    replica's share of the loss, which is the sum over replicas over the count over them.
    ``advantage`` [N] is one value per sampled sequence (constant: no gradient)."""
    mask = ops.cast(ops.not_equal(tokens, PAD_ID), "float32")
    weighted = token_log_probs(logits, tokens) * ops.expand_dims(ops.cast(advantage, "float32"), -1)
    return -ops.sum(weighted), ops.sum(mask)


def policy_loss(logits, tokens, advantage):
    """The SCST loss: -(advantage x token log p), averaged over the non-PAD tokens."""
    total, count = policy_loss_terms(logits, tokens, advantage)
    return total / ops.maximum(count, 1.0)


def entropy(logits, tokens):
    """Mean entropy of the next-token distribution over the non-PAD positions (for
    TensorBoard: RL that collapses onto one phrasing shows it falling)."""
    logp = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
    h = -ops.sum(ops.exp(logp) * logp, axis=-1)
    mask = ops.cast(ops.not_equal(tokens, PAD_ID), "float32")
    return ops.sum(h * mask) / ops.maximum(ops.sum(mask), 1.0)
