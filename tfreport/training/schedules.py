"""Learning-rate schedules: the legacy step decay (and, later, the Noam warm-up)."""
from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfreport")
class StepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """lr * decay ** floor(epoch / decay_epochs): the legacy x0.9 every 5 epochs."""

    def __init__(self, learning_rate: float, decay: float, decay_epochs: int,
                 steps_per_epoch: int):
        self.learning_rate, self.decay = learning_rate, decay
        self.decay_epochs, self.steps_per_epoch = decay_epochs, steps_per_epoch

    def __call__(self, step):
        epoch = ops.floor(ops.cast(step, "float32") / float(max(1, self.steps_per_epoch)))
        return self.learning_rate * ops.power(self.decay, ops.floor(epoch / self.decay_epochs))

    def get_config(self):
        return dict(learning_rate=self.learning_rate, decay=self.decay,
                    decay_epochs=self.decay_epochs, steps_per_epoch=self.steps_per_epoch)
