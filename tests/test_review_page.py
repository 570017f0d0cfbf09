"""The review page (issue 17): evaluate.py --html and review.py write a folder that opens from
the file system; headless Chromium loads it, its images load, and its filters and sorting
change what is shown. The findings marks and per-report CE-F1 are checked on known reports."""
import json
import os
import subprocess
import sys
import time

import pytest

from browser import open_browser
from tfreport import review_page

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _train(model, data, out, logdir):
    cmd = [sys.executable, os.path.join(ROOT, "scripts", "train.py"), "--model", model,
           "--data_dir", data, "--preset", "demo", "--epochs", "2", "--steps_per_epoch", "3",
           "--batch_size", "4", "--image_size", "32", "--max_words", "12", "--beam_size", "1",
           "--model_option", "backbone_width=8", "--model_dir", out, "--logdir", logdir,
           "--run_name", model, "--quiet"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]


@pytest.fixture(scope="module")
def runs(tiny_data, tmp_path_factory):
    """Two trained tiny runs: CNN-RNN-Att (attention) and CNN-RNN (Grad-CAM)."""
    base = tmp_path_factory.mktemp("review")
    dirs = {m: str(base / m) for m in ("cnn_rnn_att", "cnn_rnn")}
    for model, path in dirs.items():
        _train(model, tiny_data, path, str(base / "summary"))
    return base, dirs


@pytest.fixture(scope="module")
def page(runs):
    """review.py over both runs."""
    base, dirs = runs
    out = str(base / "page")
    cmd = [sys.executable, os.path.join(ROOT, "scripts", "review.py"), "--out", out, "--quiet"]
    for name, path in dirs.items():
        cmd += ["--model_dir", path, "--name", name]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "index.html" in run.stdout
    return out


def test_tensorboard_sample_reports_carry_the_heatmaps(runs):
    import glob
    import tensorflow as tf
    base, _ = runs
    for model, kind in (("cnn_rnn_att", "attention"), ("cnn_rnn", "grad-cam")):
        tags = set()
        for path in glob.glob(str(base / "summary" / model / "val" / "events.out.tfevents.*")):
            for event in tf.compat.v1.train.summary_iterator(path):
                tags.update(v.tag for v in event.summary.value)
        heat = [t for t in tags if t.startswith("sample_heatmaps/")]
        assert heat and all(t.endswith(f"({kind})") for t in heat), (model, sorted(tags))
        assert "sample_reports" in tags and "sample_images" in tags


def test_findings_marks_and_per_report_f1_on_known_reports():
    from tfreport.labeler import label_report
    gen = label_report("The heart is enlarged. There is a small right pleural effusion.")
    ref = label_report("Cardiomegaly. No pleural effusion. Right upper lobe nodule.")
    rows = {r["observation"]: r["state"] for r in review_page.findings_rows(gen, ref)}
    assert rows["Cardiomegaly"] == "agree"
    assert rows["Pleural Effusion"] == "extra"
    assert rows["Lung Lesion"] == "missed"
    assert review_page.disagreements(review_page.findings_rows(gen, ref)) == [
        "Lung Lesion", "Pleural Effusion"]
    # positives: generated {Cardiomegaly, Effusion}, reference {Cardiomegaly, Lesion}
    assert review_page.findings_f1(gen, ref) == pytest.approx(0.5)
    assert review_page.findings_f1(label_report("No acute disease."),
                                   label_report("Normal chest.")) == 1.0


def test_evaluate_html_writes_the_page_of_every_test_study(runs, tiny_data):
    base, dirs = runs
    out = str(base / "eval_page")
    run = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "evaluate.py"),
                          "--model_dir", dirs["cnn_rnn_att"], "--beam_size", "1",
                          "--html", out, "--quiet"], capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    html = open(os.path.join(out, "index.html"), encoding="utf-8").read()
    test_ids = json.load(open(os.path.join(tiny_data, "test_split.json")))
    assert html.count('<section class="study"') == len(test_ids)
    for sid in test_ids:
        assert f'data-id="{sid}"' in html
        assert os.path.exists(os.path.join(out, "images", f"{sid}_frontal.png"))
    assert "http://" not in html and "https://" not in html  # nothing from the network
    assert "credentialed" not in html  # demo text is not MIMIC-CXR's
    assert not [f for f in os.listdir(out) if f.endswith(".partial")]


def test_a_model_folder_without_predictions_is_named(tmp_path):
    (tmp_path / "m").mkdir()
    with pytest.raises(FileNotFoundError, match="predictions_test.json.*evaluate.py"):
        review_page.build(str(tmp_path / "out"), [str(tmp_path / "m")])


def test_mimic_text_carries_the_credentialed_warning():
    study = {"id": "s1", "model": "m", "views": {"frontal": "a.png", "lateral": None},
             "generated": "no effusion.", "reference": "small effusion.", "normal": "abnormal",
             "findings": [], "disagree": [], "scores": {k: 0.0 for k in review_page.SCORES},
             "heatmaps": [], "map_kind": None}
    html = review_page.page_html([review_page.Run("m", [study], "mimic_cxr")], "t",
                                 credentialed=True)
    assert 'id="credentialed"' in html and "PhysioNet" in html


def _visible(browser):
    return browser.execute_script(
        "return Array.from(document.querySelectorAll('.study')).filter(c => !c.hidden)"
        ".map(c => [c.dataset.id, c.dataset.model, c.dataset.normal, c.dataset.disagree,"
        " parseFloat(c.dataset.scider)])")


def _choose(browser, select_id, value):
    from selenium.webdriver.support.ui import Select
    Select(browser.find_element("id", select_id)).select_by_value(value)


def test_browser_loads_the_page_filters_sorts_and_shows_heatmaps(page, tiny_data, tmp_path):
    browser = open_browser()
    try:
        browser.get("file://" + os.path.join(page, "index.html"))
        n_test = len(json.load(open(os.path.join(tiny_data, "test_split.json"))))
        everything = _visible(browser)
        assert len(everything) == 2 * n_test  # both runs, every test study
        assert browser.find_element("id", "count").text == f"{2 * n_test} of {2 * n_test} reports shown"

        # every view image loads (scrolled into view: they load lazily)
        deadline = time.time() + 30
        broken = None
        while time.time() < deadline:
            broken = browser.execute_script(
                "const b = Array.from(document.querySelectorAll('.views img'))"
                ".filter(i => !(i.complete && i.naturalWidth > 0));"
                "b.forEach(i => i.scrollIntoView()); return b.map(i => i.src);")
            if not broken:
                break
            time.sleep(0.3)
        assert broken == []

        # the heatmaps open on demand, one per sentence, for both kinds of model
        kinds = browser.execute_script(
            "return Array.from(document.querySelectorAll('details.heat summary'))"
            ".map(s => s.textContent)")
        assert any(k.startswith("attention") for k in kinds)
        assert any(k.startswith("Grad-CAM") for k in kinds)
        first = browser.find_element("css selector", "details.heat")
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", first)
        first.find_element("tag name", "summary").click()
        heat = first.find_element("tag name", "img")
        time.sleep(0.5)
        assert browser.execute_script("return arguments[0].naturalWidth", heat) > 0

        # filters
        _choose(browser, "f-normal", "abnormal")
        shown = _visible(browser)
        assert shown and all(s[2] == "abnormal" for s in shown) and len(shown) < len(everything)
        _choose(browser, "f-normal", "")
        _choose(browser, "f-model", "cnn_rnn")
        shown = _visible(browser)
        assert len(shown) == n_test and all(s[1] == "cnn_rnn" for s in shown)
        _choose(browser, "f-finding", "*")
        shown = _visible(browser)
        assert all(s[3] for s in shown)  # each disagrees on some finding
        assert len(shown) == sum(1 for s in everything if s[1] == "cnn_rnn" and s[3])
        _choose(browser, "f-finding", "")
        _choose(browser, "f-model", "")

        # sorting by a per-report score
        _choose(browser, "sort", "cider")
        scores = [s[4] for s in _visible(browser)]
        assert scores == sorted(scores, reverse=True) and scores[0] >= scores[-1]
        _choose(browser, "order", "asc")
        scores = [s[4] for s in _visible(browser)]
        assert scores == sorted(scores)

        shot = str(tmp_path / "review.png")
        browser.execute_script("window.scrollTo(0, 0)")
        assert browser.save_screenshot(shot) and os.path.getsize(shot) > 10_000
    finally:
        browser.quit()
