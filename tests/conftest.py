"""Shared fixtures: a tiny demo dataset, raw and prepared, built once per test session."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

TINY_STUDIES = 64


@pytest.fixture(scope="session")
def tiny_raw(tmp_path_factory):
    from tfreport.data import demo
    raw = str(tmp_path_factory.mktemp("demo") / "raw")
    demo.generate(raw, num_studies=TINY_STUDIES, seed=0, image_size=64, quiet=True)
    return raw


@pytest.fixture(scope="session")
def tiny_data(tiny_raw, tmp_path_factory):
    from tfreport.data.prepare import prepare
    out = str(tmp_path_factory.mktemp("demo") / "prepared")
    prepare("demo", out, tiny_raw, split_ratios="0.5,0.25,0.25", quiet=True)
    return out


@pytest.fixture(scope="session")
def tiny_vocab(tiny_data):
    from tfreport.vocab import Vocabulary
    return Vocabulary.load(os.path.join(tiny_data, "vocabulary.json"))


def pytest_collection_modifyitems(config, items):
    """Tests marked ``gpu`` are skipped when TensorFlow sees no GPU (TensorFlow is imported
    only when such a test was collected)."""
    marked = [item for item in items if item.get_closest_marker("gpu")]
    if not marked:
        return
    import tensorflow as tf
    if tf.config.list_physical_devices("GPU"):
        return
    skip = pytest.mark.skip(reason="no GPU visible to TensorFlow (pip install -r "
                                   "requirements-gpu.txt on a machine with an NVIDIA GPU)")
    for item in marked:
        item.add_marker(skip)
