"""Image backbones: name -> a Keras model from a [H, W, 1] 0..255 image to a feature grid.

Each backbone applies its own preprocessing, so callers always pass raw grayscale pixels.
"""
from __future__ import annotations

import os
from typing import Optional

import keras
from keras import layers

from tfreport import fileio

BACKBONES = ("small", "resnet50", "densenet121", "inception_v3", "dual")
# Grid channels, for documentation and config checks.
CHANNELS = {"small": 256, "resnet50": 2048, "densenet121": 1024, "inception_v3": 2048,
            "dual": 3072}


def _applications(name: str):
    apps = keras.applications
    return {
        "resnet50": (apps.ResNet50, apps.resnet50.preprocess_input),
        "densenet121": (apps.DenseNet121, apps.densenet.preprocess_input),
        "inception_v3": (apps.InceptionV3, apps.inception_v3.preprocess_input),
    }[name]


PRETRAINED_FILE = "backbone.weights.h5"  # what pretrain_backbone.py writes into its --out


def resolve_weights(weights: Optional[str], name: str) -> Optional[str]:
    """'none' -> None, 'imagenet' -> 'imagenet', a pretrain_backbone.py output directory ->
    its weights file; anything else must be an existing file."""
    if weights in (None, "", "none"):
        return None
    if weights == "imagenet":
        return "imagenet"
    if fileio.isdir(weights):
        inside = os.path.join(weights, PRETRAINED_FILE)
        if not fileio.exists(inside):
            raise FileNotFoundError(f"--backbone_weights {weights}: a directory without "
                                    f"{PRETRAINED_FILE} (pretrain_backbone.py's output)")
        return inside
    if not fileio.exists(weights):
        raise FileNotFoundError(f"--backbone_weights {weights}: no such file for backbone {name}")
    return weights


def small_cnn(image_size: int, width: int = 32, name: str = "small") -> keras.Model:
    """A 4-stage conv net (stride 16) that trains in minutes on a CPU: the demo/test backbone.

    It uses GroupNormalization, not BatchNorm: with few steps, BatchNorm's moving averages
    lag the weights and inference-mode features become meaningless, and GroupNorm behaves
    the same in training and inference and under any replica split.
    """
    inp = keras.Input((image_size, image_size, 1))
    x = layers.Rescaling(1 / 127.5, offset=-1.0)(inp)
    for i, filters in enumerate((width, 2 * width, 4 * width, 8 * width)):
        x = layers.Conv2D(filters, 3, strides=2, padding="same", use_bias=False,
                          name=f"{name}_conv{i}")(x)
        x = layers.GroupNormalization(groups=min(8, filters), name=f"{name}_gn{i}")(x)
        x = layers.ReLU()(x)
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"{name}_conv{i}b")(x)
    return keras.Model(inp, x, name=name)


def keras_application(name: str, image_size: int) -> keras.Model:
    """A keras.applications backbone (random init) with its own preprocessing in front."""
    ctor, preprocess = _applications(name)
    inp = keras.Input((image_size, image_size, 1))
    rgb = layers.Concatenate()([inp, inp, inp])
    x = layers.Lambda(preprocess, name=f"{name}_preprocess")(rgb)
    net = ctor(include_top=False, weights=None, input_shape=(image_size, image_size, 3))
    return keras.Model(inp, net(x), name=name)


def build_backbone(name: str, image_size: int, weights: Optional[str] = None,
                   weights_dual: Optional[str] = None, width: int = 32) -> keras.Model:
    """Any backbone by name; ``weights`` is imagenet|none|PATH (for dual: the ResNet50
    branch, with ``weights_dual`` for the DenseNet121 branch)."""
    net = backbone_architecture(name, image_size, width)
    load_weights(net, name, weights, weights_dual)
    return net


def backbone_architecture(name: str, image_size: int, width: int = 32) -> keras.Model:
    """The network alone, randomly initialised (see :func:`load_weights`)."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; valid: {', '.join(BACKBONES)}")
    if name == "small":
        return small_cnn(image_size, width)
    if name != "dual":
        return keras_application(name, image_size)
    inp = keras.Input((image_size, image_size, 1))
    a = keras_application("resnet50", image_size)(inp)
    b = keras_application("densenet121", image_size)(inp)
    if tuple(a.shape[1:3]) != tuple(b.shape[1:3]):
        # the two networks round odd sizes differently (75 px: ResNet50 3x3, DenseNet121 2x2)
        raise ValueError(
            f"backbone dual: at image_size {image_size} ResNet50's grid is "
            f"{a.shape[1]}x{a.shape[2]} and DenseNet121's {b.shape[1]}x{b.shape[2]}, and "
            f"their cells are fused one to one; use an image_size that is a multiple of 32 "
            f"(224, the paper preset's, or e.g. 64, 96)")
    return keras.Model(inp, layers.Concatenate(name="dual_concat")([a, b]), name="dual")


def _inner(wrapper: keras.Model) -> keras.Model:
    """The keras.applications network inside a preprocessing wrapper."""
    return [layer for layer in wrapper.layers if isinstance(layer, keras.Model)][-1]


def _imagenet(name: str, net: keras.Model) -> None:
    ctor, _ = _applications(name)
    try:
        source = ctor(include_top=False, weights="imagenet", input_shape=net.input_shape[1:])
    except Exception as e:  # offline machines cannot download imagenet weights
        raise RuntimeError(
            f"could not download Keras' ImageNet weights for {name} ({e}). This machine "
            "may be offline: download them on a machine with network access (see README, "
            "'Backbone weights') and pass --backbone_weights PATH, or use none") from None
    net.set_weights(source.get_weights())


def load_weights(net: keras.Model, name: str, weights: Optional[str],
                 weights_dual: Optional[str] = None) -> None:
    """Loads imagenet|PATH weights into a built backbone (nothing for none).

    Runs eagerly, after the model is built: weights assigned while Keras traces a model's
    first call symbolically would be lost."""
    from tfreport.layers.weights import load_backbone_weights
    if name == "dual":
        wrappers = {layer.name: layer for layer in net.layers if isinstance(layer, keras.Model)}
        load_weights(wrappers["resnet50"], "resnet50", weights)
        load_weights(wrappers["densenet121"], "densenet121", weights_dual)
        return
    weights = resolve_weights(weights, name)
    if weights is None:
        return
    target = net if name == "small" else _inner(net)
    if weights == "imagenet":
        if name == "small":
            raise ValueError("the small backbone has no ImageNet weights")
        _imagenet(name, target)
    else:
        load_backbone_weights(target, weights)
