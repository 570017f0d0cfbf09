"""CheXbertHeads through the layer harness, and what it reads of the sequence."""
import numpy as np

from layer_harness import check_layer
from tfreport.layers.chexbert_heads import CheXbertHeads

RNG = np.random.default_rng(3)


def _hide_all_but_cls(x):
    x["sequence"][:, 1:] = 5.0  # the heads read position 0 ([CLS]) only
    return x


def test_chexbert_heads(tmp_path):
    x = {"sequence": RNG.normal(size=(3, 7, 12)).astype("float32")}
    obs, no_finding = check_layer(CheXbertHeads, {"dropout": 0.1}, x, tmp_path,
                                  hide=_hide_all_but_cls)
    assert obs.shape == (3, 13, 4) and no_finding.shape == (3, 2)
    # the stacked kernel is 13 independent linear heads: head i is cls @ kernel[i] + bias[i]
    layer = CheXbertHeads()
    o, n = layer(x["sequence"])
    k, b = layer.obs_kernel.numpy(), layer.obs_bias.numpy()
    cls = x["sequence"][:, 0]
    for i in (0, 6, 12):
        np.testing.assert_allclose(o.numpy()[:, i], cls @ k[i] + b[i], atol=1e-5)
    np.testing.assert_allclose(n.numpy(), cls @ layer.no_finding_kernel.numpy(), atol=1e-5)
    # dropout acts in training only
    assert not np.allclose(layer(x["sequence"], training=True)[0].numpy(), o.numpy())
