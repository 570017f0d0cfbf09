"""Minimum-Bayes-risk report choice and sampled decoding."""
import numpy as np
import pytest

from tfreport.mbr import agreement, choose, says_a_sentence_twice

NORMAL = ["no acute cardiopulmonary abnormality", "the lungs are clear"]
CARDIO_A = ["mild cardiomegaly", "the lungs are clear"]
CARDIO_B = ["the heart is enlarged", "no focal consolidation"]


def test_agreement_known_values():
    assert agreement(NORMAL, NORMAL) == pytest.approx(2.0)
    # labels: No Finding vs Cardiomegaly (F1 0); words: "the lungs are clear" shared:
    # 4 shared words of 8 and 6 -> F1 2*4/14
    assert agreement(NORMAL, CARDIO_A) == pytest.approx(0.0 + 8 / 14)


def test_choose_follows_the_findings_most_candidates_state():
    # the searched report (first) is normal; two of three samples state cardiomegaly in
    # different words: the choice states cardiomegaly
    chosen = choose([NORMAL, CARDIO_A, CARDIO_B, CARDIO_A])
    assert chosen == CARDIO_A
    assert choose([NORMAL]) == NORMAL
    assert choose([NORMAL, NORMAL, CARDIO_A]) == NORMAL  # ties and majorities keep order


def test_a_candidate_that_repeats_itself_is_chosen_only_when_all_do():
    # the repeating report agrees most (it states what the others state, and more of it),
    # so plain MBR picks it; with avoid_repeats the best non-repeating candidate wins
    looping = ["mild cardiomegaly", "the lungs are clear", "the lungs are clear",
               "The lungs are clear."]
    assert says_a_sentence_twice(looping) and not says_a_sentence_twice(CARDIO_A)
    assert not says_a_sentence_twice([])
    pool = [NORMAL, looping, CARDIO_A, looping, CARDIO_B]
    assert choose(pool) == looping
    assert choose(pool, avoid_repeats=True) == CARDIO_A
    # evidence still counts: the repeating candidates' cardiomegaly outvotes the normal one
    assert choose([NORMAL, looping, looping, CARDIO_B], avoid_repeats=True) == CARDIO_B
    # nothing else to choose: the repeating candidate stays
    assert choose([looping, looping], avoid_repeats=True) == looping


def test_mbr_avoids_repeats_for_hierarchical_models_only(tiny_data, tiny_vocab, monkeypatch):
    import keras
    from model_helpers import tiny_batch, tiny_model
    from tfreport import mbr
    from tfreport.decoding import Decoder
    asked = []
    real = mbr.choose
    monkeypatch.setattr(mbr, "choose", lambda c, avoid_repeats=False: asked.append(avoid_repeats) or real(c, avoid_repeats))
    keras.utils.set_random_seed(0)
    for name, flag, want in (("mrna", True, True), ("mrna", False, False), ("cnn_rnn", True, False)):
        model = tiny_model(name, len(tiny_vocab))
        asked.clear()
        Decoder(model, tiny_vocab, 1, mbr_samples=2, mbr_no_repeat=flag).reports(
            tiny_batch(tiny_data, model))
        assert asked and set(asked) == {want}, (name, flag)


def test_sampled_decoding_ends_properly_and_mbr_returns_a_candidate(tiny_data, tiny_vocab):
    import keras
    from model_helpers import tiny_batch, tiny_model
    from tfreport.decoding import Decoder
    keras.utils.set_random_seed(0)
    for name in ("mrna", "cnn_rnn"):
        model = tiny_model(name, len(tiny_vocab))
        batch = tiny_batch(tiny_data, model)
        plain = Decoder(model, tiny_vocab, 2)
        mbr = Decoder(model, tiny_vocab, 2, mbr_samples=3, seed=0)
        samples = [mbr._sample_fn({k: batch[k] for k in ("frontal", "lateral", "lateral_present")})
                   .numpy() for _ in range(2)]
        assert not np.array_equal(samples[0], samples[1])  # draws differ (random weights)
        reports = mbr.reports(batch)
        assert len(reports) == len(plain.reports(batch))
        for r in reports:
            assert all(s for s in r) and len(r) <= model.config.max_sentences
