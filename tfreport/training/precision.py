"""``--mixed_precision``: which Keras dtype policy a run uses.

``auto`` is float16 on a GPU (with dynamic loss scaling) and full float32 on a CPU, where
float16 is slow. bfloat16 needs no loss scaling; it is ~1.4x faster on these CPUs.
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Optional

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


@contextlib.contextmanager
def policy_scope(policy: str) -> Iterator[None]:
    """Models built inside compute in ``policy``; the caller's global policy is back when
    the block ends, even when it raises. Each layer keeps the policy it was built with, so
    the model trains in it after the block (tfreport's layers pass theirs to every
    sub-layer), while whatever the caller builds next gets the caller's own policy."""
    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(before)


def needs_loss_scaling(policy: str) -> bool:
    return policy == "mixed_float16"
