"""Bad studies in a Kaggle layout are skipped, named and counted; the build goes on."""
import csv
import json
import os
import shutil

import pytest

from tfreport.data.iu_xray import LayoutError
from tfreport.data.prepare import prepare


def _rows(path):
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


def _write(path, fields, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


@pytest.fixture()
def broken_raw(tiny_raw, tmp_path):
    raw = str(tmp_path / "raw")
    shutil.copytree(tiny_raw, raw)
    images = os.path.join(raw, "images")
    with open(os.path.join(images, "1_IM-0001-1001.dcm.png"), "wb") as f:
        f.write(b"\x89PNG garbage")  # corrupt image
    os.remove(os.path.join(images, "2_IM-0002-2001.dcm.png"))  # missing image file
    fields, rows = _rows(os.path.join(raw, "indiana_reports.csv"))
    rows[2]["findings"], rows[2]["impression"] = "", ""  # empty report (uid 3)
    rows.append(dict(rows[3]))  # duplicate uid 4
    _write(os.path.join(raw, "indiana_reports.csv"), fields, rows)
    pfields, prow = _rows(os.path.join(raw, "indiana_projections.csv"))
    prow = [r for r in prow if not (r["uid"] == "5" and r["projection"] == "Lateral")]
    _write(os.path.join(raw, "indiana_projections.csv"), pfields, prow)  # uid 5: no lateral
    return raw


def test_bad_studies_are_skipped_and_counted(broken_raw, tmp_path, caplog):
    out = str(tmp_path / "out")
    summary = prepare("demo", out, broken_raw, split_ratios="0.5,0.25,0.25", quiet=True)
    assert summary["dropped"] == {"duplicate_uid": 1, "empty_report": 1, "missing_image": 1,
                                  "missing_view": 1, "unreadable_image": 1}
    assert sum(summary["counts"].values()) == 64 - 4
    messages = caplog.text
    assert "1_IM-0001-1001.dcm.png: unreadable image" in messages
    assert "2_IM-0002-2001.dcm.png: image file not found" in messages
    assert "indiana_reports.csv" in messages and "uid 3" in messages


def test_missing_view_duplicate_keeps_the_study(broken_raw, tmp_path):
    summary = prepare("demo", str(tmp_path / "out"), broken_raw, missing_view="duplicate",
                      split_ratios="0.5,0.25,0.25", quiet=True)
    assert "missing_view" not in summary["dropped"]
    assert summary["dropped"]["kept_duplicate_lateral"] == 1


def test_unknown_csv_columns_are_a_clear_error(tiny_raw, tmp_path):
    raw = str(tmp_path / "raw")
    shutil.copytree(tiny_raw, raw)
    fields, rows = _rows(os.path.join(raw, "indiana_reports.csv"))
    renamed = ["Findings" if f == "findings" else f for f in fields]
    for r in rows:
        r["Findings"] = r.pop("findings")
    _write(os.path.join(raw, "indiana_reports.csv"), renamed, rows)
    with pytest.raises(LayoutError, match=r"indiana_reports.csv: unknown CSV columns \['Findings'\]"):
        prepare("demo", str(tmp_path / "out"), raw, quiet=True)
    assert not os.path.exists(str(tmp_path / "out"))


def test_interrupted_build_never_looks_complete_and_resumes(tiny_raw, tmp_path, monkeypatch):
    from tfreport.data import build
    out = str(tmp_path / "out")
    monkeypatch.setattr(build, "STUDIES_PER_SHARD", 8)
    calls = {"n": 0}
    real = build._try_encode

    def flaky(*args):
        calls["n"] += 1
        if calls["n"] == 20:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(build, "_try_encode", flaky)
    with pytest.raises(KeyboardInterrupt):
        prepare("demo", out, tiny_raw, split_ratios="0.5,0.25,0.25", quiet=True)
    assert not os.path.exists(out) and os.path.exists(out + ".partial")
    done = json.load(open(os.path.join(out + ".partial", "manifest.json")))["shards"]
    assert len(done) == 2  # two finished shards of 8
    calls["n"] = -10**9
    encoded = []
    monkeypatch.setattr(build, "_try_encode", lambda *a: encoded.append(1) or real(*a))
    summary = prepare("demo", out, tiny_raw, split_ratios="0.5,0.25,0.25", quiet=True)
    assert sum(summary["counts"].values()) == 64
    assert len(encoded) == 64 - 16  # the finished shards were not redone
    assert not os.path.exists(out + ".partial")


def test_non_utf8_csv_text_is_skipped_and_named(tiny_raw, tmp_path):
    raw = str(tmp_path / "raw")
    shutil.copytree(tiny_raw, raw)
    path = os.path.join(raw, "indiana_reports.csv")
    data = open(path, "rb").read().replace(b"No active disease", b"No activ\xe9 disease", 1)
    open(path, "wb").write(data)
    summary = prepare("demo", str(tmp_path / "out"), raw, split_ratios="0.5,0.25,0.25", quiet=True)
    assert summary["dropped"] == {"non_utf8_text": 1}
    assert sum(summary["counts"].values()) == 63


def test_a_stale_build_is_replaced_only_when_the_new_one_finishes(tiny_raw, tmp_path, monkeypatch):
    from tfreport.data import build
    out = str(tmp_path / "out")
    first = prepare("demo", out, tiny_raw, split_ratios="0.5,0.25,0.25", quiet=True)

    def boom(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(build, "_try_encode", boom)
    with pytest.raises(KeyboardInterrupt):  # a rebuild with other settings, interrupted
        prepare("demo", out, tiny_raw, split_ratios="0.6,0.2,0.2", quiet=True)
    assert json.load(open(os.path.join(out, "summary.json")))["counts"] == first["counts"]
