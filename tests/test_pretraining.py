"""Backbone pretraining (CheXpert-style) and external backbone weights."""
import math
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from model_helpers import tiny_model
from tfreport.models import MODELS
from tfreport.pretraining import auroc, targets_and_mask

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAN = math.nan


def test_uncertainty_policies_and_blank_masking():
    labels = np.array([[1, 0, -1, NAN]], np.float32)
    expected = {"ignore": ([1, 0, 0, 0], [1, 1, 0, 0]),
                "zeros": ([1, 0, 0, 0], [1, 1, 1, 0]),
                "ones": ([1, 0, 1, 0], [1, 1, 1, 0])}
    for policy, (targets, mask) in expected.items():
        t, m = targets_and_mask(labels, policy)
        np.testing.assert_array_equal(t[0], targets, err_msg=policy)
        np.testing.assert_array_equal(m[0], mask, err_msg=policy)
    with pytest.raises(ValueError):
        targets_and_mask(labels, "maybe")


def test_auroc_known_values():
    assert auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)
    assert auroc([0.1, 0.2, 0.3], [0, 1, 1]) == 1.0
    assert auroc([0.3, 0.2, 0.1], [0, 1, 1]) == 0.0
    assert auroc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1]) == pytest.approx(0.5)  # ties count half
    assert auroc([0.2, 0.4], [1, 1]) is None  # one class only


@pytest.fixture(scope="module")
def pretrained(tiny_data, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("pretrained") / "small")
    cmd = [sys.executable, os.path.join(ROOT, "scripts", "pretrain_backbone.py"), "--backbone",
           "small", "--data_dir", tiny_data, "--out", out, "--labels", "dataset",
           "--image_size", "64", "--epochs", "30", "--batch_size", "8",
           "--learning_rate", "3e-3", "--quiet"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "| **mean** |" in run.stdout
    return out


def test_pretraining_learns_the_observations(pretrained):
    import json
    table = json.load(open(os.path.join(pretrained, "auroc.json")))
    assert table["train_mean"] > 0.65  # well above chance on the data it learned from
    assert set(table["per_observation"]) <= {"Cardiomegaly", "Lung Lesion", "Consolidation",
                                             "Pneumothorax", "Pleural Effusion", "Support Devices"}
    for name in ("backbone.weights.h5", "config.json", "auroc.md"):
        assert os.path.exists(os.path.join(pretrained, name))


def _saved_small_weights(path):
    from tfreport.layers.backbones import small_cnn
    net = small_cnn(64, 32)
    net.load_weights(os.path.join(path, "backbone.weights.h5"))
    return net.get_weights()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_pretrained_weights_load_into_every_model(name, pretrained, tiny_vocab):
    saved = _saved_small_weights(pretrained)
    for share in (True, False):
        model = tiny_model(name, len(tiny_vocab), backbone_width=32, share_views=share,
                           backbone_weights=pretrained)
        enc = model.visual_encoder
        for net in {id(enc.frontal_net): enc.frontal_net, id(enc.lateral_net): enc.lateral_net}.values():
            for a, b in zip(net.get_weights(), saved):
                np.testing.assert_array_equal(a, b)
    random_init = tiny_model(name, len(tiny_vocab), backbone_width=32)
    assert not np.array_equal(random_init.visual_encoder.frontal_net.get_weights()[0], saved[0])


@pytest.mark.parametrize("fmt", [".weights.h5", ".h5", ".keras"])
def test_external_resnet50_weights_reproduce_the_source_model(fmt, tmp_path):
    """Weights saved from a plain keras.applications ResNet50 (as a user brings them) give
    tfreport's backbone the source model's outputs on a fixed input."""
    from tfreport.layers.backbones import build_backbone
    keras.utils.set_random_seed(1)
    source = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = str(tmp_path / f"resnet{fmt}")
    source.save_weights(path) if fmt == ".weights.h5" else source.save(path)
    ours = build_backbone("resnet50", 32, weights=path)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 1)).astype("float32")
    expected = source(keras.applications.resnet50.preprocess_input(np.repeat(x, 3, -1)),
                      training=False)
    np.testing.assert_allclose(ours(x, training=False), expected, rtol=1e-4, atol=1e-4)


def test_mismatched_weights_name_the_layer(tmp_path):
    from tfreport.layers.backbones import build_backbone
    dense = keras.applications.DenseNet121(include_top=False, weights=None,
                                           input_shape=(32, 32, 3))
    path = str(tmp_path / "densenet.keras")
    dense.save(path)
    with pytest.raises(ValueError, match=r"densenet.keras: layer 'conv1_conv' has weight shapes"):
        build_backbone("resnet50", 32, weights=path)
    with pytest.raises(FileNotFoundError, match="no such file for backbone resnet50"):
        build_backbone("resnet50", 32, weights=str(tmp_path / "missing.h5"))
    with pytest.raises(FileNotFoundError, match="a directory without backbone.weights.h5"):
        build_backbone("resnet50", 32, weights=str(tmp_path))


def test_imagenet_offline_says_what_to_do(monkeypatch, tiny_vocab):
    """Without network, asking for Keras' ImageNet weights fails at once, naming the fix."""
    def offline(*args, **kwargs):
        raise OSError("URL fetch failure: no network")
    monkeypatch.setattr(keras.utils, "get_file", offline)
    import keras.src.applications.resnet as resnet_module
    monkeypatch.setattr(resnet_module.file_utils, "get_file", offline)
    with pytest.raises(RuntimeError, match="could not download Keras' ImageNet weights for resnet50"):
        tiny_model("m2_transformer", len(tiny_vocab), backbone="resnet50",
                   backbone_weights="imagenet")


def test_labeler_labels_cover_every_study(tiny_data):
    import json
    from tfreport.pretraining import labeler_labels
    labels = labeler_labels(tiny_data)
    entry = json.load(open(os.path.join(tiny_data, "data_entry.json")))
    assert set(labels) == set(entry)
    stacked = np.stack(list(labels.values()))
    assert stacked.shape == (len(entry), 14)
    assert set(np.unique(stacked[~np.isnan(stacked)])) <= {-1.0, 0.0, 1.0}
    assert (stacked == 1).any() and np.isnan(stacked).any()  # positives and blanks both occur
