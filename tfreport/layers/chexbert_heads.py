"""CheXbert's 14 classification heads on the [CLS] vector of a BERT encoder."""
from __future__ import annotations

import keras
from keras import layers, ops

# CheXbert: 13 observations with 4 classes (blank, positive, negative, uncertain) and
# "No Finding" with 2 (blank, positive).
NUM_OBSERVATION_HEADS = 13
OBSERVATION_CLASSES = 4
NO_FINDING_CLASSES = 2


@keras.saving.register_keras_serializable(package="tfreport")
class CheXbertHeads(keras.layers.Layer):
    """Dropout, then 13 four-way linear heads and one two-way head, all on position 0.

    The 13 heads are one stacked kernel ``[13, hidden, 4]`` (one einsum instead of 13
    Dense calls); the published checkpoint's ``linear_heads.{i}`` map onto its rows.
    Returns ``(observations [batch, 13, 4], no_finding [batch, 2])`` logits.
    """

    def __init__(self, dropout: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.dropout = dropout

    def build(self, input_shape):
        hidden = int(input_shape[-1])
        self.obs_kernel = self.add_weight(
            name="obs_kernel", shape=(NUM_OBSERVATION_HEADS, hidden, OBSERVATION_CLASSES),
            initializer="glorot_uniform")
        self.obs_bias = self.add_weight(
            name="obs_bias", shape=(NUM_OBSERVATION_HEADS, OBSERVATION_CLASSES), initializer="zeros")
        self.no_finding_kernel = self.add_weight(
            name="no_finding_kernel", shape=(hidden, NO_FINDING_CLASSES), initializer="glorot_uniform")
        self.no_finding_bias = self.add_weight(
            name="no_finding_bias", shape=(NO_FINDING_CLASSES,), initializer="zeros")
        self.drop = layers.Dropout(self.dropout, dtype=self.dtype_policy)
        super().build(input_shape)

    def call(self, sequence, training=None):
        cls = self.drop(sequence[:, 0, :], training=training)  # [batch, hidden]
        obs = ops.einsum("bh,nhc->bnc", cls, ops.cast(self.obs_kernel, cls.dtype))
        obs = obs + ops.cast(self.obs_bias, cls.dtype)
        no_finding = ops.matmul(cls, ops.cast(self.no_finding_kernel, cls.dtype))
        return obs, no_finding + ops.cast(self.no_finding_bias, cls.dtype)

    def compute_output_shape(self, input_shape):
        batch = input_shape[0]
        return ((batch, NUM_OBSERVATION_HEADS, OBSERVATION_CLASSES), (batch, NO_FINDING_CLASSES))

    def get_config(self):
        config = super().get_config()
        config.update(dropout=self.dropout)
        return config
