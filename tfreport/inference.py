"""Loading a trained model, and the Python API: ``generate(frontal, lateral=None) -> str``."""
from __future__ import annotations

import json
import os
from typing import List, Optional, Sequence, Tuple, Union

import keras
import numpy as np

from tfreport import fileio
import tfreport.models  # noqa: F401  (registers the model classes for loading)
from tfreport.decoding import Decoder
from tfreport.text import join_report
from tfreport.vocab import Vocabulary

ArrayOrPath = Union[str, np.ndarray]


def load_model(path: str) -> keras.Model:
    """Loads a ``.keras`` report model (or ``best.keras`` of a model directory)."""
    if fileio.isdir(path):
        path = os.path.join(path, "best.keras")
    if not fileio.exists(path):
        raise FileNotFoundError(f"{path}: no such model file")
    from tfreport.models import renamed_weights
    return renamed_weights.load(path, lambda p: keras.saving.load_model(p, compile=False))


class ReportGenerator:
    """A trained model with its vocabulary: the object scripts and exports reuse."""

    def __init__(self, model_dir: str, checkpoint: str = "best.keras"):
        vocab_path = os.path.join(model_dir, "vocabulary.json")
        if not fileio.exists(vocab_path):
            raise FileNotFoundError(f"{vocab_path}: not found; a model directory holds the "
                                    "checkpoint, vocabulary.json and config.json")
        self.model = load_model(os.path.join(model_dir, checkpoint))
        self.vocab = Vocabulary.load(vocab_path)
        config_path = os.path.join(model_dir, "config.json")
        self.config = {}
        if fileio.exists(config_path):
            with fileio.open(config_path, encoding="utf-8") as f:
                self.config = json.load(f)
        self._decoders = {}

    @classmethod
    def from_path(cls, path: str) -> "ReportGenerator":
        """From a model directory (its best.keras) or a ``.keras`` file inside one."""
        if fileio.isdir(path):
            return cls(path)
        if not fileio.exists(path):
            raise FileNotFoundError(f"{path}: no such model file or directory")
        return cls(os.path.dirname(fileio.abspath(path)), os.path.basename(path))

    def image(self, image: ArrayOrPath) -> np.ndarray:
        """A file path or an array -> [size, size, 1] float32 in 0..255.

        A file goes through the one image reader (``tfreport.data.images``), so the model
        gets exactly what training got from the same file after ingest. An integer array
        wider than 8 bits is stretched min..max as ingest stretches a 16-bit PNG."""
        import tensorflow as tf
        from tfreport.data import images
        size = self.model.config.image_size
        if isinstance(image, str):
            if not fileio.exists(image):
                raise FileNotFoundError(f"{image}: image file not found")
            if fileio.getsize(image) == 0:
                raise ValueError(f"{image}: empty file")
            return images.model_input(image, size)
        arr = np.asarray(image)
        if arr.ndim == 3 and arr.shape[-1] == 3:
            arr = arr.astype(np.float32).mean(-1)
        elif np.issubdtype(arr.dtype, np.integer) and arr.size and arr.max() > 255:
            arr = images.stretch_to_8bit(arr)
        arr = np.asarray(arr, np.float32)
        arr = arr.reshape(arr.shape[0], arr.shape[1], 1) if arr.ndim == 2 else arr
        return tf.image.resize(arr, [size, size], antialias=True).numpy()

    def _decoder(self, beam_size: int) -> Decoder:
        if beam_size not in self._decoders:
            self._decoders[beam_size] = Decoder(self.model, self.vocab, beam_size)
        return self._decoders[beam_size]

    def generate_batch(self, studies: Sequence[Tuple[ArrayOrPath, Optional[ArrayOrPath]]],
                       beam_size: int = 3, return_attention: bool = False) -> List:
        """Reports for (frontal, lateral or None) pairs, decoded as one batch. With
        ``return_attention``, (report, per-sentence maps) pairs: see ``generate``."""
        frontal = np.stack([self.image(f) for f, _ in studies])
        lateral = np.stack([self.image(l) if l is not None else np.zeros_like(frontal[0])
                            for _, l in studies])
        present = np.array([float(l is not None) for _, l in studies], np.float32)
        batch = {"frontal": frontal, "lateral": lateral, "lateral_present": present}
        sentences = self._decoder(beam_size).reports(batch)
        reports = [join_report(s) for s in sentences]
        if not return_attention:
            return reports
        from tfreport.attention_maps import study_maps
        maps, kind = study_maps(self.model, batch, sentences, self.vocab)
        for study in maps:
            for entry in study:
                entry["kind"] = kind
        return list(zip(reports, maps))

    def generate(self, frontal: ArrayOrPath, lateral: Optional[ArrayOrPath] = None,
                 beam_size: int = 3, return_attention: bool = False):
        """One report for one study; a missing lateral view is masked out.

        ``return_attention`` returns (report, maps): per sentence ``{"sentence", "kind",
        "frontal": [h, w], "lateral": [h, w] or None}``, each pair summing to 1. ``kind`` is
        "attention" for the attending models (CNN-RNN-Att, MRNA with spatial attention: the
        weights over each view's cells averaged over the sentence's words; M2: its
        cross-attention combined, with ``"layers"`` and ``"gates"`` holding every decoder
        layer's, encoder layer's and head's map and the meshed gates) and "grad-cam" for the
        others (the Grad-CAM of the sentence's log-probability, :mod:`tfreport.saliency`)."""
        return self.generate_batch([(frontal, lateral)], beam_size, return_attention)[0]
