"""SoftAttention and MemoryAttention through the shared layer harness, plus what each owes."""
import numpy as np

from layer_harness import check_layer
from tfreport.layers.memory_attention import MemoryAttention
from tfreport.layers.soft_attention import SoftAttention

RNG = np.random.default_rng(0)


def _soft_inputs():
    mask = np.array([[True, True, False, False], [True, True, True, True]])
    return {"query": RNG.normal(size=(2, 6)).astype("float32"),
            "keys": RNG.normal(size=(2, 4, 8)).astype("float32"),
            "values": RNG.normal(size=(2, 4, 5)).astype("float32"), "mask": mask}


def _hide_soft(x):
    hidden = ~x["mask"]
    x["keys"][hidden] = 99.0
    x["values"][hidden] = -99.0
    return x


def test_soft_attention(tmp_path):
    inputs = _soft_inputs()
    context, weights = check_layer(SoftAttention, {"units": 8}, inputs, tmp_path, hide=_hide_soft)
    assert context.shape == (2, 5) and weights.shape == (2, 4)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)
    assert (weights[~inputs["mask"]] < 1e-6).all()


def test_soft_attention_builds_from_project_keys_first():
    layer = SoftAttention(units=8)
    values = RNG.normal(size=(2, 4, 5)).astype("float32")
    keys = layer.project_keys(values)  # the models' order: keys once per image, then steps
    assert keys.shape == (2, 4, 8) and not layer.built
    layer(RNG.normal(size=(2, 6)).astype("float32"), keys, values, np.ones((2, 4), bool))
    assert layer.built and len(layer.weights) == 4  # key, query (kernel, bias), score


def _hide_memory(x):
    x["key_value"][~x["mask"]] = 50.0
    return x


def test_memory_attention_with_and_without_memory(tmp_path):
    mask = np.array([[True, True, True, False, False], [True] * 5])
    inputs = {"query": RNG.normal(size=(2, 3, 16)).astype("float32"),
              "key_value": RNG.normal(size=(2, 5, 12)).astype("float32"), "mask": mask}
    for slots in (0, 4):
        (out,) = check_layer(MemoryAttention, {"d_model": 16, "heads": 4, "memory_slots": slots},
                             inputs, tmp_path, hide=_hide_memory)
        assert out.shape == (2, 3, 16)
    with_memory = MemoryAttention(16, 4, memory_slots=4)
    with_memory(**inputs)
    assert {w.name for w in with_memory.weights} >= {"memory_k", "memory_v"}
    assert len(with_memory.weights) == 4 * 2 + 2  # q, k, v, o (kernel, bias) and the memory
