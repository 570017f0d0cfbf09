"""The tf.data input pipeline: parallel decode, resize, light augmentation, batching, prefetch."""
from __future__ import annotations

from typing import Dict, Optional

import tensorflow as tf

from tfreport.data import records
from tfreport.data.build import split_files

AUTOTUNE = tf.data.AUTOTUNE


def decode_image(encoded: tf.Tensor, size: int) -> tf.Tensor:
    """JPEG/PNG bytes -> [size, size, 1] float32 in 0..255 (an empty string gives zeros)."""
    def _decode():
        img = tf.io.decode_image(encoded, channels=1, expand_animations=False)
        img = tf.image.resize(tf.cast(img, tf.float32), [size, size], antialias=True)
        return tf.ensure_shape(img, [size, size, 1])
    return tf.cond(tf.strings.length(encoded) > 0, _decode,
                   lambda: tf.zeros([size, size, 1], tf.float32))


def augment(img: tf.Tensor, size: int) -> tf.Tensor:
    """Light training augmentation: a small random shift and brightness/contrast jitter."""
    pad = max(1, size // 32)
    img = tf.image.pad_to_bounding_box(img, pad, pad, size + 2 * pad, size + 2 * pad)
    img = tf.image.random_crop(img, [size, size, 1])
    img = img * tf.random.uniform([], 0.9, 1.1) + tf.random.uniform([], -10.0, 10.0)
    return tf.clip_by_value(img, 0.0, 255.0)


def make_example(parsed: Dict[str, tf.Tensor], image_size: int, training: bool) -> Dict[str, tf.Tensor]:
    frontal = decode_image(parsed["frontal"], image_size)
    lateral = decode_image(parsed["lateral"], image_size)
    if training:
        frontal, lateral = augment(frontal, image_size), augment(lateral, image_size)
    out = dict(parsed)
    out["frontal"], out["lateral"] = frontal, lateral
    return out


def dataset(data_dir: str, split: str, *, batch_size: int, image_size: int, max_sentences: int,
            max_words: int, training: bool = False, shuffle_buffer: int = 2048,
            seed: Optional[int] = None, repeat: bool = False,
            input_context: Optional[tf.distribute.InputContext] = None,
            drop_remainder: bool = False) -> tf.data.Dataset:
    """Batches of dicts: frontal/lateral [B,H,W,1], lateral_present [B], report [B,S,W], id, ..."""
    files = split_files(data_dir, split)
    ds = tf.data.Dataset.from_tensor_slices(files)
    if input_context is not None and input_context.num_input_pipelines > 1:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    ds = ds.interleave(tf.data.TFRecordDataset, cycle_length=min(4, len(files)),
                       num_parallel_calls=AUTOTUNE, deterministic=True)
    if training:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.map(lambda r: make_example(records.parse(r, max_sentences, max_words), image_size,
                                       training), num_parallel_calls=AUTOTUNE, deterministic=True)
    ds = ds.map(lambda ex: {k: v for k, v in ex.items() if k != "sentences"})
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(AUTOTUNE)


def count(data_dir: str, split: str) -> int:
    from tfreport.data.build import read_summary
    return int(read_summary(data_dir)["counts"][split])
