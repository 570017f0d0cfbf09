"""Multi-head attention with optional learned memory slots (Cornia et al.'s M2 encoder).

Memory on/off is one constructor switch (``memory_slots``; 0 turns it off). The memory keys
and values are appended to the projected keys and values and are never masked; as in the
reference, they are initialised N(0, 1/d_k) and N(0, 1/m) and scaled by sqrt(d_k) and
sqrt(m) when used.
"""
from __future__ import annotations

import math

import keras
from keras import layers, ops

from tfreport.layers.masking import masked_fill


@keras.saving.register_keras_serializable(package="tfreport")
class MemoryAttention(keras.layers.Layer):
    """``call(query [B,Q,d], key_value [B,K,d], mask [B,Q,K] or [B,K] bool)`` -> [B,Q,d].

    ``project_kv`` and ``attend`` let a decoder cache projected keys/values (incremental
    decoding) instead of recomputing them at every step.
    """

    def __init__(self, d_model: int = 512, heads: int = 8, memory_slots: int = 0,
                 dropout: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        if d_model % heads:
            raise ValueError(f"d_model {d_model} is not divisible by heads {heads}")
        self.d_model, self.heads, self.memory_slots, self.dropout_rate = (
            d_model, heads, memory_slots, dropout)
        self.d_k = d_model // heads
        policy = self.dtype_policy
        self.q = layers.Dense(d_model, name="q", dtype=policy)
        self.k = layers.Dense(d_model, name="k", dtype=policy)
        self.v = layers.Dense(d_model, name="v", dtype=policy)
        self.o = layers.Dense(d_model, name="o", dtype=policy)
        self.drop = layers.Dropout(dropout, dtype=policy)

    def build(self, query_shape, key_value_shape=None, mask_shape=None):
        """Builds from the shapes of ``call``'s arguments (the key/value width may differ
        from the query's); ``key_value_shape`` defaults to the query's (self-attention)."""
        key_value_shape = key_value_shape or query_shape
        d = self.d_model
        self.q.build(query_shape)
        self.k.build(key_value_shape)
        self.v.build(key_value_shape)
        self.o.build(tuple(query_shape[:-1]) + (d,))
        if self.memory_slots:
            m = self.memory_slots
            self.memory_k = self.add_weight(
                name="memory_k", shape=(1, m, d),
                initializer=keras.initializers.RandomNormal(stddev=1.0 / math.sqrt(self.d_k)))
            self.memory_v = self.add_weight(
                name="memory_v", shape=(1, m, d),
                initializer=keras.initializers.RandomNormal(stddev=1.0 / math.sqrt(m)))
        self.built = True

    def _heads(self, x):
        b, n = ops.shape(x)[0], ops.shape(x)[1]
        return ops.transpose(ops.reshape(x, (b, n, self.heads, self.d_k)), (0, 2, 1, 3))

    def project_kv(self, key_value):
        """Projected keys and values [B, H, K(+m), d_k], memory slots appended."""
        if not self.built:  # called before the first __call__: a self-attention layer
            self.build(tuple(key_value.shape))
        k, v = self.k(key_value), self.v(key_value)
        if self.memory_slots:
            b = ops.shape(key_value)[0]
            mk = ops.broadcast_to(self.memory_k * math.sqrt(self.d_k), (b, self.memory_slots, self.d_model))
            mv = ops.broadcast_to(self.memory_v * math.sqrt(self.memory_slots),
                                  (b, self.memory_slots, self.d_model))
            k = ops.concatenate([k, ops.cast(mk, k.dtype)], axis=1)
            v = ops.concatenate([v, ops.cast(mv, v.dtype)], axis=1)
        return self._heads(k), self._heads(v)

    def attend(self, query, k, v, mask=None, training=False, return_weights=False):
        """query [B,Q,d] against projected k, v; ``mask`` [B,Q,K] or [B,K] (True = attend).
        ``return_weights`` also gives the softmax weights [B, H, Q, K(+m)] (before dropout)."""
        if not self.built:
            self.build(tuple(query.shape))
        b, nq = ops.shape(query)[0], ops.shape(query)[1]
        out, probs = self.attend_heads(self.query_heads(query), ops.transpose(k, (0, 1, 3, 2)),
                                       v, mask, training)
        out = self.o(self.merge_heads(out, b, nq))
        return (out, probs) if return_weights else out

    def query_heads(self, query):
        """Projected queries [B, H, Q, d_k]."""
        return self._heads(self.q(query))

    def merge_heads(self, x, b, nq):
        """[B', H, Q', d_k] head outputs -> [b, nq, d] (rows read in order: decoding folds
        a study's beams into Q')."""
        return ops.reshape(ops.transpose(x, (0, 2, 1, 3)), (b, nq, self.d_model))

    def attend_heads(self, q, k_t, v, mask=None, training=False):
        """Queries q [B,H,Q,d_k] over keys given transposed, k_t [B,H,d_k,K], and values v
        [B,H,K,d_k]: (head outputs [B,H,Q,d_k], softmax weights [B,H,Q,K]). Decoding keeps
        its keys transposed once, rather than transposing every cached key at every step."""
        b = ops.shape(q)[0]
        scores = ops.matmul(q, k_t) / math.sqrt(self.d_k)
        if mask is not None:
            mask = ops.cast(mask, "bool")
            if len(mask.shape) == 2:
                mask = mask[:, None, :]
            if self.memory_slots:  # memory slots are never masked
                extra = ops.ones((b, ops.shape(mask)[1], self.memory_slots), "bool")
                mask = ops.concatenate([mask, extra], axis=-1)
        scores = ops.cast(scores, "float32")  # softmax in float32 under mixed precision
        if mask is not None:
            scores = masked_fill(scores, mask[:, None])
        probs = ops.softmax(scores, axis=-1)
        weights = self.drop(ops.cast(probs, v.dtype), training=training)
        return ops.matmul(weights, v), probs

    def call(self, query, key_value, mask=None, training=False):
        k, v = self.project_kv(key_value)
        return self.attend(query, k, v, mask, training)

    def get_config(self):
        config = super().get_config()
        config.update(d_model=self.d_model, heads=self.heads, memory_slots=self.memory_slots,
                      dropout=self.dropout_rate)
        return config
