"""The TFRecord schema (one place): writing and parsing a study record.

Images are stored encoded (JPEG), never as float arrays. The report is stored as raw
text, as legacy sentences, and as token ids by sentence and by word (``token_ids`` flat,
``sentence_lengths`` per sentence, each sentence ending in ``</S>``).
"""
from __future__ import annotations

import math
from typing import Dict, Optional, Sequence

import numpy as np
import tensorflow as tf

from tfreport.data import images
from tfreport.data.images import DEFAULT_STORE_SIZE, JPEG_QUALITY  # noqa: F401
from tfreport.labels import CHEXPERT_OBSERVATIONS

SCHEMA_VERSION = 1


class SchemaError(ValueError):
    """A record or summary written with a schema this version cannot read."""


def check_schema_version(version: int, where: str) -> None:
    if int(version) != SCHEMA_VERSION:
        raise SchemaError(
            f"{where}: schema_version {int(version)} is not supported (this tfreport reads "
            f"version {SCHEMA_VERSION}); rebuild the data with scripts/prepare_data.py "
            "(or scripts/build_tfds.py, where a TFDS builder made it)")


def encode_image(path: str, short_side: int = DEFAULT_STORE_SIZE) -> bytes:
    """An image file -> the stored JPEG bytes, by the one image reader
    (:func:`tfreport.data.images.encode_image`); raises FileNotFoundError, or
    :class:`~tfreport.data.images.ImageError` (a ValueError) naming the file."""
    return images.encode_image(path, short_side)


def _bytes(values: Sequence[bytes]) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))


def _ints(values: Sequence[int]) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))


def _floats(values: Sequence[float]) -> tf.train.Feature:
    return tf.train.Feature(float_list=tf.train.FloatList(value=list(values)))


def serialize(study_id: str, frontal: bytes, lateral: Optional[bytes], text: str,
              sentences: Sequence[str], token_ids: np.ndarray, normal: int,
              labels: Optional[Dict[str, float]] = None) -> bytes:
    """One study -> a serialized tf.train.Example.

    ``token_ids`` is the [S, W] array from ``Vocabulary.encode_report``; only the real
    tokens of each sentence (through its ``</S>``) are stored.
    """
    from tfreport.vocab import END_ID

    flat, lengths = [], []
    for row in np.asarray(token_ids):
        ends = np.nonzero(row == END_ID)[0]
        if len(ends) == 0:
            break
        n = int(ends[0]) + 1
        flat.extend(row[:n].tolist())
        lengths.append(n)
    labels = labels or {}
    feature = {
        "schema_version": _ints([SCHEMA_VERSION]),
        "id": _bytes([study_id.encode()]),
        "frontal": _bytes([frontal]),
        "lateral": _bytes([lateral or b""]),
        "lateral_present": _ints([int(lateral is not None)]),
        "text": _bytes([text.encode("utf-8")]),
        "sentences": _bytes([s.encode("utf-8") for s in sentences]),
        "token_ids": _ints(flat),
        "sentence_lengths": _ints(lengths),
        "normal": _ints([normal]),
        "labels": _floats([float(labels.get(o, math.nan)) for o in CHEXPERT_OBSERVATIONS]),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


FEATURES = {
    "schema_version": tf.io.FixedLenFeature([], tf.int64),
    "id": tf.io.FixedLenFeature([], tf.string),
    "frontal": tf.io.FixedLenFeature([], tf.string),
    "lateral": tf.io.FixedLenFeature([], tf.string),
    "lateral_present": tf.io.FixedLenFeature([], tf.int64),
    "text": tf.io.FixedLenFeature([], tf.string),
    "sentences": tf.io.VarLenFeature(tf.string),
    "token_ids": tf.io.VarLenFeature(tf.int64),
    "sentence_lengths": tf.io.VarLenFeature(tf.int64),
    "normal": tf.io.FixedLenFeature([], tf.int64),
    "labels": tf.io.FixedLenFeature([len(CHEXPERT_OBSERVATIONS)], tf.float32),
}


def parse(serialized: tf.Tensor, max_sentences: int, max_words: int) -> Dict[str, tf.Tensor]:
    """A serialized record -> tensors; the report becomes a [S, W] id grid padded with PAD."""
    from tfreport.vocab import PAD_ID

    ex = tf.io.parse_single_example(serialized, FEATURES)
    tf.debugging.assert_equal(
        ex["schema_version"], tf.constant(SCHEMA_VERSION, tf.int64),
        message=f"record schema_version is not {SCHEMA_VERSION}; rebuild with prepare_data.py")
    ids = tf.sparse.to_dense(ex["token_ids"])
    lengths = tf.sparse.to_dense(ex["sentence_lengths"])
    ragged = tf.RaggedTensor.from_row_lengths(ids, lengths)[:max_sentences, :max_words]
    grid = ragged.to_tensor(default_value=PAD_ID, shape=[max_sentences, max_words])
    # A sentence cut at max_words must still end in </S>.
    from tfreport.vocab import END_ID
    cut = tf.logical_and(tf.reduce_all(tf.not_equal(grid, PAD_ID), axis=1),
                         tf.not_equal(grid[:, -1], END_ID))
    last = tf.where(cut, tf.constant(END_ID, grid.dtype), grid[:, -1])
    grid = tf.concat([grid[:, :-1], last[:, None]], axis=1)
    return {
        "id": ex["id"],
        "frontal": ex["frontal"],
        "lateral": ex["lateral"],
        "lateral_present": tf.cast(ex["lateral_present"], tf.float32),
        "text": ex["text"],
        "sentences": tf.sparse.to_dense(ex["sentences"]),
        "report": tf.cast(grid, tf.int32),
        "normal": ex["normal"],
        "labels": ex["labels"],
    }
