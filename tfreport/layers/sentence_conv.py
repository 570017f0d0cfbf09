"""MRNA's sentence encoder: stacked linear Conv1D layers, each max-pooled over time."""
from __future__ import annotations

import keras
from keras import layers, ops

from tfreport.layers.masking import masked_fill


@keras.saving.register_keras_serializable(package="tfreport")
class SentenceConvEncoder(keras.layers.Layer):
    """[B, W, E] word embeddings + [B, W] mask -> [B, num_layers * filters].

    Each layer is a "valid" Conv1D with no activation (as in the legacy model); the
    output of each layer is max-pooled over the positions whose receptive field lies inside
    the real words (at least the first position, for short sentences, whose field then
    sees zeros past the end), so neither the padded tokens nor the padded length change the
    result.
    """

    def __init__(self, filters: int = 1024, width: int = 3, num_layers: int = 3, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.width, self.num_layers = filters, width, num_layers

    def build(self, input_shape):
        self.convs = [layers.Conv1D(self.filters, self.width, padding="valid", name=f"conv{i}",
                                    dtype=self.dtype_policy)
                      for i in range(self.num_layers)]
        shape = tuple(input_shape)
        for conv in self.convs:
            conv.build(shape)
            shape = (shape[0], None, self.filters)
        super().build(input_shape)

    def call(self, x, mask):
        mask = ops.cast(mask, x.dtype)
        x = x * mask[..., None]  # padded words contribute zeros whatever their token
        length = ops.sum(mask, axis=1)  # [B]
        pooled = []
        for i, conv in enumerate(self.convs):
            x = conv(x)
            steps = ops.shape(x)[1]
            inside = ops.cast(length, "int32") - (i + 1) * (self.width - 1)
            valid = ops.arange(steps)[None, :] < ops.maximum(inside, 1)[:, None]
            pooled.append(ops.max(masked_fill(x, valid[..., None]), axis=1))
        return ops.concatenate(pooled, axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.filters * self.num_layers)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, width=self.width, num_layers=self.num_layers)
        return config
