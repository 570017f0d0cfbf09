"""A killed run resumes where it stopped and ends where an uninterrupted run ends."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def command(data_dir, model_dir, *extra):
    return [sys.executable, os.path.join(ROOT, "scripts", "train.py"), "--model", "mrna",
            "--data_dir", data_dir, "--preset", "demo", "--epochs", "4",
            "--steps_per_epoch", "3", "--batch_size", "4", "--image_size", "32",
            "--max_words", "12", "--beam_size", "1", "--val_samples", "4", "--deterministic",
            "--evaluate_test", "false", "--model_dir", model_dir,
            "--logdir", os.path.join(model_dir, "summary"), "--quiet", *extra]


def epochs_done(model_dir):
    try:
        with open(os.path.join(model_dir, "history.json")) as f:
            return len(json.load(f))
    except (OSError, ValueError):
        return 0


def start_and_stop(cmd, model_dir, after_epochs, sig):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while epochs_done(model_dir) < after_epochs:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=300)
    return proc.returncode, err


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def final_weights(model_dir):
    with np.load(os.path.join(model_dir, "resume", "variables.npz")) as data:
        return {k: data[k] for k in data.files if k.startswith("model/")}


def assert_same_run(a, b):
    wa, wb = final_weights(a), final_weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        np.testing.assert_allclose(wa[k], wb[k], rtol=0, atol=1e-5, err_msg=k)
    ha = json.load(open(os.path.join(a, "history.json")))
    hb = json.load(open(os.path.join(b, "history.json")))
    assert [r["epoch"] for r in hb] == [1, 2, 3, 4]
    np.testing.assert_allclose([r["train_loss"] for r in ha], [r["train_loss"] for r in hb],
                               atol=1e-5)


def test_kill_then_resume_matches_an_uninterrupted_run(tiny_data, tmp_path):
    full = str(tmp_path / "full")
    run(command(tiny_data, full))

    killed = str(tmp_path / "killed")
    code, _ = start_and_stop(command(tiny_data, killed), killed, 2, signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert 2 <= epochs_done(killed) < 4  # at most the epoch in progress was lost
    out = run(command(tiny_data, killed, "--resume"))
    assert "Resuming at epoch" in out.stdout
    assert_same_run(full, killed)
    # each epoch keeps its wall time, so the resumed run's history adds up to the whole run
    # (the benchmark's training column for a row that continued in a later session)
    seconds = [r["seconds"] for r in json.load(open(os.path.join(killed, "history.json")))]
    assert len(seconds) == 4 and all(t > 0 for t in seconds)

    # SIGTERM saves the state where the loop stands (mid-epoch, most likely) and exits cleanly
    stopped = str(tmp_path / "sigterm")
    code, err = start_and_stop(command(tiny_data, stopped), stopped, 1, signal.SIGTERM)
    assert code == 2 and "--resume" in err, err[-2000:]
    state = json.load(open(os.path.join(stopped, "resume", "state.json")))
    assert state["epoch"] >= 2
    run(command(tiny_data, stopped, "--resume"))
    assert_same_run(full, stopped)
    # the epoch cut by SIGTERM keeps the seconds it ran before the stop
    resumed = json.load(open(os.path.join(stopped, "history.json")))[state["epoch"] - 1]
    assert state["step_in_epoch"] == 0 or (
        state["seconds_in_epoch"] > 0 and resumed["seconds"] > state["seconds_in_epoch"])


def test_resume_without_model_dir_is_a_clear_error(tiny_data):
    cmd = [sys.executable, os.path.join(ROOT, "scripts", "train.py"), "--data_dir", tiny_data,
           "--resume"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "--resume needs --model_dir" in out.stderr
