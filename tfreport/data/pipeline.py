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


def augment(img: tf.Tensor, size: int, seed: tf.Tensor) -> tf.Tensor:
    """Light training augmentation: a small random shift and brightness/contrast jitter.

    Stateless, keyed by ``seed`` ([2] ints): the same seed gives the same image, so a
    resumed run sees exactly what an uninterrupted one would have."""
    crop, gain, bias = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    pad = max(1, size // 32)
    img = tf.image.pad_to_bounding_box(img, pad, pad, size + 2 * pad, size + 2 * pad)
    img = tf.image.stateless_random_crop(img, [size, size, 1], seed=crop)
    img = (img * tf.random.stateless_uniform([], gain, 0.9, 1.1)
           + tf.random.stateless_uniform([], bias, -10.0, 10.0))
    return tf.clip_by_value(img, 0.0, 255.0)


def make_example(parsed: Dict[str, tf.Tensor], image_size: int,
                 seed: Optional[tf.Tensor] = None) -> Dict[str, tf.Tensor]:
    """Decoded images; augmented when a per-example ``seed`` is given (training)."""
    frontal = decode_image(parsed["frontal"], image_size)
    lateral = decode_image(parsed["lateral"], image_size)
    if seed is not None:
        s_front, s_lat = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        frontal, lateral = augment(frontal, image_size, s_front), augment(lateral, image_size, s_lat)
    out = dict(parsed)
    out["frontal"], out["lateral"] = frontal, lateral
    return out


def epoch_seed(seed: Optional[int], epoch: int) -> int:
    """One shuffle/augmentation seed per (run seed, epoch)."""
    return ((seed or 0) * 1_000_003 + epoch) % (2 ** 31 - 1)


def read_records(files, input_context: Optional[tf.distribute.InputContext] = None,
                 cycle_length: int = 4) -> tf.data.Dataset:
    """Serialized records of ``files``, this input pipeline's share only: whole files when
    there are enough for every pipeline, else every n-th record."""
    files = list(files)
    n = input_context.num_input_pipelines if input_context is not None else 1
    i = input_context.input_pipeline_id if input_context is not None else 0
    ds = tf.data.Dataset.from_tensor_slices(files)
    if n > 1 and len(files) >= n:
        ds = ds.shard(n, i)
    ds = ds.interleave(tf.data.TFRecordDataset, cycle_length=max(1, min(cycle_length, len(files))),
                       num_parallel_calls=AUTOTUNE, deterministic=True)
    if n > 1 and len(files) < n:
        ds = ds.shard(n, i)
    return ds


def training_order(ds: tf.data.Dataset, seed: Optional[int], epoch: int,
                   shuffle_buffer: int) -> tf.data.Dataset:
    """One epoch's order, fixed by (seed, epoch), repeated so no worker runs dry; elements
    become (example seed [2], record)."""
    e = epoch_seed(seed, epoch)
    ds = ds.shuffle(shuffle_buffer, seed=e, reshuffle_each_iteration=False).repeat()
    return ds.enumerate().map(lambda i, r: (tf.stack([tf.cast(e, tf.int64), i]), r))


def dataset(data_dir: str, split: str, *, batch_size: int, image_size: int, max_sentences: int,
            max_words: int, training: bool = False, shuffle_buffer: int = 2048,
            seed: Optional[int] = None, epoch: int = 0, skip_batches: int = 0,
            input_context: Optional[tf.distribute.InputContext] = None) -> tf.data.Dataset:
    """Batches of dicts: frontal/lateral [B,H,W,1], lateral_present [B], report [B,S,W], id, ...

    ``training`` gives one epoch's endless, shuffled and augmented stream of full batches,
    fixed by (seed, epoch); ``skip_batches`` resumes it part-way. Otherwise one ordered pass.
    """
    ds = read_records(split_files(data_dir, split), input_context)

    def parse(r):
        return records.parse(r, max_sentences, max_words)

    if training:
        ds = training_order(ds, seed, epoch, shuffle_buffer)
        ds = ds.map(lambda s, r: make_example(parse(r), image_size, s),
                    num_parallel_calls=AUTOTUNE, deterministic=True)
    else:
        ds = ds.map(lambda r: make_example(parse(r), image_size),
                    num_parallel_calls=AUTOTUNE, deterministic=True)
    ds = ds.map(lambda ex: {k: v for k, v in ex.items() if k != "sentences"})
    ds = ds.batch(batch_size, drop_remainder=training)
    if skip_batches:
        ds = ds.skip(skip_batches)
    return ds.prefetch(AUTOTUNE)


def count(data_dir: str, split: str) -> int:
    from tfreport.data.build import read_summary
    return int(read_summary(data_dir)["counts"][split])
