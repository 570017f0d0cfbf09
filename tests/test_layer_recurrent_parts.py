"""StateProjection and SentenceConvEncoder (the RNN models' parts) through the harness."""
import numpy as np

from layer_harness import check_layer
from tfreport.layers.sentence_conv import SentenceConvEncoder
from tfreport.layers.state_projection import StateProjection

RNG = np.random.default_rng(1)


def test_state_projection(tmp_path):
    x = {"x": (3 * RNG.normal(size=(4, 10))).astype("float32")}
    for norm in (False, True):
        (out,) = check_layer(StateProjection, {"units": 6, "layer_norm": norm}, x, tmp_path)
        assert out.shape == (4, 6) and (np.abs(out) < 1).all()  # a tanh state


def _hide_words(x):
    x["x"][~x["mask"]] = 7.0  # what sits in the padded positions
    return x


def test_sentence_conv_encoder(tmp_path):
    mask = np.zeros((3, 9), bool)
    mask[0, :9], mask[1, :4], mask[2, :2] = True, True, True  # long, short, shorter than a field
    inputs = {"x": RNG.normal(size=(3, 9, 8)).astype("float32"), "mask": mask}
    (out,) = check_layer(SentenceConvEncoder, {"filters": 5, "width": 3, "num_layers": 2},
                         inputs, tmp_path, hide=_hide_words)
    assert out.shape == (3, 10)
    # the padded length does not matter either (down to the stack's receptive field, 5 here):
    # the 4-word sentence padded to 6 gives the vector it gets padded to 9
    alone = SentenceConvEncoder(5, 3, 2)
    full = alone(**inputs).numpy()
    cut = alone(inputs["x"][1:2, :6], inputs["mask"][1:2, :6]).numpy()
    np.testing.assert_allclose(full[1:2], cut, atol=1e-5)
