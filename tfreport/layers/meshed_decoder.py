"""M2's meshed decoder: masked self-attention, then one cross-attention module (shared across
encoder layers) applied to every encoder layer's output, each result weighted by its own
sigmoid gate over [self-attention ; cross-attention], summed and scaled by 1/sqrt(N).

Two paths: ``call`` for teacher forcing over a whole sequence, and ``step`` for incremental
decoding with a cache of past self-attention keys and values.
"""
from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers, ops

from tfreport.layers.m2_encoder import FeedForward
from tfreport.layers.memory_attention import MemoryAttention
from tfreport.vocab import PAD_ID


def sinusoid(positions, d_model: int):
    """Sinusoidal position encodings [len(positions), d_model] (Vaswani et al.)."""
    i = np.arange(d_model)
    inv = ops.convert_to_tensor((1.0 / np.power(10000.0, (2 * (i // 2)) / d_model)).astype("float32"))
    angle = ops.cast(positions, "float32")[:, None] * inv[None, :]
    even = ops.convert_to_tensor(i % 2 == 0)
    return ops.where(even[None, :], ops.sin(angle), ops.cos(angle))


def write_at(x, value, position, axis: int):
    """``x`` with ``value`` (size 1 along ``axis``) written at ``position`` of ``axis``. A
    select, not ``slice_update``: on the CPU, TensorFlow runs the latter as a separately
    compiled XLA kernel per call, which cost more than the decoding step's matmuls."""
    shape = [1] * len(x.shape)
    shape[axis] = ops.shape(x)[axis]
    at = ops.reshape(ops.equal(ops.arange(shape[axis]), position), shape)
    return ops.where(at, ops.cast(value, x.dtype), x)


@keras.saving.register_keras_serializable(package="tfreport")
class MeshedDecoder(keras.layers.Layer):
    def __init__(self, vocab_size: int, num_layers: int = 3, encoder_layers: int = 3,
                 d_model: int = 512, heads: int = 8, d_ff: int = 2048, dropout: float = 0.1,
                 max_len: int = 128, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.num_layers, self.encoder_layers = vocab_size, num_layers, encoder_layers
        self.d_model, self.heads, self.d_ff = d_model, heads, d_ff
        self.dropout_rate, self.max_len = dropout, max_len

    def build(self, input_shape=None):
        d, n, p = self.d_model, self.num_layers, self.dtype_policy
        self.embedding = layers.Embedding(self.vocab_size, d, name="embedding", dtype=p)
        self.embedding.build((None, None))
        self.self_attn = [MemoryAttention(d, self.heads, 0, self.dropout_rate, name=f"self{i}",
                                          dtype=p) for i in range(n)]
        self.cross_attn = [MemoryAttention(d, self.heads, 0, self.dropout_rate, name=f"cross{i}",
                                           dtype=p) for i in range(n)]
        self.self_norm = [layers.LayerNormalization(name=f"self_norm{i}", dtype=p)
                          for i in range(n)]
        self.cross_norm = [layers.LayerNormalization(name=f"cross_norm{i}", dtype=p)
                           for i in range(n)]
        # one gate per (decoder layer, encoder layer)
        self.gates = [[layers.Dense(d, activation="sigmoid", name=f"gate{i}_{j}", dtype=p)
                       for j in range(self.encoder_layers)] for i in range(n)]
        self.ffs = [FeedForward(d, self.d_ff, self.dropout_rate, name=f"ff{i}", dtype=p)
                    for i in range(n)]
        self.logits = layers.Dense(self.vocab_size, name="logits", dtype=p)
        self.drop = layers.Dropout(self.dropout_rate, dtype=p)
        for i in range(n):
            self.self_attn[i].build((None, None, d), (None, None, d))
            self.cross_attn[i].build((None, None, d), (None, None, d))
            self.self_norm[i].build((None, None, d))
            self.cross_norm[i].build((None, None, d))
            for g in self.gates[i]:
                g.build((None, None, 2 * d))
            self.ffs[i].build((None, None, d))
        self.logits.build((None, None, d))
        super().build(input_shape)

    def _embed(self, tokens, start):
        pos = sinusoid(start + ops.arange(ops.shape(tokens)[1]), self.d_model)
        x = self.embedding(tokens)
        return x * math.sqrt(self.d_model) + ops.cast(pos, x.dtype)[None]

    def _mesh(self, i, s, cross, enc_mask, training, record=None):
        """Gated sum over encoder layers of the shared cross-attention (decoder layer i);
        ``cross`` holds that layer's (k, v) per encoder layer, each [B, H, K, d_k]. A
        ``record`` list gets (weights [B, L, H, Q, K], mean gate [B, L, Q]) for this decoder
        layer."""
        total, weights, gates = 0.0, [], []
        for j, (k, v) in enumerate(cross):
            c = self.cross_attn[i].attend(s, k, v, enc_mask, training,
                                          return_weights=record is not None)
            if record is not None:
                c, w = c
                weights.append(w)
            c = self.cross_norm[i](s + self.drop(c, training=training))
            alpha = self.gates[i][j](ops.concatenate([s, c], axis=-1))
            total = total + alpha * c
            if record is not None:
                gates.append(ops.mean(ops.cast(alpha, "float32"), axis=-1))
        if record is not None:
            record.append((ops.stack(weights, axis=1), ops.stack(gates, axis=1)))
        return total / math.sqrt(self.encoder_layers)

    def cross_kv(self, encoder_outputs):
        """The encoder outputs [B, L, N, d] projected by every decoder layer's
        cross-attention: per decoder layer, per encoder layer, (k, v) [B, H, N, d_k]. Kept
        as separate tensors: stacking them and slicing them again cost a full-size
        gradient tensor per slice in training (15% of M2's step)."""
        layers_out = [encoder_outputs[:, j] for j in range(self.encoder_layers)]
        return [[self.cross_attn[i].project_kv(out) for out in layers_out]
                for i in range(self.num_layers)]

    def call(self, tokens, encoder_outputs, enc_mask, training=False, return_attention=False):
        """Teacher forcing: tokens [B, T] -> logits [B, T, V]. ``return_attention`` also
        gives {"cross": [B, decoder layers, encoder layers, H, T, K], "gates": [B, decoder
        layers, encoder layers, T]}: each cross-attention's weights over the K encoder
        positions and the mean over channels of its meshed sigmoid gate."""
        t = ops.shape(tokens)[1]
        causal = ops.arange(t)[None, :] <= ops.arange(t)[:, None]  # [T, T]
        mask = ops.logical_and(causal[None], ops.not_equal(tokens, PAD_ID)[:, None, :])
        mask = ops.logical_or(mask, ops.eye(t, dtype="bool")[None])  # a PAD query sees itself
        x = self.drop(self._embed(tokens, 0), training=training)
        cross = self.cross_kv(encoder_outputs)
        record = [] if return_attention else None
        for i in range(self.num_layers):
            s = self.self_norm[i](x + self.drop(self.self_attn[i](x, x, mask, training=training),
                                                training=training))
            x = self.ffs[i](self._mesh(i, s, cross[i], enc_mask, training, record),
                            training=training)
        if return_attention:
            return self.logits(x), {"cross": ops.stack([w for w, _ in record], axis=1),
                                    "gates": ops.stack([g for _, g in record], axis=1)}
        return self.logits(x)

    # -- incremental decoding ---------------------------------------------------------------
    # Keys are kept transposed ([B, H, d_k, length]) so no step transposes a cache, every
    # layer's tensors are separate (no step slices a stacked cache), and the cross-attention
    # keys and values are kept once per study, the beams folded into the queries instead.

    def decoding_context(self, encoder_outputs):
        """Per decoder layer, per encoder layer: (K^T [B, H, d_k, N], V [B, H, N, d_k]) of
        the cross-attention over the encoder outputs [B, L, N, d]; computed once a study."""
        return tuple(tuple((ops.transpose(k, (0, 1, 3, 2)), v) for k, v in layer)
                     for layer in self.cross_kv(encoder_outputs))

    def empty_cache(self, batch_size, length):
        """Per layer (K^T [B, H, d_k, length], V [B, H, length, d_k]) of the tokens so far."""
        d_k = self.d_model // self.heads
        return tuple((ops.zeros((batch_size, self.heads, d_k, length), self.compute_dtype),
                      ops.zeros((batch_size, self.heads, length, d_k), self.compute_dtype))
                     for _ in range(self.num_layers))

    def step(self, token, position, cache, cross, enc_mask):
        """One token [B*beams] at ``position`` -> logits [B*beams, V] and the updated
        cache. ``cross`` (``decoding_context``) and ``enc_mask`` [B, N] are per study; each
        study's beams are consecutive rows."""
        x = self._embed(token[:, None], position)
        n, length = ops.shape(token)[0], ops.shape(cache[0][1])[2]
        visible = ops.broadcast_to(ops.arange(length)[None, :] <= position, (n, length))
        new_cache = []
        for i in range(self.num_layers):
            attn = self.self_attn[i]
            k_new, v_new = attn.project_kv(x)  # [B, H, 1, d_k]
            k_t = write_at(cache[i][0], ops.transpose(k_new, (0, 1, 3, 2)), position, axis=3)
            v = write_at(cache[i][1], v_new, position, axis=2)
            new_cache.append((k_t, v))
            heads, _ = attn.attend_heads(attn.query_heads(x), k_t, v, visible)
            s = self.self_norm[i](x + attn.o(attn.merge_heads(heads, n, 1)))
            x = self.ffs[i](self._mesh_step(i, s, cross[i], enc_mask))
        return self.logits(x)[:, 0], tuple(new_cache)

    def _mesh_step(self, i, s, cross, enc_mask):
        """``_mesh`` for one token per row [B*beams, 1, d], each study's cross-attention
        keys and values read once for all its beams."""
        attn = self.cross_attn[i]
        n, b = ops.shape(s)[0], ops.shape(enc_mask)[0]
        q = attn.query_heads(s)  # [B*beams, H, 1, d_k], once for every encoder layer
        q = ops.transpose(ops.reshape(q, (b, -1, self.heads, self.d_model // self.heads)),
                          (0, 2, 1, 3))  # [B, H, beams, d_k]
        total = 0.0
        for j, (k_t, v) in enumerate(cross):
            heads, _ = attn.attend_heads(q, k_t, v, enc_mask)
            c = self.cross_norm[i](s + attn.o(attn.merge_heads(heads, n, 1)))
            alpha = self.gates[i][j](ops.concatenate([s, c], axis=-1))
            total = total + alpha * c
        return total / math.sqrt(self.encoder_layers)

    def get_config(self):
        config = super().get_config()
        config.update(vocab_size=self.vocab_size, num_layers=self.num_layers,
                      encoder_layers=self.encoder_layers, d_model=self.d_model,
                      heads=self.heads, d_ff=self.d_ff, dropout=self.dropout_rate,
                      max_len=self.max_len)
        return config
