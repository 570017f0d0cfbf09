"""M2's layers (FeedForward, MemoryEncoder, MeshedDecoder) through the harness."""
import numpy as np

from layer_harness import check_layer
from tfreport.layers.m2_encoder import FeedForward, MemoryEncoder
from tfreport.layers.meshed_decoder import MeshedDecoder
from tfreport.vocab import PAD_ID

RNG = np.random.default_rng(2)
D = 16


def test_feed_forward(tmp_path):
    (out,) = check_layer(FeedForward, {"d_model": D, "d_ff": 32, "dropout": 0.1},
                         {"x": RNG.normal(size=(2, 5, D)).astype("float32")}, tmp_path)
    assert out.shape == (2, 5, D)


def _hide_cells(x):
    x["x"][~x["mask"]] = 9.0
    return x


def test_memory_encoder_returns_every_layer_stacked(tmp_path):
    mask = np.array([[True] * 4 + [False] * 2, [True] * 6])
    inputs = {"x": RNG.normal(size=(2, 6, D)).astype("float32"), "mask": mask}
    (out,) = check_layer(MemoryEncoder, {"num_layers": 3, "d_model": D, "heads": 4, "d_ff": 32,
                                         "memory_slots": 2}, inputs, tmp_path, hide=None)
    assert out.shape == (2, 3, 6, D)  # [B, layers, cells, d]
    # hidden cells change no real cell's output, at any layer
    enc = MemoryEncoder(3, D, 4, 32, 2)
    base = enc(**inputs).numpy()
    moved = enc(**_hide_cells({k: v.copy() for k, v in inputs.items()})).numpy()
    np.testing.assert_allclose(base[0, :, :4], moved[0, :, :4], atol=1e-5)
    np.testing.assert_allclose(base[1], moved[1], atol=1e-5)


def test_meshed_decoder(tmp_path):
    tokens = np.array([[0, 5, 6, 7, PAD_ID, PAD_ID], [0, 3, 4, 8, 9, 10]], "int32")
    enc_mask = np.array([[True] * 3 + [False], [True] * 4])
    inputs = {"tokens": tokens, "encoder_outputs": RNG.normal(size=(2, 2, 4, D)).astype("float32"),
              "enc_mask": enc_mask}

    def hide(x):
        x["encoder_outputs"][:, :, ~x["enc_mask"][0]] = 0.0  # only study 0 has a hidden cell
        x["encoder_outputs"][1] = inputs["encoder_outputs"][1]
        x["tokens"][0, 4:] = PAD_ID
        return x

    (logits,) = check_layer(MeshedDecoder, {"vocab_size": 12, "num_layers": 2, "encoder_layers": 2,
                                            "d_model": D, "heads": 4, "d_ff": 32, "max_len": 8},
                            inputs, tmp_path, hide=hide)
    assert logits.shape == (2, 6, 12)
    # causal: a later token never changes an earlier position's logits
    dec = MeshedDecoder(12, 2, 2, D, 4, 32, max_len=8)
    base = dec(**inputs).numpy()
    later = dict(inputs, tokens=tokens.copy())
    later["tokens"][1, 4:] = [1, 2]
    np.testing.assert_allclose(dec(**later).numpy()[1, :4], base[1, :4], atol=1e-5)

    # return_attention: the same logits, plus every cross-attention map and gate
    logits, att = dec(**inputs, return_attention=True)
    np.testing.assert_allclose(logits.numpy(), base, atol=1e-6)
    cross, gates = att["cross"].numpy(), att["gates"].numpy()
    assert cross.shape == (2, 2, 2, 4, 6, 4)  # [B, decoder layers, encoder layers, H, T, cells]
    assert gates.shape == (2, 2, 2, 6)
    np.testing.assert_allclose(cross.sum(-1), 1.0, atol=1e-5)
    assert cross[0, ..., 3].max() < 1e-6  # study 0's hidden cell gets no weight
    assert ((gates > 0) & (gates < 1)).all()
