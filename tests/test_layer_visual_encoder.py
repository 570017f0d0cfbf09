"""VisualEncoder through the harness: both views, a missing lateral, and the blind variant."""
import numpy as np

from layer_harness import check_layer
from tfreport.layers.visual_encoder import VisualEncoder

RNG = np.random.default_rng(3)


def _views(b=2, size=32):
    return {"frontal": RNG.uniform(0, 1, (b, size, size, 1)).astype("float32"),
            "lateral": RNG.uniform(0, 1, (b, size, size, 1)).astype("float32"),
            "lateral_present": np.array([1.0, 0.0], "float32")}


def _hide_lateral(x):
    x["lateral"][1] = 1.0  # study 1 has no lateral view: its pixels must not matter
    return x


def test_visual_encoder(tmp_path):
    kwargs = {"backbone": "small", "image_size": 32, "width": 8}
    grids, view_mask = check_layer(VisualEncoder, kwargs, _views(), tmp_path, hide=_hide_lateral)
    assert grids.shape[:2] == (2, 2) and view_mask.tolist() == [[1, 1], [1, 0]]
    assert not grids[1, 1].any()  # the missing view's grid is zeroed
    check_layer(VisualEncoder, dict(kwargs, share_views=False), _views(), tmp_path,
                mixed_precision=False)


def test_image_blind_encoder_ignores_every_pixel(tmp_path):
    kwargs = {"backbone": "small", "image_size": 32, "width": 8, "image_blind": True}
    grids, _ = check_layer(VisualEncoder, kwargs, _views(), tmp_path)
    np.testing.assert_allclose(grids[0], grids[1])  # one constant for every study
