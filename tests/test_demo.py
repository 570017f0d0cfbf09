import csv
import hashlib
import os

import numpy as np
import pytest
from PIL import Image

from tfreport.data import demo
from tfreport.text import report_sentences


def _digest(root):
    h = hashlib.sha256()
    for dirpath, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            h.update(name.encode())
            with open(os.path.join(dirpath, name), "rb") as f:
                h.update(f.read())
    return h.hexdigest()


def test_generator_is_deterministic(tmp_path):
    a = demo.generate(str(tmp_path / "a"), num_studies=6, seed=3, image_size=32, quiet=True)
    b = demo.generate(str(tmp_path / "b"), num_studies=6, seed=3, image_size=32, quiet=True)
    c = demo.generate(str(tmp_path / "c"), num_studies=6, seed=4, image_size=32, quiet=True)
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)
    assert not os.path.exists(str(tmp_path / "a") + ".partial")


def test_kaggle_layout_exact(tiny_raw):
    assert sorted(os.listdir(tiny_raw)) == ["images", "indiana_projections.csv",
                                            "indiana_reports.csv", "labels.csv"]
    with open(os.path.join(tiny_raw, "indiana_reports.csv")) as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["uid", "MeSH", "Problems", "image", "indication",
                                     "comparison", "findings", "impression"]
        reports = list(reader)
    with open(os.path.join(tiny_raw, "indiana_projections.csv")) as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["uid", "filename", "projection"]
        projections = list(reader)
    assert len(reports) == 64 and len(projections) == 128
    for uid in {r["uid"] for r in reports}:
        views = sorted(p["projection"] for p in projections if p["uid"] == uid)
        assert views == ["Frontal", "Lateral"]
    for p in projections:
        im = Image.open(os.path.join(tiny_raw, "images", p["filename"]))
        assert im.mode == "L" and im.size == (64, 64)
    assert any("XXXX" in r["findings"] + r["impression"] + r["comparison"] for r in reports)


def test_reports_state_the_labelled_findings(tiny_raw):
    truth = demo.read_labels(tiny_raw)
    with open(os.path.join(tiny_raw, "indiana_reports.csv")) as f:
        for row in csv.DictReader(f):
            said = demo.findings_mentioned(report_sentences(row["findings"], row["impression"]))
            assert said == truth["CXR" + row["uid"]], row
            assert (row["MeSH"] == "normal") == (not any(said.values()))


def test_normal_fraction_is_about_36_percent():
    rng_counts = [not demo.sample_findings(np.random.default_rng([0, i])) for i in range(2000)]
    assert 0.32 < np.mean(rng_counts) < 0.40


def test_findings_are_visible():
    """The same study drawn with and without a finding differs where the finding is."""
    f = demo.Finding("cardiomegaly", "left", "lower", 0.5, 0.5, 0.5)
    big = demo.render_frontal([f], 128, np.random.default_rng(1)).astype(float)
    normal = demo.render_frontal([], 128, np.random.default_rng(1)).astype(float)
    assert big.mean() > normal.mean() + 1.0
    n = demo.Finding("nodule", "right", "upper", 0.5, 0.3, 1.0)
    with_nodule = demo.render_frontal([n], 128, np.random.default_rng(1)).astype(float)
    assert np.abs(with_nodule - normal).max() > 60


def test_mentions_respect_negation():
    said = demo.findings_mentioned(["cardiomegaly without pleural effusion",
                                    "no pneumothorax", "no nodules or masses"])
    assert said["cardiomegaly"] == 1
    assert said["pleural_effusion"] == 0 and said["pneumothorax"] == 0 and said["nodule"] == 0


def test_findings_f1_known_values():
    from tfreport.metrics.demo_findings import findings_f1
    truth = {"a": {f: 0 for f in demo.FINDINGS}, "b": {f: 0 for f in demo.FINDINGS}}
    truth["a"]["cardiomegaly"] = 1
    truth["b"]["cardiomegaly"] = 1
    preds = {"a": "the heart is enlarged", "b": "no pleural effusion but pneumothorax is seen"}
    out = findings_f1(preds, truth)
    assert out["per_finding"]["cardiomegaly"]["f1"] == pytest.approx(2 / 3)  # p=1, r=1/2
    assert out["per_finding"]["pneumothorax"]["f1"] == 0.0  # one false positive
    assert out["macro_f1"] == pytest.approx((2 / 3) / 6)
