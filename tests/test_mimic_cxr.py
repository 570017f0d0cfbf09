"""MIMIC-CXR-JPG ingest on a synthetic tree in the exact public layout (no real MIMIC data):
the tricky cases convert with exact counts, and train.py trains on the result."""
import csv
import gzip
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tfreport.data import mimic_cxr
from tfreport.labels import CHEXPERT_OBSERVATIONS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
META = ["dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition",
        "Rows", "Columns", "StudyDate", "StudyTime", "ProcedureCodeSequence_CodeMeaning",
        "ViewCodeSequence_CodeMeaning", "PatientOrientationCodeSequence_CodeMeaning"]
FULL = (" FINAL REPORT\n EXAMINATION:  CHEST (PA AND LAT)\n \n INDICATION:  ___ year old with "
        "cough.\n \n FINDINGS: \n \n {f}\n \n IMPRESSION: \n \n {i}\n")
IMPRESSION_ONLY = " FINAL REPORT\n INDICATION:  ___ with fever.\n \n IMPRESSION: \n \n {i}\n"
NO_SECTIONS = "                                 FINAL REPORT\n {f}\n"
NO_USABLE = " FINAL REPORT\n EXAMINATION:  CHEST (PORTABLE AP)\n \n INDICATION:  ___\n"

# study: (subject, split, [(dicom, view, view code, jpg written)], report or None, No Finding)
STUDIES = {
    "59999901": ("19999901", "train", [("a1", "PA", "", True), ("b1", "LATERAL", "", True)],
                 FULL.format(f="The lungs are clear. Heart size is normal.",
                             i="No acute cardiopulmonary process."), 1.0),
    "59999902": ("19999902", "train", [("a2", "AP", "", True)],  # frontal only
                 FULL.format(f="Small left pleural effusion. Mild cardiomegaly.",
                             i="Effusion."), 0.0),
    "59999903": ("19999903", "train", [("a3", "", "postero-anterior", True),  # empty ViewPosition
                                       ("b3", "", "lateral", True)],
                 FULL.format(f="There is a right lower lobe opacity. No pneumothorax.",
                             i="Pneumonia."), 0.0),
    "59999904": ("19999904", "train", [("a4", "PA", "", True), ("b4", "LL", "", True)],
                 IMPRESSION_ONLY.format(i="No acute intrathoracic process. Lungs are clear."),
                 1.0),
    "59999905": ("19999905", "train", [("a5", "PA", "", True), ("b5", "LATERAL", "", True)],
                 NO_SECTIONS.format(f="Heart is enlarged. Moderate pulmonary edema."), None),
    "59999906": ("19999906", "train", [("a6", "PA", "", True), ("b6", "LATERAL", "", False)],
                 FULL.format(f="The lungs are clear. No effusion.", i="Normal chest."), 1.0),
    "59999907": ("19999907", "validate", [("a7", "PA", "", True), ("b7", "LATERAL", "", True)],
                 NO_USABLE, 0.0),  # no findings and no impression: dropped
    "59999908": ("19999908", "test", [("c8", "AP", "", True), ("a8", "PA", "", True),
                                      ("b8", "LL", "", True), ("d8", "SWIMMERS", "", True)],
                 FULL.format(f="Pacemaker in place. Lungs are clear.", i="Pacemaker."), 0.0),
    "59999909": ("19999909", "test", [("a9", "PA", "", True), ("b9", "LATERAL", "", True)],
                 None, 0.0),  # no report file: dropped
    "59999910": ("19999910", "validate", [("a10", "AP", "", True), ("b10", "LATERAL", "", True)],
                 FULL.format(f="Lungs are clear. No pleural effusion.", i="No acute process."),
                 1.0),
}


def dicom(name):
    return f"{name:0>8}-00000000-00000000-00000000-00000000"


def write_tree(root, gz=True, reports_root=None):
    rng = np.random.default_rng(0)
    reports_root = reports_root or root
    meta, split, labels = [], [], []
    for study, (subject, sp, images, report, no_finding) in STUDIES.items():
        folder = os.path.join(root, "files", f"p{subject[:2]}", f"p{subject}", f"s{study}")
        os.makedirs(folder, exist_ok=True)
        for name, view, code, written in images:
            meta.append([dicom(name), subject, study, "CHEST (PA AND LAT)", view, 64, 64,
                         21800101, "101500.000", "CHEST (PA AND LAT)", code, "Erect"])
            split.append([dicom(name), study, subject, sp])
            if written:
                Image.fromarray(rng.integers(0, 255, (64, 64), dtype=np.uint8)).save(
                    os.path.join(folder, dicom(name) + ".jpg"))
        if report is not None:
            rdir = os.path.join(reports_root, "files", f"p{subject[:2]}", f"p{subject}")
            os.makedirs(rdir, exist_ok=True)
            with open(os.path.join(rdir, f"s{study}.txt"), "w") as f:
                f.write(report)
        if no_finding is not None:
            row = {o: "" for o in CHEXPERT_OBSERVATIONS}
            row["No Finding"] = "1.0" if no_finding else ""
            if not no_finding:
                row["Cardiomegaly"] = "-1.0"
                row["Pleural Effusion"] = "1.0"
            labels.append([subject, study] + [row[o] for o in CHEXPERT_OBSERVATIONS])

    def table(name, header, rows, compress):
        path = os.path.join(root, f"mimic-cxr-2.0.0-{name}.csv" + (".gz" if compress else ""))
        with (gzip.open(path, "wt", newline="") if compress else open(path, "w", newline="")) as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(rows)
    table("metadata", META, meta, gz)
    table("split", ["dicom_id", "study_id", "subject_id", "split"], split, False)
    table("chexpert", ["subject_id", "study_id"] + list(CHEXPERT_OBSERVATIONS), labels, gz)
    return root


def test_sections_and_views():
    f, i = mimic_cxr.findings_and_impression(FULL.format(f="A b c.", i="D e."))
    assert (f, i) == ("A b c.", "D e.")
    assert mimic_cxr.findings_and_impression(IMPRESSION_ONLY.format(i="X y z.")) == ("", "X y z.")
    assert mimic_cxr.findings_and_impression(NO_SECTIONS.format(f="Heart big.")) == ("Heart big.", "")
    assert mimic_cxr.findings_and_impression(NO_USABLE) == ("", "")
    views = [("c", "AP"), ("a", "PA"), ("z", "PA"), ("b", "LL"), ("d", "SWIMMERS")]
    assert mimic_cxr.pick_views(views) == ("a", "b")  # PA over AP; the first PA by id
    assert mimic_cxr.pick_views([("x", "AP AXIAL")]) == ("x", None)  # a rare frontal view
    assert mimic_cxr.view_of({"ViewPosition": "", "ViewCodeSequence_CodeMeaning": "lateral"}) \
        == ("LATERAL", True)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return write_tree(str(tmp_path_factory.mktemp("mimic") / "mimic-cxr-jpg"))


@pytest.fixture(scope="module")
def prepared(tree, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("mimic_prepared") / "out")
    cmd = [sys.executable, os.path.join(ROOT, "scripts", "prepare_data.py"), "--dataset",
           "mimic_cxr", "--raw_dir", tree, "--out_dir", out, "--image_size", "64",
           "--vocab_min_count", "1", "--quiet"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return out


def test_fixture_converts_with_exact_counts(prepared):
    s = json.load(open(os.path.join(prepared, "summary.json")))
    assert s["dataset"] == "mimic_cxr" and s["layout"] == "mimic_jpg"
    assert s["source"] == {"studies": 10, "with_both_views": 8, "images": 21}
    assert s["dropped"]["empty_report"] == 1 and s["dropped"]["missing_report"] == 1
    assert s["dropped"]["missing_image_file"] == 1  # 59999906's lateral JPG
    assert s["dropped"]["kept_mask_lateral"] == 2  # 59999902 (AP only) and 59999906
    assert s["dropped"]["views_from_view_code"] == 2
    assert s["counts"] == {"train": 6, "val": 1, "test": 1}
    assert s["normal"] == {"train": 3, "val": 1, "test": 0}  # No Finding == 1
    assert s["abnormal"] == {"train": 2, "val": 0, "test": 1}  # 59999905 has no labels
    assert s["settings"]["sections"] == "findings_or_impression"
    entry = json.load(open(os.path.join(prepared, "data_entry.json")))
    assert entry["s59999904"] == ["no acute intrathoracic process", "lungs are clear"]
    assert entry["s59999901"] == ["the lungs are clear", "heart size is normal"]  # findings only
    assert entry["s59999905"] == ["heart is enlarged", "moderate pulmonary edema"]


def test_records_carry_labels_views_and_the_mask(prepared):
    from tfreport.data import pipeline
    ds = pipeline.dataset(prepared, "train", batch_size=16, image_size=32, max_sentences=4,
                          max_words=12)
    batch = next(iter(ds))
    rows = {sid.decode(): i for i, sid in enumerate(batch["id"].numpy())}
    present = batch["lateral_present"].numpy()
    assert present[rows["s59999902"]] == 0 and present[rows["s59999906"]] == 0
    assert present[rows["s59999901"]] == 1
    labels = batch["labels"].numpy()
    obs = list(CHEXPERT_OBSERVATIONS)
    assert labels[rows["s59999901"], obs.index("No Finding")] == 1
    assert labels[rows["s59999902"], obs.index("Cardiomegaly")] == -1
    assert np.isnan(labels[rows["s59999902"], obs.index("Edema")])  # blank stays blank


def test_drop_policy_and_separate_reports_root(tmp_path):
    from tfreport.data.prepare import prepare
    raw = write_tree(str(tmp_path / "jpg"), gz=False, reports_root=str(tmp_path / "reports"))
    s = prepare("mimic_cxr", str(tmp_path / "out"), raw, reports_dir=str(tmp_path / "reports"),
                missing_view="drop", image_size=64, vocab_min_count=1, quiet=True)
    assert s["counts"] == {"train": 4, "val": 1, "test": 1}
    assert s["dropped"]["missing_view"] == 2
    with pytest.raises(ValueError, match="official split"):
        prepare("mimic_cxr", str(tmp_path / "o2"), raw, split="random", quiet=True)


def test_bad_tables_are_named(tmp_path):
    from tfreport.data.prepare import prepare
    raw = write_tree(str(tmp_path / "jpg"))
    with open(os.path.join(raw, "mimic-cxr-2.0.0-split.csv"), "w") as f:
        f.write("dicom_id,study_id\nx,1\n")
    with pytest.raises(mimic_cxr.LayoutError, match="split.csv: missing column"):
        prepare("mimic_cxr", str(tmp_path / "out"), raw, quiet=True)
    os.remove(os.path.join(raw, "mimic-cxr-2.0.0-metadata.csv.gz"))
    with pytest.raises(mimic_cxr.LayoutError, match="no MIMIC-CXR layout found"):
        prepare("mimic_cxr", str(tmp_path / "out"), raw, quiet=True)


def test_train_runs_on_the_result(prepared, tmp_path):
    cmd = [sys.executable, os.path.join(ROOT, "scripts", "train.py"), "--model", "mrna",
           "--data_dir", prepared, "--preset", "demo", "--epochs", "1", "--steps_per_epoch", "2",
           "--batch_size", "2", "--image_size", "32", "--max_words", "12", "--beam_size", "1",
           "--model_dir", str(tmp_path / "m"), "--logdir", str(tmp_path / "s"), "--quiet",
           "--no_text_summaries"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "| All |" in run.stdout


def test_tfds_builder_with_manual_dir(tree, tmp_path):
    import tensorflow_datasets as tfds
    import tfreport.data.tfds_mimic_cxr  # noqa: F401  (registers mimic_cxr_reports)
    config = tfds.download.DownloadConfig(manual_dir=tree)
    ds, info = tfds.load("mimic_cxr_reports", split="train", data_dir=str(tmp_path),
                         with_info=True, download_and_prepare_kwargs={"download_config": config})
    assert {s: info.splits[s].num_examples for s in info.splits} == \
        {"train": 6, "val": 1, "test": 1}
    examples = {ex["id"].numpy().decode(): ex for ex in ds}
    assert not bool(examples["s59999902"]["lateral_present"])
    assert examples["s59999901"]["labels"].numpy()[CHEXPERT_OBSERVATIONS.index("No Finding")] == 1


def test_beam_path_runs_locally_with_the_direct_runner(tree, tmp_path):
    """The same build through Apache Beam (DirectRunner here; Dataflow, Spark or Flink at
    scale) gives the same examples."""
    beam = pytest.importorskip("apache_beam", reason="pip install -r requirements-beam.txt")
    import tensorflow_datasets as tfds
    import tfreport.data.tfds_mimic_cxr  # noqa: F401
    config = tfds.download.DownloadConfig(
        manual_dir=tree, beam_options=beam.options.pipeline_options.PipelineOptions(
            ["--runner=DirectRunner", "--direct_num_workers=1"]))
    builder = tfds.builder("mimic_cxr_reports/beam", data_dir=str(tmp_path))
    builder.download_and_prepare(download_config=config)
    assert {s: builder.info.splits[s].num_examples for s in builder.info.splits} == \
        {"train": 6, "val": 1, "test": 1}
    ids = sorted(ex["id"].numpy().decode() for ex in builder.as_dataset(split="train"))
    assert ids == ["s59999901", "s59999902", "s59999903", "s59999904", "s59999905", "s59999906"]


def test_an_original_dicom_stands_in_for_a_missing_jpg(tmp_path):
    """MIMIC-CXR's own <dicom_id>.dcm is read where the JPG is not there: study 59999906's
    lateral view (no JPG in the fixture) comes in from DICOM, so nothing is dropped for it."""
    from dicom_helpers import write_dicom
    from tfreport.data.prepare import prepare
    raw = write_tree(str(tmp_path / "jpg"), gz=False)
    (subject, _, views, _, _) = STUDIES["59999906"]
    name = next(n for n, _, _, written in views if not written)
    folder = os.path.join(raw, "files", f"p{subject[:2]}", f"p{subject}", "s59999906")
    write_dicom(os.path.join(folder, dicom(name) + ".dcm"),
                np.tile(np.arange(64, dtype=np.uint16) * 60, (64, 1)))
    s = prepare("mimic_cxr", str(tmp_path / "out"), raw, image_size=64, vocab_min_count=1,
                quiet=True)
    assert s["dropped"].get("missing_image_file", 0) == 0
    assert s["dropped"]["kept_mask_lateral"] == 1  # only 59999902 (AP only) now
    from tfreport.data import pipeline
    ds = pipeline.dataset(str(tmp_path / "out"), "train", batch_size=16, image_size=64,
                          max_sentences=4, max_words=12)
    batch = next(iter(ds))
    row = [sid.decode() for sid in batch["id"].numpy()].index("s59999906")
    assert batch["lateral_present"].numpy()[row] == 1
    lateral = batch["lateral"].numpy()[row, ..., 0]
    assert lateral[:, -8:].mean() > lateral[:, :8].mean() + 100  # the ramp, dark to bright
