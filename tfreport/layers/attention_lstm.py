"""The attention-LSTM word step (Show, Attend and Tell), shared by CNN-RNN-Att and MRNA."""
from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers, ops

from tfreport.layers.soft_attention import SoftAttention


@keras.saving.register_keras_serializable(package="tfreport")
class AttentionLSTMCell(keras.layers.Layer):
    """h, c, alpha = cell(inputs [B, E], h [B, H], c [B, H], keys [B, N, U], values [B, N, C],
    mask [B, N]).

    One word step of an LSTM that reads the image through soft attention: the previous
    ``h`` attends over the grid cells, the attended context is joined to the step's input,
    and the LSTM steps. ``alpha`` [B, N] are the attention weights (0 on masked cells).
    ``keys`` are ``project_keys(values)``, computed once per image. :meth:`scan` runs the
    step over a whole sequence (teacher forcing).
    """

    def __init__(self, units: int = 512, attention_dim: int = 512, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.attention_dim = attention_dim
        self.attention = SoftAttention(attention_dim, name="attention", dtype=self.dtype_policy)
        self.lstm_cell = layers.LSTMCell(units, name="lstm_cell", dtype=self.dtype_policy)

    def build(self, inputs_shape, h_shape=None, c_shape=None, keys_shape=None,
              values_shape=None, mask_shape=None):
        if not self.attention.built:
            self.attention.build((inputs_shape[0], self.units), keys_shape, values_shape,
                                 mask_shape)
        self.lstm_cell.build((inputs_shape[0], inputs_shape[-1] + values_shape[-1]))
        self.built = True

    def project_keys(self, values):
        """The attention keys of ``values`` [B, N, C], once per image."""
        return self.attention.project_keys(values)

    def call(self, inputs, h, c, keys, values, mask, training=False):
        attended, alpha = self.attention(h, keys, values, mask)
        out, (h, c) = self.lstm_cell(ops.concatenate([inputs, attended], -1), [h, c],
                                     training=training)
        return out, c, alpha

    def scan(self, inputs, h, c, keys, values, mask, training=False):
        """Every step of ``inputs`` [B, T, E] from the state (h, c): (h of each step
        [B, T, H], the attention weights of each step [B, T, N]). A time-major scan; padded
        steps come after the real ones, so masking their outputs out of the loss is enough."""
        if not self.built:
            self.build(tuple(inputs.shape[:1]) + tuple(inputs.shape[2:]), keys_shape=keys.shape,
                       values_shape=values.shape)

        def step(carry, x):
            h, c, _ = carry
            h, c, alpha = self(x, h, c, keys, values, mask, training=training)
            return h, c, alpha

        no_alpha = ops.zeros_like(ops.cast(mask, inputs.dtype))
        hs, _, alphas = tf.scan(step, tf.transpose(inputs, [1, 0, 2]),
                                initializer=(h, c, no_alpha))
        return tf.transpose(hs, [1, 0, 2]), tf.transpose(alphas, [1, 0, 2])

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, attention_dim=self.attention_dim)
        return config
