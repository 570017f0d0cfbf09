"""Learning-rate schedules: the legacy step decay and the transformer's Noam warm-up."""
from __future__ import annotations

import keras
from keras import ops


def step_decay(learning_rate: float, decay: float, decay_epochs: int,
               steps_per_epoch: int) -> keras.optimizers.schedules.ExponentialDecay:
    """lr * decay ** floor(epoch / decay_epochs), the legacy x0.9 every 5 epochs: Keras' own
    staircase exponential decay, with the decay period stated in steps."""
    return keras.optimizers.schedules.ExponentialDecay(
        learning_rate, decay_steps=max(1, decay_epochs * max(1, steps_per_epoch)),
        decay_rate=decay, staircase=True)


@keras.saving.register_keras_serializable(package="tfreport")
class Noam(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to ``peak`` over ``warmup_steps``, then decay as 1/sqrt(step).

    The transformer's d_model**-0.5 * min(s**-0.5, s * w**-1.5), rescaled so that its
    maximum (at s = w) is ``peak``; step s counts from 1.
    """

    def __init__(self, peak: float, warmup_steps: int):
        self.peak, self.warmup_steps = peak, max(1, int(warmup_steps))

    def __call__(self, step):
        s = ops.cast(step, "float32") + 1.0
        w = float(self.warmup_steps)
        return self.peak * ops.minimum(s / w, ops.sqrt(w / s))

    def get_config(self):
        return dict(peak=self.peak, warmup_steps=self.warmup_steps)


def make_schedule(cfg, steps_per_epoch: int) -> keras.optimizers.schedules.LearningRateSchedule:
    """The schedule a TrainConfig asks for."""
    if cfg.lr_schedule == "noam":
        return Noam(cfg.learning_rate, round(cfg.warmup * cfg.epochs * steps_per_epoch))
    return step_decay(cfg.learning_rate, cfg.lr_decay, cfg.decay_epochs, steps_per_epoch)
