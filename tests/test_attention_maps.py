"""Attention out of the attending models (issue 17, part 1): the weights over both views'
grid cells sum to 1 over the visible cells, are zero on a masked view, survive .keras saving,
and reach generate.py's per-sentence heatmaps."""
import json
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest

from model_helpers import overfit, tiny_batch, tiny_model
from tfreport.attention_maps import has_attention, overlay, sentence_maps
from tfreport.decoding import Decoder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ATTENDING = [("cnn_rnn_att", {}), ("mrna", {"spatial_attention": True, "attention_dim": 16}),
             ("m2_transformer", {"num_layers": 2, "d_model": 32, "heads": 4, "d_ff": 64,
                                 "memory_slots": 4})]


@pytest.fixture(scope="module", params=ATTENDING, ids=[n for n, _ in ATTENDING])
def trained(request, tiny_data, tiny_vocab):
    keras.utils.set_random_seed(0)
    name, overrides = request.param
    model = tiny_model(name, len(tiny_vocab), **overrides)
    batch = tiny_batch(tiny_data, model, n=4)
    overfit(model, batch, steps=40)
    return model, batch


def _masked_lateral(batch):
    b = dict(batch)
    b["lateral_present"] = np.array([1.0, 0.0, 1.0, 0.0], np.float32)
    return b


def test_weights_sum_to_one_over_visible_cells_and_skip_a_masked_view(trained):
    model, batch = trained
    _, alpha = model(_masked_lateral(batch), training=False, return_attention=True)
    alpha = np.asarray(alpha).reshape(4, -1, np.asarray(alpha).shape[-1])  # [B, steps, 2N]
    np.testing.assert_allclose(alpha.sum(-1), 1.0, atol=1e-4)
    n = alpha.shape[-1] // 2
    assert np.abs(alpha[[1, 3], :, n:]).max() == 0.0  # no lateral view: no weight on it
    assert alpha[[0, 2], :, n:].sum(-1).min() > 0.0  # both views seen where both exist


def test_weights_survive_keras_saving(trained, tmp_path):
    model, batch = trained
    path = str(tmp_path / "m.keras")
    model.save(path)
    again = keras.saving.load_model(path, compile=False)
    _, before = model(batch, training=False, return_attention=True)
    _, after = again(batch, training=False, return_attention=True)
    np.testing.assert_allclose(np.asarray(before), np.asarray(after), atol=1e-6)


def test_sentence_maps_give_one_map_pair_per_sentence(trained, tiny_vocab):
    model, batch = trained
    b = _masked_lateral(batch)
    reports = Decoder(model, tiny_vocab, 1).reports(b)
    maps = sentence_maps(model, b, reports, tiny_vocab)
    for study, sentences, present in zip(maps, reports, b["lateral_present"]):
        assert [m["sentence"] for m in study] == list(sentences)
        for m in study:
            total = m["frontal"].sum() + (m["lateral"].sum() if m["lateral"] is not None else 0)
            assert abs(total - 1.0) < 1e-4
            assert (m["lateral"] is None) == (present == 0)
            assert m["frontal"].shape[0] == m["frontal"].shape[1]


@pytest.mark.parametrize("trained", [ATTENDING[2]], indirect=True, ids=["m2_transformer"])
def test_m2_maps_come_per_decoder_layer_encoder_layer_and_head(trained, tiny_vocab):
    model, batch = trained
    b = _masked_lateral(batch)
    _, detail = model.cross_attention(b, training=False)
    cross, gates = np.asarray(detail["cross"]), np.asarray(detail["gates"])
    c = model.config
    assert cross.shape[1:4] == (c.num_layers, c.num_layers, c.heads)
    np.testing.assert_allclose(cross.sum(-1), 1.0, atol=1e-4)  # every head's map is a softmax
    n = cross.shape[-1] // 2
    assert np.abs(cross[[1, 3], ..., n:]).max() < 1e-6  # no lateral view: no head looks there
    assert ((gates > 0) & (gates < 1)).all()  # sigmoid gates
    # the combined map is the gate-weighted mean: move one gate and the map moves with it
    from tfreport.models.m2_transformer import combined_attention
    scale = np.array([1, 1e-6], np.float32)[None, None, :, None]
    shifted = dict(detail, gates=gates * scale)
    only_first = np.asarray(cross[:, :, 0].mean(axis=2).mean(axis=1))
    np.testing.assert_allclose(np.asarray(combined_attention(shifted)), only_first, atol=1e-5)
    reports = Decoder(model, tiny_vocab, 1).reports(b)
    for study in sentence_maps(model, b, reports, tiny_vocab):
        for m in study:
            assert m["layers"]["frontal"].shape[:3] == (c.num_layers, c.num_layers, c.heads)
            assert m["gates"].shape == (c.num_layers, c.num_layers)
            heads = m["layers"]["frontal"].sum((-1, -2))
            if m["lateral"] is not None:
                heads = heads + m["layers"]["lateral"].sum((-1, -2))
            np.testing.assert_allclose(heads, 1.0, atol=1e-4)
            # the sentence's combined map is its layers' maps combined by its gates... per
            # token, so only approximately per sentence: the same cells stand out
            assert np.argmax(m["frontal"]) in np.argsort(
                m["layers"]["frontal"].mean((0, 1, 2)).ravel())[-3:]


def test_models_without_attention_say_so(tiny_vocab, tiny_data):
    model = tiny_model("cnn_rnn", len(tiny_vocab))
    assert not has_attention(model)
    with pytest.raises(ValueError, match="has no soft attention"):
        sentence_maps(model, tiny_batch(tiny_data, model), [["a b"]] * 4, tiny_vocab)


def test_overlay_colours_where_the_weight_is():
    image = np.full((32, 32), 100.0)
    weights = np.zeros((4, 4))
    weights[0, 0] = 1.0  # all the weight on the top-left cell
    out = overlay(image, weights)
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    assert np.abs(out[2, 2].astype(int) - 100).max() > 20  # coloured
    assert (out[30, 30] == 100).all()  # untouched far away
    assert (overlay(image, None)[..., 0] == 100).all()


@pytest.mark.parametrize("name,kind", [("cnn_rnn_att", "attention"), ("cnn_rnn", "grad-cam")])
def test_generate_writes_per_sentence_heatmaps(name, kind, tiny_data, tiny_vocab, tiny_raw,
                                               tmp_path):
    keras.utils.set_random_seed(0)
    model = tiny_model(name, len(tiny_vocab))
    batch = tiny_batch(tiny_data, model, n=8)
    overfit(model, batch, steps=100)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    model.save(str(model_dir / "best.keras"))
    shutil.copy(os.path.join(tiny_data, "vocabulary.json"), model_dir / "vocabulary.json")
    uid = int(batch["id"].numpy()[0].decode().replace("CXR", ""))  # a study it learned
    frontal = os.path.join(tiny_raw, "images", f"{uid}_IM-{uid:04d}-1001.dcm.png")
    out_dir = tmp_path / "maps"
    run = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "generate.py"),
                          "--img_frontal_path", frontal, "--model_path", str(model_dir),
                          "--beam_size", "1", "--attention_dir", str(out_dir)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    (study,) = json.load(open(out_dir / "index.json"))
    assert study["report"] == run.stdout.strip()
    assert study["kind"] == kind and f"({kind})" in run.stderr
    assert study["sentences"] and all(os.path.exists(out_dir / s["png"])
                                      for s in study["sentences"])
    from PIL import Image
    png = Image.open(out_dir / study["sentences"][0]["png"])
    assert png.height >= 256 and png.width == 2 * png.height  # both views, enlarged
