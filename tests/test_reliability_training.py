"""Issue 16, the training and scoring half: each bad input or fault a user met gets one clear
message naming the file and the problem, and no run is replaced unasked (docs/reliability.md)."""
import errno
import json
import math
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--model", "cnn_rnn", "--preset", "demo", "--epochs", "1", "--steps_per_epoch", "2",
        "--batch_size", "4", "--image_size", "32", "--max_words", "12", "--beam_size", "1",
        "--val_samples", "4", "--model_option", "backbone_width=8", "--quiet"]


def script(name, *args, cwd=None):
    return subprocess.run([sys.executable, os.path.join(ROOT, "scripts", name), *args],
                          capture_output=True, text=True, timeout=600, cwd=cwd)


def train(data_dir, model_dir, *extra, tmp_path):
    return script("train.py", *TINY, "--data_dir", data_dir, "--model_dir", model_dir,
                  "--logdir", str(tmp_path / "summary"), *extra, cwd=str(tmp_path))


def copy_data(tiny_data, tmp_path):
    out = str(tmp_path / "data")
    shutil.copytree(tiny_data, out, ignore=shutil.ignore_patterns("feature_cache"))
    return out


def edit_summary(data_dir, **counts):
    path = os.path.join(data_dir, "summary.json")
    summary = json.load(open(path))
    summary["counts"].update(counts)
    json.dump(summary, open(path, "w"))


def test_an_existing_run_is_never_replaced_unasked(tiny_data, tmp_path):
    model_dir = str(tmp_path / "run")
    first = train(tiny_data, model_dir, tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    kept = {n: open(os.path.join(model_dir, n), "rb").read()
            for n in ("config.json", "best.keras", "metrics_test.json")}

    again = train(tiny_data, model_dir, "--epochs", "2", tmp_path=tmp_path)
    assert again.returncode == 2
    message = again.stderr
    assert model_dir in message and "already holds a run" in message
    for choice in ("--resume", "--overwrite", "--model_dir"):
        assert choice in message
    for name, content in kept.items():  # nothing was touched
        assert open(os.path.join(model_dir, name), "rb").read() == content, name

    replaced = train(tiny_data, model_dir, "--overwrite", "--evaluate_test", "false",
                     tmp_path=tmp_path)
    assert replaced.returncode == 0, replaced.stderr[-3000:]
    assert "--overwrite: removing the earlier run" in replaced.stdout
    # the old test scores described the old model: they must not sit beside the new one
    assert not os.path.exists(os.path.join(model_dir, "metrics_test.json"))
    assert os.path.exists(os.path.join(model_dir, "best.keras"))

    both = train(tiny_data, model_dir, "--overwrite", "--resume", tmp_path=tmp_path)
    assert both.returncode == 2 and "contradict" in both.stderr


def test_an_unwritable_model_dir_fails_before_training(tiny_data, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    run = train(tiny_data, str(blocker / "run"), tmp_path=tmp_path)
    assert run.returncode == 2
    assert str(blocker) in run.stderr and "Traceback" not in run.stderr
    assert "epoch" not in run.stdout.lower()


def test_os_errors_name_the_path_and_the_cause():
    from tfreport.errors import os_error_message
    full = OSError(errno.ENOSPC, "No space left on device", "/runs/x/best.keras")
    message = os_error_message(full)
    assert message.startswith("/runs/x/best.keras: no space left on device (errno 28)")
    assert "free some space" in message
    assert os_error_message(FileNotFoundError("D/x.json: file not found")) == "D/x.json: file not found"


def test_a_full_disk_mid_save_names_the_file_and_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    import keras
    from tfreport.training.trainer import save_model
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    path = str(tmp_path / "last.keras")
    save_model(model, path)
    before = open(path, "rb").read()

    def full(self, filepath, *a, **k):
        open(filepath, "wb").write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(keras.Model, "save", full)
    with pytest.raises(OSError) as e:
        save_model(model, path)
    assert e.value.filename == path and e.value.errno == errno.ENOSPC
    assert open(path, "rb").read() == before
    assert os.listdir(tmp_path) == ["last.keras"]  # no half-written temporary left


@pytest.mark.parametrize("flag,value", [("--learning_rate", "nan"), ("--learning_rate", "inf"),
                                        ("--clip_norm", "-1"), ("--lr_decay", "0"),
                                        ("--beam_size", "0"), ("--epochs", "0")])
def test_invalid_numbers_in_flags_are_refused(flag, value, capsys):
    from tfreport.commands.train import parse
    with pytest.raises(SystemExit) as e:  # argparse: exit 2 with the flag named
        parse([flag, value])
    assert e.value.code == 2 and flag in capsys.readouterr().err


@pytest.mark.parametrize("field,value", [("learning_rate", math.nan), ("clip_norm", -1.0),
                                         ("lr_decay", 0.0), ("beam_size", 0),
                                         ("adam_beta_2", 1.0)])
def test_invalid_numbers_from_a_replayed_config_are_refused(field, value):
    """A --config replay or a hand-edited config.json bypasses the flags: TrainConfig checks."""
    from tfreport.training.config import TrainConfig
    with pytest.raises(ValueError) as e:
        TrainConfig.preset("demo", "mrna", **{field: value})
    assert field in str(e.value)


def test_other_scripts_refuse_invalid_numbers_too():
    run = script("evaluate.py", "--model_dir", "m", "--temperature", "nan")
    assert run.returncode == 2 and "--temperature: expected a positive number" in run.stderr
    run = script("generate.py", "--model_path", "m", "--img_frontal_path", "f",
                 "--beam_size", "0")
    assert run.returncode == 2 and "--beam_size: expected an integer of at least 1" in run.stderr


def test_divergence_is_a_stop_that_names_the_checkpoints_that_exist(tmp_path):
    from tfreport.training.trainer import (DIVERGENCE_FACTOR, DIVERGENCE_WINDOW, LAST, Trainer,
                                           TrainingDiverged)
    trainer = Trainer.__new__(Trainer)  # only the loss bookkeeping is exercised
    trainer.model_dir, trainer.vocab = str(tmp_path), list(range(1000))  # log(1000) = 6.9
    trainer.step_losses = [7.0] * 3
    with pytest.raises(TrainingDiverged) as e:  # NaN in the first epoch: no checkpoint yet
        trainer._check_divergence(math.nan, 1, 3)
    assert "no checkpoint was saved yet" in str(e.value) and LAST not in str(e.value)

    trainer.step_losses = [7.0] * DIVERGENCE_WINDOW + [6.0] * DIVERGENCE_WINDOW
    trainer._check_divergence(40.0, 2, 0)  # a spike in a healthy run passes
    open(tmp_path / LAST, "w").close()
    trainer.step_losses += [7.0 * DIVERGENCE_FACTOR * 2] * DIVERGENCE_WINDOW
    with pytest.raises(TrainingDiverged) as e:  # finite but exploding
        trainer._check_divergence(200.0, 3, 5)
    assert "than 10x its start (7)" in str(e.value)
    assert os.path.join(str(tmp_path), LAST) in str(e.value)


def test_a_diverging_run_exits_with_an_error_not_a_best_model(tiny_data, tmp_path):
    run = train(tiny_data, str(tmp_path / "run"), "--learning_rate", "1e6", "--clip_norm", "0",
                "--epochs", "3", "--steps_per_epoch", "8", tmp_path=tmp_path)
    assert run.returncode == 2, (run.stdout[-2000:], run.stderr[-2000:])
    assert "diverged" in run.stderr and "Traceback" not in run.stderr
    assert not os.path.exists(tmp_path / "run" / "metrics_test.json")


def test_without_a_validation_split_best_follows_the_training_loss(tiny_data, tmp_path):
    data = copy_data(tiny_data, tmp_path)
    edit_summary(data, val=0)
    run = train(data, str(tmp_path / "run"), "--epochs", "3", "--learning_rate", "3e-3",
                "--evaluate_test", "false", tmp_path=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "No validation split" in run.stdout
    history = json.load(open(tmp_path / "run" / "history.json"))
    best_epoch = min(history, key=lambda r: r["train_loss"])["epoch"]
    flagged = [r["epoch"] for r in history if r["best"]]
    assert flagged[-1] == best_epoch and len(history) == 3


def test_an_empty_split_is_an_error_that_says_which(tiny_data, tmp_path):
    data = copy_data(tiny_data, tmp_path)
    edit_summary(data, test=0)
    run = train(data, str(tmp_path / "run"), tmp_path=tmp_path)
    assert run.returncode == 2
    assert "the test split has no studies" in run.stderr and "--evaluate_test false" in run.stderr
    assert not os.path.exists(tmp_path / "run" / "config.json")  # refused before any work
    edit_summary(data, train=0, test=16)
    run = train(data, str(tmp_path / "run2"), tmp_path=tmp_path)
    assert run.returncode == 2 and "the train split has no studies" in run.stderr


def _first_train_shard(data):
    summary = json.load(open(os.path.join(data, "summary.json")))
    return os.path.join(data, summary["shards"]["train"][0])


def test_a_truncated_shard_is_named(tiny_data, tmp_path):
    data = copy_data(tiny_data, tmp_path)
    shard = _first_train_shard(data)
    size = os.path.getsize(shard)
    with open(shard, "r+b") as f:
        f.truncate(size // 2)  # the first records stay readable; the cut shows mid-epoch
    run = train(data, str(tmp_path / "run"), "--steps_per_epoch", "8", tmp_path=tmp_path)
    assert run.returncode == 2, run.stderr[-3000:]
    assert shard in run.stderr and "truncated or corrupt" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_shard_of_another_schema_is_named(tiny_data, tmp_path):
    import tensorflow as tf
    data = copy_data(tiny_data, tmp_path)
    shard = _first_train_shard(data)
    example = tf.train.Example(features=tf.train.Features(feature={
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"x"]))}))
    with tf.io.TFRecordWriter(shard) as w:
        w.write(example.SerializeToString())
    run = train(data, str(tmp_path / "run"), tmp_path=tmp_path)
    assert run.returncode == 2
    assert shard in run.stderr and "not a tfreport record" in run.stderr


def test_generate_checks_its_output_path_before_decoding(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    images = tmp_path / "images"
    images.mkdir()
    # the model path does not exist either: the output is checked first, in the first second
    run = script("generate.py", "--images_dir", str(images), "--out", str(blocker / "p.jsonl"),
                 "--model_path", str(tmp_path / "no_model"))
    assert run.returncode == 2
    assert str(blocker) in run.stderr and "cannot write" in run.stderr
    # a missing folder is simply created
    from tfreport.errors import ensure_writable_file
    ensure_writable_file(str(tmp_path / "new" / "deeper" / "p.jsonl"))
    assert (tmp_path / "new" / "deeper").is_dir()


def test_score_warns_when_predictions_cover_part_of_the_references(tmp_path):
    refs = {str(i): "the heart is normal . the lungs are clear ." for i in range(4)}
    preds = {"0": refs["0"], "1": "the lungs are clear ."}
    for name, obj in (("refs.json", refs), ("preds.json", preds), ("empty.json", {})):
        json.dump(obj, open(tmp_path / name, "w"))
    run = script("score.py", "--predictions", str(tmp_path / "preds.json"),
                 "--references", str(tmp_path / "refs.json"))
    assert run.returncode == 0, run.stderr[-2000:]
    assert "covers 2 of the 4 studies" in run.stderr
    assert json.loads(run.stdout)["coverage"] == {"scored": 2, "references": 4}
    empty = script("score.py", "--predictions", str(tmp_path / "empty.json"),
                   "--references", str(tmp_path / "refs.json"))
    assert empty.returncode == 2 and "empty.json: no predictions" in empty.stderr


def test_train_num_studies_rebuilds_a_demo_of_another_size(tmp_path, monkeypatch):
    """train.py --num_studies with no --data_dir: a demo built earlier at another size is
    rebuilt, not silently used."""
    from tfreport.data.prepared import demo_dataset
    monkeypatch.chdir(tmp_path)
    path = demo_dataset(quiet=True, num_studies=12)
    assert sum(json.load(open(os.path.join(path, "summary.json")))["counts"].values()) == 12
    assert demo_dataset(quiet=True) == path  # no count asked: the demo there is used
    demo_dataset(quiet=True, num_studies=16)
    assert sum(json.load(open(os.path.join(path, "summary.json")))["counts"].values()) == 16
