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
        self.key_proj = layers.Dense(units, use_bias=False, name="key", dtype=self.dtype_policy)
        self.query_proj = layers.Dense(units, name="query", dtype=self.dtype_policy)
        self.score = layers.Dense(1, use_bias=False, name="score", dtype=self.dtype_policy)

    def build(self, query_shape, keys_shape, values_shape, mask_shape=None):
        if not self.key_proj.built:  # project_keys may have come first
            self.key_proj.build(values_shape)
        self.query_proj.build(query_shape)
        self.score.build(tuple(keys_shape[:-1]) + (self.units,))
        self.built = True

    def project_keys(self, values):
        """The keys of ``values`` [B, N, C] -> [B, N, units], once per image (decoding
        steps then project only their query)."""
        if not self.key_proj.built:
            self.key_proj.build(tuple(values.shape))
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
