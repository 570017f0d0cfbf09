"""A tanh Dense projection to a recurrent state, optionally layer-normalised before the tanh."""
from __future__ import annotations

import keras
from keras import layers


@keras.saving.register_keras_serializable(package="tfreport")
class StateProjection(keras.layers.Layer):
    """tanh(Dense(x)), or tanh(LayerNorm(Dense(x))) with ``layer_norm``.

    The legacy models use the plain form. Trained from scratch (the demo's random
    backbone), the plain form's tanh saturates within the first epoch: the language model
    wants one fixed initial state, the pre-activations grow, and the gradient to the image
    path vanishes. Normalising the pre-activations keeps the tanh in its working range.
    """

    def __init__(self, units: int, layer_norm: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.units, self.layer_norm = units, layer_norm

    def build(self, input_shape):
        self.dense = layers.Dense(self.units, name="dense", dtype=self.dtype_policy)
        self.dense.build(input_shape)
        if self.layer_norm:
            self.norm = layers.LayerNormalization(name="norm", dtype=self.dtype_policy)
            self.norm.build(tuple(input_shape[:-1]) + (self.units,))
        super().build(input_shape)

    def call(self, x):
        x = self.dense(x)
        if self.layer_norm:
            x = self.norm(x)
        return keras.ops.tanh(x)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, layer_norm=self.layer_norm)
        return config
