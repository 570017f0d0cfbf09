import json
import os
import subprocess
import sys

import numpy as np
import keras

from tfreport.data import feature_cache, pipeline
from model_helpers import tiny_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_cached_grids_equal_the_backbone_output(tiny_data, tiny_vocab, tmp_path):
    keras.utils.set_random_seed(0)
    model = tiny_model("mrna", len(tiny_vocab), trainable_backbone=False)
    path = feature_cache.build(model, tiny_data, "val", batch_size=8, quiet=True)
    assert feature_cache.build(model, tiny_data, "val", quiet=True) == path  # reused
    cached = next(iter(feature_cache.dataset(path, model, batch_size=4)))
    c = model.config
    images = next(iter(pipeline.dataset(tiny_data, "val", batch_size=4, image_size=c.image_size,
                                        max_sentences=c.max_sentences, max_words=c.max_words)))
    assert (cached["id"].numpy() == images["id"].numpy()).all()
    np.testing.assert_array_equal(cached["report"].numpy(), images["report"].numpy())
    # float16 storage: the model's outputs from cache and from pixels agree closely
    np.testing.assert_allclose(model(cached).numpy(), model(images).numpy(), atol=2e-2)
    other = tiny_model("mrna", len(tiny_vocab), trainable_backbone=False)  # other weights
    assert feature_cache.cache_key(other) != feature_cache.cache_key(model)


def test_train_from_the_cache(tiny_data, tmp_path):
    cmd = [sys.executable, os.path.join(ROOT, "scripts", "train.py"), "--data_dir", tiny_data,
           "--epochs", "1", "--steps_per_epoch", "2", "--batch_size", "4", "--image_size", "32",
           "--max_words", "12", "--beam_size", "1", "--trainable_backbone", "false",
           "--feature_cache", "true", "--model_dir", str(tmp_path / "m"),
           "--logdir", str(tmp_path / "s"), "--quiet"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Training from the feature cache" in out.stdout
    assert json.load(open(tmp_path / "m" / "metrics_test.json"))["studies"] > 0
    cmd[cmd.index("--trainable_backbone") + 1] = "true"
    cmd[cmd.index("--model_dir") + 1] = str(tmp_path / "m2")  # a new run, not the one above
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 2 and "needs a frozen backbone" in out.stderr
