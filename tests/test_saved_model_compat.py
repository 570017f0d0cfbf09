"""A model saved before its layers moved still loads, with the same weights and logits."""
import os
import shutil

import numpy as np
import pytest

from tfreport.inference import load_model
from tfreport.models import renamed_weights

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "saved_before_attention_lstm")


@pytest.mark.parametrize("name", ["cnn_rnn_att", "mrna"])
def test_a_model_saved_before_the_shared_attention_lstm_loads_the_same(name, tmp_path, capsys):
    old = os.path.join(FIXTURES, f"{name}.keras")
    assert renamed_weights.stale_groups(old)
    model = load_model(old)
    assert "weights were mapped" in capsys.readouterr().err
    batch = dict(np.load(os.path.join(FIXTURES, "batch.npz")))
    expected = np.load(os.path.join(FIXTURES, f"{name}_logits.npy"))
    np.testing.assert_allclose(np.asarray(model(batch)), expected, rtol=1e-6, atol=1e-6)
    # saved again, it has today's layout and loads without the step
    again = str(tmp_path / "again.keras")
    model.save(again)
    assert renamed_weights.stale_groups(again) is None
    np.testing.assert_allclose(np.asarray(load_model(again)(batch)), expected, atol=1e-6)
    assert "weights were mapped" not in capsys.readouterr().err


def test_the_original_file_is_left_as_it_was(tmp_path):
    copy = str(tmp_path / "m.keras")
    shutil.copy(os.path.join(FIXTURES, "cnn_rnn_att.keras"), copy)
    before = open(copy, "rb").read()
    load_model(copy)
    assert open(copy, "rb").read() == before
    assert os.listdir(tmp_path) == ["m.keras"]


def test_an_mrna_without_attention_is_not_remapped(tmp_path):
    """Its word LSTM lives at layers/lstm/cell today too: the file must load as it is."""
    from model_helpers import tiny_model
    batch = dict(np.load(os.path.join(FIXTURES, "batch.npz")))
    model = tiny_model("mrna", 12, image_size=16, max_sentences=3, max_words=8,
                       backbone_width=4, spatial_attention=False)
    expected = np.asarray(model(batch))
    path = str(tmp_path / "mrna.keras")
    model.save(path)
    assert renamed_weights.stale_groups(path) is None
    np.testing.assert_allclose(np.asarray(load_model(path)(batch)), expected, atol=1e-6)
