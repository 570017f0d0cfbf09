"""The SCST stage end to end on the tiny demo: it writes a model directory like a training
run (best.keras, history, TensorBoard's scst/ figures), refuses what it cannot run, and a
run killed after its first epoch and resumed ends with the uninterrupted run's weights."""
import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def nll_run(tiny_data, tmp_path_factory):
    """A CNN-RNN trained by NLL (train.py, a few steps): SCST's starting point."""
    model_dir = str(tmp_path_factory.mktemp("scst") / "nll")
    run = subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", "train.py"), "--data_dir", tiny_data,
         "--model", "cnn_rnn", "--preset", "demo", "--epochs", "2", "--steps_per_epoch", "4",
         "--batch_size", "8", "--image_size", "32", "--max_words", "12", "--beam_size", "1",
         "--model_option", "backbone_width=8", "--model_dir", model_dir,
         "--logdir", os.path.join(model_dir, "logs"), "--evaluate_test", "false", "--quiet"],
        capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    return model_dir


def _stage(nll_run, model_dir, epochs, resume=False, logdir=None):
    from tfreport.rl.stage import SCSTConfig, run
    return run(nll_run, model_dir, SCSTConfig(reward="cider:1,ce:1", samples=3),
               {"epochs": epochs, "batch_size": 4, "val_metric": "CE-F1"},
               logdir=logdir or os.path.join(model_dir, "logs"), resume=resume,
               steps_per_epoch=5, quiet=True, evaluate_test=False)


def _weights(path):
    import keras
    return [np.asarray(w) for w in keras.saving.load_model(path).weights]


def test_stage_writes_a_run_and_resumes_exactly(nll_run, tmp_path):
    straight = str(tmp_path / "straight")
    _stage(nll_run, straight, epochs=2)
    for name in ("best.keras", "last.keras", "history.json", "config.json", "vocabulary.json"):
        assert os.path.exists(os.path.join(straight, name)), name
    config = json.load(open(os.path.join(straight, "config.json")))
    assert config["objective"] == "scst" and config["init_from"] == os.path.abspath(nll_run)
    assert config["scst_config"]["reward"] == "cider:1,ce:1"
    assert config["train_config"]["learning_rate"] == 5e-5 and config["train_config"]["lr_decay"] == 1.0
    history = json.load(open(os.path.join(straight, "history.json")))
    assert [h["epoch"] for h in history] == [1, 2] and "val_CE-F1" in history[0]
    # TensorBoard: the reward, each component, the baseline and the entropy
    import tensorflow as tf
    tags = set()
    for path in glob.glob(os.path.join(straight, "logs", "straight", "train", "*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            tags.update(v.tag for v in event.summary.value)
    assert {"loss", "scst/reward", "scst/reward/cider", "scst/reward/ce", "scst/baseline",
            "scst/entropy", "scst/sampled_reports"} <= tags, tags

    # killed after epoch 1, resumed to 2: the same weights as the run that never stopped
    resumed = str(tmp_path / "resumed")
    _stage(nll_run, resumed, epochs=1)
    _stage(nll_run, resumed, epochs=2, resume=True)
    for a, b in zip(_weights(os.path.join(straight, "last.keras")),
                    _weights(os.path.join(resumed, "last.keras"))):
        np.testing.assert_allclose(a, b, atol=1e-5)
    # and the stage moved the weights away from the NLL model's
    moved = [np.abs(a - b).max() for a, b in zip(_weights(os.path.join(nll_run, "best.keras")),
                                                 _weights(os.path.join(straight, "last.keras")))]
    assert max(moved) > 1e-4


def test_stage_refuses_what_it_cannot_run(nll_run, tmp_path):
    from tfreport.rl.stage import SCSTConfig
    with pytest.raises(ValueError, match="unknown reward 'rouge'"):
        SCSTConfig(reward="rouge:1")
    with pytest.raises(ValueError, match="2 or more with the mean baseline"):
        SCSTConfig(samples=1)
    with pytest.raises(FileNotFoundError, match="no config.json"):
        _stage(str(tmp_path), str(tmp_path / "out"), epochs=1)
    out = str(tmp_path / "twice")
    _stage(nll_run, out, epochs=1)
    with pytest.raises(ValueError, match="already holds a run"):
        _stage(nll_run, out, epochs=1)


def test_freeze_backbone_keeps_the_extractor_and_trains_the_decoder(nll_run, tmp_path):
    """scst.py --freeze_backbone: the image extractor's weights end as the NLL model's while
    the decoder's trainable weights move; without it the same run moves the extractor too.
    A resume with another recipe is refused."""
    import keras
    from tfreport.commands.scst import main as scst_main

    def moved(freeze):
        out = str(tmp_path / f"freeze{freeze}")
        scst_main(["--init_from", nll_run, "--model_dir", out, "--reward", "cider:1",
                   "--scst_samples", "3", "--epochs", "1", "--batch_size", "4",
                   "--learning_rate", "1e-3", "--steps_per_epoch", "4", "--no_test",
                   "--quiet", "--logdir", os.path.join(out, "logs")]
                  + (["--freeze_backbone"] if freeze else []))
        config = json.load(open(os.path.join(out, "config.json")))
        assert config["scst_config"]["freeze_backbone"] is freeze
        before = keras.saving.load_model(os.path.join(nll_run, "best.keras"))
        after = keras.saving.load_model(os.path.join(out, "last.keras"))
        extractor = {w.path for w in before.visual_encoder.weights}
        decoder = {w.path for w in before.trainable_weights} - extractor
        trained = {v.path: np.asarray(v) for v in after.weights}
        change = {w.path: float(np.abs(np.asarray(w) - trained[w.path]).max())
                  for w in before.weights}
        return (max(change[p] for p in extractor), max(change[p] for p in decoder), out)

    extractor, decoder, out = moved(True)
    assert extractor == 0.0 and decoder > 1e-4
    with pytest.raises(ValueError, match="differs in freeze_backbone"):
        from tfreport.rl.stage import SCSTConfig, run
        run(nll_run, out, SCSTConfig(reward="cider:1", samples=3), {"epochs": 2},
            logdir=os.path.join(out, "logs"), resume=True, quiet=True, evaluate_test=False)
    extractor, decoder, _ = moved(False)
    assert extractor > 1e-4 and decoder > 1e-4


HELPER = os.path.join(ROOT, "tests", "scst_strategy_helper.py")


def _helper(tmp_path, name, *args):
    out = str(tmp_path / name / "result")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    run = subprocess.run([sys.executable, HELPER, "--out", out, *map(str, args)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    return out


def test_two_replicas_update_as_one(tiny_data, tmp_path):
    """The same samples and advantages on a global batch of 8: one replica, or two of 4
    studies each, end with the same weights. Dividing by a replica's token count instead of
    the global one, or summing the gradients twice (plain SGD, no clipping), would show."""
    one = np.load(_helper(tmp_path, "one", "--mode", "update", "--strategy", "one_device",
                          "--data_dir", tiny_data) + ".npz")
    two = np.load(_helper(tmp_path, "two", "--mode", "update", "--strategy", "mirrored",
                          "--logical_cpus", 2, "--data_dir", tiny_data) + ".npz")
    assert int(one["replicas"]) == 1 and int(two["replicas"]) == 2
    np.testing.assert_allclose(one["losses"], two["losses"], rtol=0, atol=1e-5)
    names = sorted(k for k in one.files if k.startswith("w"))
    for name in names:
        np.testing.assert_allclose(one[name], two[name], rtol=0, atol=2e-5)
    # and the updates moved the weights
    assert max(np.abs(one[n] - one["i" + n[1:]]).max() for n in names) > 1e-3


def test_stage_runs_on_two_replicas(nll_run, tiny_data, tmp_path):
    """The whole stage under MirroredStrategy over two logical CPUs: each replica samples
    its own studies and finds their references, and the run validates and saves."""
    out = _helper(tmp_path, "mirrored", "--mode", "stage", "--strategy", "mirrored",
                  "--logical_cpus", 2, "--data_dir", tiny_data, "--init_from", nll_run)
    model_dir = json.load(open(out))["model_dir"]
    config = json.load(open(os.path.join(model_dir, "config.json")))
    assert config["strategy"] == "mirrored"
    history = json.load(open(os.path.join(model_dir, "history.json")))
    assert len(history) == 1 and "val_CE-F1" in history[0] and np.isfinite(history[0]["train_loss"])
    assert os.path.exists(os.path.join(model_dir, "best.keras"))
