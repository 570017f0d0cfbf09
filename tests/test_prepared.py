"""PreparedDataset: the one reader of a build. Its normal flags and labels are written beside
the records at build time and agree with what the records themselves carry."""
import csv
import json
import logging
import math
import os
import shutil

import pytest

from tfreport.data.prepared import STUDIES, PreparedDataset
from tfreport.labels import CHEXPERT_OBSERVATIONS


def _records(data_dir, split):
    from tfreport.data import pipeline
    ds = pipeline.dataset(data_dir, split, batch_size=64, image_size=8, max_sentences=1,
                          max_words=2)
    out = {}
    for batch in ds:
        for sid, normal, labels in zip(batch["id"].numpy(), batch["normal"].numpy(),
                                       batch["labels"].numpy()):
            out[sid.decode()] = (int(normal), labels)
    return out


def test_reader_matches_records_and_raw_labels(tiny_data, tiny_raw):
    data = PreparedDataset(tiny_data)
    assert data.name == "demo"
    studies = json.load(open(os.path.join(tiny_data, STUDIES)))
    assert len(studies) == sum(data.summary["counts"].values())
    for split in ("train", "val", "test"):
        ids = data.ids(split)
        assert len(ids) == data.summary["counts"][split]
        assert {studies[i]["split"] for i in ids} == {split}
        normal = data.normal(split)
        assert sum(normal.values()) == data.summary["normal"][split]
        assert len(normal) - sum(normal.values()) == data.summary["abnormal"][split]
        records = _records(tiny_data, split)
        assert set(records) == set(ids)
        for i, (flag, labels) in records.items():
            assert normal[i] == (flag == 1)
            want = {o: float(v) for o, v in zip(CHEXPERT_OBSERVATIONS, labels)
                    if not math.isnan(v)}
            assert data.labels(split)[i] == want  # the records now carry labels.csv too
    with open(os.path.join(tiny_raw, "labels.csv"), newline="") as f:
        row = next(csv.DictReader(f))
    sid = f"CXR{int(row['uid'])}"
    if sid in studies:
        assert data.labels()[sid] == {o: float(row[o]) for o in CHEXPERT_OBSERVATIONS
                                      if row.get(o, "").strip()}
    assert data.has_labels()
    refs = data.references("test")
    assert list(refs) == data.ids("test") and all(r.endswith(".") for r in refs.values())


def test_older_build_without_studies_json_reads_the_records(tiny_data, tmp_path, caplog):
    old = str(tmp_path / "old")
    shutil.copytree(tiny_data, old)
    os.remove(os.path.join(old, STUDIES))
    with caplog.at_level(logging.WARNING, logger="tfreport.data"):
        assert PreparedDataset(old).normal("test") == PreparedDataset(tiny_data).normal("test")
    assert "has no studies.json" in caplog.text


def test_incomplete_build_is_a_clear_error(tiny_data, tmp_path):
    broken = str(tmp_path / "broken")
    shutil.copytree(tiny_data, broken)
    os.remove(os.path.join(broken, "data_entry.json"))
    with pytest.raises(FileNotFoundError, match="data_entry.json: not found"):
        PreparedDataset(broken).references("test")
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        PreparedDataset(broken).ids("dev")
    with pytest.raises(FileNotFoundError, match="summary.json: not found"):
        PreparedDataset(str(tmp_path / "nothing"))


def test_malformed_labels_csv_names_file_and_line(tmp_path):
    from tfreport.data.prepare import attach_raw_labels
    from tfreport.data.study import Study
    path = tmp_path / "labels.csv"
    path.write_text("uid,Cardiomegaly\n1,1\nx,0\n")
    with pytest.raises(ValueError, match=r"labels.csv, line 3: malformed"):
        attach_raw_labels([Study("CXR1", "p", None, None, "", [])], str(path))
    path.write_text("uid,Cardiomegaly,Edema\n1,1,\n")
    studies = [Study("CXR1", "p", None, None, "", []), Study("CXR2", "p", None, None, "", [])]
    assert attach_raw_labels(studies, str(path)) == 1
    assert studies[0].labels == {"Cardiomegaly": 1.0} and studies[1].labels == {}
