"""One test harness for tfreport's custom layers, in the spirit of keras-hub's LayerTestCase.

``check_layer`` runs the checks every layer owes its users:
- config round-trip: ``from_config(get_config())`` gives the same config;
- build from shapes: called on symbolic ``keras.Input``s, the layer creates all its weights
  and its outputs have the eager outputs' shapes (batch left open);
- ``.keras`` saving: a functional model around it saves, reloads and gives the same outputs;
- masks: changing what the mask hides changes nothing (``hide`` perturbs those entries);
- mixed precision: under ``mixed_float16`` it computes in float16, stays finite and agrees
  with float32 (same weights) to float16 accuracy.
"""
from __future__ import annotations

import os
from typing import Callable, Dict, Optional

import keras
import numpy as np


def _flat(x):
    return [np.asarray(t) for t in keras.tree.flatten(x)]


def _inputs(arrays: Dict[str, np.ndarray]) -> Dict[str, keras.KerasTensor]:
    return {k: keras.Input(shape=v.shape[1:], dtype=str(v.dtype), name=k)
            for k, v in arrays.items()}


def check_layer(cls, init_kwargs: dict, inputs: Dict[str, np.ndarray], tmp_path,
                hide: Optional[Callable[[Dict[str, np.ndarray]], Dict[str, np.ndarray]]] = None,
                mixed_precision: bool = True, atol: float = 1e-5) -> list:
    """Runs the checks above; returns the eager float32 outputs (flattened) for more checks."""
    keras.utils.set_random_seed(0)
    layer = cls(**init_kwargs)
    out = _flat(layer(**inputs))
    assert all(np.isfinite(o).all() for o in out if o.dtype.kind == "f")

    # config round-trip
    config = layer.get_config()
    assert cls.from_config(config).get_config() == config

    # build from shapes, symbolically: every weight exists, shapes agree
    symbolic = cls(**init_kwargs)
    sym_out = keras.tree.flatten(symbolic(**_inputs(inputs)))
    assert symbolic.built and len(symbolic.weights) == len(layer.weights) > 0
    for s, o in zip(sym_out, out):
        assert tuple(s.shape[1:]) == o.shape[1:], (s.shape, o.shape)

    # .keras saving, inside a functional model
    named = _inputs(inputs)
    model = keras.Model(named, cls(**init_kwargs)(**named))
    before = _flat(model(inputs))
    path = os.path.join(str(tmp_path), f"{cls.__name__}.keras")
    model.save(path)
    again = _flat(keras.saving.load_model(path)(inputs))
    for a, b in zip(before, again):
        np.testing.assert_allclose(a, b, atol=atol)

    # masks: what the mask hides cannot change the outputs
    if hide is not None:
        hidden = _flat(layer(**hide({k: v.copy() for k, v in inputs.items()})))
        for a, b in zip(out, hidden):
            np.testing.assert_allclose(a, b, atol=atol)

    # mixed precision: float16 compute, finite, close to float32 with the same weights
    if mixed_precision:
        half = cls(**init_kwargs, dtype="mixed_float16")
        half(**inputs)
        half.set_weights(layer.get_weights())
        half_out = _flat(half(**inputs))
        assert half.compute_dtype == "float16" and half.variable_dtype == "float32"
        for h, o in zip(half_out, out):
            if o.dtype.kind == "f":
                assert np.isfinite(h).all()
                np.testing.assert_allclose(h.astype("float32"), o, atol=5e-2, rtol=5e-2)
    return out
