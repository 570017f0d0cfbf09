import dataclasses
import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest
import keras
import tensorflow as tf

from tfreport.data import feature_cache, pipeline
from tfreport.training import precision
from model_helpers import tiny_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _model(tiny_vocab, policy="float32"):
    keras.utils.set_random_seed(0)  # the same weights under every policy
    with precision.policy_scope(policy):
        return tiny_model("mrna", len(tiny_vocab), trainable_backbone=False)


def _images(tiny_data, model, split, batch_size):
    c = model.config
    return pipeline.dataset(tiny_data, split, batch_size=batch_size, image_size=c.image_size,
                            max_sentences=c.max_sentences, max_words=c.max_words)


def _ids(ds):
    return [i for b in ds for i in b["id"].numpy().tolist()]


def _records(path):
    return [r.numpy() for r in tf.data.TFRecordDataset(path)]


def _shard_ids(path):
    spec = {"id": tf.io.FixedLenFeature([], tf.string)}
    return [tf.io.parse_single_example(r, spec)["id"].numpy() for r in _records(path)]


def test_cached_grids_equal_the_backbone_output(tiny_data, tiny_vocab, tmp_path, caplog):
    root = str(tmp_path / "cache")
    old = tmp_path / "cache" / "0123456789abcdef"  # a format-1 cache: named, never read
    old.mkdir(parents=True)
    (old / "val.tfrecord").write_bytes(b"x" * 100)
    model = _model(tiny_vocab)
    with caplog.at_level(logging.WARNING, "tfreport.data"):
        cache = feature_cache.build(model, tiny_data, "val", batch_size=8, quiet=True,
                                    cache_dir=root)
    assert str(old) in caplog.text and "old single-file cache" in caplog.text
    assert cache.dtype == "float32" and cache.studies == pipeline.count(tiny_data, "val")
    mtimes = [os.path.getmtime(f) for f in cache.files]
    assert feature_cache.build(model, tiny_data, "val", quiet=True, cache_dir=root) == cache
    assert [os.path.getmtime(f) for f in cache.files] == mtimes  # reused, not rewritten
    cached = next(iter(feature_cache.dataset(cache, model, batch_size=4)))
    images = next(iter(_images(tiny_data, model, "val", 4)))
    assert (cached["id"].numpy() == images["id"].numpy()).all()
    np.testing.assert_array_equal(cached["report"].numpy(), images["report"].numpy())
    assert cached["grids"].dtype == tf.float32
    # float32 storage: the grids are the backbone's, and so are the model's outputs
    grids, _ = model.visual_encoder(images["frontal"], images["lateral"],
                                    images["lateral_present"], training=False)
    np.testing.assert_allclose(cached["grids"].numpy(), grids.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model(cached).numpy(), model(images).numpy(), atol=1e-5)
    other = tiny_model("mrna", len(tiny_vocab), trainable_backbone=False)  # other weights
    assert feature_cache.cache_key(other) != feature_cache.cache_key(model)


@pytest.mark.parametrize("policy,dtype", [("mixed_float16", tf.float16),
                                          ("mixed_bfloat16", tf.bfloat16)])
def test_grids_are_stored_and_read_in_the_compute_dtype(tiny_data, tiny_vocab, tmp_path,
                                                        policy, dtype):
    full, mixed = _model(tiny_vocab), _model(tiny_vocab, policy)
    assert feature_cache.cache_key(full) != feature_cache.cache_key(mixed)  # same weights
    root = str(tmp_path / "cache")
    cache = feature_cache.build(mixed, tiny_data, "val", batch_size=4, quiet=True,
                                cache_dir=root)
    assert cache.dtype == dtype.name
    assert json.load(open(cache.manifest))["dtype"] == dtype.name
    ds = feature_cache.dataset(cache, mixed, batch_size=4)
    assert ds.element_spec["grids"].dtype == dtype
    assert ds.element_spec["view_mask"].dtype == dtype
    cached, images = next(iter(ds)), next(iter(_images(tiny_data, mixed, "val", 4)))
    grids, _ = mixed.visual_encoder(images["frontal"], images["lateral"],
                                    images["lateral_present"], training=False)
    assert grids.dtype == dtype
    np.testing.assert_array_equal(cached["grids"].numpy(), grids.numpy())  # bit for bit
    np.testing.assert_allclose(mixed(cached).numpy(), mixed(images).numpy(), atol=1e-6)
    assert np.isfinite(float(mixed.combine(mixed.loss_terms(cached, mixed(cached)))))
    # the float32 model gets its own cache; it never reads this one
    assert feature_cache.build(full, tiny_data, "val", quiet=True, cache_dir=root).folder \
        != cache.folder
    # grids parsed as another dtype than they were written in fail loudly
    wrong = dataclasses.replace(cache, dtype="float32")
    with pytest.raises(tf.errors.InvalidArgumentError, match="Type mismatch"):
        next(iter(feature_cache.dataset(wrong, batch_size=4)))


def test_each_input_pipeline_reads_only_its_own_shards(tiny_data, tiny_vocab, tmp_path):
    model = _model(tiny_vocab)
    cache = feature_cache.build(model, tiny_data, "train", batch_size=8, quiet=True,
                                num_shards=4, cache_dir=str(tmp_path / "cache"))
    assert [os.path.basename(f) for f in cache.files] == [
        f"train-0000{i}-of-00004.tfrecord" for i in range(4)]
    everything = _ids(feature_cache.dataset(cache, model, batch_size=4))
    assert len(everything) == len(set(everything)) == pipeline.count(tiny_data, "train")
    assert everything == _ids(_images(tiny_data, model, "train", 4))  # the split's order
    per_shard = [_shard_ids(f) for f in cache.files]
    assert [len(s) for s in per_shard] == [8, 8, 8, 8]

    def context(i):
        return tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=i,
                                          num_replicas_in_sync=2)

    ids = [set(_ids(feature_cache.dataset(cache, model, batch_size=4,
                                          input_context=context(i)))) for i in (0, 1)]
    assert not ids[0] & ids[1] and ids[0] | ids[1] == set(everything)
    assert ids[0] == set(per_shard[0] + per_shard[2])
    assert ids[1] == set(per_shard[1] + per_shard[3])
    # training: the shard order changes per epoch, the split between pipelines stays exact
    for epoch in (1, 2):
        passes = [set(_ids(feature_cache.dataset(
            cache, model, batch_size=4, training=True, seed=3, epoch=epoch,
            input_context=context(i)).take(4))) for i in (0, 1)]
        assert not passes[0] & passes[1] and passes[0] | passes[1] == set(everything)
    # pipeline 0 never opens shards 1 and 3: corrupted, they do not disturb it
    for f in cache.files[1::2]:
        with open(f, "wb") as out:
            out.write(b"not a tfrecord" * 10)
    assert set(_ids(feature_cache.dataset(cache, model, batch_size=4,
                                          input_context=context(0)))) == ids[0]
    with pytest.raises(ValueError, match=r"train-00001-of-00004\.tfrecord: truncated or corrupt"):
        with feature_cache.named_errors({"train": cache}):
            _ids(feature_cache.dataset(cache, model, batch_size=4, input_context=context(1)))


def test_a_killed_build_resumes_with_the_missing_shards_only(tiny_data, tiny_vocab, tmp_path,
                                                             monkeypatch):
    model = _model(tiny_vocab)
    reference = feature_cache.build(model, tiny_data, "train", batch_size=4, quiet=True,
                                    num_shards=4, cache_dir=str(tmp_path / "reference"))
    real_source = feature_cache.image_source
    requested, kill_at = [], []

    def counting_source(*args, **kwargs):
        source = real_source(*args, **kwargs)

        def wrapped(start, count):
            requested.append(start)
            for n, batch in enumerate(source(start, count)):
                if kill_at and len(requested) == kill_at[0] and n == 1:
                    raise KeyboardInterrupt("killed mid-shard")
                yield batch
        return wrapped

    monkeypatch.setattr(feature_cache, "image_source", counting_source)
    root = str(tmp_path / "cache")

    def build():
        return feature_cache.build(model, tiny_data, "train", batch_size=4, quiet=True,
                                   cache_dir=root)

    def same_as_reference(cache):
        assert [os.path.basename(f) for f in cache.files] == \
            [os.path.basename(f) for f in reference.files]
        for mine, theirs in zip(cache.files, reference.files):
            assert _records(mine) == _records(theirs)

    kill_at.append(3)  # killed half-way through the third shard
    with pytest.raises(KeyboardInterrupt):
        feature_cache.build(model, tiny_data, "train", batch_size=4, quiet=True, num_shards=4,
                            cache_dir=root)
    folder = os.path.join(root, feature_cache.cache_key(model))
    assert feature_cache.open_split(folder, "train") is None  # nothing looks complete
    assert not os.path.exists(feature_cache.manifest_path(folder, "train"))
    assert os.path.exists(os.path.join(folder, "train-00002-of-00004.tfrecord.partial"))
    assert not os.path.exists(os.path.join(folder, "train-00002-of-00004.tfrecord"))
    kept = {f: os.path.getmtime(os.path.join(folder, f))
            for f in ("train-00000-of-00004.tfrecord", "train-00001-of-00004.tfrecord")}

    kill_at.clear()
    requested.clear()
    cache = build()  # no shard count given: the interrupted build's count is kept
    assert requested == [16, 24]  # shards 2 and 3 only
    assert {f: os.path.getmtime(os.path.join(folder, f)) for f in kept} == kept
    assert not [f for f in os.listdir(folder) if f.endswith(".partial")]
    assert not os.path.exists(feature_cache.progress_path(folder, "train"))
    same_as_reference(cache)

    # a shard deleted and one truncated after the build: those two are rewritten
    os.remove(cache.files[1])
    with open(cache.files[3], "r+b") as f:
        f.truncate(100)
    assert feature_cache.open_split(folder, "train") is None
    requested.clear()
    same_as_reference(build())
    assert requested == [8, 24]
    requested.clear()
    build()
    assert requested == []  # complete: reused

    # another explicit shard count is another layout: rebuilt, the old shards removed
    cache = feature_cache.build(model, tiny_data, "train", batch_size=4, quiet=True,
                                num_shards=2, cache_dir=root)
    assert sorted(f for f in os.listdir(folder) if f.startswith("train-")) == [
        "train-00000-of-00002.tfrecord", "train-00001-of-00002.tfrecord"]
    assert _ids(feature_cache.dataset(cache, batch_size=8)) == \
        _ids(feature_cache.dataset(reference, batch_size=8))


def _synthetic_source(grid_shape, report_shape, batch_size=5):
    """Studies whose contents depend on their index only, whatever the batching."""
    def study(j):
        rng = np.random.default_rng(j)
        return (rng.normal(size=grid_shape).astype(np.float32),
                rng.integers(0, 50, report_shape))

    def source(start, count):
        for b in range(start, start + count, batch_size):
            js = range(b, min(b + batch_size, start + count))
            grids, reports = zip(*map(study, js))
            yield {"id": np.array([f"s{j:04d}".encode() for j in js]),
                   "grids": np.stack(grids), "view_mask": np.ones((len(js), 2), np.float32),
                   "report": np.stack(reports), "normal": np.zeros(len(js), np.int64),
                   "lateral_present": np.ones(len(js), np.float32)}
    return source


def test_a_cache_on_a_non_local_filesystem(tmp_path):
    folder = "ram://feature_cache_test/key"  # every file operation goes through tf.io.gfile
    plan = feature_cache.Plan("train", 23, 3, "bfloat16", (2, 4, 8), (2, 3))
    cache = feature_cache.write_split(folder, plan, _synthetic_source((2, 4, 8), (2, 3)),
                                      quiet=True)
    try:
        assert feature_cache.open_split(folder, "train") == cache
        batches = list(feature_cache.dataset(cache, batch_size=10))
        assert [b["grids"].shape[0] for b in batches] == [10, 10, 3]
        assert batches[0]["grids"].dtype == tf.bfloat16
        expected = next(iter(_synthetic_source((2, 4, 8), (2, 3), batch_size=10)(0, 10)))
        np.testing.assert_array_equal(batches[0]["grids"].numpy(),
                                      tf.cast(expected["grids"], tf.bfloat16).numpy())
        assert [s["studies"] for s in json.loads(tf.io.gfile.GFile(
            cache.manifest).read())["shards"]] == [7, 8, 8]
    finally:
        tf.io.gfile.rmtree("ram://feature_cache_test")


def test_a_source_with_too_few_studies_is_named(tmp_path):
    plan = feature_cache.Plan("val", 10, 2, "float32", (2, 4, 8), (2, 3))
    short = _synthetic_source((2, 4, 8), (2, 3))
    with pytest.raises(ValueError, match=r"val-00001-of-00002\.tfrecord: the source gave 4"):
        feature_cache.write_split(str(tmp_path), plan, lambda s, n: short(s, min(n, 9 - s)),
                                  quiet=True)
    assert feature_cache.open_split(str(tmp_path), "val") is None


def test_shards_at_mimic_scale_are_about_128_mib():
    per_study = feature_cache.study_bytes((2, 49, 2048), "float16", (8, 50))
    n = feature_cache.auto_num_shards(222_758, per_study)
    assert 600 < n < 800
    assert feature_cache.TARGET_SHARD_BYTES / 2 < 222_758 * per_study / n \
        <= feature_cache.TARGET_SHARD_BYTES
    assert feature_cache.auto_num_shards(3, 10) == 1
    assert feature_cache.auto_num_shards(3, 10 ** 9) == 3  # never an empty shard


def test_train_from_the_cache(tiny_data, tmp_path):
    cmd = [sys.executable, os.path.join(ROOT, "scripts", "train.py"), "--data_dir", tiny_data,
           "--epochs", "1", "--steps_per_epoch", "2", "--batch_size", "4", "--image_size", "32",
           "--max_words", "12", "--beam_size", "1", "--trainable_backbone", "false",
           "--feature_cache", "true", "--feature_cache_shards", "2",
           "--model_dir", str(tmp_path / "m"), "--logdir", str(tmp_path / "s"), "--quiet"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Training from the feature cache" in out.stdout
    assert "(2 train shards, float32)" in out.stdout
    assert json.load(open(tmp_path / "m" / "metrics_test.json"))["studies"] > 0
    cmd[cmd.index("--trainable_backbone") + 1] = "true"
    cmd[cmd.index("--model_dir") + 1] = str(tmp_path / "m2")  # a new run, not the one above
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 2 and "needs a frozen backbone" in out.stderr


def test_the_cost_benchmark_measures_the_real_writer(tmp_path, capsys):
    from tfreport.commands import benchmark_feature_cache as bench
    assert bench.grid_shape("resnet50", 224) == (2, 49, 2048)
    out = tmp_path / "table.md"
    bench.main(["--studies", "40", "--backbones", "small", "--dtypes", "float16", "float32",
                "--image_size", "32", "--work_dir", str(tmp_path / "work"), "--out", str(out),
                "--mimic_studies", "1000", "--quiet"])
    rows = [line.split("|") for line in out.read_text().splitlines()
            if line.startswith("| small")]
    assert [r[3].strip() for r in rows] == ["float16", "float32"]
    grid_bytes = [2 * 4 * 256 * 2, 2 * 4 * 256 * 4]  # 32 px at stride 16: 2x2 cells, 256 ch
    for r, grids in zip(rows, grid_bytes):
        per_study = float(r[4].replace(",", ""))
        assert grids < per_study < grids + 1500  # the grids, the report ids, the framing
        assert float(r[5].split()[0]) == pytest.approx(per_study * 1000 / 1e9, abs=0.051)
    assert "Machine: CPU:" in out.read_text() and "bench-feature-cache --studies 40" in \
        out.read_text()
    assert not os.listdir(tmp_path / "work")  # the synthetic caches are removed
