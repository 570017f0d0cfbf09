import math

import pytest

from tfreport.metrics import nlg


def test_bleu_known_values():
    s = nlg.score({"a": "the cat sat on the mat"}, {"a": "the cat is on the mat"},
                  metrics=nlg.BLEU)
    assert s["BLEU-1"] == pytest.approx(5 / 6, abs=1e-4)
    assert s["BLEU-2"] == pytest.approx(math.sqrt(5 / 6 * 3 / 5), abs=1e-4)


def test_identical_corpus_scores_one():
    refs = {"1": "the heart is normal in size", "2": "no pleural effusion or pneumothorax"}
    s = nlg.score(refs, refs, metrics=nlg.BLEU + ("ROUGE-L",))
    assert s["BLEU-4"] == pytest.approx(1.0, abs=1e-4)
    assert s["ROUGE-L"] == pytest.approx(1.0, abs=1e-6)


def test_text_is_normalised_before_scoring():
    a = nlg.score({"1": "No pleural effusion."}, {"1": "no pleural effusion"}, metrics=("BLEU-1",))
    assert a["BLEU-1"] == pytest.approx(1.0, abs=1e-4)


def test_empty_prediction_is_scored_as_empty():
    s = nlg.score({"1": "", "2": "no pleural effusion"},
                  {"1": "heart is normal", "2": "no pleural effusion"},
                  metrics=("BLEU-1", "ROUGE-L", "CIDEr"))
    assert 0 < s["ROUGE-L"] < 1 and s["ROUGE-L"] == pytest.approx(0.5, abs=1e-6)


def test_missing_reference_is_an_error():
    with pytest.raises(KeyError, match="no reference"):
        nlg.score({"1": "a b"}, {"2": "a b"})
