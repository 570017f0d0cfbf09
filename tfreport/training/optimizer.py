"""The optimizer: Adam with a separate learning rate for a fine-tuned backbone, fed gradients
that the trainer has already summed over replicas and clipped.

Keras' TF optimizer sums gradients across replicas inside ``apply``, *before* any global-norm
clipping could see them. The trainer needs the global gradient first (to clip its true norm),
so it all-reduces once itself and this optimizer skips the second reduction.
"""
from __future__ import annotations

from typing import Iterable, Optional

import keras


class PreReducedGradients:
    """Mixin for a Keras optimizer whose gradients arrive already summed over replicas: it
    skips Keras' own cross-replica sum (a private hook, ``_all_reduce_sum_gradients``, which
    is why ``tests/test_distribute.py`` pins the behaviour with plain SGD, whose update would
    double under a second sum where Adam's would not move)."""

    def _all_reduce_sum_gradients(self, grads_and_vars):  # see the module docstring
        return list(grads_and_vars)


@keras.saving.register_keras_serializable(package="tfreport")
class ReportAdam(PreReducedGradients, keras.optimizers.Adam):
    """Adam whose gradients arrive already reduced over replicas, with per-variable learning
    rate factors (the backbone's ``backbone_learning_rate / learning_rate``)."""

    def __init__(self, *args, lr_factors: Optional[dict] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._lr_factor_by_path = dict(lr_factors or {})
        self._lr_factors: Optional[list] = None

    def build(self, variables):
        super().build(variables)
        self._lr_factors = [self._lr_factor_by_path.get(v.path, 1.0) for v in variables]

    def update_step(self, gradient, variable, learning_rate):
        factor = self._lr_factors[self._get_variable_index(variable)] if self._lr_factors else 1.0
        if factor != 1.0:
            learning_rate = learning_rate * factor
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        config = super().get_config()
        config["lr_factors"] = self._lr_factor_by_path
        return config


def backbone_lr_factors(model, learning_rate: float,
                        backbone_learning_rate: Optional[float]) -> dict:
    """{variable path: factor} for the backbone's trainable variables."""
    if not backbone_learning_rate or backbone_learning_rate == learning_rate:
        return {}
    factor = backbone_learning_rate / learning_rate
    return {v.path: factor for v in model.visual_encoder.trainable_variables}


def make_optimizer(schedule, variables: Iterable, lr_factors: dict, loss_scaling: bool,
                   beta_2: float = 0.999) -> keras.optimizers.Optimizer:
    """Built over ``variables``; wrapped for dynamic loss scaling under float16."""
    variables = list(variables)
    opt = ReportAdam(learning_rate=schedule, beta_2=beta_2, lr_factors=lr_factors)
    if loss_scaling:
        opt = keras.optimizers.LossScaleOptimizer(opt)
    opt.build(variables)
    return opt


def loss_scale(optimizer) -> Optional[keras.Variable]:
    """The current dynamic loss scale, or None without loss scaling."""
    return getattr(optimizer, "dynamic_scale", None)


def clip_global_norm(grads, optimizer, clip_norm: float):
    """``grads`` (already summed over replicas) clipped to global norm ``clip_norm``; under
    float16 they are still multiplied by the loss scale, so the limit is too. 0: unclipped."""
    if not clip_norm:
        return grads
    import tensorflow as tf
    scale = loss_scale(optimizer)
    limit = clip_norm * (tf.cast(scale, tf.float32) if scale is not None else 1.0)
    return tf.clip_by_global_norm(grads, limit)[0]
