"""``--mixed_precision``: which Keras dtype policy a run uses.

``auto`` is float16 on a GPU (with dynamic loss scaling) and full float32 on a CPU, where
float16 is slow. bfloat16 needs no loss scaling; it is ~1.4x faster on these CPUs.
"""
from __future__ import annotations

from typing import Optional

import keras
import tensorflow as tf

MODES = ("auto", "float16", "bfloat16", "off")
_POLICIES = {"float16": "mixed_float16", "bfloat16": "mixed_bfloat16", "off": "float32"}


def resolve(mode: str, has_gpu: Optional[bool] = None) -> str:
    """The Keras policy name for a ``--mixed_precision`` value."""
    if mode not in MODES:
        raise ValueError(f"unknown --mixed_precision {mode!r}; valid: {', '.join(MODES)}")
    if mode == "auto":
        if has_gpu is None:
            has_gpu = bool(tf.config.list_logical_devices("GPU"))
        mode = "float16" if has_gpu else "off"
    return _POLICIES[mode]


def apply(policy: str) -> None:
    """Sets the global policy; models built afterwards compute in its dtype."""
    keras.mixed_precision.set_global_policy(policy)


def needs_loss_scaling(policy: str) -> bool:
    return policy == "mixed_float16"
