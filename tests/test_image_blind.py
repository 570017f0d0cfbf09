"""The image-blind switch: every model becomes a language model with a constant visual input."""
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfreport.decoding import Decoder
from tfreport.models import MODELS
from model_helpers import as_array, overfit, swap_images, tiny_batch, tiny_model


def _other_images(batch):
    """Different pixels and a missing lateral view for every study."""
    out = swap_images(batch)
    out["frontal"] = tf.random.stateless_uniform(tf.shape(batch["frontal"]), (1, 2))
    out["lateral_present"] = tf.zeros_like(batch["lateral_present"])
    return out


@pytest.fixture(scope="module", params=sorted(MODELS))
def blind(request, tiny_data, tiny_vocab):
    keras.utils.set_random_seed(0)
    model = tiny_model(request.param, len(tiny_vocab), image_blind=True)
    batch = tiny_batch(tiny_data, model)
    first, last = overfit(model, batch, steps=100)
    return model, batch, first, last


def test_blind_model_ignores_the_images(blind):
    model, batch, _, _ = blind
    np.testing.assert_allclose(as_array(model(batch)), as_array(model(_other_images(batch))),
                               atol=1e-6)


def test_blind_model_still_learns_the_text(blind):
    model, _, first, last = blind
    assert last < 0.7 * first, (model.name, first, last)


def test_blind_model_writes_one_report_for_every_study(blind, tiny_vocab):
    model, batch, _, _ = blind
    reports = [tuple(r) for r in Decoder(model, tiny_vocab, 3).reports(batch)]
    assert len(set(reports)) == 1, reports
    assert reports[0], "an overfit language model writes a non-empty report"


def test_image_blind_survives_saving(blind, tmp_path):
    model, batch, _, _ = blind
    path = str(tmp_path / "blind.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    assert loaded.config.image_blind and loaded.visual_encoder.image_blind
    np.testing.assert_allclose(as_array(loaded(_other_images(batch))), as_array(model(batch)),
                               atol=1e-5)


def test_sighted_model_sees_the_images(tiny_data, tiny_vocab):
    """The control: without the switch, other images change the outputs."""
    model = tiny_model("cnn_rnn", len(tiny_vocab))
    batch = tiny_batch(tiny_data, model)
    assert not np.allclose(as_array(model(batch)), as_array(model(_other_images(batch))))


def test_train_script_image_blind(tiny_data, tmp_path):
    from tfreport.training.run import RunSpec, train
    model_dir = str(tmp_path / "run")
    result = train(RunSpec(model="cnn_rnn", preset="demo", data_dir=tiny_data,
                           model_dir=model_dir, logdir=str(tmp_path / "logs"),
                           feature_cache=True, quiet=True, text_summaries=False),
                   dict(backbone="small", image_size=32, backbone_width=8,
                        trainable_backbone=False, image_blind=True),
                   dict(epochs=1, batch_size=8))
    with open(os.path.join(model_dir, "config.json")) as f:
        assert json.load(f)["model_config"]["image_blind"] is True
    assert result["groups"] and "CIDEr" in result
    with open(os.path.join(model_dir, "predictions_test.json")) as f:
        assert len(set(json.load(f).values())) == 1  # one report for every test study
