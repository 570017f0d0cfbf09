"""Feature cache: a frozen backbone's grids computed once, stored, and trained from.

Training with a frozen backbone spends nearly all its time re-running the backbone on the
same images; on a CPU that makes a full-size backbone impractical. The cache holds, per
study, the [2, N, C] grids (float16), the view mask, the report grid and the normal flag.
Its key covers everything that changes the features (backbone, weights, image size, report
shape), so a stale cache is never reused.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from typing import Optional

import numpy as np
import tensorflow as tf

from tfreport.data import pipeline
from tfreport.progress import progress

log = logging.getLogger("tfreport.data")
CACHE_DIR = "feature_cache"


def cache_key(model) -> str:
    """A digest of the encoder's config and weights and of the report shape."""
    c = model.config
    h = hashlib.sha256(json.dumps([c.backbone, c.image_size, c.share_views, c.backbone_width,
                                   c.max_sentences, c.max_words, c.image_blind]).encode())
    for w in model.visual_encoder.weights:
        h.update(np.ascontiguousarray(w.numpy()).tobytes())
    return h.hexdigest()[:16]


def _example(sid, grids, mask, report, normal, present) -> bytes:
    f = {
        "id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[sid])),
        "grids": tf.train.Feature(bytes_list=tf.train.BytesList(
            value=[tf.io.serialize_tensor(tf.constant(grids, tf.float16)).numpy()])),
        "view_mask": tf.train.Feature(float_list=tf.train.FloatList(value=mask.tolist())),
        "report": tf.train.Feature(int64_list=tf.train.Int64List(value=report.ravel().tolist())),
        "normal": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(normal)])),
        "lateral_present": tf.train.Feature(float_list=tf.train.FloatList(value=[float(present)])),
    }
    return tf.train.Example(features=tf.train.Features(feature=f)).SerializeToString()


def build(model, data_dir: str, split: str, batch_size: int = 32, quiet: bool = False) -> str:
    """Writes (or reuses) the cache of one split; returns its file path."""
    c = model.config
    folder = os.path.join(data_dir, CACHE_DIR, cache_key(model))
    path = os.path.join(folder, f"{split}.tfrecord")
    if os.path.exists(path):
        log.info("feature cache: reusing %s", path)
        return path
    os.makedirs(folder, exist_ok=True)
    ds = pipeline.dataset(data_dir, split, batch_size=batch_size, image_size=c.image_size,
                          max_sentences=c.max_sentences, max_words=c.max_words)
    encode = tf.function(lambda b: model.visual_encoder(
        b["frontal"], b["lateral"], b["lateral_present"], training=False))
    tmp = path + ".partial"
    with tf.io.TFRecordWriter(tmp) as writer:
        for batch in progress(ds, desc=f"feature cache ({split})", disable=quiet, unit="batch"):
            grids, mask = encode(batch)
            for i, sid in enumerate(batch["id"].numpy()):
                writer.write(_example(sid, grids[i].numpy(), mask[i].numpy(),
                                      batch["report"][i].numpy(), batch["normal"][i].numpy(),
                                      batch["lateral_present"][i].numpy()))
    os.replace(tmp, path)
    return path


def dataset(path: str, model, *, batch_size: int, training: bool = False,
            seed: Optional[int] = None, epoch: int = 0, skip_batches: int = 0,
            input_context: Optional[tf.distribute.InputContext] = None) -> tf.data.Dataset:
    """Batches shaped like :func:`pipeline.dataset`'s, with ``grids``/``view_mask`` in place
    of the images; ``training`` and ``skip_batches`` mean what they mean there."""
    c = model.config
    n_cells = None
    features = {
        "id": tf.io.FixedLenFeature([], tf.string),
        "grids": tf.io.FixedLenFeature([], tf.string),
        "view_mask": tf.io.FixedLenFeature([2], tf.float32),
        "report": tf.io.FixedLenFeature([c.max_sentences * c.max_words], tf.int64),
        "normal": tf.io.FixedLenFeature([], tf.int64),
        "lateral_present": tf.io.FixedLenFeature([], tf.float32),
    }
    channels = model.visual_encoder.channels

    def parse(raw):
        ex = tf.io.parse_single_example(raw, features)
        grids = tf.cast(tf.io.parse_tensor(ex["grids"], tf.float16), tf.float32)
        ex["grids"] = tf.ensure_shape(grids, [2, n_cells, channels])
        ex["report"] = tf.reshape(tf.cast(ex["report"], tf.int32), [c.max_sentences, c.max_words])
        return ex

    ds = pipeline.read_records([path], input_context)
    if training:
        ds = pipeline.training_order(ds, seed, epoch, 2048).map(lambda _, r: r)
    ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.batch(batch_size, drop_remainder=training)
    if skip_batches:
        ds = ds.skip(skip_batches)
    return ds.prefetch(tf.data.AUTOTUNE)


def clear(data_dir: str) -> None:
    shutil.rmtree(os.path.join(data_dir, CACHE_DIR), ignore_errors=True)
