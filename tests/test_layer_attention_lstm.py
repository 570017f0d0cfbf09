"""AttentionLSTMCell (CNN-RNN-Att's and MRNA's word step) through the layer harness."""
import numpy as np

from layer_harness import check_layer
from tfreport.layers.attention_lstm import AttentionLSTMCell

RNG = np.random.default_rng(0)


def _inputs():
    mask = np.array([[True, True, True, False, False], [True] * 5])
    return {"inputs": RNG.normal(size=(2, 6)).astype("float32"),
            "h": RNG.normal(size=(2, 8)).astype("float32"),
            "c": RNG.normal(size=(2, 8)).astype("float32"),
            "keys": RNG.normal(size=(2, 5, 4)).astype("float32"),
            "values": RNG.normal(size=(2, 5, 3)).astype("float32"), "mask": mask}


def _hide(x):
    x["keys"][~x["mask"]] = 40.0
    x["values"][~x["mask"]] = -40.0
    return x


def test_attention_lstm_cell(tmp_path):
    inputs = _inputs()
    h, c, alpha = check_layer(AttentionLSTMCell, {"units": 8, "attention_dim": 4}, inputs,
                              tmp_path, hide=_hide)
    assert h.shape == c.shape == (2, 8) and alpha.shape == (2, 5)
    np.testing.assert_allclose(alpha.sum(-1), 1.0, rtol=1e-5)
    assert (alpha[~inputs["mask"]] < 1e-6).all()


def test_the_step_reads_the_image_and_the_scan_is_the_steps():
    cell = AttentionLSTMCell(units=8, attention_dim=4)
    x = _inputs()
    keys = cell.project_keys(x["values"])
    h1, _, _ = cell(x["inputs"], x["h"], x["c"], keys, x["values"], x["mask"])
    other = x["values"] + 1.0  # other image cells, same word and state: another step
    h2, _, _ = cell(x["inputs"], x["h"], x["c"], cell.project_keys(other), other, x["mask"])
    assert np.abs(np.asarray(h1) - np.asarray(h2)).max() > 1e-3
    words = RNG.normal(size=(2, 3, 6)).astype("float32")
    hs, alphas = cell.scan(words, x["h"], x["c"], keys, x["values"], x["mask"])
    h, c = x["h"], x["c"]
    for t in range(3):  # the scan is the steps, one after the other
        h, c, alpha = cell(words[:, t], h, c, keys, x["values"], x["mask"])
        np.testing.assert_allclose(np.asarray(hs)[:, t], np.asarray(h), atol=1e-5)
        np.testing.assert_allclose(np.asarray(alphas)[:, t], np.asarray(alpha), atol=1e-5)
