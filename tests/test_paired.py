"""Paired significance (tfreport/metrics/paired.py, scripts/compare.py): known values."""
import itertools
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tfreport import labeler
from tfreport.metrics import bootstrap as boot
from tfreport.metrics import paired

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

REFS = {
    "s1": "the heart is enlarged. no pleural effusion.",
    "s2": "the lungs are clear. no pneumothorax.",
    "s3": "small left pleural effusion. the heart is normal.",
    "s4": "no acute cardiopulmonary abnormality.",
    "s5": "there is mild cardiomegaly. the lungs are clear.",
    "s6": "right pleural effusion. no pneumothorax.",
}
NORMAL = {"s1": False, "s2": True, "s3": False, "s4": True, "s5": False, "s6": False}
CONSTANT = {k: "the lungs are clear. no pneumothorax." for k in REFS}


def stats(preds):
    return boot.collect(preds, REFS, labeler.label_reports(preds),
                        labeler.label_reports(REFS))


def test_identical_systems_differ_by_nothing():
    s = stats(CONSTANT)
    rows = paired.compare(s, s, resamples=200, trials=200, seed=0)
    for metric, r in rows.items():
        assert r["diff"] == 0.0 and r["ci"] == [0.0, 0.0], metric
        assert r["p_randomisation"] == 1.0 and r["p_bootstrap"] == 1.0, metric
        assert paired.significant(r) is False


def test_mix_takes_each_report_from_the_system_asked():
    a, b = stats(CONSTANT), stats(REFS)
    everything = np.arange(len(a.ids))
    assert boot.corpus(paired.mix(a, b, np.ones(6, bool)), everything) == \
        boot.corpus(b, everything)
    assert boot.corpus(paired.mix(a, b, np.zeros(6, bool)), everything) == \
        boot.corpus(a, everything)
    half = paired.mix(a, b, np.array([1, 0, 1, 0, 1, 0], bool))
    assert half.cider[0] == b.cider[0] and half.cider[1] == a.cider[1]
    assert (half.ce[2] == b.ce[2]).all() and (half.ce[3] == a.ce[3]).all()


def test_randomisation_matches_the_exact_permutation_test():
    """Six studies have 2^6 swap patterns: the Monte Carlo p-value converges to the exact
    share of patterns at least as extreme as the observed difference."""
    a, b = stats(CONSTANT), stats(REFS)
    everything = np.arange(6)
    observed = boot.corpus(b, everything)["CE-F1"] - boot.corpus(a, everything)["CE-F1"]
    assert observed > 0.5  # the references state every finding, the constant none
    extreme = 0
    for pattern in itertools.product([False, True], repeat=6):
        swap = np.array(pattern)
        d = (boot.corpus(paired.mix(b, a, swap), everything)["CE-F1"]
             - boot.corpus(paired.mix(a, b, swap), everything)["CE-F1"])
        extreme += abs(d) >= abs(observed) - 1e-12
    exact = extreme / 64
    rows = paired.compare(a, b, resamples=0, trials=3000, seed=1)
    assert rows["CE-F1"]["diff"] == pytest.approx(observed)
    assert rows["CE-F1"]["p_randomisation"] == pytest.approx(exact, abs=0.03)
    assert rows["CE-F1"]["ci"] is None and rows["CE-F1"]["p_bootstrap"] is None


def test_a_clearly_better_system_is_significant_and_seeded():
    refs = {f"s{i}": REFS[f"s{i % 6 + 1}"] for i in range(60)}
    const = {k: CONSTANT["s1"] for k in refs}

    def st(preds):
        return boot.collect(preds, refs, labeler.label_reports(preds), labeler.label_reports(refs))
    a, b = st(const), st(refs)
    rows = paired.compare(a, b, resamples=300, trials=300, seed=0)
    r = rows["CE-F1"]
    assert r["diff"] > 0.5 and 0 < r["ci"][0] <= r["diff"] <= r["ci"][1]
    assert r["p_randomisation"] == pytest.approx(1 / 301) and r["p_bootstrap"] < 0.01
    assert paired.significant(r)
    assert paired.compare(a, b, resamples=300, trials=300, seed=0) == rows  # seeded


def test_compare_systems_groups_and_the_grounding_figure():
    result = paired.compare_systems({"constant": CONSTANT, "oracle": REFS}, REFS, NORMAL,
                                    resamples=50, trials=50, use_meteor=False,
                                    min_positives=2, quiet=True)
    assert result["baseline"] == "constant"
    assert result["studies"] == {"All": 6, "Normal": 2, "Abnormal": 4}
    # Cardiomegaly (s1, s5) and Pleural Effusion (s3, s6) have two positives each
    assert result["observations"] == {"All": ["Cardiomegaly", "Pleural Effusion"],
                                      "Normal": [],
                                      "Abnormal": ["Cardiomegaly", "Pleural Effusion"]}
    assert not any(m.startswith("CE-macro") for m in result["groups"]["Normal"]["oracle"])
    row = result["groups"]["All"]["oracle"]["CE-macro-F1 (2 obs)"]
    assert (row["a"], row["b"]) == (0.0, 1.0)
    table = paired.markdown(result)
    assert "### Abnormal (4 studies): oracle - constant" in table
    assert "| CE-macro-F1 (2 obs) | 0.0000 | 1.0000 | +1.0000" in table
    with pytest.raises(ValueError, match="differ from constant's in 1 ids"):
        paired.compare_systems({"constant": CONSTANT,
                                "short": {k: v for k, v in REFS.items() if k != "s6"}}, REFS)


def test_seeds_are_scored_by_their_mean_with_their_spread():
    """Two runs of one system against two of another: each figure is the runs' mean, the sd
    is across runs, every resample draws the same studies for all four runs, and
    randomisation pairs run i with run i."""
    half = {k: (REFS[k] if k in ("s1", "s2", "s3") else CONSTANT[k]) for k in REFS}
    a = [stats(CONSTANT), stats(CONSTANT)]
    b = [stats(REFS), stats(half)]
    rows = paired.compare(a, b, resamples=200, trials=200, seed=0)
    everything = np.arange(6)
    for metric in ("CIDEr", "CE-F1", "BLEU-4"):
        r = rows[metric]
        mean_b = (boot.corpus(b[0], everything)[metric] + boot.corpus(b[1], everything)[metric]) / 2
        assert r["b"] == pytest.approx(mean_b)
        assert r["diff"] == pytest.approx(mean_b - boot.corpus(a[0], everything)[metric])
        assert r["a_sd"] == 0.0 and r["seeds"] == [2, 2]
        spread = abs(boot.corpus(b[0], everything)[metric] - boot.corpus(b[1], everything)[metric])
        assert r["b_sd"] == pytest.approx(spread / np.sqrt(2))
        assert r["b_ci"][0] <= r["b"] + 1e-9 and r["a_ci"][1] >= r["a"] - 1e-9
    # one run of a system compared with itself as two identical runs: nothing differs
    same = paired.compare([stats(half)], [stats(half)], resamples=50, trials=50, seed=0)
    assert all(r["diff"] == 0 and r["b_sd"] is None for r in same.values())
    with pytest.raises(ValueError, match="pairs the runs"):
        paired.compare(a, b[:1], resamples=10, trials=10)
    assert paired.compare(a, b[:1], resamples=10, trials=0)["CIDEr"]["seeds"] == [2, 1]
    result = paired.compare_systems({"constant": [CONSTANT, CONSTANT], "model": [REFS, half]},
                                    REFS, None, resamples=50, trials=50, use_meteor=False,
                                    quiet=True)
    table = paired.markdown(result)
    assert "mean ± sd over them" in table
    assert "| CE-F1 | 0.3333 ± 0.0000 [" in table and "| 0.8333 ± 0.2357 [" in table


def test_compare_script_prints_the_paired_table_and_names_bad_input(tmp_path):
    files = {}
    for name, preds in (("refs", REFS), ("constant", CONSTANT), ("oracle", REFS),
                        ("normal", NORMAL)):
        files[name] = tmp_path / f"{name}.json"
        files[name].write_text(json.dumps(preds))

    def run(*args):
        return subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "compare.py"),
                               *map(str, args)], capture_output=True, text=True, timeout=300)
    out = tmp_path / "cmp.json"
    ok = run("--predictions", f"constant={files['constant']}", f"oracle={files['oracle']}",
             "--references", files["refs"], "--normal", files["normal"], "--resamples", 40,
             "--trials", 40, "--no_meteor", "--quiet", "--out", out)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "### All (6 studies): oracle - constant" in ok.stdout
    assert "p (randomisation)" in ok.stdout
    assert json.load(open(out))["groups"]["Normal"]["oracle"]["BLEU-4"]["b"] > 0.9
    one = run("--predictions", files["constant"], "--references", files["refs"])
    assert one.returncode == 2 and "two or more" in one.stderr
    none = run("--predictions", files["constant"], files["oracle"], "--references", files["refs"],
               "--resamples", 0, "--trials", 0)
    assert none.returncode == 2 and "no test to run" in none.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    broken = run("--predictions", files["constant"], bad, "--references", files["refs"],
                 "--no_meteor")
    assert broken.returncode != 0 and str(bad) in broken.stderr
    assert "Traceback" not in broken.stderr


EXTERNAL = {"s1": 0.2, "s2": 0.9, "s3": 0.4, "s4": 1.0, "s5": 0.1, "s6": 0.3}


def test_an_external_metric_enters_the_scores_intervals_and_table():
    from tfreport.metrics import scoring, table
    result = scoring.score(CONSTANT, REFS, NORMAL, bootstrap=100,
                           external={"RadGraph-F1": EXTERNAL})
    assert result["RadGraph-F1"] == pytest.approx(2.9 / 6)
    assert result["groups"]["normal"]["RadGraph-F1"] == pytest.approx(0.95)
    assert result["groups"]["abnormal"]["RadGraph-F1"] == pytest.approx(0.25)
    low, high = result["ci"]["RadGraph-F1"]
    assert 0.1 <= low < 2.9 / 6 < high <= 1.0
    text = table.markdown(result, "t")
    assert "| RadGraph-F1 |" in text.splitlines()[2]
    assert "| Normal | 2 |" in text and "0.9500 [" in text
    with pytest.raises(KeyError, match="RadGraph-F1: 1 studies have no score"):
        scoring.score(CONSTANT, REFS, external={"RadGraph-F1": {k: v for k, v in EXTERNAL.items()
                                                                if k != "s3"}})


def test_an_external_metric_is_compared_pairwise():
    better = {k: v + 0.5 for k, v in EXTERNAL.items()}
    result = paired.compare_systems({"a": CONSTANT, "b": CONSTANT}, REFS, None, resamples=100,
                                    trials=200, use_meteor=False, quiet=True,
                                    external={"a": {"G": EXTERNAL}, "b": {"G": better}})
    row = result["groups"]["All"]["b"]["G"]
    assert row["diff"] == pytest.approx(0.5) and row["ci"] == pytest.approx([0.5, 0.5])
    # every study gains .5: 2^6 swap patterns, only the two that swap all or none are as
    # extreme, so p is about 2/64
    assert row["p_randomisation"] == pytest.approx(2 / 64, abs=0.03)
    with pytest.raises(ValueError, match="same external metrics"):
        paired.compare_systems({"a": CONSTANT, "b": CONSTANT}, REFS, external={"a": {"G": EXTERNAL}})


def test_score_script_reads_external_files_and_names_bad_ones(tmp_path):
    preds, refs = tmp_path / "p.json", tmp_path / "r.json"
    preds.write_text(json.dumps(CONSTANT))
    refs.write_text(json.dumps(REFS))
    csv_file = tmp_path / "green.csv"
    csv_file.write_text("id,green\n" + "".join(f"{k},{v}\n" for k, v in EXTERNAL.items()))

    def run(*args):
        return subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "score.py"),
                               "--predictions", str(preds), "--references", str(refs),
                               *map(str, args)], capture_output=True, text=True, timeout=300)
    ok = run("--external", f"GREEN={csv_file}", "--bootstrap", 50, "--format", "markdown")
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "| GREEN |" in ok.stdout and "0.4833 [" in ok.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("id,green\ns1,high\n")
    broken = run("--external", f"GREEN={bad}")
    assert broken.returncode != 0 and str(bad) in broken.stderr and "'high'" in broken.stderr
    assert "Traceback" not in broken.stderr
    flag = run("--external", "GREEN")
    assert flag.returncode == 2 and "NAME=FILE" in flag.stderr


def test_external_names_and_files_are_checked(tmp_path):
    from tfreport.metrics.external import parse_specs, read_scores
    assert parse_specs(["RadGraph-F1=a.csv", "GREEN=b.json"]) == {"RadGraph-F1": "a.csv",
                                                                   "GREEN": "b.json"}
    for bad, words in ((["CE-F1=a.csv"], "tfreport's own figures"), (["ci=a.csv"], "own figures"),
                       (["G=a", "G=b"], "given twice"), (["G"], "NAME=FILE")):
        with pytest.raises(ValueError, match=words):
            parse_specs(bad)
    twice = tmp_path / "twice.csv"
    twice.write_text("id,g\ns1,0.1\ns1,0.2\n")
    with pytest.raises(ValueError, match="twice.csv: study 's1' is scored twice"):
        read_scores(str(twice))
    latin = tmp_path / "latin.csv"
    latin.write_bytes("id,g\nsé,0.1\n".encode("latin-1"))
    with pytest.raises(ValueError, match="latin.csv: not UTF-8"):
        read_scores(str(latin))
