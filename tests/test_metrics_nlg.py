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


def _random_corpus(seed, n=30):
    import random
    rng = random.Random(seed)
    words = "the heart is normal no pleural effusion pneumothorax lungs are clear mild".split()
    make = lambda: " ".join(rng.choice(words) for _ in range(rng.randint(3, 15)))  # noqa: E731
    return {str(i): make() for i in range(n)}, {str(i): make() for i in range(n)}


@pytest.mark.parametrize("seed", [0, 1])
def test_identical_to_pycocoevalcap(seed):
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    preds, refs = _random_corpus(seed)
    ours = nlg.score(preds, refs)
    res = {k: [v] for k, v in preds.items()}
    gts = {k: [v] for k, v in refs.items()}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    for n in range(4):
        assert ours[f"BLEU-{n + 1}"] == pytest.approx(bleu[n], abs=1e-4)
    assert ours["ROUGE-L"] == pytest.approx(Rouge().compute_score(gts, res)[0], abs=1e-4)
    assert ours["CIDEr"] == pytest.approx(Cider().compute_score(gts, res)[0], abs=1e-4)
    if nlg.java_available():
        assert ours["METEOR"] == pytest.approx(Meteor().compute_score(gts, res)[0], abs=1e-3)


def test_meteor_input_is_sanitised():
    if not nlg.java_available():
        pytest.skip("METEOR needs Java")
    s = nlg.score({"1": "no effusion |||\nseen"}, {"1": "no effusion seen"}, metrics=("METEOR",))
    assert s["METEOR"] > 0.9


def test_without_java_meteor_is_left_out_with_a_warning(monkeypatch, caplog):
    monkeypatch.setattr(nlg, "java_available", lambda: False)
    s = nlg.score({"1": "a b c"}, {"1": "a b c"})
    assert "METEOR" not in s and "BLEU-4" in s
    assert "METEOR needs Java" in caplog.text


def test_per_report_scores():
    preds = {"1": "no pleural effusion", "2": "heart is enlarged"}
    refs = {"1": "no pleural effusion", "2": "lungs are clear"}
    per = nlg.per_report(preds, refs)
    assert per["1"]["BLEU-1"] == pytest.approx(1.0, abs=1e-4)
    assert per["2"]["ROUGE-L"] == 0.0


def test_rouge_l_known_value_uses_coco_beta():
    # LCS("a b", "a b c d") = 2: P = 1, R = 0.5; coco's F with beta = 1.2
    s = nlg.score({"1": "alpha beta"}, {"1": "alpha beta gamma delta"}, metrics=("ROUGE-L",))
    assert s["ROUGE-L"] == pytest.approx((1 + 1.44) * 1 * 0.5 / (0.5 + 1.44 * 1), abs=1e-6)


def test_rouge_score_stemmed_known_values():
    """rouge-score's ROUGE-L, stemmed: "lungs" and "lung" match, beta is 1 (plain F1)."""
    preds = {"1": "the lungs are clear", "2": "heart is enlarged"}
    refs = {"1": "lung clear", "2": "lungs are clear"}
    per = nlg.rouge_l_stemmed_per_report(preds, refs)
    # LCS("the lung are clear", "lung clear") = 2: P = 2/4, R = 2/2, F = 2PR/(P+R) = 2/3
    assert per["1"] == pytest.approx(2 / 3, abs=1e-9)
    assert per["2"] == 0.0
    assert nlg.rouge_l_stemmed(preds, refs) == pytest.approx(1 / 3, abs=1e-9)
    # without the stemmer "lungs" / "lung" would not match: LCS 1, F = 2 * 1/4 * 1/2 / (3/4)
    from rouge_score import rouge_scorer
    plain = rouge_scorer.RougeScorer(["rougeL"]).score("lung clear", "the lungs are clear")
    assert plain["rougeL"].fmeasure == pytest.approx(1 / 3, abs=1e-9)


def test_evaluate_tables_carry_the_stemmed_rouge_column_with_an_interval():
    from tfreport.metrics import scoring, table
    preds = {str(i): t for i, t in enumerate(["the lungs are clear", "heart is enlarged",
                                              "no effusion", "normal heart size"])}
    refs = {str(i): t for i, t in enumerate(["lung clear", "lungs are clear", "no effusion",
                                             "the heart is normal in size"])}
    result = scoring.score(preds, refs, bootstrap=50)
    assert result[nlg.ROUGE_STEMMED] == pytest.approx(
        nlg.rouge_l_stemmed(preds, refs), abs=1e-9)
    lo, hi = result["ci"][nlg.ROUGE_STEMMED]
    assert lo <= result[nlg.ROUGE_STEMMED] <= hi
    md = table.markdown(result)
    assert md.splitlines()[0].endswith("| CE-F1 | ROUGE-L (rouge-score) |")
