"""The one results-table pipeline: seed aggregation, the cell formatter and atomic writes."""
import json
import os

import pytest

from tfreport import atomic
from tfreport.experiments import results_table
from tfreport.metrics.table import cell


def _result(bleu, distinct, ci=None):
    """A scoring result as scoring.score gives it: All at the top, groups below."""
    block = {"BLEU-1": bleu, "studies": 4, "diagnostics": {"distinct": distinct,
                                                           "copied": None}}
    if ci:
        block["ci"] = {"BLEU-1": ci}
    return {**block, "groups": {"normal": dict(block, **{"BLEU-1": bleu / 2}),
                                "abnormal": dict(block)}}


def test_seeds_aggregate_to_mean_and_sd_per_group():
    groups = results_table.aggregate([_result(0.2, 0.5, [0.1, 0.3]),
                                      _result(0.4, 0.7, [0.3, 0.5])], intervals=True)
    assert list(groups) == ["All", "Normal", "Abnormal"]
    all_ = groups["All"]
    assert all_["BLEU-1"] == pytest.approx(0.3)
    assert all_["BLEU-1_sd"] == pytest.approx(0.1414213, abs=1e-6)  # sample sd of .2, .4
    assert all_["ci"]["BLEU-1"] == pytest.approx([0.2, 0.4])  # bounds averaged
    assert groups["Normal"]["BLEU-1"] == pytest.approx(0.15)
    d = all_["diagnostics"]
    assert d["distinct"] == pytest.approx(0.6)
    assert d["copied"] is None and d["copied_sd"] is None  # n/a stays n/a
    assert "ci" not in results_table.aggregate([_result(0.2, 0.5, [0.1, 0.3])])["All"]


def test_one_seed_has_no_sd():
    block = results_table.aggregate([_result(0.25, 0.5)])["All"]
    assert block["BLEU-1"] == 0.25 and block["BLEU-1_sd"] is None
    assert cell(block, "BLEU-1") == "0.2500"


def test_cell_formats_value_sd_interval_and_missing():
    block = {"a": 0.12345, "a_sd": 0.01, "ci": {"a": [0.1, 0.15]}, "b": None}
    assert cell(block, "a") == "0.1235 ± 0.0100 [0.1000, 0.1500]"
    assert cell(block, "a", 3) == "0.123 ± 0.010 [0.100, 0.150]"
    assert cell(block, "b") == "n/a"
    assert cell(block, "c") == ""


def test_row_keeps_its_own_keys():
    row = results_table.row("mrna", {"All": {}}, [0, 1], weights="none")
    assert row == {"label": "mrna", "seeds": [0, 1], "groups": {"All": {}}, "weights": "none"}


def test_atomic_write_replaces_whole_or_not_at_all(tmp_path):
    path = str(tmp_path / "results.json")
    atomic.write_json(path, {"a": "épanchement"})
    with open(path, encoding="utf-8") as f:
        assert json.load(f) == {"a": "épanchement"}
    with pytest.raises(TypeError):  # not JSON: the old file stays, no temporary is left
        atomic.write_json(path, {"a": object()})
    with open(path, encoding="utf-8") as f:
        assert json.load(f) == {"a": "épanchement"}
    with pytest.raises(RuntimeError):
        with atomic.writing(path) as tmp:
            with open(tmp, "w") as f:
                f.write("half")
            raise RuntimeError("killed mid-write")
    assert os.listdir(tmp_path) == ["results.json"]
