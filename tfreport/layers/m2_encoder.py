"""M2's memory-augmented encoder: N layers, each returning its output to the decoder."""
from __future__ import annotations

import keras
from keras import layers, ops

from tfreport.layers.memory_attention import MemoryAttention


@keras.saving.register_keras_serializable(package="tfreport")
class FeedForward(keras.layers.Layer):
    """Position-wise feed-forward block with residual connection and LayerNorm."""

    def __init__(self, d_model: int = 512, d_ff: int = 2048, dropout: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.d_model, self.d_ff, self.dropout_rate = d_model, d_ff, dropout

    def build(self, input_shape):
        self.fc1 = layers.Dense(self.d_ff, activation="relu", name="fc1", dtype=self.dtype_policy)
        self.fc2 = layers.Dense(self.d_model, name="fc2", dtype=self.dtype_policy)
        self.drop = layers.Dropout(self.dropout_rate, dtype=self.dtype_policy)
        self.norm = layers.LayerNormalization(name="norm", dtype=self.dtype_policy)
        self.fc1.build(input_shape)
        self.fc2.build(tuple(input_shape[:-1]) + (self.d_ff,))
        self.norm.build(input_shape)
        super().build(input_shape)

    def call(self, x, training=False):
        return self.norm(x + self.drop(self.fc2(self.drop(self.fc1(x), training=training)),
                                       training=training))

    def get_config(self):
        config = super().get_config()
        config.update(d_model=self.d_model, d_ff=self.d_ff, dropout=self.dropout_rate)
        return config


@keras.saving.register_keras_serializable(package="tfreport")
class MemoryEncoder(keras.layers.Layer):
    """``call(x [B,N,d], mask [B,N])`` -> every layer's output, stacked: [B, L, N, d]."""

    def __init__(self, num_layers: int = 3, d_model: int = 512, heads: int = 8,
                 d_ff: int = 2048, memory_slots: int = 40, dropout: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.num_layers, self.d_model, self.heads = num_layers, d_model, heads
        self.d_ff, self.memory_slots, self.dropout_rate = d_ff, memory_slots, dropout

    def build(self, input_shape):
        self.attn = [MemoryAttention(self.d_model, self.heads, self.memory_slots,
                                     self.dropout_rate, name=f"attn{i}",
                                     dtype=self.dtype_policy)
                     for i in range(self.num_layers)]
        self.norms = [layers.LayerNormalization(name=f"norm{i}", dtype=self.dtype_policy)
                      for i in range(self.num_layers)]
        self.ffs = [FeedForward(self.d_model, self.d_ff, self.dropout_rate, name=f"ff{i}",
                                dtype=self.dtype_policy)
                    for i in range(self.num_layers)]
        self.drop = layers.Dropout(self.dropout_rate, dtype=self.dtype_policy)
        for attn, norm, ff in zip(self.attn, self.norms, self.ffs):
            attn.build(input_shape, input_shape)
            norm.build(input_shape)
            ff.build(input_shape)
        super().build(input_shape)

    def call(self, x, mask, training=False):
        outputs = []
        for attn, norm, ff in zip(self.attn, self.norms, self.ffs):
            x = norm(x + self.drop(attn(x, x, mask, training=training), training=training))
            x = ff(x, training=training)
            outputs.append(x)
        return ops.stack(outputs, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_layers) + tuple(input_shape[1:])

    def get_config(self):
        config = super().get_config()
        config.update(num_layers=self.num_layers, d_model=self.d_model, heads=self.heads,
                      d_ff=self.d_ff, memory_slots=self.memory_slots, dropout=self.dropout_rate)
        return config
