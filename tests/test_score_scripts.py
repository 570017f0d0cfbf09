import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300)


def test_score_py_prints_json_with_groups(tmp_path):
    preds = {"1": "No pleural effusion. Heart size is normal.", "2": "Cardiomegaly.",
             "3": "Small right pleural effusion."}
    refs = {"1": "No pleural effusion. Heart size normal.", "2": "The heart is enlarged.",
            "3": "Right pleural effusion."}
    normal = {"1": True, "2": False, "3": False}
    for name, obj in (("p", preds), ("r", refs), ("n", normal)):
        (tmp_path / f"{name}.json").write_text(json.dumps(obj))
    out = run(os.path.join(ROOT, "scripts", "score.py"), "--predictions", str(tmp_path / "p.json"),
              "--references", str(tmp_path / "r.json"), "--normal", str(tmp_path / "n.json"))
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    for key in ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "ROUGE-L", "CIDEr", "CE-F1", "CE-macro-F1",
                "CE-5-micro-F1", "CE-example-F1"):
        assert key in result
    assert result["groups"]["normal"]["studies"] == 1 and result["groups"]["abnormal"]["studies"] == 2
    assert result["CE-F1"] == 1.0  # cardiomegaly and effusion found where the references have them


def test_score_py_bad_input(tmp_path):
    (tmp_path / "p.json").write_text("[1, 2]")
    (tmp_path / "r.json").write_text("{}")
    out = run(os.path.join(ROOT, "scripts", "score.py"), "--predictions", str(tmp_path / "p.json"),
              "--references", str(tmp_path / "r.json"))
    assert out.returncode == 2 and "p.json: expected a JSON object" in out.stderr


def test_label_reports_py(tmp_path):
    (tmp_path / "r.json").write_text(json.dumps({"a": "Cardiomegaly.", "b": "No effusion."}))
    out = run(os.path.join(ROOT, "scripts", "label_reports.py"), "--reports", str(tmp_path / "r.json"),
              "--out", str(tmp_path / "labels.csv"))
    assert out.returncode == 0, out.stderr[-2000:]
    lines = (tmp_path / "labels.csv").read_text().splitlines()
    assert lines[0].startswith("id,No Finding,Enlarged Cardiomediastinum,Cardiomegaly")
    assert len(lines) == 3
