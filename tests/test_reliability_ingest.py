"""Issue 16, the ingest half: every bad input gets a clear message naming the file and the
problem, good studies are kept and counted, and nothing is lost silently. One test per case
of docs/reliability.md ("Ingest and images"); each failed before its fix."""
import csv
import io
import os
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from test_ingest_bad_input import _rows, _write
from test_mimic_cxr import META, dicom, write_tree
from tfreport.data.prepare import prepare

SPLIT = "0.5,0.25,0.25"


def _copy(tiny_raw, tmp_path):
    raw = str(tmp_path / "raw")
    shutil.copytree(tiny_raw, raw)
    return raw


def _skipped(out):
    with open(os.path.join(out, "skipped.csv"), newline="") as f:
        return list(csv.DictReader(f))


def _png(arr) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def _generator(size):
    """A ReportGenerator with no model weights: only its image reading is exercised."""
    from tfreport.inference import ReportGenerator
    gen = ReportGenerator.__new__(ReportGenerator)
    gen.model = SimpleNamespace(config=SimpleNamespace(image_size=size))
    return gen


# -- 1. one image reader ---------------------------------------------------------------------
def test_a_16bit_and_a_cmyk_image_reach_the_model_as_ingest_stores_them(tmp_path):
    import tensorflow as tf
    from tfreport.data import pipeline, records
    ramp = np.linspace(0, 1, 96 * 80).reshape(80, 96)
    twelve_bit = str(tmp_path / "x12.png")  # a 12-bit X-ray in a 16-bit PNG
    with open(twelve_bit, "wb") as f:
        f.write(_png((ramp * 4000 + 50).astype(np.uint16)))
    cmyk = str(tmp_path / "cmyk.jpg")
    Image.fromarray((np.stack([ramp] * 3, -1) * 255).astype(np.uint8)).convert("CMYK").save(cmyk)
    gen = _generator(64)
    for path in (twelve_bit, cmyk):
        stored = records.encode_image(path)  # what ingest writes
        training = pipeline.decode_image(tf.constant(stored), 64).numpy()  # what training sees
        assert training.mean() > 100  # full range, not divided by 257
        np.testing.assert_array_equal(gen.image(path), training)  # generate.py: identical
        from tfreport.data import images
        with open(path, "rb") as f:  # the SavedModel's TF ops: the same rule
            served = images.decode_upload(tf.constant(f.read()), 64).numpy()
        assert np.abs(served - training).mean() < 1.0, path


def test_bad_images_are_skipped_studies_naming_the_file(tiny_raw, tmp_path, monkeypatch):
    raw = _copy(tiny_raw, tmp_path)
    tiny = os.path.join(raw, "images", "3_IM-0003-1001.dcm.png")
    bomb = os.path.join(raw, "images", "4_IM-0004-2001.dcm.png")
    Image.new("L", (1, 1)).save(tiny)
    Image.new("L", (128, 128)).save(bomb)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5000)  # 128x128 trips PIL's bomb guard
    out = str(tmp_path / "out")
    summary = prepare("demo", out, raw, split_ratios=SPLIT, quiet=True)
    assert summary["dropped"] == {"image_too_large": 1, "image_too_small": 1}
    assert sum(summary["counts"].values()) == 62
    rows = {r["study_id"]: r for r in _skipped(out)}
    assert rows["CXR3"]["file"] == tiny and "1x1 pixels" in rows["CXR3"]["detail"]
    assert rows["CXR4"]["file"] == bomb and "too large" in rows["CXR4"]["detail"]


# -- 2. one CSV reader that checks its shape ---------------------------------------------------
def test_an_unclosed_quote_is_an_error_naming_file_and_line(tiny_raw, tmp_path):
    raw = _copy(tiny_raw, tmp_path)
    path = os.path.join(raw, "indiana_reports.csv")
    lines = open(path, newline="").read().split("\r\n")
    fields = lines[5].split(",")  # uid 5, on line 6: its findings open a quote never closed
    fields[6] = '"' + fields[6]
    lines[5] = ",".join(fields)
    open(path, "w", newline="").write("\r\n".join(lines))
    with pytest.raises(ValueError, match=r"indiana_reports.csv, line 6: malformed CSV"):
        prepare("demo", str(tmp_path / "out"), raw, split_ratios=SPLIT, quiet=True)
    assert not os.path.exists(str(tmp_path / "out"))
    # A runaway quote that happens to close with the right field count is caught by rule 4:
    # one of the field's lines is a whole row.
    swallow = str(tmp_path / "t.csv")
    open(swallow, "w").write('uid,findings,impression\n1,"Heart normal\n2,Lungs clear,fine\n'
                             '3,Effusion",small\n4,Clear,ok\n')
    from tfreport.data import tables
    with pytest.raises(ValueError, match=r"t.csv, line 2: a quoted field runs over 3 lines"):
        list(tables.read_table(swallow, {"uid"}))
    prose = str(tmp_path / "ok.csv")  # a real multi-line field is fine
    open(prose, "w").write('uid,findings,impression\n1,"Heart normal.\nLungs clear.",ok\n')
    assert [r["findings"] for r in tables.read_table(prose, {"uid"})] == [
        "Heart normal.\nLungs clear."]
    excel = str(tmp_path / "excel.csv")  # a spreadsheet export: BOM, CRLF, blank last line
    open(excel, "wb").write(b"\xef\xbb\xbfuid,findings\r\n7,Clear.\r\n\r\n")
    assert [(r["uid"], r["_line"]) for r in tables.read_table(excel, {"uid"})] == [("7", "2")]


def test_a_mimic_metadata_table_cut_short_loses_no_study_silently(tmp_path):
    raw = write_tree(str(tmp_path / "jpg"), gz=False)
    meta = os.path.join(raw, "mimic-cxr-2.0.0-metadata.csv")
    lines = open(meta).read().splitlines(keepends=True)
    open(meta, "w").write("".join(lines[:12]))  # cut at a line: studies 59999907-10 are gone
    s = prepare("mimic_cxr", str(tmp_path / "out"), raw, image_size=64, vocab_min_count=1,
                quiet=True)
    assert s["dropped"]["not_in_metadata"] == 4
    named = {r["study_id"] for r in _skipped(str(tmp_path / "out"))
             if r["reason"] == "not_in_metadata"}
    assert named == {"s59999907", "s59999908", "s59999909", "s59999910"}
    open(meta, "w").write("".join(lines[:12]) + lines[12][:60])  # cut inside a row
    with pytest.raises(ValueError, match=r"metadata.csv, line 13: 3 fields, the header has 12"):
        prepare("mimic_cxr", str(tmp_path / "o2"), raw, image_size=64, quiet=True)


# -- 3. MIMIC-CXR report text and images --------------------------------------------------------
def test_mimic_garbage_text_is_dropped_and_a_missing_lateral_is_named(tmp_path):
    raw = write_tree(str(tmp_path / "jpg"))
    reports = os.path.join(raw, "files", "p19")
    binary = os.path.join(reports, "p19999901", "s59999901.txt")
    open(binary, "wb").write(bytes(np.random.default_rng(0).integers(0, 256, 400, np.uint8)))
    nuls = os.path.join(reports, "p19999904", "s59999904.txt")
    open(nuls, "wb").write(b"FINDINGS: " + b"\x00\x01" * 100 + b" Lungs are clear.")
    out = str(tmp_path / "out")
    s = prepare("mimic_cxr", out, raw, image_size=64, vocab_min_count=1, quiet=True)
    assert s["dropped"]["non_utf8_text"] == 1 and s["dropped"]["binary_text"] == 1
    assert s["counts"] == {"train": 4, "val": 1, "test": 1}
    rows = {(r["study_id"], r["reason"]): r for r in _skipped(out)}
    assert rows[("s59999901", "non_utf8_text")]["file"] == binary
    assert rows[("s59999904", "binary_text")]["file"] == nuls
    lateral = rows[("s59999906", "missing_image_file")]["file"]
    assert lateral.endswith(os.path.join("s59999906", dicom("b6") + ".jpg"))


# -- 4. the skip log ------------------------------------------------------------------------------
def test_every_skipped_study_is_named_in_skipped_csv_across_a_resume(tiny_raw, tmp_path,
                                                                     monkeypatch):
    from tfreport.data import build
    raw = _copy(tiny_raw, tmp_path)
    fields, rows = _rows(os.path.join(raw, "indiana_reports.csv"))
    for r in rows[:12]:  # more than the 10 messages logged per reason
        r["findings"], r["impression"] = "", ""
    _write(os.path.join(raw, "indiana_reports.csv"), fields, rows)
    for uid in range(13, 25):
        open(os.path.join(raw, "images", f"{uid}_IM-{uid:04d}-1001.dcm.png"), "wb").write(b"bad")
    monkeypatch.setattr(build, "STUDIES_PER_SHARD", 8)
    real, calls = build._try_encode, {"n": 0}

    def interrupted(*args):
        calls["n"] += 1
        if calls["n"] == 30:
            raise KeyboardInterrupt
        return real(*args)

    out = str(tmp_path / "out")
    monkeypatch.setattr(build, "_try_encode", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare("demo", out, raw, split_ratios=SPLIT, quiet=True)
    monkeypatch.setattr(build, "_try_encode", real)
    summary = prepare("demo", out, raw, split_ratios=SPLIT, quiet=True)  # resumes
    assert summary["dropped"] == {"empty_report": 12, "unreadable_image": 12}
    skipped = _skipped(out)
    assert sorted(r["study_id"] for r in skipped) == sorted(f"CXR{u}" for u in range(1, 25))
    assert {r["reason"] for r in skipped if r["study_id"] == "CXR20"} == {"unreadable_image"}
    assert all(r["file"] and r["detail"] for r in skipped)
    assert not [n for n in os.listdir(out) if n.endswith(".tmp")]


# -- 5. an input that yields nothing ----------------------------------------------------------
def test_a_build_with_no_usable_study_fails_and_writes_nothing(tiny_raw, tmp_path, capsys):
    from tfreport.cli import run_main
    from tfreport.commands.prepare_data import main
    raw = _copy(tiny_raw, tmp_path)
    for name in os.listdir(os.path.join(raw, "images")):
        open(os.path.join(raw, "images", name), "wb").write(b"not an image")
    out = str(tmp_path / "out")
    with pytest.raises(SystemExit) as exit_:
        run_main(lambda: main(["--dataset", "demo", "--raw_dir", raw, "--out_dir", out,
                               "--split_ratios", SPLIT, "--quiet"]))
    assert exit_.value.code != 0
    printed = capsys.readouterr()
    assert "no usable study" in printed.err and "unreadable_image: 64" in printed.err
    assert "Prepared dataset written" not in printed.out
    assert not os.path.exists(out)
    assert len(_skipped(out + ".partial")) == 64  # the reasons are kept to read


# -- 6. the right cause for a study without a frontal view -----------------------------------
def test_an_empty_view_position_without_a_view_code_names_that_cause(tmp_path):
    raw = write_tree(str(tmp_path / "jpg"), gz=False)
    meta = os.path.join(raw, "mimic-cxr-2.0.0-metadata.csv")
    with open(meta, newline="") as f:
        rows = list(csv.reader(f))
    code = META.index("ViewCodeSequence_CodeMeaning")
    for row in rows:
        if row[0] == dicom("a3"):  # 59999903's frontal: no ViewPosition, and now no view code
            row[code] = ""
    with open(meta, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    out = str(tmp_path / "out")
    s = prepare("mimic_cxr", out, raw, image_size=64, vocab_min_count=1, quiet=True)
    assert s["dropped"]["unknown_view"] == 1 and "missing_view" not in s["dropped"]
    row = next(r for r in _skipped(out) if r["study_id"] == "s59999903")
    assert row["reason"] == "unknown_view"
    assert dicom("a3") + ".jpg exist but have an empty ViewPosition" in row["detail"]


# -- 7. --num_studies with an existing demo raw folder ------------------------------------------
def test_num_studies_regenerates_a_demo_raw_folder_of_another_size(tiny_raw, tmp_path):
    raw = str(tmp_path / "demo_raw")
    first = prepare("demo", str(tmp_path / "a"), raw, num_studies=8, split_ratios=SPLIT,
                    quiet=True)
    assert sum(first["counts"].values()) == 8
    again = prepare("demo", str(tmp_path / "b"), raw, num_studies=12, split_ratios=SPLIT,
                    quiet=True)
    assert sum(again["counts"].values()) == 12
    same = prepare("demo", str(tmp_path / "c"), raw, split_ratios=SPLIT, quiet=True)
    assert sum(same["counts"].values()) == 12  # no --num_studies: the folder is reused
    other = _copy(tiny_raw, tmp_path)  # a folder the demo did not write is never replaced
    os.remove(os.path.join(other, "labels.csv"))
    with pytest.raises(ValueError, match="holds 64 studies and was not written by the demo"):
        prepare("demo", str(tmp_path / "d"), other, num_studies=8, quiet=True)


# -- a hospital's exports: Windows line endings, accents, a study listed twice -------------
def test_a_hospital_export_crlf_accents_and_a_duplicate_study(tiny_raw, tmp_path):
    raw = _copy(tiny_raw, tmp_path)
    reports = os.path.join(raw, "indiana_reports.csv")
    fields, rows = _rows(reports)
    rows[0]["findings"] += " Petit épanchement pleural droit."
    rows.append(dict(rows[1]))  # the same study again
    with open(reports, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, lineterminator="\r\n")
        w.writeheader()
        w.writerows(rows)
    out = str(tmp_path / "out")
    prepare("demo", out, raw, split_ratios=SPLIT, quiet=True)
    import json
    summary = json.load(open(os.path.join(out, "summary.json")))
    assert sum(summary["counts"].values()) == len(rows) - 1  # every study but the repeat
    assert summary["dropped"] == {"duplicate_uid": 1}
    (skip,) = _skipped(out)
    assert skip["reason"] == "duplicate_uid" and skip["file"] == reports
    entries = json.load(open(os.path.join(out, "data_entry.json")))
    sentences = [s for v in entries.values() for s in v]
    assert "petit epanchement pleural droit" in sentences  # the accent folded, not the letter lost
    assert not any("\r" in s for s in sentences)
