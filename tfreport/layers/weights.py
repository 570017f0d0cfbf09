"""Loading backbone weights from a file, with errors that name the mismatching layer."""
from __future__ import annotations

import keras


def load_backbone_weights(net: keras.Model, path: str) -> None:
    """Loads ``.weights.h5``, ``.h5`` or ``.keras`` weights into ``net``.

    A ``.keras`` file is loaded as a model and its weights copied layer by layer by name,
    so a whole saved classifier (backbone + head) can feed a bare backbone.
    """
    if path.endswith(".keras"):
        source = keras.saving.load_model(path, compile=False)
        _copy_by_name(source, net, path)
        return
    try:
        net.load_weights(path)
    except ValueError as e:
        raise ValueError(f"{path}: weights do not fit backbone {net.name}: {e}") from None


def _layers_by_name(model: keras.Model) -> dict:
    out = {}
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out.update(_layers_by_name(layer))
        elif layer.weights:
            out[layer.name] = layer
    return out


def _copy_by_name(source: keras.Model, target: keras.Model, path: str) -> None:
    src = _layers_by_name(source)
    for name, layer in _layers_by_name(target).items():
        if name not in src:
            raise ValueError(f"{path}: has no layer named {name!r} for backbone {target.name}")
        values = src[name].get_weights()
        shapes = [w.shape for w in layer.get_weights()]
        if [v.shape for v in values] != shapes:
            raise ValueError(f"{path}: layer {name!r} has weight shapes "
                             f"{[v.shape for v in values]}, backbone {target.name} expects {shapes}")
        layer.set_weights(values)
