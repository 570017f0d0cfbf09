"""Image-free baselines on a small fixture in the legacy and R2Gen formats."""
import csv
import json
import os

import pytest

from tfreport.data import iu_xray_text
from tfreport.experiments import text_benchmark as tb
from tfreport.metrics.nlg import BLEU

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


@pytest.fixture(scope="module")
def fixture(tmp_path_factory):
    root = tmp_path_factory.mktemp("text")
    reports = ["the heart is normal", "no pleural effusion", "the heart is enlarged",
               "small left effusion", "lungs are clear"]
    entry, mesh = {}, {}
    for uid in range(1, 31):
        entry[f"CXR{uid}"] = [reports[uid % 5], f"finding number {uid}"]
        mesh[str(uid)] = "normal" if uid % 3 == 0 else "No Indexing" if uid == 7 else "Cardiomegaly"
    entry["CXR1"] = entry["CXR2"] = ["the heart is normal", "lungs are clear"]
    legacy = root / "legacy"
    legacy.mkdir()
    json.dump(entry, open(legacy / "data_entry.json", "w"))
    json.dump([f"CXR{u}" for u in range(1, 21)], open(legacy / "train_split.json", "w"))
    json.dump([f"CXR{u}" for u in range(21, 31)], open(legacy / "test_split.json", "w"))
    with open(root / "indiana_reports.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["uid", "MeSH"])
        w.writerows(sorted(mesh.items()))
    ann = {name: [{"id": f"CXR{u}_IM-{u:04d}", "report": ". ".join(entry[f"CXR{u}"]) + ".",
                   "split": name} for u in ids]
           for name, ids in (("train", range(1, 16)), ("val", range(16, 21)),
                             ("test", range(21, 31)))}
    json.dump(ann, open(root / "annotation.json", "w"))
    return root


def test_splits_and_floors(fixture):
    legacy = iu_xray_text.legacy_text_split(str(fixture / "legacy"), str(fixture / "indiana_reports.csv"))
    r2gen = iu_xray_text.r2gen_text_split(str(fixture / "annotation.json"), str(fixture / "indiana_reports.csv"))
    assert (len(legacy.train), len(legacy.test)) == (20, 10)
    assert (len(r2gen.train), len(r2gen.test)) == (15, 10)
    assert legacy.normal == {f"CXR{u}": u % 3 == 0 for u in range(21, 31)}
    mf = tb.most_frequent(legacy)
    assert set(mf.values()) == {"the heart is normal. lungs are clear."}  # CXR1 and CXR2 agree
    assert tb.random_report(legacy, 3) == tb.random_report(legacy, 3)
    assert tb.random_report(legacy, 3) != tb.random_report(legacy, 4)

    rows = tb.run([legacy, r2gen], seeds=2, bootstrap=30, boot_seed=0)
    assert len(rows) == 2 * 2 * 2  # splits x scorings x baselines
    # the same seeds give the same rows, whether one process scores them or two
    again = tb.run([legacy], seeds=2, bootstrap=30, boot_seed=0, workers=2)
    assert again == rows[:4]
    for r in rows:
        all_ = r["groups"]["All"]
        assert all_["studies"] == 10
        assert r["groups"]["Normal"]["studies"] + r["groups"]["Abnormal"]["studies"] == 10
        for col, (low, high) in all_["ci"].items():
            if r["seeds"] is None:  # the interval is around the very figure reported
                assert low <= all_[col] <= high, col
    table = tb.markdown(rows)
    assert "| most frequent training report | All |" in table
    assert "| legacy 20/10 (impression + findings) | default | references (test) | All | 10 |" \
        in table
    mf = rows[0]["groups"]["All"]["diagnostics"]
    assert mf["sentences"] == 2 and mf["copied"] == 1.0 and mf["distinct"] == 0.0
    assert mf["ref_sentences"] == 2  # every fixture report has two sentences
    random_ = rows[1]["groups"]["All"]["diagnostics"]
    assert random_["copied"] == 1.0 and random_["copied_sd"] == 0.0


@pytest.mark.skipif(not os.path.exists(os.path.join(SHARED, "iu_xray_legacy")),
                    reason="the real IU X-Ray reports are not in ../shared/data")
def test_real_splits_have_the_published_sizes():
    csv_path = os.path.join(SHARED, "iu_xray", "indiana_reports.csv")
    legacy = iu_xray_text.legacy_text_split(os.path.join(SHARED, "iu_xray_legacy"), csv_path)
    r2gen = iu_xray_text.r2gen_text_split(os.path.join(SHARED, "iu_xray", "annotation.json"), csv_path)
    assert (len(legacy.train), len(legacy.test)) == (2811, 300)
    assert len(r2gen.test) == 590 and r2gen.description.startswith("R2Gen 2,069/296/590")


def _blind_run(root, split, model, predictions, image_blind=True):
    run = root / "runs" / split / model
    run.mkdir(parents=True)
    json.dump(predictions, open(run / "predictions_test.json", "w"))
    json.dump({"model": model, "preset": "legacy",
               "model_config": {"image_blind": image_blind},
               "train_config": {"epochs": 50, "learning_rate": 1e-3}}, open(run / "config.json", "w"))
    json.dump([{"epoch": e} for e in range(1, 4)], open(run / "history.json", "w"))
    return root / "runs"


def test_image_blind_rows_score_like_the_floors(fixture):
    legacy = iu_xray_text.legacy_text_split(str(fixture / "legacy"), str(fixture / "indiana_reports.csv"))
    best = next(iter(tb.most_frequent(legacy).values()))
    # the prepared build's ids carry the same uids; a blind model writing the most frequent
    # report must score exactly like the most-frequent row
    runs = _blind_run(fixture, "legacy", "cnn_rnn", {f"CXR{u}": best for u in range(21, 31)})
    blind = {"legacy": tb.load_blind_runs(str(runs), "legacy")}
    assert blind["legacy"][0].label == "image-blind CNN-RNN (legacy preset, 3 epochs, lr 0.001)"
    # evaluate.py's metrics_test.json names the decoding of the predictions beside it
    json.dump({"beam_size": 3, "mbr_samples": 8, "temperature": 1.0, "mbr_no_repeat": True,
               "no_repeat": False}, open(runs / "legacy" / "cnn_rnn" / "metrics_test.json", "w"))
    assert tb.load_blind_runs(str(runs), "legacy")[0].label == (
        "image-blind CNN-RNN (legacy preset, 3 epochs, lr 0.001; MBR over beam 3 + 8 samples "
        "at T 1, no repeated sentence)")
    # search options away from their defaults are named too
    from tfreport.evaluation import decoding_label
    assert decoding_label({"beam_size": 4, "no_repeat": True, "block_trigrams": True,
                         "length_penalty": 0.6}) == (
        "beam 4, search without repeats, trigram blocking, length penalty 0.6")
    assert decoding_label({"beam_size": 3, "block_trigrams": False, "length_penalty": 0.0}) == "beam 3"
    rows = tb.run([legacy], seeds=2, bootstrap=30, boot_seed=0, blind=blind)
    assert len(rows) == 2 * 3  # scorings x (two floors + one model)
    for scoring_rows in (rows[:3], rows[3:]):
        mf, _, model = scoring_rows
        assert model["label"].startswith("image-blind CNN-RNN")
        assert model["groups"] == mf["groups"]
        d = mf["groups"]["All"]["diagnostics"]
        assert (d["distinct"], d["unique_reports"], d["copied"], d["sentences"]) == (0.0, 1, 1.0, 2)
    # a predictions file written before report strings ended sentences with periods: the
    # same scores, but no sentence boundaries to count
    blind["legacy"][0].predictions = {k: v.replace(".", "")
                                      for k, v in blind["legacy"][0].predictions.items()}
    mf, _, model = tb.run([legacy], seeds=1, bootstrap=0, blind=blind)[:3]
    for name, block in model["groups"].items():
        expected = mf["groups"][name]
        assert block["diagnostics"] == {**expected["diagnostics"], "sentences": None,
                                        "repeated_sentences": None, "novel_sentences": None}
        assert {c: block[c] for c in BLEU} == {c: expected[c] for c in BLEU}
    assert "| n/a |" in tb.markdown([model])


def test_image_blind_rows_refuse_incomplete_or_sighted_runs(fixture, tmp_path):
    legacy = iu_xray_text.legacy_text_split(str(fixture / "legacy"), str(fixture / "indiana_reports.csv"))
    runs = _blind_run(tmp_path, "legacy", "mrna", {f"CXR{u}": "x" for u in range(21, 29)})
    with pytest.raises(ValueError, match="no prediction for 2 of the 10 legacy test studies"):
        tb.run([legacy], seeds=1, bootstrap=0, blind={"legacy": tb.load_blind_runs(str(runs), "legacy")})
    sighted = _blind_run(tmp_path / "s", "legacy", "mrna", {}, image_blind=False)
    with pytest.raises(ValueError, match="not an image-blind run"):
        tb.load_blind_runs(str(sighted), "legacy")
    assert tb.load_blind_runs(str(tmp_path / "nothing"), "legacy") == []


def test_a_partial_rerun_carries_the_other_models_rows(fixture, tmp_path):
    legacy = iu_xray_text.legacy_text_split(str(fixture / "legacy"), str(fixture / "indiana_reports.csv"))
    runs = _blind_run(tmp_path, "legacy", "cnn_rnn", {f"CXR{u}": "the heart is normal." for u in range(21, 31)})
    blind = {"legacy": tb.load_blind_runs(str(runs), "legacy")}
    first = tb.run([legacy], seeds=1, bootstrap=0, blind=blind)
    # an earlier table, per scoring: CNN-RNN (rerun now) and CNN-RNN-Att and MRNA (not
    # rerun), the latter in the older format that named rows "baseline"; and a row of
    # another split
    earlier = []
    for old_cnn in (r for r in first if r.get("model") == "cnn_rnn"):
        att = {**old_cnn, "label": old_cnn["label"].replace("CNN-RNN", "CNN-RNN-Att"),
               "model": "cnn_rnn_att"}
        mrna = {k: v for k, v in old_cnn.items() if k not in ("label", "model")}
        mrna["baseline"] = "image-blind MRNA (legacy preset, 4 epochs, lr 0.002)"
        earlier += [dict(old_cnn, groups={}), att, mrna, {**att, "split": "R2Gen elsewhere"}]
    rows = tb.run([legacy], seeds=1, bootstrap=0, blind=blind, earlier=earlier)
    for scoring in tb.SCORINGS:
        models = [r for r in rows if r["scoring"] == scoring and tb.blind_model(r)]
        assert [r["model"] for r in models] == ["cnn_rnn", "cnn_rnn_att", "mrna"]
        fresh, carried_att, carried_mrna = models
        assert not fresh.get("carried") and fresh["groups"]  # recomputed, not the earlier row
        assert carried_att["carried"] and carried_att["label"].endswith(tb.CARRIED)
        assert carried_mrna["label"] == "image-blind MRNA (legacy preset, 4 epochs, lr 0.002)" + tb.CARRIED
        assert "baseline" not in carried_mrna
    assert sum(1 for r in rows if r.get("carried")) == 2 * len(tb.SCORINGS)
    # carrying twice does not stack the suffix
    again = tb.run([legacy], seeds=1, bootstrap=0, blind=blind, earlier=rows)
    assert [r["label"] for r in again] == [r["label"] for r in rows]
    assert "carried from the previous table" in tb.markdown(rows)
