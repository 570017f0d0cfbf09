"""The four IU X-Ray layouts, each from a small fixture made from the tiny demo."""
import csv
import json
import os
import shutil

import pytest

from tfreport.data.iu_xray import detect_layout
from tfreport.data.prepare import prepare
from tfreport.text import report_sentences

N = 12


def _demo_rows(raw):
    with open(os.path.join(raw, "indiana_reports.csv")) as f:
        return list(csv.DictReader(f))[:N]


def _image(raw, uid, suffix):
    return os.path.join(raw, "images", f"{uid}_IM-{int(uid):04d}-{suffix}.dcm.png")


def _xml(row):
    uid = row["uid"]
    mesh = "".join(f"<major>{m}</major>" for m in row["MeSH"].split(";"))
    return (f'<?xml version="1.0" encoding="utf-8"?><eCitation><uId id="CXR{uid}"/>'
            f'<MedlineCitation><Article><Abstract>'
            f'<AbstractText Label="FINDINGS">{row["findings"]}</AbstractText>'
            f'<AbstractText Label="IMPRESSION">{row["impression"]}</AbstractText>'
            f'</Abstract></Article></MedlineCitation><MeSH>{mesh}</MeSH>'
            f'<parentImage id="CXR{uid}_IM-{int(uid):04d}-1001"/>'
            f'<parentImage id="CXR{uid}_IM-{int(uid):04d}-2001"/></eCitation>')


@pytest.fixture()
def nlm_raw(tiny_raw, tmp_path):
    raw = tmp_path / "nlm"
    (raw / "ecgen-radiology").mkdir(parents=True)
    (raw / "NLMCXR_png").mkdir()
    for row in _demo_rows(tiny_raw):
        uid = row["uid"]
        (raw / "ecgen-radiology" / f"{uid}.xml").write_text(_xml(row), encoding="utf-8")
        for suffix in (1001, 2001):
            shutil.copy(_image(tiny_raw, uid, suffix),
                        raw / "NLMCXR_png" / f"CXR{uid}_IM-{int(uid):04d}-{suffix}.png")
    (raw / "ecgen-radiology" / "9001.xml").write_text("<eCitation><uId id='CXR9001'>")
    (raw / "ecgen-radiology" / "9002.xml").write_bytes(
        _xml(dict(_demo_rows(tiny_raw)[0], uid="9002")).encode().replace(b"The", b"Th\xe9"))
    return str(raw)


def test_nlm_layout(nlm_raw, tiny_raw, tmp_path):
    assert detect_layout(nlm_raw) == "nlm"
    s = prepare("iu_xray", str(tmp_path / "out"), nlm_raw, split_ratios="0.5,0.25,0.25",
                quiet=True)
    assert s["layout"] == "nlm" and sum(s["counts"].values()) == N
    assert s["dropped"]["malformed_xml"] == 1 and s["dropped"]["non_utf8_text"] == 1
    assert s["dropped"]["views_from_file_names"] == N  # no projections CSV given
    rows = _demo_rows(tiny_raw)
    entry = json.load(open(tmp_path / "out" / "data_entry.json"))
    assert set(entry) == {f"CXR{r['uid']}" for r in rows}
    for r in rows:
        assert entry[f"CXR{r['uid']}"] == report_sentences(r["findings"], r["impression"])
    assert sum(s["normal"].values()) == sum(r["MeSH"] == "normal" for r in rows)


def test_nlm_views_from_a_projections_csv(nlm_raw, tiny_raw, tmp_path):
    s = prepare("iu_xray", str(tmp_path / "out"), nlm_raw, split_ratios="0.5,0.25,0.25",
                projections_csv=os.path.join(tiny_raw, "indiana_projections.csv"), quiet=True)
    assert "views_from_file_names" not in s["dropped"]
    assert sum(s["counts"].values()) == N


@pytest.fixture()
def r2gen_raw(tiny_raw, tmp_path):
    raw = tmp_path / "r2gen"
    ann = {"train": [], "val": [], "test": []}
    for i, row in enumerate(_demo_rows(tiny_raw)):
        uid = row["uid"]
        sid = f"CXR{uid}_IM-{int(uid):04d}"
        (raw / "images" / sid).mkdir(parents=True)
        shutil.copy(_image(tiny_raw, uid, 1001), raw / "images" / sid / "0.png")
        shutil.copy(_image(tiny_raw, uid, 2001), raw / "images" / sid / "1.png")
        split = ("train", "train", "val", "test")[i % 4]
        ann[split].append({"id": sid, "report": row["findings"], "split": split,
                           "image_path": [f"{sid}/0.png", f"{sid}/1.png"]})
    (raw / "annotation.json").write_text(json.dumps(ann))
    return str(raw)


def test_r2gen_layout_keeps_its_split(r2gen_raw, tiny_raw, tmp_path):
    s = prepare("iu_xray", str(tmp_path / "out"), r2gen_raw,
                reports_csv=os.path.join(tiny_raw, "indiana_reports.csv"), quiet=True)
    assert s["layout"] == "r2gen" and s["settings"]["split"] == "r2gen"
    assert s["counts"] == {"train": 6, "val": 3, "test": 3}
    rows = {f"CXR{r['uid']}": r for r in _demo_rows(tiny_raw)}
    assert sum(s["normal"].values()) == sum(r["MeSH"] == "normal" for r in rows.values())
    entry = json.load(open(tmp_path / "out" / "data_entry.json"))
    for sid, sentences in entry.items():  # an R2Gen report is the findings only
        assert sentences == report_sentences(rows[sid]["findings"], "", "findings")


@pytest.fixture()
def legacy_raw(tiny_raw, tmp_path):
    raw = tmp_path / "legacy"
    (raw / "images").mkdir(parents=True)
    entry = {}
    rows = _demo_rows(tiny_raw)
    for row in rows:
        uid = row["uid"]
        entry[f"CXR{uid}"] = [row["impression"].lower().rstrip("."), "the heart is normal"]
        for suffix in (1001, 2001):
            shutil.copy(_image(tiny_raw, uid, suffix),
                        raw / "images" / f"CXR{uid}_IM-{int(uid):04d}-{suffix}.png")
    (raw / "data_entry.json").write_text(json.dumps(entry))
    ids = sorted(entry)
    (raw / "train_split.json").write_text(json.dumps(ids[:9]))
    (raw / "test_split.json").write_text(json.dumps(ids[9:11]))  # one id in neither list
    return str(raw)


def test_legacy_layout_and_split(legacy_raw, tmp_path):
    s = prepare("iu_xray", str(tmp_path / "out"), legacy_raw, quiet=True)
    assert s["layout"] == "legacy" and s["settings"]["split"] == "legacy"
    assert s["counts"]["test"] == 2 and s["counts"]["train"] + s["counts"]["val"] == 9
    assert s["dropped"]["not_in_split"] == 1
    entry = json.load(open(tmp_path / "out" / "data_entry.json"))
    src = json.load(open(os.path.join(legacy_raw, "data_entry.json")))
    assert all(entry[k] == [x for x in src[k] if len(x.split()) >= 2] for k in entry)


def test_kaggle_layout_with_legacy_split_and_unknown_layout(tiny_raw, legacy_raw, tmp_path):
    s = prepare("iu_xray", str(tmp_path / "out"), tiny_raw, split="legacy",
                legacy_splits=legacy_raw, quiet=True)
    assert s["counts"]["test"] == 2 and s["dropped"]["not_in_split"] == 64 - 11
    empty = tmp_path / "empty"
    empty.mkdir()
    from tfreport.data.iu_xray import LayoutError
    with pytest.raises(LayoutError, match="no IU X-Ray layout found"):
        prepare("iu_xray", str(tmp_path / "o2"), str(empty), quiet=True)
