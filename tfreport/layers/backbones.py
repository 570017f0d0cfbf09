"""Image backbones: name -> a Keras model from a [H, W, 1] 0..255 image to a feature grid.

Each backbone applies its own preprocessing, so callers always pass raw grayscale pixels.
"""
from __future__ import annotations

import os
from typing import Optional

import keras
from keras import layers

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


def resolve_weights(weights: Optional[str], name: str) -> Optional[str]:
    """'none' -> None, 'imagenet' -> 'imagenet', anything else must be an existing file."""
    if weights in (None, "", "none"):
        return None
    if weights == "imagenet":
        return "imagenet"
    if not os.path.exists(weights):
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


def keras_application(name: str, image_size: int, weights: Optional[str]) -> keras.Model:
    """A keras.applications backbone with its own preprocessing in front."""
    weights = resolve_weights(weights, name)
    ctor, preprocess = _applications(name)
    inp = keras.Input((image_size, image_size, 1))
    rgb = layers.Concatenate()([inp, inp, inp])
    x = layers.Lambda(preprocess, name=f"{name}_preprocess")(rgb)
    file_weights = weights not in (None, "imagenet")
    try:
        net = ctor(include_top=False, weights=None if file_weights else weights,
                   input_shape=(image_size, image_size, 3))
    except Exception as e:  # offline machines cannot download imagenet weights
        if weights == "imagenet":
            raise RuntimeError(
                f"could not download Keras' ImageNet weights for {name} ({e}). This machine "
                "may be offline: download them on a machine with network access (see README, "
                "'Backbone weights') and pass --backbone_weights PATH, or use none") from None
        raise
    if file_weights:
        from tfreport.layers.weights import load_backbone_weights
        load_backbone_weights(net, weights)
    return keras.Model(inp, net(x), name=name)


def build_backbone(name: str, image_size: int, weights: Optional[str] = None,
                   weights_dual: Optional[str] = None, width: int = 32) -> keras.Model:
    """Any backbone by name; ``weights`` is imagenet|none|PATH (for dual: the ResNet50
    branch, with ``weights_dual`` for the DenseNet121 branch)."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; valid: {', '.join(BACKBONES)}")
    if name == "small":
        net = small_cnn(image_size, width)
        if weights not in (None, "", "none"):
            from tfreport.layers.weights import load_backbone_weights
            load_backbone_weights(net, resolve_weights(weights, name))
        return net
    if name != "dual":
        return keras_application(name, image_size, weights)
    inp = keras.Input((image_size, image_size, 1))
    a = keras_application("resnet50", image_size, weights)(inp)
    b = keras_application("densenet121", image_size, weights_dual)(inp)
    return keras.Model(inp, layers.Concatenate(name="dual_concat")([a, b]), name="dual")
