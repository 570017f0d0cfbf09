"""A train.py smoke run with tiny settings: event files, a checkpoint that reloads and
generates the same reports."""
import glob
import json
import os
import subprocess
import sys


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_train_smoke_writes_events_and_a_reloadable_checkpoint(tiny_data, tiny_vocab, tmp_path):
    model_dir, logdir = str(tmp_path / "model"), str(tmp_path / "summary")
    cmd = [sys.executable, os.path.join(ROOT, "scripts", "train.py"), "--model", "mrna",
           "--data_dir", tiny_data, "--preset", "demo", "--epochs", "2", "--steps_per_epoch", "2",
           "--batch_size", "4", "--image_size", "32", "--max_words", "12", "--beam_size", "2",
           "--length_penalty", "0.6", "--report_memory", "false",
           "--model_option", "backbone_width=8", "--model_dir", model_dir, "--logdir", logdir, "--run_name", "smoke", "--quiet",
           "--profile_steps", "3,4"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr[-3000:]
    assert "BLEU-4" in out.stdout and "Model directory" in out.stdout
    assert "Training on the CPU (no GPU visible to TensorFlow)" in out.stdout  # no GPU here
    for sub in ("train", "val"):
        assert glob.glob(os.path.join(logdir, "smoke", sub, "events.out.tfevents.*"))
    # --profile_steps 3,4: epoch 2's two steps, profiled into the train run, and said so
    profiles = glob.glob(os.path.join(logdir, "smoke", "train", "plugins", "profile", "*",
                                      "*.xplane.pb"))
    assert len(profiles) == 1 and os.path.getsize(profiles[0]) > 0, out.stdout[-2000:]
    assert "Profiled training steps 3-4 into" in out.stdout
    assert "pip install tensorboard-plugin-profile" in out.stdout
    for name in ("best.keras", "last.keras", "config.json", "vocabulary.json",
                 "predictions_test.json", "metrics_test.json", "history.json"):
        assert os.path.exists(os.path.join(model_dir, name)), name
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    assert cfg["preset"] == "demo" and cfg["model_config"]["image_size"] == 32
    assert cfg["model_config"]["report_memory"] is False  # the flag beats the demo preset's on
    assert cfg["train_config"]["length_penalty"] == 0.6
    assert cfg["model_config"]["backbone_width"] == 8  # a config field with no flag of its own

    # --config replays it: the same model, preset, data and every resolved value
    from tfreport.commands.train import parse
    spec, model_over, train_over, _ = parse(["--config", os.path.join(model_dir, "config.json"),
                                             "--epochs", "1"])
    assert (spec.model, spec.preset, spec.data_dir) == ("mrna", "demo", cfg["data_dir"])
    assert model_over == {k: v for k, v in cfg["model_config"].items() if k != "vocab_size"}
    assert train_over == {**cfg["train_config"], "epochs": 1}
    assert json.load(open(os.path.join(model_dir, "metrics_test.json")))["length_penalty"] == 0.6

    # the checkpoint reloads and generates the same reports train.py wrote
    from tfreport import evaluation
    from tfreport.data import pipeline
    from tfreport.inference import load_model
    model = load_model(model_dir)
    ds = pipeline.dataset(tiny_data, "test", batch_size=32, image_size=32, max_sentences=8,
                          max_words=12)
    again = evaluation.predict(model, tiny_vocab, ds, beam_size=2, quiet=True,
                               length_penalty=0.6)
    assert again == json.load(open(os.path.join(model_dir, "predictions_test.json")))

    # evaluate.py reports all, normal and abnormal
    out = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "evaluate.py"),
                          "--model_dir", model_dir, "--split", "val", "--beam_size", "1",
                          "--quiet"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "| All |" in out.stdout and "| Normal |" in out.stdout and "| Abnormal |" in out.stdout
    metrics = json.load(open(os.path.join(model_dir, "metrics_val.json")))
    assert set(metrics["groups"]) == {"normal", "abnormal"}
    n_val = len(json.load(open(os.path.join(tiny_data, "val_split.json"))))
    assert metrics["studies"] == n_val
    assert (metrics["groups"]["normal"]["studies"] + metrics["groups"]["abnormal"]["studies"]
            == n_val)
    assert os.path.exists(os.path.join(model_dir, "metrics_val.md"))


def test_bad_flags_give_one_clear_line(tiny_data, tmp_path):
    cmd = [sys.executable, os.path.join(ROOT, "scripts", "train.py"), "--model", "nope",
           "--data_dir", tiny_data, "--model_dir", str(tmp_path / "m"), "--logdir", str(tmp_path)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2
    assert "unknown model 'nope'; valid: cnn_rnn, cnn_rnn_att, hier_rnn, m2_transformer, mrna" in out.stderr
    cmd[cmd.index("--data_dir") + 1] = str(tmp_path / "missing")
    cmd[cmd.index("--model") + 1] = "mrna"
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "summary.json: not found" in out.stderr
    cmd[cmd.index("--data_dir") + 1] = tiny_data
    cmd[cmd.index("--model") + 1] = "cnn_rnn"
    out = subprocess.run(cmd + ["--report_memory", "true"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 2 and "report_memory" in out.stderr


def test_model_options_and_replay_errors(tmp_path):
    import pytest
    from tfreport.commands.train import parse
    _, model_over, _, _ = parse(["--model", "m2_transformer", "--model_option", "memory_slots=0",
                                 "--model_option", "backbone_weights=pretrained/x",
                                 "--model_option", "dropout=0.2", "--backbone", "dual"])
    assert model_over == {"memory_slots": 0, "backbone_weights": "pretrained/x",
                          "dropout": 0.2, "backbone": "dual"}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse(["--model_option", "memory_slots"])
    with pytest.raises(FileNotFoundError, match="none.json: file not found"):
        parse(["--config", str(tmp_path / "none.json")])
    bad = tmp_path / "bad.json"
    bad.write_text('{"model": "mrna"}')
    with pytest.raises(ValueError, match="not a train.py config.json"):
        parse(["--config", str(bad)])


def test_profile_steps_flag():
    import pytest
    from tfreport.commands.train import parse
    assert parse(["--profile_steps", "10,20"])[0].profile_steps == (10, 20)
    assert parse(["--profile_steps", "7"])[0].profile_steps == (7, 11)  # a 5-step window
    assert parse([])[0].profile_steps is None
    for bad in ("5,2", "0,3", "x", "1,2,3"):
        with pytest.raises(ValueError, match="--profile_steps expects START,END"):
            parse(["--profile_steps", bad])


def test_unknown_model_option_is_a_clear_error(tiny_data, tmp_path):
    cmd = [sys.executable, os.path.join(ROOT, "scripts", "train.py"), "--model", "cnn_rnn",
           "--data_dir", tiny_data, "--model_dir", str(tmp_path / "m"), "--logdir", str(tmp_path),
           "--model_option", "memory_slots=4"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "memory_slots" in out.stderr, out.stderr[-2000:]
