"""Additive (Bahdanau) soft attention over a masked set of feature cells."""
from __future__ import annotations

import keras
from keras import layers, ops

from tfreport.layers.masking import masked_fill


@keras.saving.register_keras_serializable(package="tfreport")
class SoftAttention(keras.layers.Layer):
    """context, weights = attention(query [B, H], keys [B, N, U], values [B, N, C], mask [B, N]).

    ``keys`` are the values already projected by :meth:`project_keys`, computed once per
    image so that each decoding step only projects its query.
    """

    def __init__(self, units: int = 512, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape=None):
        self.key_proj = layers.Dense(self.units, use_bias=False, name="key")
        self.query_proj = layers.Dense(self.units, name="query")
        self.score = layers.Dense(1, use_bias=False, name="score")
        super().build(input_shape)

    def project_keys(self, values):
        if not self.built:  # called outside __call__, before the first attention step
            self.build()
        return self.key_proj(values)

    def call(self, query, keys, values, mask):
        e = self.score(ops.tanh(keys + self.query_proj(query)[:, None, :]))[..., 0]  # [B, N]
        e = masked_fill(ops.cast(e, "float32"), ops.cast(mask, "bool"))
        alpha = ops.cast(ops.softmax(e, axis=-1), values.dtype)
        return ops.sum(alpha[..., None] * values, axis=1), alpha

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units)
        return config
