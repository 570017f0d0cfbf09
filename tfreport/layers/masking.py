"""A masked-out score for every compute dtype (float16's range ends at 65,504)."""
from __future__ import annotations

from keras import ops


def large_negative(dtype) -> float:
    """Far below any real score, yet finite in ``dtype``: masked entries get ~0 weight
    without the NaN an all-masked row of -inf would give."""
    return -3e4 if "float16" in str(dtype) and "bfloat16" not in str(dtype) else -1e9


def masked_fill(scores, keep, dtype=None):
    """``scores`` where ``keep`` is true, ``large_negative`` elsewhere."""
    dtype = dtype or scores.dtype
    return ops.where(keep, scores, ops.cast(large_negative(dtype), scores.dtype))
