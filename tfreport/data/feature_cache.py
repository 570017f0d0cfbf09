"""Feature cache: a frozen backbone's grids computed once, stored, and trained from.

Training with a frozen backbone spends nearly all its time re-running the backbone on the
same images; on a CPU that makes a full-size backbone impractical. The cache holds, per
study, the [2, N, C] grids, the view mask, the report grid and the normal flag.

- **Key.** ``D/feature_cache/<key>/``: the key covers everything that changes the features
  (backbone, weights, image size, report shape) and the storage dtype, so a stale cache, or
  one in another precision, is never reused.
- **Dtype.** Grids are stored in the model's compute dtype (float16 under mixed_float16,
  bfloat16 under mixed_bfloat16, float32 otherwise) and parsed straight into it.
- **Shards.** Each split is ``<split>-00000-of-0000N.tfrecord`` files of about
  :data:`TARGET_SHARD_BYTES` each, contiguous runs of the prepared split's order, so a
  ``tf.distribute`` input pipeline opens only its own shards (i, i+n, ...).
- **Resume.** A shard is written as ``NAME.partial`` and renamed when whole; finished shards
  and their sizes go into ``<split>.progress.json`` after each one, so a killed build
  rewrites only what is missing. ``<split>.manifest.json`` is written last: a split is
  complete only when it and every shard it lists (at the listed size) exist.

Every file operation goes through ``tf.io.gfile``, so the cache may live on gs:// or ram://.
docs/feature_cache.md has the layout and the costs at MIMIC-CXR scale.
"""
from __future__ import annotations

import concurrent.futures as futures
import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import os
from typing import Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from tfreport.data import pipeline, records
from tfreport.data.build import shard_name, split_files
from tfreport.progress import progress

log = logging.getLogger("tfreport.data")

CACHE_DIR = "feature_cache"
FORMAT = 2  # 1: one float16 <split>.tfrecord per split; 2: shards in the compute dtype
DTYPES = ("float32", "float16", "bfloat16")
# ~128 MiB shards: ~700 for MIMIC-CXR's train split with ResNet50 grids in float16, enough
# for every worker to read whole files, few enough to list and open cheaply.
TARGET_SHARD_BYTES = 128 * 2 ** 20

# One batch from a source: id [B] bytes, grids [B, 2, N, C], view_mask [B, 2],
# report [B, S, W] ints, normal [B], lateral_present [B].
Batch = Mapping[str, object]
# (first study, number of studies) -> those studies' batches, in the split's order.
Source = Callable[[int, int], Iterable[Batch]]


def storage_dtype(model) -> str:
    """The dtype the cache stores grids in: the visual encoder's compute dtype."""
    dtype = tf.as_dtype(model.visual_encoder.compute_dtype).name
    if dtype not in DTYPES:
        raise ValueError(f"feature cache: the visual encoder computes in {dtype}; "
                         f"the cache stores only {', '.join(DTYPES)}")
    return dtype


def cache_key(model) -> str:
    """A digest of the encoder's config and weights, the report shape, the storage dtype
    and the cache format."""
    c = model.config
    h = hashlib.sha256(json.dumps([c.backbone, c.image_size, c.share_views, c.backbone_width,
                                   c.max_sentences, c.max_words, c.image_blind,
                                   storage_dtype(model), FORMAT]).encode())
    for w in model.visual_encoder.weights:
        h.update(np.ascontiguousarray(w.numpy()).tobytes())
    return h.hexdigest()[:16]


def study_bytes(grid_shape: Sequence[int], dtype: str, report_shape: Sequence[int]) -> int:
    """About how many bytes one study takes in a shard: the grids plus the report and the
    record's framing (used to choose the shard count before anything is written)."""
    return (int(np.prod(grid_shape)) * tf.as_dtype(dtype).size
            + int(np.prod(report_shape)) * 2 + 128)


def auto_num_shards(num_studies: int, bytes_per_study: int,
                    target: int = TARGET_SHARD_BYTES) -> int:
    """Shards of about ``target`` bytes; at least one, at most one per study."""
    return max(1, min(num_studies, math.ceil(num_studies * bytes_per_study / target)))


@dataclasses.dataclass(frozen=True)
class Plan:
    """What one split's build writes: the studies, their shards and their shapes."""
    split: str
    studies: int
    num_shards: int
    dtype: str
    grid_shape: Tuple[int, int, int]
    report_shape: Tuple[int, int]

    def __post_init__(self):
        if self.dtype not in DTYPES:
            raise ValueError(f"feature cache dtype {self.dtype!r}; valid: {', '.join(DTYPES)}")
        if self.num_shards < 1:
            raise ValueError(f"feature cache: {self.num_shards} shards for split {self.split!r}; "
                             "it needs at least one")

    def name(self, index: int) -> str:
        return shard_name(self.split, index, self.num_shards)

    def bounds(self, index: int) -> Tuple[int, int]:
        """[start, stop) of shard ``index`` in the split's order (shards differ by <= 1)."""
        return (index * self.studies // self.num_shards,
                (index + 1) * self.studies // self.num_shards)

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.update(format=FORMAT, grid_shape=list(self.grid_shape),
                 report_shape=list(self.report_shape))
        return d


@dataclasses.dataclass(frozen=True)
class CacheSplit:
    """A complete cached split: what :func:`dataset` reads."""
    folder: str
    split: str
    files: Tuple[str, ...]
    dtype: str
    grid_shape: Tuple[int, int, int]
    report_shape: Tuple[int, int]
    studies: int

    @property
    def manifest(self) -> str:
        return manifest_path(self.folder, self.split)


def manifest_path(folder: str, split: str) -> str:
    return os.path.join(folder, f"{split}.manifest.json")


def progress_path(folder: str, split: str) -> str:
    return os.path.join(folder, f"{split}.progress.json")


def _read_json(path: str) -> Optional[dict]:
    """The JSON object at ``path``; None when missing or unreadable (a torn write)."""
    if not tf.io.gfile.exists(path):
        return None
    try:
        with tf.io.gfile.GFile(path, "r") as f:
            return json.loads(f.read())
    except (ValueError, tf.errors.OpError) as e:
        log.warning("feature cache: ignoring %s (%s)", path, e)
        return None


def _write_json(path: str, obj: dict) -> None:
    """Writes ``obj`` to ``path`` atomically (a .partial file, then a rename)."""
    tmp = path + ".partial"
    with tf.io.gfile.GFile(tmp, "w") as f:
        f.write(json.dumps(obj, indent=1))
    tf.io.gfile.rename(tmp, path, overwrite=True)


def _size(path: str) -> Optional[int]:
    try:
        return tf.io.gfile.stat(path).length
    except tf.errors.NotFoundError:
        return None


def _intact(folder: str, shards: Mapping[str, int]) -> Dict[str, int]:
    """The shards of ``{name: bytes}`` that exist at their recorded size (stat in parallel:
    hundreds of shards on gs:// would otherwise take a round trip each, one after another)."""
    names = list(shards)
    with futures.ThreadPoolExecutor(16) as pool:
        sizes = pool.map(_size, [os.path.join(folder, n) for n in names])
    return {n: shards[n] for n, size in zip(names, sizes) if size == shards[n]}


def open_split(folder: str, split: str) -> Optional[CacheSplit]:
    """The complete cached split in ``folder``, or None when it is missing or unfinished
    (no manifest, or a listed shard missing or of another size)."""
    manifest = _read_json(manifest_path(folder, split))
    if manifest is None or manifest.get("format") != FORMAT:
        return None
    shards = {s["name"]: s["bytes"] for s in manifest["shards"]}
    if len(_intact(folder, shards)) != len(shards):
        return None
    return CacheSplit(folder, split, tuple(os.path.join(folder, s["name"])
                                           for s in manifest["shards"]),
                      manifest["dtype"], tuple(manifest["grid_shape"]),
                      tuple(manifest["report_shape"]), manifest["studies"])


def _tensor_bytes(grids: tf.Tensor) -> List[bytes]:
    return [tf.io.serialize_tensor(g).numpy() for g in tf.unstack(grids)]


def serialize_batch(batch: Batch, dtype: str) -> Iterator[bytes]:
    """Records (tf.train.Example) of one batch, grids cast to ``dtype``. Built in place:
    a nested constructor would copy each ~400 KB grid twice more."""
    grids = _tensor_bytes(tf.cast(tf.convert_to_tensor(batch["grids"]), dtype))
    ids = np.asarray(batch["id"])
    mask = np.asarray(batch["view_mask"], np.float32).tolist()
    report = np.asarray(batch["report"]).reshape(len(ids), -1).tolist()
    normal = np.asarray(batch["normal"]).astype(int).tolist()
    present = np.asarray(batch["lateral_present"], np.float32).tolist()
    for i, sid in enumerate(ids):
        example = tf.train.Example()
        f = example.features.feature
        f["id"].bytes_list.value.append(bytes(sid))
        f["grids"].bytes_list.value.append(grids[i])
        f["view_mask"].float_list.value.extend(mask[i])
        f["report"].int64_list.value.extend(report[i])
        f["normal"].int64_list.value.append(normal[i])
        f["lateral_present"].float_list.value.append(present[i])
        yield example.SerializeToString()


def _split_files(folder: str, split: str) -> List[str]:
    """Every file a build of ``split`` may have left in ``folder``."""
    found = tf.io.gfile.glob(os.path.join(folder, f"{split}-*-of-*.tfrecord*"))
    return found + [p for p in (progress_path(folder, split), manifest_path(folder, split))
                    if tf.io.gfile.exists(p)]


def _recorded(folder: str, split: str) -> Tuple[Optional[dict], Dict[str, int]]:
    """(plan, finished shards {name: bytes}) of an earlier build of ``split``: from the
    progress file of an unfinished build, else from the manifest of a finished one."""
    state = _read_json(progress_path(folder, split))
    if state is not None:
        return state.get("plan"), dict(state.get("done", {}))
    manifest = _read_json(manifest_path(folder, split))
    if manifest is not None:
        plan = {k: v for k, v in manifest.items() if k != "shards"}
        return plan, {s["name"]: s["bytes"] for s in manifest.get("shards", [])}
    return None, {}


def _resume(folder: str, plan: Plan) -> Dict[str, int]:
    """The shards an earlier build of the same plan finished and that are still intact;
    the files of a build with another plan are removed. From here until the manifest is
    written again the split does not look complete."""
    recorded, done = _recorded(folder, plan.split)
    if recorded == plan.as_dict():
        done = _intact(folder, done)
        # a killed shard's .partial is written again from scratch (ram:// would append)
        for path in tf.io.gfile.glob(os.path.join(folder, f"{plan.split}-*.partial")):
            tf.io.gfile.remove(path)
    else:
        if recorded is not None:
            log.info("feature cache: %s holds a %s build with other settings; starting over",
                     folder, plan.split)
        for path in _split_files(folder, plan.split):
            tf.io.gfile.remove(path)
        done = {}
    _write_json(progress_path(folder, plan.split), {"plan": plan.as_dict(), "done": done})
    if tf.io.gfile.exists(manifest_path(folder, plan.split)):
        tf.io.gfile.remove(manifest_path(folder, plan.split))
    return done


def write_split(folder: str, plan: Plan, source: Source, quiet: bool = False) -> CacheSplit:
    """Writes the shards of ``plan`` that ``folder`` lacks, from ``source``, then the
    manifest; returns the complete split. Resumes a killed build of the same plan."""
    existing = open_split(folder, plan.split)
    if existing is not None and _plan_of(existing) == plan:
        log.info("feature cache: reusing %s", existing.manifest)
        return existing
    tf.io.gfile.makedirs(folder)
    done = _resume(folder, plan)
    missing = [k for k in range(plan.num_shards) if plan.name(k) not in done]
    if done:
        log.info("feature cache: resuming %s (%s): %d of %d shards already written", folder,
                 plan.split, len(done), plan.num_shards)
    todo = sum(plan.bounds(k)[1] - plan.bounds(k)[0] for k in missing)
    bar = progress(range(todo), desc=f"feature cache {plan.split}", total=todo,
                   disable=quiet, unit="study")
    try:
        for k in missing:
            start, stop = plan.bounds(k)
            path = os.path.join(folder, plan.name(k))
            done[plan.name(k)] = _write_shard(path, plan, source(start, stop - start),
                                              stop - start, bar)
            _write_json(progress_path(folder, plan.split), {"plan": plan.as_dict(), "done": done})
            bar.set_postfix(shards=f"{len(done)}/{plan.num_shards}")
    finally:
        bar.close()
    manifest = dict(plan.as_dict(), shards=[
        {"name": plan.name(k), "studies": plan.bounds(k)[1] - plan.bounds(k)[0],
         "bytes": done[plan.name(k)]} for k in range(plan.num_shards)])
    _write_json(manifest_path(folder, plan.split), manifest)
    tf.io.gfile.remove(progress_path(folder, plan.split))
    return open_split(folder, plan.split)


def _write_shard(path: str, plan: Plan, batches: Iterable[Batch], expected: int, bar) -> int:
    """Writes one shard as ``path.partial``, renamed to ``path`` once whole; its size."""
    tmp = path + ".partial"
    count = 0
    with tf.io.TFRecordWriter(tmp) as writer:
        for batch in batches:
            for record in serialize_batch(batch, plan.dtype):
                writer.write(record)
                count += 1
            bar.update(len(batch["id"]))
    if count != expected:
        tf.io.gfile.remove(tmp)
        raise ValueError(f"{path}: the source gave {count} studies for this shard, expected "
                         f"{expected}: the split holds fewer or more studies than planned "
                         f"({plan.studies}, from its summary.json)")
    tf.io.gfile.rename(tmp, path, overwrite=True)
    return tf.io.gfile.stat(path).length


def _plan_of(cache: CacheSplit) -> Plan:
    return Plan(cache.split, cache.studies, len(cache.files), cache.dtype,
                tuple(cache.grid_shape), tuple(cache.report_shape))


def image_source(model, data_dir: str, split: str, batch_size: int = 32) -> Source:
    """Studies [start, start + count) of a prepared split, through the visual encoder (in
    the order :func:`pipeline.dataset` reads them, unaugmented)."""
    c = model.config
    files = split_files(data_dir, split)
    encode = tf.function(lambda f, l, p: model.visual_encoder(f, l, p, training=False),
                         reduce_retracing=True)
    keep = ("id", "frontal", "lateral", "lateral_present", "report", "normal")

    def example(record):
        ex = pipeline.make_example(records.parse(record, c.max_sentences, c.max_words),
                                   c.image_size)
        return {k: ex[k] for k in keep}

    def source(start: int, count: int) -> Iterator[Batch]:
        ds = pipeline.read_records(files).skip(start).take(count)
        ds = ds.map(example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        for batch in ds.batch(batch_size).prefetch(tf.data.AUTOTUNE):
            grids, mask = encode(batch["frontal"], batch["lateral"], batch["lateral_present"])
            yield {"id": batch["id"].numpy(), "grids": grids, "view_mask": mask.numpy(),
                   "report": batch["report"].numpy(), "normal": batch["normal"].numpy(),
                   "lateral_present": batch["lateral_present"].numpy()}
    return source


def model_plan(model, split: str, studies: int, num_shards: Optional[int] = None) -> Plan:
    """The plan for ``model``'s grids of ``studies`` studies (``num_shards`` None: auto)."""
    c, enc = model.config, model.visual_encoder
    dtype = storage_dtype(model)
    grid = (2, int(enc.cells), int(enc.channels))
    report = (c.max_sentences, c.max_words)
    if not num_shards:
        num_shards = auto_num_shards(studies, study_bytes(grid, dtype, report))
    return Plan(split, studies, num_shards, dtype, grid, report)


def build(model, data_dir: str, split: str, batch_size: int = 32, quiet: bool = False,
          num_shards: Optional[int] = None, cache_dir: Optional[str] = None) -> CacheSplit:
    """Writes (or reuses, or finishes) the cache of one split of a prepared dataset.

    ``cache_dir`` defaults to ``data_dir/feature_cache``. ``num_shards`` None keeps an
    earlier build's count, else chooses about :data:`TARGET_SHARD_BYTES` per shard; an
    explicit count that differs from the earlier build's rebuilds the split."""
    root = cache_dir or os.path.join(data_dir, CACHE_DIR)
    folder = os.path.join(root, cache_key(model))
    existing = open_split(folder, split)
    if existing is None:
        _warn_old_caches(root)
    if not num_shards:  # keep the shard count of an earlier build, finished or not
        num_shards = (_recorded(folder, split)[0] or {}).get("num_shards")
    plan = model_plan(model, split, pipeline.count(data_dir, split), num_shards)
    return write_split(folder, plan, image_source(model, data_dir, split, batch_size), quiet)


def _warn_old_caches(root: str) -> None:
    """Names caches in the format-1 layout (one <split>.tfrecord): never read again."""
    if not tf.io.gfile.isdir(root):
        return
    for key in tf.io.gfile.listdir(root):
        folder = os.path.join(root, key.rstrip("/"))
        old = [p for p in tf.io.gfile.glob(os.path.join(folder, "*.tfrecord"))
               if "-of-" not in os.path.basename(p)]
        if old:
            size = sum(tf.io.gfile.stat(p).length for p in old) / 1e9
            log.warning("feature cache: %s holds an old single-file cache (%.2f GB) that is "
                        "no longer read; the cache is rebuilt sharded. Delete that folder to "
                        "free the space.", folder, size)


def dataset(cache: CacheSplit, model=None, *, batch_size: int, training: bool = False,
            seed: Optional[int] = None, epoch: int = 0, skip_batches: int = 0,
            input_context: Optional[tf.distribute.InputContext] = None) -> tf.data.Dataset:
    """Batches shaped like :func:`pipeline.dataset`'s, with ``grids``/``view_mask`` in place
    of the images; ``training`` and ``skip_batches`` mean what they mean there.

    Grids come out in the cache's dtype (no float32 round-trip); ``model``, when given,
    must have the cache's report shape, and grids are cast only if it computes in another
    dtype. With an ``input_context`` this pipeline opens only its own shards (i, i+n, ...;
    in training of the file list permuted per epoch, the same permutation on every
    pipeline). Unshuffled, the studies come in the prepared split's order."""
    dtype = tf.as_dtype(cache.dtype)
    out_dtype = dtype
    if model is not None:
        c = model.config
        if tuple(cache.report_shape) != (c.max_sentences, c.max_words):
            raise ValueError(f"{cache.manifest}: reports of shape {list(cache.report_shape)}, "
                             f"the model takes {[c.max_sentences, c.max_words]}")
        out_dtype = tf.as_dtype(model.visual_encoder.compute_dtype)
    sentences, words = cache.report_shape
    features = {
        "id": tf.io.FixedLenFeature([], tf.string),
        "grids": tf.io.FixedLenFeature([], tf.string),
        "view_mask": tf.io.FixedLenFeature([2], tf.float32),
        "report": tf.io.FixedLenFeature([sentences * words], tf.int64),
        "normal": tf.io.FixedLenFeature([], tf.int64),
        "lateral_present": tf.io.FixedLenFeature([], tf.float32),
    }

    def parse(raw):
        ex = tf.io.parse_single_example(raw, features)
        grids = tf.ensure_shape(tf.io.parse_tensor(ex["grids"], dtype), cache.grid_shape)
        ex["grids"] = grids if out_dtype == dtype else tf.cast(grids, out_dtype)
        ex["view_mask"] = tf.cast(ex["view_mask"], out_dtype)
        ex["report"] = tf.reshape(tf.cast(ex["report"], tf.int32), [sentences, words])
        return ex

    files = list(cache.files)
    if training:  # a new shard order each epoch, the same on every pipeline: still disjoint
        order = np.random.default_rng(pipeline.epoch_seed(seed, epoch)).permutation(len(files))
        files = [files[j] for j in order]
        ds = pipeline.read_records(files, input_context)
        ds = pipeline.training_order(ds, seed, epoch, 2048).map(lambda _, r: r)
    else:  # shard after shard: the prepared split's own order, as pipeline.dataset reads it
        ds = pipeline.read_records(files, input_context, cycle_length=1)
    ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.batch(batch_size, drop_remainder=training)
    if skip_batches:
        ds = ds.skip(skip_batches)
    return ds.prefetch(tf.data.AUTOTUNE)


def find_bad_shard(files: Iterable[str]) -> Optional[Tuple[str, str]]:
    """(file, problem) of the first cache shard that cannot be read to its end, or None.
    Reads every record, so it is only run after a read has failed."""
    for path in files:
        try:
            for _ in tf.data.TFRecordDataset(path):
                pass
        except tf.errors.NotFoundError:
            return path, "file not found"
        except (tf.errors.DataLossError, tf.errors.OutOfRangeError) as e:
            return path, f"truncated or corrupt TFRecord ({e.message.splitlines()[0]})"
    return None


@contextlib.contextmanager
def named_errors(caches: Mapping[str, CacheSplit]) -> Iterator[None]:
    """A cache shard that fails mid-training becomes one message naming it; any other data
    error passes through."""
    try:
        yield
    except (tf.errors.DataLossError, tf.errors.NotFoundError):
        bad = find_bad_shard([f for c in caches.values() for f in c.files])
        if bad is None:
            raise
        raise ValueError(f"{bad[0]}: {bad[1]}; delete it and rerun: the feature cache "
                         "rebuilds only its missing shards") from None


def clear(data_dir: str) -> None:
    """Removes every feature cache of a prepared dataset."""
    root = os.path.join(data_dir, CACHE_DIR)
    if tf.io.gfile.exists(root):
        tf.io.gfile.rmtree(root)
