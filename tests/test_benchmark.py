"""benchmark.py --quick: every row trains, is scored for All/Normal/Abnormal, and the four
output files agree with each other; --reuse picks finished rows up."""
import csv
import json
import os
import subprocess
import sys

import pytest

from tfreport.metrics.table import COLUMNS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROWS = ["cnn_rnn", "cnn_rnn_att", "hier_rnn", "mrna", "m2_transformer (ResNet50)",
        "m2_transformer (DenseNet121)", "m2_transformer (dual)", "most frequent training report"]
# The rows the quick run trains: every model once. The dual row builds and trains both
# extractors, so the single-extractor M2 rows (each a full ResNet50 or DenseNet121, most of
# the run's minutes) are checked without training: test_the_default_rows_and_their_commands.
TRAINED = ["cnn_rnn", "cnn_rnn_att", "hier_rnn", "mrna", "m2_transformer-dual", "most_frequent"]
TRAINED_LABELS = [label for label in ROWS if "ResNet50)" not in label and "DenseNet121)" not in label]


def bench(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "benchmark.py"),
                           *map(str, args)], capture_output=True, text=True, timeout=1200)


@pytest.mark.slow  # 5-6 min; the quick benchmark still trains in the blind-rows and SCST tests
def test_quick_benchmark_writes_one_table(tiny_data, tmp_path):
    out = str(tmp_path / "bench")
    run = bench("--quick", "--data_dir", tiny_data, "--out", out, "--quiet", "--models", *TRAINED)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.load(open(os.path.join(out, "results.json")))
    rows = result["rows"]
    assert [r["label"] for r in rows] == TRAINED_LABELS
    n_test = len(json.load(open(os.path.join(tiny_data, "test_split.json"))))
    for r in rows:
        groups = r["groups"]
        assert groups["All"]["studies"] == n_test
        assert groups["Normal"]["studies"] + groups["Abnormal"]["studies"] == n_test
        for col in COLUMNS:
            assert 0.0 <= groups["All"][col] <= 10.0, (r["label"], col)
        if r["model"]:
            assert r["train_seconds"] > 0 and r["reports_per_second"] > 0
            assert r["commands"][0].startswith("python scripts/train.py --model " + r["model"])
            assert r["config"]["model"] == r["model"]
    # every recorded command parses with train.py's own parser into what the row trained
    import shlex
    from tfreport.commands.train import parse
    for r in rows:
        if not r["model"]:
            continue
        words = shlex.split(r["commands"][0])
        assert words[:2] == ["python", "scripts/train.py"]
        spec, model_over, train_over, _ = parse(words[2:])
        assert spec.model == r["model"] and spec.data_dir == tiny_data
        mc, tc = r["config"]["model_config"], r["config"]["train_config"]
        assert model_over and all(mc[k] == v for k, v in model_over.items()), r["label"]
        assert all(tc[k] == v for k, v in train_over.items()), r["label"]
        assert model_over["backbone_width"] == 8  # --quick's, through --model_option
    by_label = {r["label"]: r for r in rows}
    assert by_label["m2_transformer (dual)"]["config"]["model_config"]["backbone"] == "dual"
    assert by_label["m2_transformer (dual)"]["weights"].startswith("ResNet50: random init")
    assert by_label["most frequent training report"]["train_seconds"] is None

    # the most-frequent row is exactly that report, scored as the table says
    from tfreport.experiments import baselines
    from tfreport.metrics import nlg
    preds = json.load(open(os.path.join(out, "runs", "most_frequent", "seed0",
                                        "predictions_test.json")))
    assert set(preds.values()) == {baselines.most_frequent_report(tiny_data)}
    from tfreport.evaluation import references
    bleu4 = nlg.score(preds, references(tiny_data, "test"), metrics=("BLEU-4",))["BLEU-4"]
    assert abs(by_label["most frequent training report"]["groups"]["All"]["BLEU-4"] - bleu4) < 1e-9
    diag = by_label["most frequent training report"]["groups"]["All"]["diagnostics"]
    assert (diag["distinct"], diag["copied"]) == (0.0, 1.0)  # one training report for all
    for r in rows:
        assert set(r["groups"]["All"]["diagnostics"]) >= {
            "sentences", "words", "distinct", "copied", "repeated_sentences", "ref_sentences"}

    table = open(os.path.join(out, "results.md")).read()
    for label in TRAINED_LABELS:
        assert f"| {label} |" in table
    assert "reported, not run here" in table and "| legacy project (TF1) | MRNA |" in table
    assert "![CE-F1 per condition](ce_f1_per_condition.png)" in table
    assert "| references (test) |  | All |" in table
    assert "| CE-F1 | sentences | words | distinct | copied | repeated | training |" in table
    with open(os.path.join(out, "results.csv")) as f:
        csv_rows = list(csv.DictReader(f))
    assert len(csv_rows) == 3 * len(TRAINED_LABELS)
    assert float(csv_rows[0]["BLEU-4"]) == rows[0]["groups"]["All"]["BLEU-4"]
    assert float(csv_rows[0]["distinct"]) == rows[0]["groups"]["All"]["diagnostics"]["distinct"]
    assert open(os.path.join(out, "ce_f1_per_condition.png"), "rb").read(4) == b"\x89PNG"

    page = tmp_path / "page"
    again = bench("--quick", "--data_dir", tiny_data, "--out", out, "--reuse", "--quiet",
                  "--models", "cnn_rnn", "cnn_rnn_att", "most_frequent", "--html", page,
                  "--html_limit", 3)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "cnn_rnn] seed 0: reusing" in again.stdout
    assert json.load(open(os.path.join(out, "results.json")))["rows"][0]["groups"] == \
        rows[0]["groups"]
    # --html: one review page over the rows' runs (the floor has no model to show)
    html = open(page / "index.html", encoding="utf-8").read()
    assert html.count('<section class="study"') == 2 * 3
    assert html.count('data-model="cnn_rnn"') == 3 and html.count('data-model="cnn_rnn_att"') == 3
    assert "2 runs" in again.stdout


def test_the_default_rows_and_their_commands(tiny_data, tmp_path):
    """With no --models the benchmark runs the five models (M2 with each extractor and both)
    and the floor; each M2 row's recorded command trains the extractor its label names."""
    import shlex
    from tfreport.commands.train import parse
    from tfreport.experiments import benchmark as b
    rows = b.default_rows(densenet_weights="pretrained/dn")
    assert [r.label for r in rows] == ROWS
    s = b.Settings(data_dir=tiny_data, out=str(tmp_path), preset="demo")
    wanted = {"m2_transformer (ResNet50)": ("resnet50", "none", None),
              "m2_transformer (DenseNet121)": ("densenet121", "pretrained/dn", None),
              "m2_transformer (dual)": ("dual", "none", "pretrained/dn")}
    for row in rows:
        if row.label not in wanted:
            continue
        words = shlex.split(shlex.join(b.train_command(row, s, 0, str(tmp_path / row.key))))
        spec, model_over, _, _ = parse(words[2:])
        backbone, weights, dual = wanted[row.label]
        assert spec.model == "m2_transformer" and model_over["backbone"] == backbone
        assert model_over["backbone_weights"] == weights
        assert model_over.get("backbone_weights_dual") == dual
        assert row.control is None  # no --blind, no image-blind variant


def test_hierarchical_rows_name_their_no_repeat_decoding(tmp_path):
    """MRNA and Hier-RNN rows decode by MBR without repeating candidates and say so, so a
    record decoded before (or with --mbr_no_repeat false) is not reused as this decoding."""
    from tfreport.experiments import benchmark as b
    rows = {r.key: r for r in b.default_rows(blind=True)}
    s = b.Settings(data_dir="d", out=str(tmp_path), mbr_samples=8)
    named = {k: b.decoding_name(3, 8, 1.0, b._mbr_no_repeat(r, s)) for k, r in rows.items()}
    for key in ("mrna", "hier_rnn", "mrna-blind", "hier_rnn-blind"):
        assert named[key] == "MBR over beam 3 + 8 samples at T 1, no repeated sentence"
    for key in ("cnn_rnn", "cnn_rnn_att", "m2_transformer-dual", "cnn_rnn-blind"):
        assert named[key] == "MBR over beam 3 + 8 samples at T 1"
    s.mbr_no_repeat = False
    assert not b._mbr_no_repeat(rows["mrna"], s) and not b._mbr_no_repeat(rows["most_frequent"], s)
    assert b.decoding_name(3, 0, 1.0, True) == "beam 3"


def test_scst_rows_decode_at_their_nll_rows_temperature(tmp_path):
    """A +SCST row samples its MBR candidates at its NLL row's --row_temperature, so the two
    rows differ only in weights; its own entry, if given, wins."""
    from tfreport.experiments import benchmark as b
    s = b.Settings(data_dir="d", out=str(tmp_path), mbr_samples=8, temperature=1.0,
                   row_temperatures={"cnn_rnn_att": 1.2})
    assert s.temperature_for("cnn_rnn_att+scst") == 1.2
    assert s.temperature_for("cnn_rnn_att+scst-frozen") == 1.2
    assert s.temperature_for("cnn_rnn+scst") == 1.0 and s.temperature_for("mrna") == 1.0
    s.row_temperatures["cnn_rnn_att+scst"] = 0.7
    assert s.temperature_for("cnn_rnn_att+scst") == 0.7
    # and what the record says the extractor did
    small = {"backbone": "small", "backbone_weights": None, "trainable_backbone": True}
    assert b.weight_source(small) == "small: random init (fine-tuned)"
    assert b.weight_source(small, {"freeze_backbone": True}) == (
        "small: random init (fine-tuned in NLL, fixed in SCST)")
    assert b.weight_source(dict(small, trainable_backbone=False),
                           {"freeze_backbone": True}) == "small: random init (frozen)"


def test_scst_argv_passes_switches_only_when_set(tmp_path):
    """--scst_freeze_backbone reaches scst.py as a bare switch; left out, the command is the
    one earlier records hold (so they are still reused)."""
    from tfreport.experiments import benchmark as b
    row = next(r for r in b.with_scst_rows(b.default_rows()) if r.key == "cnn_rnn+scst")
    s = b.Settings(data_dir="d", out=str(tmp_path), scst={"reward": "cider:1"})
    plain = b.scst_argv(row, s, 0, "m")
    assert "--freeze_backbone" not in plain and "--reward" in plain
    s.scst["freeze_backbone"] = True
    frozen = b.scst_argv(row, s, 0, "m")
    assert frozen[-1] == "--freeze_backbone" and frozen[:-1] == plain
    # the fixed-extractor rows are keyed apart, so their records never replace the plain ones
    keys = {r.key: r for r in b.with_scst_rows(b.default_rows(), frozen_backbone=True)}
    assert "cnn_rnn+scst" not in keys and keys["cnn_rnn+scst-frozen"].scst_from == "cnn_rnn"
    assert keys["cnn_rnn+scst-frozen"].label == "cnn_rnn +SCST (extractor fixed)"


def test_val_metric_reaches_every_nll_row_and_not_scst(tmp_path):
    """--val_metric CE-F1 is in each NLL row's recorded train.py command (so a record made
    under BLEU-4 selection is never reused as this one) and train.py reads it back; a +SCST
    row keeps its own --scst_val_metric."""
    from tfreport.commands.train import parse
    from tfreport.experiments import benchmark as b
    rows = b.with_scst_rows(b.default_rows(densenet_weights="dn", blind=True,
                                           baseline_backbone="densenet121"))
    plain = b.Settings(data_dir="d", out=str(tmp_path), preset="demo")
    chosen = b.Settings(data_dir="d", out=str(tmp_path), preset="demo",
                        train_overrides={"val_metric": "CE-F1"})
    for row in rows:
        if row.model is None:
            continue  # the floor trains nothing
        if row.scst_from:
            argv = b.scst_argv(row, chosen, 0, "m")
            assert argv[argv.index("--val_metric") + 1] == "CIDEr", row.key
            continue
        before = b.train_command(row, plain, 0, "m")
        after = b.train_command(row, chosen, 0, "m")
        assert "--val_metric" not in before and after != before, row.key
        _, _, train_over, _ = parse(after[2:])
        assert train_over["val_metric"] == "CE-F1", row.key
    run = bench("--out", str(tmp_path), "--val_metric", "BLEU")
    assert run.returncode == 2 and "--val_metric" in run.stderr


def test_a_resumed_rows_training_time_is_its_whole_history(tmp_path):
    """A row continued in a later session reports the sum of its epochs' wall times; a run
    whose history predates them reports none, never the resumed call's few seconds."""
    from tfreport.experiments.benchmark import _history_seconds
    assert _history_seconds(str(tmp_path)) is None
    history = [{"epoch": 1, "seconds": 30.0}, {"epoch": 2, "seconds": 12.5}]
    (tmp_path / "history.json").write_text(json.dumps(history))
    assert _history_seconds(str(tmp_path)) == 42.5
    history.append({"epoch": 3})
    (tmp_path / "history.json").write_text(json.dumps(history))
    assert _history_seconds(str(tmp_path)) is None


def test_kept_epoch_is_the_last_epoch_flagged_best(tmp_path):
    from tfreport.experiments.benchmark import kept_epoch
    assert kept_epoch(str(tmp_path)) is None
    history = [{"epoch": 1, "best": True}, {"epoch": 2, "best": True},
               {"epoch": 3, "best": False}]
    (tmp_path / "history.json").write_text(json.dumps(history))
    assert kept_epoch(str(tmp_path)) == {"epoch": 2, "of": 3}


def test_a_reused_record_catches_up_only_from_its_own_run(tiny_data, tmp_path, capsys):
    """A record missing a newer diagnostic or its kept epoch gains them from its run, every
    figure it had kept as it was; a run whose predictions are not the record's text (decoded
    again since, or gone) adds nothing."""
    import copy
    from tfreport.evaluation import references
    from tfreport.experiments import benchmark as b
    s = b.Settings(data_dir=tiny_data, out=str(tmp_path))
    row = next(r for r in b.default_rows() if r.key == "cnn_rnn")
    ids = list(references(tiny_data, "test"))
    known = next(iter(references(tiny_data, "train").values())).split(".")[0]
    preds = {k: f"{known}. heart lungs effusion clear." for k in ids}  # half novel
    run = tmp_path / "run"
    run.mkdir()
    (run / "predictions_test.json").write_text(json.dumps(preds))
    (run / "history.json").write_text(json.dumps([{"epoch": 1, "best": True},
                                                  {"epoch": 2, "best": False}]))
    old = {"seed": 0, "predictions_digest": b.predictions_digest(preds),
           "metrics": {"diagnostics": {"copied": 0.123},
                       "groups": {"abnormal": {"diagnostics": {"copied": 0.456}}}}}
    found = copy.deepcopy(old)
    assert b._catch_up(found, row, s, str(run))
    assert found["kept_epoch"] == {"epoch": 1, "of": 2}
    assert found["metrics"]["diagnostics"]["copied"] == 0.123  # kept, not recomputed
    assert found["metrics"]["groups"]["abnormal"]["diagnostics"]["copied"] == 0.456
    for block in (found["metrics"], found["metrics"]["groups"]["abnormal"]):
        assert block["diagnostics"]["novel_sentences"] == 0.5
        assert set(b.DIAGNOSTIC_KEYS) <= set(block["diagnostics"])
    assert not b._catch_up(found, row, s, str(run))  # nothing left to add
    for breaks in ("decoded again", "gone"):
        if breaks == "decoded again":
            (run / "predictions_test.json").write_text(json.dumps({k: "x." for k in ids}))
        else:
            os.remove(run / "predictions_test.json")
        stale = copy.deepcopy(old)
        assert not b._catch_up(stale, row, s, str(run)) and stale == old
        out = capsys.readouterr().out
        assert "not adding kept_epoch, sentences" in out
        assert ("decoded again since" if breaks == "decoded again" else "are not here") in out


def test_grounding_table_shows_kept_epochs_novel_sentences_and_checks():
    from tfreport.experiments.benchmark_report import grounding_section
    diag = {"sentences": 5.0, "ref_sentences": 5.5, "distinct": 0.29, "repeated_sentences": 0.0,
            "copied": 0.1, "novel_sentences": 0.49, "ref_novel_sentences": 0.25}
    row = {"label": "mrna", "model": "mrna", "decoding": "beam 3", "seeds": [0, 1],
           "kept_epochs": [{"epoch": 13, "of": 14}, None],
           "grounding": {"mean": 0.3, "sd": 0.01, "ci": [0.25, 0.35]},
           "grounding_gap": {"gap": 0.1, "ci": [0.05, 0.15]},
           "groups": {"All": {"diagnostics": diag}}}
    floor = {"label": "floor", "model": None, "decoding": None, "seeds": [0],
             "grounding": {"mean": 0.0, "sd": None, "ci": [0.0, 0.0]},
             "groups": {"All": {"diagnostics": {**diag, "novel_sentences": None}}}}
    lines = grounding_section([row, floor], {"observations": ["Cardiomegaly"],
                                             "positives": {"Cardiomegaly": 30},
                                             "min_positives": 20})
    assert ("| mrna | beam 3 | 2 | 13/14, ? | 0.300 ± 0.010 [0.250, 0.350] | +0.100 "
            "[0.050, 0.150] |  | 5.00 (5.50) | 0.290 | 0.000 | 0.100 | 0.490 (0.250) "
            "| gap FAILS, length ok, distinct FAILS |") in lines
    assert "| floor | - | 1 |  | 0.000 [0.000, 0.000] |  |  | 5.00 (5.50) | 0.290 | 0.000 " \
           "| 0.100 | n/a |  |" in lines
    # The "?" says why it is there; a table with every figure recorded says nothing of it.
    note = [line for line in lines if line.startswith("CE-macro-F1:")]
    assert " ? (epoch kept): not in the record" in note[0]
    old = {**row, "groups": {"All": {"diagnostics": {k: v for k, v in diag.items()
                                                     if k != "novel_sentences"}}}}
    note = [line for line in grounding_section([old], {"observations": ["Cardiomegaly"],
                                                       "positives": {"Cardiomegaly": 30},
                                                       "min_positives": 20})
            if line.startswith("CE-macro-F1:")]
    assert " ? (epoch kept) and n/a (novel): not in the record" in note[0]
    row["kept_epochs"][1] = {"epoch": 9, "of": 14}
    lines = grounding_section([row, floor], {"observations": ["Cardiomegaly"],
                                             "positives": {"Cardiomegaly": 30},
                                             "min_positives": 20})
    assert not any("not in the record" in line for line in lines)


def test_unknown_row_is_a_clear_error(tmp_path):
    run = bench("--out", str(tmp_path), "--models", "resnet")
    assert run.returncode == 2 and "unknown --models resnet" in run.stderr
    run = bench("--out", str(tmp_path), "--row_temperature", "cnn_rnn+rl=1.2")
    assert run.returncode == 2 and "'cnn_rnn+rl=1.2'" in run.stderr and "ROW+scst" in run.stderr


def test_blind_rows_mbr_and_records_resume(tiny_data, tmp_path):
    """--blind adds the image-blind variant and the CE-macro-F1 gap to it; --mbr_samples
    decodes by MBR; the committed records alone (runs/ deleted, as in a fresh clone) rebuild
    the same table with --table_only."""
    import shutil
    out = str(tmp_path / "bench")
    run = bench("--quick", "--data_dir", tiny_data, "--out", out, "--quiet", "--blind",
                "--mbr_samples", "2", "--models", "cnn_rnn", "cnn_rnn-blind", "most_frequent")
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.load(open(os.path.join(out, "results.json")))
    rows = {r["key"]: r for r in result["rows"]}
    assert list(rows) == ["cnn_rnn", "cnn_rnn-blind", "most_frequent"]
    blind = rows["cnn_rnn-blind"]
    assert blind["config"]["model_config"]["image_blind"] is True
    assert blind["weights"] == "no images (image-blind)"
    assert rows["cnn_rnn"]["control"] == "cnn_rnn-blind"
    assert rows["cnn_rnn"]["decoding"] == "MBR over beam 1 + 2 samples at T 1"
    reference = result["meta"]["grounding"]
    for r in rows.values():
        g = r["grounding"]
        assert g["observations"] == reference["observations"]
        assert g["ci"][0] <= g["mean"] <= g["ci"][1]
    gap = rows["cnn_rnn"]["grounding_gap"]
    assert abs(gap["gap"] - (rows["cnn_rnn"]["grounding"]["mean"]
                             - blind["grounding"]["mean"])) < 1e-9
    assert "grounding_gap" not in blind
    records = sorted(os.listdir(os.path.join(out, "rows")))
    assert records == ["cnn_rnn-blind-seed0.json", "cnn_rnn-seed0.json",
                       "most_frequent-seed0.json"]
    record = json.load(open(os.path.join(out, "rows", "cnn_rnn-seed0.json")))
    n_test = len(json.load(open(os.path.join(tiny_data, "test_split.json"))))
    assert len(record["positives"]) == n_test
    table = open(os.path.join(out, "results.md")).read()
    assert "## Image grounding and report shape" in table
    history = json.load(open(os.path.join(out, "runs", "cnn_rnn", "seed0", "history.json")))
    kept = max(r["epoch"] for r in history if r["best"])
    assert record["kept_epoch"] == {"epoch": kept, "of": len(history)}
    assert (f"| cnn_rnn | MBR over beam 1 + 2 samples at T 1 | 1 | {kept}/{len(history)} |"
            in table)
    # a record from before kept epochs and novel sentences were recorded gets both back from
    # its run: the history and the test predictions it scored
    novel = record["metrics"]["groups"]["abnormal"]["diagnostics"]["novel_sentences"]
    assert novel is not None
    del record["kept_epoch"]
    for block in [record["metrics"]] + list(record["metrics"]["groups"].values()):
        del block["diagnostics"]["novel_sentences"], block["diagnostics"]["ref_novel_sentences"]
    with open(os.path.join(out, "rows", "cnn_rnn-seed0.json"), "w") as f:
        json.dump(record, f)

    # a row killed after training (no record yet) resumes from its saved state
    os.remove(os.path.join(out, "rows", "cnn_rnn-blind-seed0.json"))
    os.remove(os.path.join(out, "runs", "cnn_rnn-blind", "seed0", "benchmark_row.json"))
    resumed = bench("--quick", "--data_dir", tiny_data, "--out", out, "--quiet", "--blind",
                    "--mbr_samples", "2", "--reuse", "--models", "cnn_rnn", "cnn_rnn-blind")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "[cnn_rnn (image-blind)] seed 0: resuming" in resumed.stdout
    assert "[cnn_rnn] seed 0: reusing" in resumed.stdout
    record = json.load(open(os.path.join(out, "rows", "cnn_rnn-seed0.json")))
    assert record["kept_epoch"] == {"epoch": kept, "of": len(history)}
    assert record["metrics"]["groups"]["abnormal"]["diagnostics"]["novel_sentences"] == novel
    assert record["metrics"]["diagnostics"]["ref_novel_sentences"] is not None
    again_rows = {r["key"]: r for r in json.load(open(os.path.join(out, "results.json")))["rows"]}
    assert again_rows["cnn_rnn-blind"]["groups"]["All"]["BLEU-4"] == blind["groups"]["All"]["BLEU-4"]

    # --labeler chexbert rescores the finished rows from their test predictions (no training)
    # into their own records and results-chexbert.*, leaving the rule-based table as it was
    from chexbert_helpers import convert_tiny
    weights = convert_tiny(str(tmp_path / "cx"))
    rules_table = open(os.path.join(out, "results.md")).read()
    cx = bench("--quick", "--data_dir", tiny_data, "--out", out, "--quiet", "--blind",
               "--mbr_samples", "2", "--table_only", "--models", "cnn_rnn", "cnn_rnn-blind",
               "most_frequent", "--labeler", "chexbert", "--chexbert_weights", weights)
    assert cx.returncode == 0, cx.stderr[-3000:]
    assert "[cnn_rnn] seed 0: rescoring" in cx.stdout and "training into" not in cx.stdout
    assert open(os.path.join(out, "results.md")).read() == rules_table
    cx_rows = {r["key"]: r for r in json.load(open(os.path.join(out, "results-chexbert.json")))["rows"]}
    assert list(cx_rows) == list(rows)
    cx_record = json.load(open(os.path.join(out, "rows", "cnn_rnn-seed0-chexbert.json")))
    from tfreport.chexbert import CheXbertLabeler
    cx_name = CheXbertLabeler.load(weights).name
    assert cx_record["labeler"] == cx_name and cx_name.startswith("CheXbert (chexbert, ")
    assert cx_record["metrics"]["CE-labeler"] == cx_name
    assert cx_record["metrics"]["BLEU-4"] == record["metrics"]["BLEU-4"]  # same text
    from tfreport.chexbert import CheXbertLabeler
    from tfreport.metrics import grounding
    cx_preds = json.load(open(os.path.join(out, "runs", "cnn_rnn", "seed0", "predictions_test.json")))
    assert cx_record["positives"] == grounding.positives(
        CheXbertLabeler.load(weights).label_reports(cx_preds))
    assert f"CE-F1: {cx_name} on prediction and reference" in open(
        os.path.join(out, "results-chexbert.md")).read()
    assert os.path.exists(os.path.join(out, "ce_f1_per_condition-chexbert.png"))

    # a record decoded otherwise is decoded again from its best.keras, without training
    record_file = os.path.join(out, "rows", "cnn_rnn-seed0.json")
    row_file = os.path.join(out, "runs", "cnn_rnn", "seed0", "benchmark_row.json")
    saved = {p: open(p).read() for p in (record_file, row_file)}
    hotter = bench("--quick", "--data_dir", tiny_data, "--out", out, "--quiet", "--blind",
                   "--mbr_samples", "2", "--reuse", "--row_temperature", "cnn_rnn=2",
                   "--models", "cnn_rnn")
    assert hotter.returncode == 0, hotter.stderr[-3000:]
    assert "decoding its best.keras again by MBR over beam 1 + 2 samples at T 2" in hotter.stdout
    assert "training into" not in hotter.stdout and "resuming" not in hotter.stdout
    redecoded = json.load(open(record_file))
    assert redecoded["decoding"] == "MBR over beam 1 + 2 samples at T 2"
    assert redecoded["train_seconds"] == record["train_seconds"]
    for path, text in saved.items():
        open(path, "w").write(text)
    bad = bench("--out", out, "--row_temperature", "cnn_rnn=hot")
    assert bad.returncode == 2 and "--row_temperature expects ROW=T" in bad.stderr

    shutil.rmtree(os.path.join(out, "runs"))
    # with the runs gone, the CheXbert records alone rebuild its table
    cx_again = bench("--quick", "--data_dir", tiny_data, "--out", out, "--quiet", "--blind",
                     "--mbr_samples", "2", "--table_only", "--models", "cnn_rnn", "cnn_rnn-blind",
                     "most_frequent", "--labeler", "chexbert", "--chexbert_weights", weights)
    assert cx_again.returncode == 0 and "[cnn_rnn] seed 0: reusing" in cx_again.stdout
    again = bench("--quick", "--data_dir", tiny_data, "--out", out, "--quiet", "--blind",
                  "--mbr_samples", "2", "--table_only", "--models", "cnn_rnn", "cnn_rnn-blind", "mrna",
                  "most_frequent")
    assert again.returncode == 0, again.stderr[-3000:]
    rebuilt = json.load(open(os.path.join(out, "results.json")))
    assert [r["key"] for r in rebuilt["rows"]] == list(rows)
    assert rebuilt["rows"][0]["grounding_gap"] == gap
    assert rebuilt["meta"]["not_run"] == ["mrna"]
    assert "Not run yet (no finished record): mrna" in open(
        os.path.join(out, "results.md")).read()

    # a record of another recipe under the same key is not passed off as this one
    other = bench("--quick", "--data_dir", tiny_data, "--out", out, "--quiet", "--blind",
                  "--mbr_samples", "2", "--table_only", "--baseline_backbone", "densenet121", "--models", "cnn_rnn",
                  "most_frequent")
    assert other.returncode == 0, other.stderr[-3000:]
    assert "[cnn_rnn] seed 0: not reusing" in other.stdout
    assert "--backbone densenet121" in other.stdout
    assert json.load(open(os.path.join(out, "results.json")))["meta"]["not_run"] == ["cnn_rnn"]
    # and a record decoded otherwise is not passed off either (no run left to decode again)
    beam = bench("--quick", "--data_dir", tiny_data, "--out", out, "--quiet", "--blind",
                 "--table_only", "--models", "cnn_rnn", "most_frequent")
    assert "[cnn_rnn] seed 0: not reusing" in beam.stdout and "decoded by MBR" in beam.stdout


def test_blind_row_needs_the_blind_flag(tmp_path):
    run = bench("--out", str(tmp_path), "--models", "mrna-blind")
    assert run.returncode == 2 and "need --blind" in run.stderr


def test_a_record_from_a_changed_preset_is_not_reused(tiny_data, tmp_path, capsys):
    """The same command resolving to another config (a preset changed since, say more
    epochs) does not pass for the old record."""
    import shlex
    from tfreport.experiments import benchmark as b
    from tfreport.models import make_config
    from tfreport.training.config import TrainConfig
    s = b.Settings(data_dir=tiny_data, out=str(tmp_path), preset="demo", table_only=True)
    row = b.default_rows()[0]
    row_dir = os.path.join(s.out, "runs", row.key, "seed0")
    config = {"model_config": make_config("cnn_rnn", "demo", vocab_size=50).to_dict(),
              "train_config": TrainConfig.preset("demo", "cnn_rnn").to_dict()}
    record = {"key": row.key, "command": shlex.join(b.train_command(row, s, 0, row_dir)),
              "decoding": "beam 3", "config": config}
    os.makedirs(os.path.dirname(b.record_path(s, row, 0)))
    with open(b.record_path(s, row, 0), "w") as f:
        json.dump(record, f)
    assert b.run_row(row, s, 0) == record
    config["train_config"]["epochs"] += 10
    with open(b.record_path(s, row, 0), "w") as f:
        json.dump(record, f)
    assert b.run_row(row, s, 0) is None
    assert "its config differs from what this command now resolves to in epochs (24 -> 14)" in capsys.readouterr().out


def test_scst_rows_fine_tune_their_nll_row_seed_for_seed(tiny_data, tmp_path):
    """--scst adds "+SCST" after each sighted flat row: scst.py from that row's run of the
    same seed, recorded with its command, reused by --reuse; hierarchical rows get none."""
    import numpy as np
    from tfreport.inference import load_model
    out = str(tmp_path / "bench")
    args = ["--quick", "--data_dir", tiny_data, "--out", out, "--quiet", "--models", "cnn_rnn",
            "most_frequent", "--scst", "cider:1,ce:1", "--scst_epochs", "1",
            "--scst_learning_rate", "1e-3"]
    run = bench(*args)
    assert run.returncode == 0, run.stderr[-3000:]
    labels = [r["label"] for r in json.load(open(os.path.join(out, "results.json")))["rows"]]
    assert labels == ["cnn_rnn", "cnn_rnn +SCST", "most frequent training report"]
    from tfreport.experiments.benchmark import default_rows, with_scst_rows
    keys = [r.key for r in with_scst_rows(default_rows(blind=True))]
    assert [k for k in keys if k.endswith("+scst")] == [
        "cnn_rnn+scst", "cnn_rnn_att+scst", "m2_transformer-resnet50+scst",
        "m2_transformer-densenet121+scst", "m2_transformer-dual+scst"]  # flat, sighted
    record = json.load(open(os.path.join(out, "rows", "cnn_rnn+scst-seed0.json")))
    nll_dir = os.path.join(out, "runs", "cnn_rnn", "seed0")
    scst_dir = os.path.join(out, "runs", "cnn_rnn+scst", "seed0")
    assert record["command"].startswith(f"python scripts/scst.py --init_from {nll_dir} "
                                        f"--model_dir {scst_dir}")
    assert "--reward cider:1,ce:1" in record["command"] and "--learning_rate 0.001" in record["command"]
    assert record["config"]["objective"] == "scst"
    assert record["config"]["init_from"] == os.path.abspath(nll_dir)
    # the +SCST row's model is the NLL row's, moved by SCST (the clinical reward varies
    # between samples of an untrained model; CIDEr is 0 for all of them)
    nll = load_model(os.path.join(nll_dir, "best.keras")).weights
    tuned = load_model(os.path.join(scst_dir, "best.keras")).weights
    assert max(float(np.abs(np.asarray(a) - np.asarray(b)).max()) for a, b in zip(nll, tuned)) > 1e-4
    again = bench(*args, "--reuse", "--table_tag", "rl")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "[cnn_rnn +SCST] seed 0: reusing" in again.stdout
    # --table_tag: a second table beside the first, not over it
    for name in ("results.md", "results-rl.md", "results-rl.json", "ce_f1_per_condition-rl.png"):
        assert os.path.exists(os.path.join(out, name)), name
    # an NLL run decoded or trained again: its +SCST record is not reused, the run starts over
    parent = os.path.join(out, "rows", "cnn_rnn-seed0.json")
    nll_record = json.load(open(parent))
    assert record["init_digest"] == nll_record["predictions_digest"]
    nll_record["predictions_digest"] = "0123456789abcdef"
    json.dump(nll_record, open(parent, "w"))
    redone = bench(*args, "--reuse")
    assert redone.returncode == 0, redone.stderr[-3000:]
    assert "the cnn_rnn run it was tuned from has changed" in redone.stdout
    assert "[cnn_rnn +SCST] seed 0: SCST into" in redone.stdout  # not "resuming"
    again_record = json.load(open(os.path.join(out, "rows", "cnn_rnn+scst-seed0.json")))
    assert again_record["init_digest"] == "0123456789abcdef"
    bad = bench("--quick", "--out", out, "--scst_epochs", "2")
    assert bad.returncode != 0 and "need --scst REWARD" in bad.stderr
    bad = bench("--quick", "--out", out, "--scst", "rouge:1")
    assert bad.returncode != 0 and "unknown reward 'rouge'" in bad.stderr
    bad = bench("--quick", "--out", out, "--table_tag", "../x")
    assert bad.returncode != 0 and "--table_tag '../x'" in bad.stderr
