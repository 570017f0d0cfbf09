"""Every path a user may point at storage goes through tf.io.gfile (issue #21, item 1).

Tested on TensorFlow's in-memory ``ram://`` filesystem, which behaves like a bucket: nothing
of it is on the local disk, so a reader or writer that still used ``os``/``open`` fails.
The end-to-end run (demo raw layout -> prepared records -> training from the feature cache
-> resume -> evaluate -> generate -> SavedModel export, all in ram://) runs in one
subprocess, since ram:// lives in one process; it also checks that nothing was left in the
working directory or the temporary folder.
"""
import gzip
import json
import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# -- tfreport.fileio on ram:// ------------------------------------------------------------


@pytest.fixture
def ram():
    """A fresh ram:// folder, removed afterwards."""
    import uuid

    from tfreport import fileio
    base = f"ram://tfreport-test-{uuid.uuid4().hex[:8]}"
    fileio.makedirs(base)
    yield base
    fileio.rmtree(base)
    assert not fileio.exists(base)


def test_fileio_reads_and_writes_text_gzip_and_binary(ram):
    import csv

    import numpy as np
    from tfreport import fileio
    with fileio.open(f"{ram}/t/a.csv", "w", newline="") as f:  # the folder is created
        csv.writer(f).writerows([["uid", "text"], ["1", "é, \"quoted\"\nline"]])
    with fileio.open(f"{ram}/t/a.csv", newline="") as f:
        assert list(csv.reader(f))[1] == ["1", "é, \"quoted\"\nline"]
    with fileio.open(f"{ram}/t/b.csv.gz", "wt", newline="") as f:
        f.write("x,y\n1,2\n")
    assert gzip.decompress(fileio.read_bytes(f"{ram}/t/b.csv.gz")) == b"x,y\n1,2\n"
    with fileio.open(f"{ram}/t/b.csv.gz", "rt") as f:
        assert f.read() == "x,y\n1,2\n"
    with fileio.open(f"{ram}/t/v.npz", "wb") as f:  # zip writing on a non-seekable stream
        np.savez(f, a=np.arange(3))
    with fileio.open(f"{ram}/t/v.npz", "rb") as f, np.load(f) as z:
        assert z["a"].tolist() == [0, 1, 2]
    assert sorted(fileio.listdir(f"{ram}/t")) == ["a.csv", "b.csv.gz", "v.npz"]
    assert fileio.glob(f"{ram}/t/*.csv*") == [f"{ram}/t/a.csv", f"{ram}/t/b.csv.gz"]
    assert fileio.getsize(f"{ram}/t/a.csv") == len(fileio.read_bytes(f"{ram}/t/a.csv"))


def test_writing_again_replaces_the_file(ram):
    """ram:// appends to a file written twice (or copied over); fileio replaces it."""
    from tfreport import fileio
    for text in ("a longer first version", "short"):
        with fileio.open(f"{ram}/c.json", "w") as f:
            f.write(text)
    assert fileio.read_text(f"{ram}/c.json") == "short"
    fileio.write_bytes(f"{ram}/d.json", b"a longer first version")
    fileio.copy(f"{ram}/c.json", f"{ram}/d.json")
    assert fileio.read_text(f"{ram}/d.json") == "short"


def test_fileio_exists_is_exact_on_ram(ram):
    """ram:// matches a missing name by prefix (``best`` "exists" beside ``best.keras``);
    fileio answers exactly, as a bucket or a disk would."""
    from tfreport import fileio
    fileio.write_bytes(f"{ram}/m/best.keras", b"x")
    assert fileio.exists(f"{ram}/m/best.keras") and fileio.isfile(f"{ram}/m/best.keras")
    assert not fileio.exists(f"{ram}/m/best") and not fileio.isdir(f"{ram}/m/best")
    assert not fileio.exists(f"{ram}/m/best.ker")
    assert fileio.isdir(f"{ram}/m") and not fileio.isdir(f"{ram}/m/best.keras")


def test_fileio_errors_are_the_builtin_ones_naming_the_path(ram):
    from tfreport import fileio
    missing = f"{ram}/nothing/here.json"
    for call in (lambda: fileio.open(missing), lambda: fileio.read_bytes(missing),
                 lambda: fileio.remove(missing), lambda: fileio.listdir(f"{ram}/nothing"),
                 lambda: fileio.copy(missing, f"{ram}/x"), lambda: fileio.getsize(missing)):
        with pytest.raises(FileNotFoundError, match="nothing"):
            call()
    fileio.rmtree(f"{ram}/nothing", ignore_errors=True)  # quiet, as shutil's
    with pytest.raises(ValueError, match="mode"):
        fileio.open(f"{ram}/x", "r+")


def test_replacing_a_folder_moves_every_file_and_the_marker_last(ram):
    """A folder rename on ram:// (and, file by file, on a bucket) moves the whole tree; the
    file that marks a build complete goes last, so a reader never sees it early."""
    from tfreport import fileio
    for rel in ("summary.json", "a.tfrecord", "sub/b.txt"):
        fileio.write_bytes(f"{ram}/out.partial/{rel}", rel.encode())
    fileio.write_bytes(f"{ram}/out/stale.txt", b"old")  # replaced as os.replace would not
    fileio.rmtree(f"{ram}/out")
    fileio.replace(f"{ram}/out.partial", f"{ram}/out", last=("summary.json",))
    assert not fileio.exists(f"{ram}/out.partial")
    assert sorted(fileio.listdir(f"{ram}/out")) == ["a.tfrecord", "sub", "summary.json"]
    assert fileio.read_bytes(f"{ram}/out/sub/b.txt") == b"sub/b.txt"


def test_atomic_writes_and_the_writable_check_on_ram(ram):
    from tfreport import atomic, fileio
    from tfreport.errors import ensure_writable_dir, ensure_writable_file
    atomic.write_json(f"{ram}/r/x.json", {"é": 1})
    assert json.loads(fileio.read_text(f"{ram}/r/x.json")) == {"é": 1}
    with atomic.writing(f"{ram}/r/plot.png") as tmp:  # a path-only writer gets a local file
        assert not fileio.is_remote(tmp)
        with open(tmp, "wb") as f:
            f.write(b"png")
    assert fileio.read_bytes(f"{ram}/r/plot.png") == b"png"
    assert sorted(fileio.listdir(f"{ram}/r")) == ["plot.png", "x.json"]  # no .tmp left
    with pytest.raises(RuntimeError):
        with atomic.writing(f"{ram}/r/broken.png"):
            raise RuntimeError("the writer failed")
    assert not fileio.exists(f"{ram}/r/broken.png") and not fileio.exists(
        f"{ram}/r/broken.png.tmp")
    ensure_writable_dir(f"{ram}/new/logs")
    assert fileio.listdir(f"{ram}/new/logs") == []  # the probe is gone
    with pytest.raises(IsADirectoryError):
        ensure_writable_file(f"{ram}/new/logs")


def test_mimic_layout_read_from_ram(ram):
    """The MIMIC-CXR-JPG reader on a bucket-like tree: gzipped tables, report files and JPEGs
    all through gfile (what the Beam/Dataflow build reads from gs://)."""
    from tfreport.data import mimic_synthetic
    from tfreport.data.prepare import prepare
    from tfreport.data.prepared import PreparedDataset
    raw, out = f"{ram}/mimic", f"{ram}/mimic_prepared"
    mimic_synthetic.write_tree(raw, studies=6, image_size=48, quiet=True)
    summary = prepare("mimic_cxr", out, raw, image_size=48, vocab_min_count=1, quiet=True)
    assert summary["source"]["images"] > 6 and sum(summary["counts"].values()) == 6
    assert PreparedDataset(out).ids("train") and summary["dropped"] == {}


def test_iu_xray_nlm_xml_and_images_from_ram(ram, tiny_raw):
    """The NLM layout (XML reports found by glob, PNGs listed by folder) read from ram://."""
    from tfreport import fileio
    from tfreport.data import iu_xray
    from tfreport.data.study import DropCounter
    for uid in (1, 2):
        ids = [f"CXR{uid}_IM-{uid:04d}-{suffix}" for suffix in (1001, 2001)]
        for suffix, name in zip((1001, 2001), ids):
            with open(os.path.join(tiny_raw, "images", f"{uid}_IM-{uid:04d}-{suffix}.dcm.png"),
                      "rb") as f:
                fileio.write_bytes(f"{ram}/nlm/NLMCXR_png/{name}.png", f.read())
        xml = (f'<eCitation><uId id="CXR{uid}"/><MedlineCitation><Article><Abstract>'
               '<AbstractText Label="FINDINGS">The heart is normal in size.</AbstractText>'
               '<AbstractText Label="IMPRESSION">No acute disease.</AbstractText>'
               '</Abstract></Article></MedlineCitation><MeSH><major>normal</major></MeSH>'
               + "".join(f'<parentImage id="{i}"/>' for i in ids) + "</eCitation>")
        fileio.write_bytes(f"{ram}/nlm/ecgen-radiology/{uid}.xml", xml.encode())
    assert iu_xray.detect_layout(f"{ram}/nlm") == "nlm"
    layout, studies = iu_xray.read_layout(f"{ram}/nlm", DropCounter())
    assert layout == "nlm" and len(studies) == 2
    assert all(s.frontal.startswith(f"{ram}/nlm/NLMCXR_png/") for s in studies)
    from tfreport.data import records
    assert records.encode_image(studies[0].frontal)[:2] == b"\xff\xd8"  # a JPEG, via gfile


# -- end to end --------------------------------------------------------------------------

E2E = textwrap.dedent(r'''
    import json, os, sys
    import tensorflow as tf
    from tfreport import fileio
    from tfreport.commands import evaluate, export, generate, prepare_data, train
    from tfreport.data import demo

    base = "ram://e2e"
    raw, data, model, logs, out = (f"{base}/{n}" for n in ("raw", "data", "model", "logs",
                                                           "export"))
    demo.generate(raw, num_studies=48, seed=0, image_size=64, quiet=True)
    prepare_data.main(["--dataset", "demo", "--raw_dir", raw, "--out_dir", data,
                       "--split_ratios", "0.5,0.25,0.25", "--quiet"])
    flags = ["--model", "mrna", "--data_dir", data, "--model_dir", model, "--logdir", logs,
             "--run_name", "run", "--steps_per_epoch", "2", "--batch_size", "4",
             "--image_size", "32", "--max_words", "12", "--beam_size", "1",
             "--model_option", "backbone_width=8", "--trainable_backbone", "false",
             "--feature_cache", "true", "--show_samples", "0", "--quiet"]
    train.main(flags + ["--epochs", "1", "--evaluate_test", "false"])
    train.main(flags + ["--epochs", "2", "--resume"])  # the resume state, read from ram://
    evaluate.main(["--model_dir", model, "--split", "val", "--beam_size", "1", "--quiet"])
    image = sorted(fileio.glob(f"{raw}/images/*-1001.dcm.png"))[0]
    generate.main(["--model_path", model, "--img_frontal_path", image, "--beam_size", "1",
                   "--quiet"])
    export_error = None
    try:
        export.main(["--model_path", model, "--out", out, "--beam_size", "1"])
        served = tf.saved_model.load(f"{out}/1").signatures["serving_default"](
            frontal=tf.constant([fileio.read_bytes(image)]), lateral=tf.constant([b""]))
        assert served["report"].shape == (1,)
    except Exception as e:  # reported, with the files found, for the test to name
        import traceback; traceback.print_exc()
        export_error = f"{type(e).__name__}: {e}"

    def tree(path):  # fileio's listing: tf.io.gfile.walk on ram:// mixes in sibling names
        out = []
        for name in fileio.listdir(path):
            child = f"{path}/{name}"
            out += tree(child) if fileio.isdir(child) else [child[len(base) + 1:]]
        return sorted(out)
    history = json.loads(fileio.read_text(f"{model}/history.json"))
    print("E2E " + json.dumps({"files": tree(base), "epochs": [h["epoch"] for h in history],
                               "export_error": export_error}))
''')


def has_all(files, *names):
    return all(n in files for n in names)


def test_prepare_train_evaluate_generate_export_all_on_ram(tmp_path):
    cwd, tmp = tmp_path / "cwd", tmp_path / "tmp"
    cwd.mkdir()
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp), MPLCONFIGDIR=str(tmp_path / "mpl"),
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    run = subprocess.run([sys.executable, "-c", E2E], cwd=str(cwd), env=env,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-5000:]
    line = next(x for x in run.stdout.splitlines() if x.startswith("E2E "))
    result = json.loads(line[4:])
    files = result["files"]
    # the SavedModel, written to and served from ram://
    assert result["export_error"] is None, (result["export_error"], run.stderr[-3000:])
    assert has_all(files, "export/1/saved_model.pb", "export/1/variables/variables.index")

    def has(pattern):
        import fnmatch
        return any(fnmatch.fnmatch(f, pattern) for f in files)

    # raw layout, prepared records and their JSON
    for pattern in ("raw/indiana_reports.csv", "raw/labels.csv", "raw/images/*.dcm.png",
                    "data/summary.json", "data/vocabulary.json", "data/studies.json",
                    "data/skipped.csv", "data/train-00000-of-00001.tfrecord",
                    "data/feature_cache/*"):
        assert has(pattern), (pattern, files)
    leftovers = [f for f in files if ".partial" in f or ".tmp" in f]
    assert not leftovers, leftovers
    # the run: checkpoints, resume state, history, outputs and TensorBoard events
    for name in ("best.keras", "last.keras", "config.json", "vocabulary.json", "history.json",
                 "resume/state.json", "resume/variables.npz", "predictions_test.json",
                 "metrics_test.json", "metrics_test.md", "predictions_val.json",
                 "metrics_val.json", "metrics_val.md"):
        assert f"model/{name}" in files, (name, files)
    assert result["epochs"] == [1, 2]  # the second run resumed the first
    assert has("logs/run/train/events.out.tfevents.*") and has("logs/run/val/events.out.tfevents.*")
    # nothing written locally: the working directory and the temporary folder stay empty
    assert sorted(os.listdir(cwd)) == [], os.listdir(cwd)
    assert sorted(os.listdir(tmp)) == [], os.listdir(tmp)
    assert run.stdout.strip(), "generate.py printed no report"
