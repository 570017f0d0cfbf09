"""Report diagnostics: exact figures on known inputs, and every table carries them."""
import json

import pytest

from tfreport.metrics import diagnostics, scoring, table
from tfreport.metrics.diagnostics import report_diagnostics

REFS = {"1": "the heart is normal. the lungs are clear.", "2": "no effusion.",
        "3": "small left effusion. heart is enlarged. no pneumothorax."}


def test_one_report_for_every_study_is_not_distinct():
    d = report_diagnostics({k: "the heart is normal." for k in REFS}, REFS)
    assert (d["distinct"], d["unique_reports"], d["studies"]) == (0.0, 1, 3)
    assert d["copied"] is None  # no training reports given


def test_all_different_reports_are_distinct():
    d = report_diagnostics({"1": "a b.", "2": "a c.", "3": "A, b."}, REFS)
    # "A, b." normalises to "a b": the same text as study 1's; only study 2's is unique
    assert (d["distinct"], d["unique_reports"]) == (pytest.approx(1 / 3), 2)
    d = report_diagnostics({"1": "a b.", "2": "a c.", "3": "b c."}, REFS)
    assert (d["distinct"], d["unique_reports"]) == (1.0, 3)


def test_repeated_sentences():
    d = report_diagnostics({"1": "a b. a b."}, REFS)
    assert d["repeated_sentences"] == 0.5 and d["sentences"] == 2
    # one report repeating, one not: 2 of the 5 sentences occur earlier in their report
    d = report_diagnostics({"1": "a b. a b. a b.", "2": "c d. e f."}, REFS)
    assert d["repeated_sentences"] == pytest.approx(2 / 5)
    assert d["sentences"] == 2.5 and d["words"] == 5.0


def test_sentences_as_join_report_writes_them():
    from tfreport.text import join_report
    text = join_report(["the heart is normal", "the heart is normal", "no effusion"])
    assert diagnostics.sentences([text]) == [["the heart is normal", "the heart is normal",
                                              "no effusion"]]
    assert report_diagnostics({"1": text}, REFS)["repeated_sentences"] == pytest.approx(1 / 3)


def test_copied_share_against_the_training_reports():
    preds = {"1": "No effusion.", "2": "no effusion", "3": "heart is enlarged"}
    d = report_diagnostics(preds, REFS, training_reports=["no effusion", "lungs are clear"])
    assert d["copied"] == pytest.approx(2 / 3)  # normalised: "No effusion." is "no effusion"
    assert report_diagnostics(preds, REFS, training_reports=[])["copied"] == 0.0


def test_novel_sentences_against_the_training_sentences():
    """Sentences, not whole reports, are looked up: a new report built from training
    sentences is not novel, while sampled word salad is."""
    training = ["the heart is normal. the lungs are clear.", "no effusion."]
    preds = {"1": "The lungs are clear. No effusion.",  # recombined: nothing novel
             "2": "the heart is normal. heart lungs effusion clear."}  # one made-up sentence
    d = report_diagnostics(preds, REFS, training_reports=training)
    assert d["novel_sentences"] == pytest.approx(1 / 4)
    assert d["copied"] == 0.0  # neither whole report is a training report
    # the references of studies 1 and 2: "the heart is normal", "the lungs are clear",
    # "no effusion", all training sentences
    assert d["ref_novel_sentences"] == 0.0
    assert report_diagnostics(preds, REFS)["novel_sentences"] is None  # no training reports
    assert report_diagnostics({"1": "", "2": ""}, REFS, training)["novel_sentences"] is None


def test_means_and_the_references_means():
    preds = {"1": "the heart is normal.", "2": "no effusion. no pneumothorax.", "3": ""}
    d = report_diagnostics(preds, REFS)
    assert d["sentences"] == 1.0  # (1 + 2 + 0) / 3
    assert d["words"] == pytest.approx(8 / 3)  # (4 + 4 + 0) / 3
    assert d["ref_sentences"] == 2.0  # (2 + 1 + 3) / 3
    assert d["ref_words"] == 6.0  # (8 + 2 + 8) / 3
    empty = report_diagnostics({"1": "", "2": ""}, REFS)  # no sentence at all: no share
    assert (empty["sentences"], empty["words"], empty["repeated_sentences"]) == (0.0, 0.0, None)
    sub = report_diagnostics({"2": "no effusion."}, REFS)  # the same studies only
    assert (sub["ref_sentences"], sub["ref_words"]) == (1.0, 2.0)


def test_text_without_sentence_boundaries():
    # report files from before join_report ended sentences with periods: no boundaries
    joined = {"1": "the heart is normal the lungs are clear", "2": "no effusion"}
    d = report_diagnostics(joined, REFS)
    assert d["sentences"] is None and d["repeated_sentences"] is None
    assert d["words"] == 5.0 and d["ref_sentences"] == 1.5 and d["distinct"] == 1.0


def _scored():
    preds = {"1": "the heart is normal.", "2": "the heart is normal.",
             "3": "small left effusion. small left effusion."}
    return scoring.score(preds, REFS, {"1": True, "2": False, "3": False},
                         metrics=("BLEU-1",), training_reports=["the heart is normal"])


def test_score_carries_the_diagnostics_for_all_and_each_group():
    result = _scored()
    assert result["diagnostics"] == {
        "studies": 3, "sentences": pytest.approx(4 / 3), "ref_sentences": 2.0,
        "words": pytest.approx(14 / 3), "ref_words": 6.0,
        "distinct": pytest.approx(1 / 3), "unique_reports": 2, "copied": pytest.approx(2 / 3),
        "ref_distinct": 1.0, "repeated_sentences": 0.25,
        # "the heart is normal" is a training sentence, "small left effusion" is not; of the
        # references' six sentences only "the heart is normal" is
        "novel_sentences": 0.5, "ref_novel_sentences": pytest.approx(5 / 6)}
    normal, abnormal = result["groups"]["normal"], result["groups"]["abnormal"]
    assert normal["diagnostics"]["studies"] == 1 and normal["diagnostics"]["distinct"] == 1.0
    # each group on its own studies: the two abnormal reports differ
    assert abnormal["diagnostics"]["distinct"] == 1.0
    assert abnormal["diagnostics"]["copied"] == 0.5
    assert abnormal["diagnostics"]["repeated_sentences"] == pytest.approx(1 / 3)
    assert abnormal["diagnostics"]["ref_sentences"] == 2.0


def test_markdown_shows_the_diagnostics():
    text = table.markdown(_scored(), "t")
    assert ("| group | studies | sentences (ref) | words (ref) | distinct | copied | repeated "
            "| novel (ref) |") in text
    assert ("| All | 3 | 1.3333 (2.0000) | 4.6667 (6.0000) | 0.3333 | 0.6667 | 0.2500 "
            "| 0.5000 (0.8333) |") in text
    assert ("| Abnormal | 2 | 1.5000 (2.0000) | 5.0000 (5.0000) | 1.0000 | 0.5000 | 0.3333 "
            "| 0.6667 (1.0000) |") in text
    assert diagnostics.NOTE in text
    no_boundaries = scoring.score({"2": "no effusion"}, REFS, metrics=("BLEU-1",))
    assert "| All | 1 | n/a (1.0000) | 2.0000 (2.0000) | 1.0000 | n/a | n/a | n/a (n/a) |" in \
        table.markdown(no_boundaries)


def test_shape_warnings_name_each_failed_bar():
    names = "abcdefghij"  # the metrics' normalisation drops digits
    refs = {str(i): f"finding {names[i]}. the heart is normal. the lungs are clear."
            for i in range(10)}
    good = report_diagnostics({k: v.replace("heart", "cardiac silhouette") for k, v in
                               refs.items()}, refs)
    assert diagnostics.shape_warnings(good) == []
    # one report for all ten studies (2 sentences against the references' 3, within 25%? no)
    collapsed = diagnostics.shape_warnings(report_diagnostics(
        {k: "the heart is normal. the lungs are clear." for k in refs}, refs))
    assert len(collapsed) == 2
    assert collapsed[0].startswith("only 0.0% of the 10 reports are distinct (bar 30.0%; 1 "
                                   "different texts)")
    assert collapsed[1] == "2.00 sentences a report against the references' 3.00 (bar: " \
                           "within 25%)"
    repeating = diagnostics.shape_warnings(report_diagnostics(
        {k: f"finding {names[int(k)]}. the heart is normal. the heart is normal." for k in refs},
        refs))
    assert repeating == ["33.3% of the sentences repeat an earlier one in the same report "
                         "(bar 5%)"]


def test_templated_references_lower_the_distinct_bar():
    """Where the references themselves repeat (normal templates), a model that repeats as
    they do is not flagged; one that repeats far more is."""
    refs = {str(i): "no acute disease." if i < 8 else f"finding {'ab'[i - 8]}." for i in range(10)}
    same = report_diagnostics(dict(refs), refs)
    assert same["ref_distinct"] == pytest.approx(0.2) and same["distinct"] == pytest.approx(0.2)
    assert diagnostics.shape_warnings(same) == []
    one = report_diagnostics({k: "no acute disease." for k in refs}, refs)
    assert diagnostics.shape_warnings(one)[0].startswith("only 0.0% of the 10 reports are "
                                                         "distinct (bar 10.0%;")


def test_the_distinct_warning_gives_each_groups_share():
    d = {"studies": 4, "distinct": 0.25, "unique_reports": 2, "ref_distinct": 1.0}
    text = diagnostics.shape_warnings(d, {"normal": {"distinct": 0.0},
                                          "abnormal": {"distinct": 0.5}})[0]
    assert "(bar 30.0%; 2 different texts; normal 0.0%, abnormal 50.0%)" in text


def test_markdown_warns_under_a_collapsed_table():
    refs = {str(i): f"finding {'abcdef'[i]}. the heart is normal." for i in range(6)}
    collapsed = scoring.score({k: "the heart is normal. finding a." for k in refs}, refs,
                              metrics=("BLEU-1",))
    text = table.markdown(collapsed)
    assert "**Warning:** only 0.0% of the 6 reports are distinct" in text
    assert diagnostics.DECODING_HINT in text
    fine = scoring.score(dict(refs), refs, metrics=("BLEU-1",))
    assert "Warning" not in table.markdown(fine)
    # reports already chosen by MBR: the warning stays, the hint to use MBR goes
    collapsed["mbr_samples"] = 8
    text = table.markdown(collapsed)
    assert "**Warning:** only 0.0%" in text and diagnostics.DECODING_HINT not in text


def test_evaluate_writes_the_diagnostics(tmp_path, monkeypatch):
    """evaluate(): the diagnostics, copied against the data directory's training reports,
    reach the metrics files (decoding itself stubbed out)."""
    from tfreport import evaluation
    from tfreport.text import join_report
    data = tmp_path / "data"
    data.mkdir()
    entry = {"a": ["no effusion"], "b": ["the heart is normal", "lungs are clear"],
             "t1": ["no effusion"], "t2": ["heart is enlarged"]}
    json.dump(entry, open(data / "data_entry.json", "w"))
    json.dump(["t1", "t2"], open(data / "train_split.json", "w"))
    json.dump(["a", "b"], open(data / "test_split.json", "w"))
    from tfreport.data.records import SCHEMA_VERSION
    json.dump({"schema_version": SCHEMA_VERSION, "dataset": "demo", "shards": {}},
              open(data / "summary.json", "w"))
    json.dump({"a": {"split": "test", "normal": 0, "labels": {}},
               "b": {"split": "test", "normal": 1, "labels": {}}},
              open(data / "studies.json", "w"))  # normal flags, as a build writes them
    decoded = {"a": join_report(["no effusion"]),
               "b": join_report(["no effusion", "no effusion"])}
    monkeypatch.setattr(evaluation, "decode_split",
                        lambda *a, **k: ({"model": "stub"}, str(data), None, decoded))
    model_dir = tmp_path / "m"
    model_dir.mkdir()
    result = evaluation.evaluate(str(model_dir), str(data), "test")
    d = result["diagnostics"]
    assert (d["sentences"], d["ref_sentences"], d["copied"], d["distinct"]) == (1.5, 1.5, 0.5, 1.0)
    assert d["repeated_sentences"] == pytest.approx(1 / 3)
    assert result["groups"]["normal"]["diagnostics"]["copied"] == 0.0
    assert json.load(open(model_dir / "metrics_test.json"))["diagnostics"] == d
    assert "| All | 2 | 1.5000 (1.5000) |" in open(model_dir / "metrics_test.md").read()
    assert json.load(open(model_dir / "predictions_test.json")) == decoded
