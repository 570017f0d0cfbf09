"""Grad-CAM of each sentence for the models without soft attention (issue 17): the maps pick
each sentence's own words, sum to 1 over the visible views, skip a masked view, and point
at the grid cells whose removal costs the sentence most."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from model_helpers import overfit, tiny_batch, tiny_model
from tfreport.attention_maps import report_grid, study_maps
from tfreport.decoding import Decoder
from tfreport.saliency import gradcam_maps, sentence_log_probs, sentence_masks

# Grad-CAM works on every model; study_maps picks it for those without attention. M2 is
# kept here as the transformer case, though its own maps are its cross-attention.
GRADCAM = ["cnn_rnn", "hier_rnn", "mrna", "m2_transformer"]


@pytest.fixture(scope="module", params=GRADCAM)
def trained(request, tiny_data, tiny_vocab):
    keras.utils.set_random_seed(0)
    model = tiny_model(request.param, len(tiny_vocab))
    batch = tiny_batch(tiny_data, model, n=4)
    overfit(model, batch, steps=60)
    batch = dict(batch)
    batch["lateral_present"] = np.array([1.0, 0.0, 1.0, 1.0], np.float32)
    reports = Decoder(model, tiny_vocab, 1).reports(batch)
    return model, batch, reports


@pytest.mark.parametrize("name", ["cnn_rnn", "hier_rnn"])
def test_sentence_masks_select_each_sentences_words(name, tiny_vocab):
    model = tiny_model(name, len(tiny_vocab))
    words = [w for w in tiny_vocab.tokens if w.isalpha()][:6]
    reports = [[" ".join(words[:3]), " ".join(words[3:5])], [words[5]]]
    grid = report_grid(model, reports, tiny_vocab)
    masks = sentence_masks(model, grid, [2, 1])
    assert len(masks) == 2
    assert masks[0].reshape(2, -1).sum(1).tolist() == [3, 1]  # sentence 1: 3 words, 1 word
    assert masks[1].reshape(2, -1).sum(1).tolist() == [2, 0]  # study 2 has no sentence 2
    assert not (masks[0] * masks[1]).any()  # no token in two sentences


def test_maps_sum_to_one_over_visible_views_and_skip_a_masked_one(trained, tiny_vocab):
    model, batch, reports = trained
    maps = gradcam_maps(model, batch, reports, tiny_vocab)
    assert [len(m) for m in maps] == [len(r) for r in reports]
    for i, study in enumerate(maps):
        for entry in study:
            total = entry["frontal"].sum() + (0 if entry["lateral"] is None
                                              else entry["lateral"].sum())
            assert total == pytest.approx(1.0, abs=1e-5)
            assert (entry["frontal"] >= 0).all()
            assert (entry["lateral"] is None) == (batch["lateral_present"][i] == 0)


def test_the_brightest_cell_matters_more_than_the_darkest(trained, tiny_vocab):
    """Deletion check: zeroing the frontal cell Grad-CAM ranks highest lowers the sentence's
    log-probability more than zeroing the one it ranks lowest, on average over sentences."""
    model, batch, reports = trained
    maps = gradcam_maps(model, batch, reports, tiny_vocab)
    inputs = {k: batch[k] for k in ("frontal", "lateral", "lateral_present")}
    grids, view_mask = model.raw_visual_features(inputs, training=False)
    grids = np.asarray(grids)
    grid = report_grid(model, reports, tiny_vocab)
    masks = sentence_masks(model, grid, [len(r) for r in reports])
    base = [np.asarray(sentence_log_probs(model, grids, view_mask, grid, m)) for m in masks]
    top_drop, bottom_drop = [], []
    # one forward pass per (sentence, end): every study with a k-th sentence has its own
    # cell zeroed in the same batch (studies do not interact at inference)
    for k, mask in enumerate(masks):
        studies = [i for i, study in enumerate(maps) if k < len(study)]
        for end, out in ((-1, top_drop), (0, bottom_drop)):
            g = grids.copy()
            for i in studies:
                g[i, 0, np.argsort(maps[i][k]["frontal"].ravel())[end]] = 0.0
            y = np.asarray(sentence_log_probs(model, tf.constant(g), view_mask, grid, mask))
            out += [base[k][i] - y[i] for i in studies]
    assert top_drop, "no sentence was decoded"
    assert np.mean(top_drop) > np.mean(bottom_drop)


@pytest.mark.parametrize("name,kind", [("cnn_rnn", "grad-cam"), ("hier_rnn", "grad-cam"),
                                       ("mrna", "grad-cam"), ("cnn_rnn_att", "attention"),
                                       ("m2_transformer", "attention")])
def test_each_model_shows_its_attention_or_else_grad_cam(name, kind, tiny_data, tiny_vocab):
    model = tiny_model(name, len(tiny_vocab))
    batch = tiny_batch(tiny_data, model, n=2)
    reports = [["the heart"], ["the lungs"]]
    maps, got = study_maps(model, batch, reports, tiny_vocab)
    assert got == kind
    assert [len(m) for m in maps] == [1, 1]
