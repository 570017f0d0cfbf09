"""One SCST update of a flat report model (CNN-RNN, CNN-RNN-Att, M2 Transformer), under any
tf.distribute strategy with replicas on this host's devices.

    each replica: the extractor once per study, k reports sampled from its grids   compiled
    this worker: decode them, score each against its study's reference           numpy
                 baseline: the greedy report's reward, or the other samples'
    each replica: teacher-forced pass over its samples, SCST loss, gradients
                  summed over replicas, Adam step                                 compiled

The extractor runs once per study, not once per sample: its grids are repeated for the k
samples, inside the gradient tape, so a fine-tuned backbone still gets its gradient. The
samples are fed back as the targets of the model's own teacher-forced call (dropout off,
as when they were drawn), so every flat model works unchanged.

``sampling="beam"`` takes the k best beams of a beam search as the study's samples instead
(the meshed-memory transformer's recipe, Cornia et al. 2020, with the mean baseline): the
reports stay near what the model writes at test time, where T-1 samples of a long report
can be much worse than its beam report.

Sampling is keyed, not stateful: each draw is a function of (seed, step, replica, position)
alone (``KeyedSampler``). So a resumed run draws what the uninterrupted one drew, and no
two replicas share a random stream.

Hierarchical models (Hier-RNN, MRNA) decide each sentence's end with a separate stop
head; their policy has two kinds of action and is not covered here.
"""
from __future__ import annotations

import time
from typing import Dict, List, Optional, Sequence

import keras_hub
import numpy as np
import tensorflow as tf

from tfreport.decoding import VISUAL_KEYS, decode_flat
from tfreport.rl import scst
from tfreport.rl.rewards import Reward
from tfreport.text import join_report


class KeyedSampler(keras_hub.samplers.Sampler):
    """Multinomial sampling at a temperature (keras-hub's ``compute_probabilities``) whose
    draw at each position depends only on ``key`` ([2] int, set inside the compiled function
    before decoding) and the position: no seed-generator variable, so replicas can sample
    side by side."""

    key = None

    def token_at(self, probabilities, index):
        seed = tf.random.experimental.stateless_fold_in(self.key, tf.cast(index, tf.int64))
        draw = tf.random.stateless_categorical(tf.math.log(probabilities), 1, seed=seed,
                                               dtype=tf.int32)
        return draw[:, 0]


SAMPLINGS = ("sample", "beam")


class _Sampling:  # what decode_flat reads: .sampler
    def __init__(self, sampler):
        self.sampler = sampler


def _repeat(grids, mask, k: int) -> dict:
    """The model's input for k samples per study, from its grids (no extractor)."""
    return {"grids": tf.repeat(grids, k, axis=0), "view_mask": tf.repeat(mask, k, axis=0)}


class SCSTStep:
    """Holds the compiled sampling and update functions of one model under ``strategy``."""

    def __init__(self, model, vocab, optimizer, reward: Reward, samples: int = 5,
                 baseline: str = "mean", temperature: float = 1.0, seed: Optional[int] = 0,
                 clip_norm: float = 1.0, strategy: Optional[tf.distribute.Strategy] = None,
                 sampling: str = "sample"):
        if model.hierarchical:
            raise ValueError(f"SCST covers the flat models (cnn_rnn, cnn_rnn_att, "
                             f"m2_transformer); {model.name} is hierarchical")
        if baseline not in scst.BASELINES:
            raise ValueError(f"unknown --scst_baseline {baseline!r}; choose from "
                             f"{', '.join(scst.BASELINES)}")
        if sampling not in SAMPLINGS:
            raise ValueError(f"unknown --scst_sampling {sampling!r}; choose from "
                             f"{', '.join(SAMPLINGS)}")
        if baseline == "mean" and samples < 2:
            raise ValueError("the mean baseline needs --scst_samples 2 or more")
        self.model, self.vocab, self.optimizer, self.reward = model, vocab, optimizer, reward
        self.samples, self.baseline, self.clip_norm = int(samples), baseline, clip_norm
        self.seed = int(seed or 0)
        self.beam = sampling == "beam"
        self.strategy = strategy or tf.distribute.get_strategy()
        self.sampling = _Sampling(KeyedSampler(temperature=temperature))
        self._sample = tf.function(self._distributed_sample, reduce_retracing=True)
        self._update = tf.function(self._distributed_update, reduce_retracing=True)
        self._greedy = tf.function(lambda visual: decode_flat(self.model, visual, 1),
                                   reduce_retracing=True)

    # -- compiled parts (one replica each) -------------------------------------------------
    def _replica_sample(self, visual, key):
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        self.sampling.sampler.key = tf.random.experimental.stateless_fold_in(
            key, tf.cast(replica, tf.int64))
        grids, mask = self.model.raw_visual_features(visual, training=False)
        per_study = {"grids": grids, "view_mask": mask}
        if self.beam:  # each study's k best beams, best first: the same rows as k samples
            ids = decode_flat(self.model, per_study, self.samples, every_beam=True)
        else:
            ids = decode_flat(self.model, _repeat(grids, mask, self.samples), 1,
                              sampling=self.sampling)
        if self.baseline == "greedy":
            greedy = decode_flat(self.model, per_study, 1)
        else:
            greedy = tf.zeros((tf.shape(grids)[0], 0), tf.int32)
        return ids, greedy

    def _replica_update(self, visual, ids, advantage):
        from tfreport.training.optimizer import clip_global_norm
        ctx = tf.distribute.get_replica_context()
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            # the extractor inside the tape, once per study (a fine-tuned one learns too);
            # training=False: the samples were drawn without dropout, so the gradient is
            # that of the policy that drew them (on-policy)
            grids, mask = self.model.raw_visual_features(visual, training=False)
            inputs = dict(_repeat(grids, mask, self.samples), report=ids[:, None, :])
            logits = self.model(inputs, training=False)
            total, count = scst.policy_loss_terms(logits, ids, advantage)
            loss = total / tf.maximum(ctx.all_reduce(tf.distribute.ReduceOp.SUM, count), 1.0)
            scaled = self.optimizer.scale_loss(loss)  # float16: the loss-scale optimizer's
        grads = tape.gradient(scaled, variables)
        present = [i for i, g in enumerate(grads) if g is not None]
        grads = ctx.all_reduce(tf.distribute.ReduceOp.SUM, [grads[i] for i in present])
        grads = clip_global_norm(grads, self.optimizer, self.clip_norm)
        self.optimizer.apply(grads, [variables[i] for i in present])
        return total, count, scst.entropy(logits, ids) * count

    def _distributed_sample(self, visual, key):
        return self.strategy.run(self._replica_sample, args=(visual, key))

    def _distributed_update(self, visual, ids, advantage):
        total, count, entropy = self.strategy.run(self._replica_update,
                                                  args=(visual, ids, advantage))
        reduce = lambda x: self.strategy.reduce(tf.distribute.ReduceOp.SUM, x, axis=None)  # noqa: E731
        count = tf.maximum(reduce(count), 1.0)
        return reduce(total) / count, reduce(entropy) / count

    # -- one step -------------------------------------------------------------------------
    def key(self, step: int) -> tf.Tensor:
        """The sampling key of update ``step``: a resumed run draws what this one did."""
        return tf.constant([self.seed, step], tf.int64)

    def greedy(self, visual: Dict[str, tf.Tensor]) -> np.ndarray:
        """[B, max_tokens] greedy reports of an undistributed batch (what the model writes
        with beam 1)."""
        return self._greedy(visual).numpy()

    def texts(self, ids: np.ndarray) -> List[str]:
        """Token ids -> report strings, periods between sentences (the labeler needs them)."""
        return [join_report(self.vocab.decode_flat(row)) for row in ids]

    def local(self, value) -> List[np.ndarray]:
        """This worker's replicas' parts of a per-replica value, as numpy, in replica order."""
        return [np.asarray(v) for v in self.strategy.experimental_local_results(value)]

    def __call__(self, batch: Dict[str, tf.Tensor], references: Sequence[Sequence[str]],
                 step: int = 0) -> dict:
        """One update on ``batch`` (a distributed batch under a strategy), whose replicas'
        studies have ``references`` (one list per local replica, in batch order); returns
        the figures TensorBoard shows: the reward and each component (samples' means), the
        baseline, the loss, the entropy, a few sampled reports, and the seconds spent
        sampling (with the greedy decode), on rewards and on the update."""
        visual = {k: batch[k] for k in VISUAL_KEYS if k in batch}
        k = self.samples
        t0 = time.perf_counter()
        ids, greedy_ids = self._sample(visual, self.key(step))
        local_ids, local_greedy = self.local(ids), self.local(greedy_ids)
        if len(references) != len(local_ids) or any(
                len(refs) * k != len(part) for refs, part in zip(references, local_ids)):
            raise ValueError(f"references: one list per local replica ({len(local_ids)}), "
                             "each with one reference per study of that replica's batch")
        t1 = time.perf_counter()
        advantages, rewards, parts, texts = [], [], {}, []
        for refs, sampled, greedy_part in zip(references, local_ids, local_greedy):
            replica_texts = self.texts(sampled)
            total, replica_parts = self.reward(replica_texts, [r for r in refs for _ in range(k)])
            greedy = None
            if self.baseline == "greedy":
                greedy, _ = self.reward(self.texts(greedy_part), list(refs))
            advantages.append(scst.advantages(total.reshape(len(refs), k), self.baseline,
                                              greedy).reshape(-1).astype(np.float32))
            rewards.append(total)
            texts += replica_texts[::k]
            for name, v in replica_parts.items():
                parts.setdefault(name, []).append(v)
        n_local = len(advantages)
        advantage = self.strategy.experimental_distribute_values_from_function(
            lambda ctx: tf.constant(advantages[ctx.replica_id_in_sync_group % n_local]))
        t2 = time.perf_counter()
        loss, ent = self._update(visual, ids, advantage)
        loss, ent = float(loss), float(ent)
        t3 = time.perf_counter()
        total = np.concatenate(rewards)
        adv = np.concatenate(advantages)
        out = {"reward": float(total.mean()), "baseline": float((total - adv).mean()),
               "loss": loss, "entropy": ent, "samples": texts[:3],
               "seconds/sample": t1 - t0, "seconds/reward": t2 - t1, "seconds/update": t3 - t2}
        out.update({f"reward/{name}": float(np.concatenate(v).mean())
                    for name, v in parts.items()})
        return out
