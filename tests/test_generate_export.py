"""generate.py (legacy flags and folder mode) and the SavedModel export agree on every report."""
import json
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from model_helpers import overfit, tiny_batch, tiny_model
from tfreport.export import ids_to_text
from tfreport.text import join_report
from tfreport.vocab import END_ID, PAD_ID, START_ID

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def script(name, *args):
    out = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", name), *map(str, args)],
                         capture_output=True, text=True, timeout=600)
    return out


def raw_image(tiny_raw, uid, view):
    return os.path.join(tiny_raw, "images", f"{uid}_IM-{uid:04d}-{view}.dcm.png")


@pytest.fixture(scope="module", params=["m2_transformer", "mrna"])
def model_dir(request, tiny_data, tiny_vocab, tmp_path_factory):
    """A briefly trained tiny model saved as a model directory."""
    keras.utils.set_random_seed(0)
    model = tiny_model(request.param, len(tiny_vocab))
    overfit(model, tiny_batch(tiny_data, model, n=8), steps=60)
    out = tmp_path_factory.mktemp(request.param)
    model.save(str(out / "best.keras"))
    shutil.copy(os.path.join(tiny_data, "vocabulary.json"), out / "vocabulary.json")
    return str(out)


def test_ids_to_text_matches_the_vocabulary(tiny_vocab):
    rng = np.random.default_rng(0)
    words = [4, 5, 6, 7, 8]
    flat = rng.choice(words + [END_ID] * 3, size=(64, 20)).astype(np.int32)
    flat[0] = [4, 5, END_ID, END_ID, 6] + [PAD_ID] * 15  # closing empty sentence
    flat[1] = [END_ID] + [4] * 19  # empty report
    flat[2] = [4] * 20  # cut at the maximum length mid-sentence
    got = ids_to_text(tf.constant(flat), tf.constant(tiny_vocab.tokens), False).numpy()
    for row, text in zip(flat, got):
        assert text.decode() == join_report(tiny_vocab.decode_flat(row))
    grid = rng.choice(words + [END_ID, PAD_ID, START_ID], size=(64, 4, 6)).astype(np.int32)
    grid[0, 1] = [END_ID] + [4] * 5  # the second sentence is empty: the report ends there
    got = ids_to_text(tf.constant(grid), tf.constant(tiny_vocab.tokens), True).numpy()
    for row, text in zip(grid, got):
        assert text.decode() == join_report(tiny_vocab.decode_report(row))


@pytest.fixture(scope="module")
def exported(model_dir, tmp_path_factory):
    """(the model's base folder, what export.py printed): version 1 of ``model_dir``."""
    base = str(tmp_path_factory.mktemp("serving") / "report")
    out = script("export.py", "--model_path", os.path.join(model_dir, "best.keras"),
                 "--out", base, "--beam_size", 2)
    assert out.returncode == 0, out.stderr[-3000:]
    return base, out.stdout


def test_generate_and_export_write_the_same_report(model_dir, exported, tiny_raw):
    frontal, lateral = raw_image(tiny_raw, 3, 1001), raw_image(tiny_raw, 3, 2001)
    out = script("generate.py", "--img_frontal_path", frontal, "--img_lateral_path", lateral,
                 "--model_path", model_dir, "--beam_size", 2)
    assert out.returncode == 0, out.stderr[-3000:]
    printed = out.stdout.strip()
    assert printed  # a non-empty report

    base, _ = exported
    assert sorted(os.listdir(base)) == ["1"]  # TF Serving's layout, nothing half-written
    serve = tf.saved_model.load(os.path.join(base, "1")).signatures["serving_default"]
    data = [open(p, "rb").read() for p in (frontal, lateral)]
    served = serve(frontal=tf.constant(data[:1]), lateral=tf.constant(data[1:]))["report"]
    assert served.numpy()[0].decode() == printed

    # a missing lateral view: an empty string there, no --img_lateral_path here
    out = script("generate.py", "--img_frontal_path", frontal, "--model_path", model_dir,
                 "--beam_size", 2)
    assert out.returncode == 0, out.stderr[-3000:]
    served = serve(frontal=tf.constant(data[:1]), lateral=tf.constant([b""]))["report"]
    assert served.numpy()[0].decode() == out.stdout.strip()


def test_saved_model_cli_shows_and_runs_the_printed_commands(exported, tiny_raw, tmp_path):
    """The saved_model_cli lines export.py prints work as printed: ``show`` lists the
    signature, ``run`` (images from a .npz) writes the report the SavedModel serves."""
    import ast
    import shlex
    base, printed = exported
    lines = [x.strip() for x in printed.splitlines()]
    show = next(x for x in lines if x.startswith("saved_model_cli show"))
    run = next(x for x in lines if x.startswith("saved_model_cli run"))
    make_npz = next(x for x in lines if x.startswith("python -c"))
    version = os.path.join(base, "1")
    assert f"--dir {version} " in show and f"--dir {version} " in run

    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    out = subprocess.run([cli, *shlex.split(show)[1:]], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    for name in ("frontal", "lateral"):
        assert f"inputs['{name}'] tensor_info:\n      dtype: DT_STRING\n      shape: (-1)" in out.stdout
    assert "outputs['report'] tensor_info:\n      dtype: DT_STRING" in out.stdout

    shutil.copy(raw_image(tiny_raw, 3, 1001), tmp_path / "frontal.png")
    shutil.copy(raw_image(tiny_raw, 3, 2001), tmp_path / "lateral.png")
    npz = subprocess.run([sys.executable, *shlex.split(make_npz)[1:]], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert npz.returncode == 0, npz.stderr[-2000:]
    out = subprocess.run([cli, *shlex.split(run)[1:]], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    result = out.stdout.split("Result for output key report:", 1)[1].strip().splitlines()[0]
    served = tf.saved_model.load(version).signatures["serving_default"](
        frontal=tf.constant([(tmp_path / "frontal.png").read_bytes()]),
        lateral=tf.constant([(tmp_path / "lateral.png").read_bytes()]))["report"]
    assert ast.literal_eval(result) == [served.numpy()[0]]


def test_export_numbers_versions_and_never_replaces_one_unasked(tmp_path, monkeypatch):
    """OUT/<version>/: 1 for a new OUT, then one past the highest; an existing version only
    with overwrite; a killed export's leftovers are neither a version nor in the way."""
    from tfreport import export as ex
    from tfreport.commands.export import main

    def fake_savedmodel(model_path, path, beam_size=3):  # the versioning, not the model
        tf.io.gfile.makedirs(path)
        if model_path == "broken":  # dies half-way through writing
            raise ValueError("broken: cannot be exported")
        with tf.io.gfile.GFile(path + "/saved_model.pb", "w") as f:
            f.write(model_path)

    monkeypatch.setattr(ex, "write_savedmodel", fake_savedmodel)
    content = lambda d: open(os.path.join(d, "saved_model.pb")).read()  # noqa: E731
    base = str(tmp_path / "serving" / "report")
    assert ex.export("a", base) == base + "/1"
    assert ex.export("b", base + "/") == base + "/2"
    with pytest.raises(FileExistsError, match=r"report/2: version 2 exists; nothing was "
                                              r"changed. Add --overwrite .* version 3"):
        ex.export("c", base, version=2)
    assert content(base + "/2") == "b"
    assert ex.export("c", base, version=2, overwrite=True) == base + "/2"
    assert content(base + "/2") == "c"
    os.makedirs(base + "/9.partial/variables")  # killed mid-write: not a version
    os.makedirs(base + "/notes")
    assert ex.export("d", base, version=9) == base + "/9" and content(base + "/9") == "d"
    with pytest.raises(ValueError, match="broken"):
        ex.export("broken", base)
    assert ex.versions(base) == [1, 2, 9]
    assert sorted(os.listdir(base)) == ["1", "10.partial", "2", "9", "notes"]
    assert ex.export("e", base) == base + "/10"  # the failed one's leftovers are replaced
    assert ex.latest_version(base) == base + "/10" and ex.latest_version(base + "/2") == base + "/2"

    old = tmp_path / "old_layout"  # an export from before versions: refused, still loadable
    old.mkdir()
    (old / "saved_model.pb").write_text("x")
    with pytest.raises(FileExistsError, match="written straight into it.*old_layout/1"):
        ex.export("f", str(old))
    assert ex.latest_version(str(old)) == str(old)
    with pytest.raises(FileNotFoundError, match="no numbered version folder"):
        ex.latest_version(str(tmp_path / "empty"))
    with pytest.raises(SystemExit):
        main(["--model_path", "m", "--out", base, "--version", "0"])


def test_folder_mode_skips_a_bad_study_and_writes_the_rest(model_dir, tiny_raw, tmp_path):
    folder = tmp_path / "studies"
    for uid in (1, 2):  # one sub-folder per study
        (folder / f"s{uid}").mkdir(parents=True)
        shutil.copy(raw_image(tiny_raw, uid, 1001), folder / f"s{uid}" / "frontal.png")
        shutil.copy(raw_image(tiny_raw, uid, 2001), folder / f"s{uid}" / "lateral.png")
    shutil.copy(raw_image(tiny_raw, 3, 1001), folder / "s3_frontal.png")  # flat, frontal only
    (folder / "s4").mkdir()
    (folder / "s4" / "frontal.png").write_bytes(b"not an image")
    out_path = str(tmp_path / "preds.jsonl")
    out = script("generate.py", "--images_dir", folder, "--out", out_path,
                 "--model_path", model_dir, "--beam_size", 1, "--quiet")
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [json.loads(x) for x in open(out_path)]
    assert [x["id"] for x in lines] == ["s1", "s2", "s3"]
    assert "s4" in out.stderr and "frontal.png: unreadable image" in out.stderr

    from tfreport.inference import ReportGenerator
    gen = ReportGenerator.from_path(model_dir)
    assert lines[2]["report"] == gen.generate(raw_image(tiny_raw, 3, 1001), None, beam_size=1)


def test_bad_paths_give_clear_errors(model_dir, tiny_raw, tmp_path):
    out = script("generate.py", "--img_frontal_path", tmp_path / "missing.png",
                 "--model_path", model_dir)
    assert out.returncode == 2 and "missing.png: image file not found" in out.stderr
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG broken")
    out = script("generate.py", "--img_frontal_path", bad, "--model_path", model_dir)
    assert out.returncode == 2 and "bad.png: unreadable image" in out.stderr
    out = script("generate.py", "--img_frontal_path", raw_image(tiny_raw, 1, 1001),
                 "--model_path", tmp_path / "nope")
    assert out.returncode == 2 and "nope: no such model file or directory" in out.stderr


def test_a_dicom_pair_writes_the_report_of_its_png_pair(model_dir, tiny_raw, tmp_path):
    """DICOM files of a study's two views (12-bit, rescaled and windowed, one MONOCHROME1)
    give the report the PNGs they were made from give, alone and in folder mode."""
    from dicom_helpers import dicom_of_png
    from tfreport.data.image_folder import find_studies
    from tfreport.inference import ReportGenerator
    frontal, lateral = raw_image(tiny_raw, 3, 1001), raw_image(tiny_raw, 3, 2001)
    (tmp_path / "s3").mkdir()
    f_dcm = dicom_of_png(frontal, tmp_path / "s3" / "frontal.dcm")
    l_dcm = dicom_of_png(lateral, tmp_path / "s3" / "lateral.dcm", "MONOCHROME1")
    gen = ReportGenerator.from_path(model_dir)
    report = gen.generate(f_dcm, l_dcm, beam_size=1)
    assert report and report == gen.generate(frontal, lateral, beam_size=1)
    assert find_studies(str(tmp_path)) == ([("s3", f_dcm, l_dcm)], [])
