"""Checks every model in the zoo must pass (CI-sized: tiny dimensions, 32 px images)."""
import numpy as np
import pytest
import tensorflow as tf
import keras

from tfreport.decoding import Decoder
from tfreport.models import MODELS
from tfreport.vocab import END_ID, PAD_ID, START_ID
from model_helpers import (as_array, batch_loss, logits_of, overfit, swap_images, tiny_batch,
                           tiny_model)

# every registered model with its default config, plus the non-default variants
CASES = [(name, {}) for name in sorted(MODELS)] + [
    ("hier_rnn", {"variant": "legacy", "word_layers": 1}),
    ("hier_rnn", {"topic_every_step": True}),
    ("mrna", {"spatial_attention": True, "attention_dim": 32}),
]


@pytest.fixture(scope="module", params=CASES,
                ids=[n + "".join("-" + (str(v) if k == "variant" else k) for k, v in o.items()
                                 if k in ("variant", "spatial_attention", "topic_every_step"))
                                 for n, o in CASES])
def trained(request, tiny_data, tiny_vocab):
    keras.utils.set_random_seed(0)
    name, overrides = request.param
    model = tiny_model(name, len(tiny_vocab), **overrides)
    batch = tiny_batch(tiny_data, model)
    first, last = overfit(model, batch)
    return model, batch, first, last


def test_overfits_a_tiny_batch(trained):
    model, _, first, last = trained
    assert last < 0.3 * first, (model.name, first, last)  # falls by at least 70%


def test_is_grounded_in_the_images(trained):
    model, batch, _, _ = trained
    assert batch_loss(model, swap_images(batch)) > batch_loss(model, batch) + 0.05


def test_save_and_load_give_identical_outputs(trained, tmp_path, tiny_vocab):
    model, batch, _, _ = trained
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    np.testing.assert_allclose(as_array(model(batch)), as_array(loaded(batch)), atol=1e-5)
    d1, d2 = Decoder(model, tiny_vocab, 3), Decoder(loaded, tiny_vocab, 3)
    assert d1.reports(batch) == d2.reports(batch)


def _report_ends(model, ids):
    """Every decoded sequence ends on its end rule or runs to the maximum length."""
    if model.hierarchical:
        for sentence in ids.reshape(-1, ids.shape[-1]):
            ends = np.nonzero(sentence == END_ID)[0]
            if len(ends):
                assert (sentence[ends[0] + 1:] == PAD_ID).all()
            else:
                assert (sentence != PAD_ID).all()
        return
    for seq in ids:
        prev = np.concatenate([[START_ID], seq[:-1]])
        stops = np.nonzero((seq == END_ID) & ((prev == END_ID) | (prev == START_ID)))[0]
        if len(stops):
            assert (seq[stops[0] + 1:] == PAD_ID).all()
        else:
            assert (seq != PAD_ID).all()


@pytest.mark.parametrize("beam", [1, 3])
def test_decoding_ends_on_end_token_or_max_length(trained, tiny_vocab, beam):
    model, batch, _, _ = trained
    _report_ends(model, Decoder(model, tiny_vocab, beam).ids(batch))


def test_overfit_model_reproduces_its_training_reports(trained, tiny_vocab):
    model, batch, _, _ = trained
    reports = Decoder(model, tiny_vocab, 3).reports(batch)
    refs = [tiny_vocab.decode_report(r) for r in batch["report"].numpy()]
    hits = sum(a == b for r, g in zip(refs, reports) for a, b in zip(r, g))
    assert hits >= 0.5 * sum(len(r) for r in refs), (model.name, reports, refs)


def test_beam_result_does_not_depend_on_the_rest_of_the_batch(trained, tiny_vocab):
    model, batch, _, _ = trained
    decoder = Decoder(model, tiny_vocab, 3)
    together = decoder.reports(batch)
    alone = [decoder.reports({k: v[i:i + 1] for k, v in batch.items()})[0] for i in range(4)]
    assert together == alone


def test_padded_targets_do_not_change_the_loss(trained):
    from tfreport.models.base import masked_token_loss
    model, batch, _, _ = trained
    out = logits_of(model(batch)).numpy()
    targets = (model.targets(batch) if hasattr(model, "targets") else batch["report"]).numpy()
    pad = targets == PAD_ID
    assert 0 < pad.sum() < pad.size
    noisy = out + pad[..., None] * np.random.default_rng(0).normal(0, 50, out.shape)
    a, b = masked_token_loss(targets, out), masked_token_loss(targets, noisy)
    np.testing.assert_allclose(float(a[0]), float(b[0]), rtol=1e-6)


def test_missing_lateral_view_is_masked(trained):
    model, batch, _, _ = trained
    masked = dict(batch, lateral_present=tf.zeros_like(batch["lateral_present"]))
    other = dict(masked, lateral=tf.random.uniform(tf.shape(batch["lateral"]), 0, 255))
    np.testing.assert_allclose(as_array(model(masked)), as_array(model(other)), atol=1e-5)
    assert not np.allclose(as_array(model(batch)), as_array(model(masked)), atol=1e-5)


def test_unknown_model_lists_the_valid_ones():
    from tfreport.models import model_class
    with pytest.raises(ValueError, match="valid: cnn_rnn, cnn_rnn_att, hier_rnn, m2_transformer, mrna"):
        model_class("transformer")


def test_trigram_blocking_never_repeats_a_trigram(trained, tiny_vocab):
    model, batch, _, _ = trained
    ids = Decoder(model, tiny_vocab, 3, block_trigrams=True).ids(batch)
    rows = ids.reshape(-1, ids.shape[-1]) if model.hierarchical else ids
    for row in rows:
        seq = [int(t) for t in row if t != PAD_ID]
        trigrams = [tuple(seq[i:i + 3]) for i in range(len(seq) - 2)]
        # finished flat reports pad with </S>; only the real text must not repeat
        trigrams = [t for t in trigrams if t != (END_ID, END_ID, END_ID)]
        assert len(trigrams) == len(set(trigrams)), seq


def test_block_repeated_trigrams_bans_exactly_the_repeat():
    from tfreport.decoding import block_repeated_trigrams
    prompt = tf.constant([[0, 5, 6, 7, 5, 6, 2, 2]])
    logits = tf.zeros((1, 10))
    out = block_repeated_trigrams(prompt, tf.constant(6), logits).numpy()[0]
    assert out[7] < -1e8 and (np.delete(out, 7) == 0).all()
