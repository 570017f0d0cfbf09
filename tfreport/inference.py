"""Loading a trained model, and the Python API: ``generate(frontal, lateral=None) -> str``."""
from __future__ import annotations

import json
import os
from typing import Optional, Union

import keras
import numpy as np

import tfreport.models  # noqa: F401  (registers the model classes for loading)
from tfreport.decoding import Decoder
from tfreport.vocab import Vocabulary

ArrayOrPath = Union[str, np.ndarray]


def load_model(path: str) -> keras.Model:
    """Loads a ``.keras`` report model (or ``best.keras`` of a model directory)."""
    if os.path.isdir(path):
        path = os.path.join(path, "best.keras")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such model file")
    return keras.saving.load_model(path, compile=False)


class ReportGenerator:
    """A trained model with its vocabulary: the object scripts and exports reuse."""

    def __init__(self, model_dir: str, checkpoint: str = "best.keras"):
        self.model = load_model(os.path.join(model_dir, checkpoint))
        self.vocab = Vocabulary.load(os.path.join(model_dir, "vocabulary.json"))
        with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
            self.config = json.load(f)
        self._decoders = {}

    def _image(self, image: ArrayOrPath) -> np.ndarray:
        import tensorflow as tf
        from tfreport.data.pipeline import decode_image
        size = self.model.config.image_size
        if isinstance(image, str):
            if not os.path.exists(image):
                raise FileNotFoundError(f"{image}: image file not found")
            with open(image, "rb") as f:
                data = f.read()
            try:
                return decode_image(tf.constant(data), size).numpy()
            except tf.errors.InvalidArgumentError:
                raise ValueError(f"{image}: unreadable image") from None
        arr = np.asarray(image, np.float32)
        if arr.ndim == 3 and arr.shape[-1] == 3:
            arr = arr.mean(-1)
        arr = arr.reshape(arr.shape[0], arr.shape[1], 1) if arr.ndim == 2 else arr
        return tf.image.resize(arr, [size, size], antialias=True).numpy()

    def generate(self, frontal: ArrayOrPath, lateral: Optional[ArrayOrPath] = None,
                 beam_size: int = 3) -> str:
        """One report for one study; a missing lateral view is masked out."""
        f = self._image(frontal)[None]
        l = self._image(lateral)[None] if lateral is not None else np.zeros_like(f)
        batch = {"frontal": f, "lateral": l,
                 "lateral_present": np.array([float(lateral is not None)], np.float32)}
        if beam_size not in self._decoders:
            self._decoders[beam_size] = Decoder(self.model, self.vocab, beam_size)
        return " ".join(self._decoders[beam_size].reports(batch)[0])
