"""One SCST update of a flat report model (CNN-RNN, CNN-RNN-Att, M2 Transformer).

    sample k reports per study (multinomial, at a temperature)   compiled
    decode them, score each against its study's reference        numpy (rewards.Reward)
    baseline: the greedy report's reward, or the other samples'
    teacher-forced pass over the samples, SCST loss, Adam step   compiled

The samples are fed back as the targets of the model's own teacher-forced call, so the
log-probabilities are those of the training forward pass (dropout on) and every flat model
works unchanged. Hierarchical models (Hier-RNN, MRNA) decide each sentence's end with a
separate stop head; their policy has two kinds of action and is not covered here yet.
"""
from __future__ import annotations

import time
from typing import Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf

from tfreport.decoding import VISUAL_KEYS, Sampling, decode_flat
from tfreport.rl import scst
from tfreport.rl.rewards import Reward
from tfreport.text import join_report


SEED_STRIDE = 1 << 16  # more draws than any report has tokens


class SCSTStep:
    """Holds the compiled sampling, greedy and update functions of one model."""

    def __init__(self, model, vocab, optimizer, reward: Reward, samples: int = 5,
                 baseline: str = "mean", temperature: float = 1.0, seed: Optional[int] = 0,
                 clip_norm: float = 1.0):
        if model.hierarchical:
            raise ValueError(f"SCST covers the flat models (cnn_rnn, cnn_rnn_att, "
                             f"m2_transformer); {model.name} is hierarchical")
        if baseline not in scst.BASELINES:
            raise ValueError(f"unknown --scst_baseline {baseline!r}; choose from "
                             f"{', '.join(scst.BASELINES)}")
        if baseline == "mean" and samples < 2:
            raise ValueError("the mean baseline needs --scst_samples 2 or more")
        self.model, self.vocab, self.optimizer, self.reward = model, vocab, optimizer, reward
        self.samples, self.baseline, self.clip_norm = int(samples), baseline, clip_norm
        self.sampling = Sampling(temperature, seed)
        self._sample = tf.function(self._sample_ids, reduce_retracing=True)
        self._greedy = tf.function(self._greedy_ids, reduce_retracing=True)
        self._update = tf.function(self._update_step, reduce_retracing=True)

    # -- compiled parts -------------------------------------------------------------------
    def _sample_ids(self, visual):
        return decode_flat(self.model, visual, 1, sampling=self.sampling)

    def _greedy_ids(self, visual):
        return decode_flat(self.model, visual, 1)

    def _update_step(self, visual, ids, advantage):
        from tfreport.training.optimizer import loss_scale
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            # training=False: the samples were drawn without dropout, so the gradient is
            # that of the policy that drew them (on-policy)
            logits = self.model(dict(visual, report=ids[:, None, :]), training=False)
            loss = scst.policy_loss(logits, ids, advantage)
            scaled = self.optimizer.scale_loss(loss)  # float16: the loss-scale optimizer's
        grads = tape.gradient(scaled, variables)
        present = [i for i, g in enumerate(grads) if g is not None]
        grads = [grads[i] for i in present]
        if self.clip_norm:
            scale = loss_scale(self.optimizer)  # the grads are still scaled under float16
            limit = self.clip_norm * (tf.cast(scale, tf.float32) if scale is not None else 1.0)
            grads, _ = tf.clip_by_global_norm(grads, limit)
        self.optimizer.apply(grads, [variables[i] for i in present])
        return loss, scst.entropy(logits, ids)

    def reseed(self, seed: int, step: int) -> None:
        """Makes step ``step``'s draw a function of (seed, step) alone, so a resumed run
        samples what the uninterrupted one did. Each token's draw advances the generator by
        one, so steps start SEED_STRIDE apart and never share a draw."""
        state = self.sampling.sampler.seed_generator.state
        state.assign(tf.constant([seed, step * SEED_STRIDE], state.dtype))

    # -- one step -------------------------------------------------------------------------
    def texts(self, ids: np.ndarray) -> List[str]:
        """Token ids -> report strings, periods between sentences (the labeler needs them)."""
        return [join_report(self.vocab.decode_flat(row)) for row in ids]

    def __call__(self, batch: Dict[str, tf.Tensor], references: Sequence[str]) -> dict:
        """One update on ``batch`` whose studies have ``references`` (in batch order);
        returns the figures TensorBoard shows: the reward and each component (samples'
        means), the baseline, the loss, the entropy, a few sampled reports, and the seconds
        spent sampling (with the greedy decode), on rewards and on the update."""
        visual = {k: batch[k] for k in VISUAL_KEYS if k in batch}
        n = len(references)
        k = self.samples
        t0 = time.perf_counter()
        tiled = {name: tf.repeat(v, k, axis=0) for name, v in visual.items()}
        ids = self._sample(tiled).numpy()
        greedy_ids = self._greedy(visual).numpy() if self.baseline == "greedy" else None
        t1 = time.perf_counter()
        texts = self.texts(ids)
        total, parts = self.reward(texts, [r for r in references for _ in range(k)])
        greedy = None
        if greedy_ids is not None:
            greedy, _ = self.reward(self.texts(greedy_ids), list(references))
        adv = scst.advantages(total.reshape(n, k), self.baseline, greedy).reshape(-1)
        t2 = time.perf_counter()
        loss, ent = self._update(tiled, tf.constant(ids), tf.constant(adv, tf.float32))
        loss, ent = float(loss), float(ent)
        t3 = time.perf_counter()
        out = {"reward": float(total.mean()), "baseline": float((total - adv).mean()),
               "loss": loss, "entropy": ent, "samples": texts[::k][:3],
               "seconds/sample": t1 - t0, "seconds/reward": t2 - t1, "seconds/update": t3 - t2}
        out.update({f"reward/{name}": float(v.mean()) for name, v in parts.items()})
        return out
