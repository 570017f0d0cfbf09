"""Every model trains and decodes under float16 and bfloat16 compute (float32 variables)."""
import keras
import numpy as np
import pytest

from model_helpers import tiny_batch, tiny_model, overfit
from tfreport.decoding import Decoder
from tfreport.models import MODELS


@pytest.fixture
def policy(request):
    keras.mixed_precision.set_global_policy(request.param)
    yield request.param
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"], indirect=True)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_learns_and_decodes_in_mixed_precision(name, policy, tiny_data, tiny_vocab):
    model = tiny_model(name, len(tiny_vocab))
    assert model.compute_dtype == policy.split("_")[1]
    assert all(v.dtype == "float32" for v in model.trainable_variables)
    batch = tiny_batch(tiny_data, model)
    first, last = overfit(model, batch, steps=25)
    assert np.isfinite(last) and last < first
    reports = Decoder(model, tiny_vocab, beam_size=2).reports(batch)
    assert len(reports) == 4 and all(isinstance(r, list) for r in reports)
    if name == "hier_rnn":  # sampled (MBR): its stop head's float16 P(stop) meets a float32 draw
        reports = Decoder(model, tiny_vocab, beam_size=2, mbr_samples=1).reports(batch)
        assert len(reports) == 4 and all(isinstance(r, list) for r in reports)
