"""The trainer's parts: schedules, the backbone's own learning rate, early stopping, NaN,
XLA, TensorBoard contents."""
import glob
import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from model_helpers import TINY
from tfreport.data import pipeline
from tfreport.models import build_model, make_config
from tfreport.training.config import TrainConfig
from tfreport.training.optimizer import ReportAdam
from tfreport.training.schedules import Noam, make_schedule, step_decay
from tfreport.training.trainer import Trainer, TrainingDiverged


def test_step_decay_is_the_legacy_schedule():
    s = step_decay(1e-4, 0.9, 5, steps_per_epoch=100)
    assert isinstance(s, keras.optimizers.schedules.ExponentialDecay)
    assert float(s(0)) == pytest.approx(1e-4)
    assert float(s(499)) == pytest.approx(1e-4)  # epoch 4
    assert float(s(500)) == pytest.approx(0.9e-4)  # epoch 5
    assert float(s(1500)) == pytest.approx(1e-4 * 0.9 ** 3)


def test_noam_warms_up_to_its_peak_then_decays_as_inverse_sqrt():
    s = Noam(peak=4.4e-4, warmup_steps=100)
    assert float(s(0)) == pytest.approx(4.4e-6)  # step 1 of 100
    assert float(s(99)) == pytest.approx(4.4e-4)  # the peak, at step = warm-up
    assert float(s(399)) == pytest.approx(4.4e-4 * 0.5)  # sqrt(100 / 400)
    # the transformer's formula, rescaled: d**-0.5 * min(s**-0.5, s * w**-1.5)
    d, w = 512, 100
    for step in (1, 50, 100, 1000):
        paper = d ** -0.5 * min(step ** -0.5, step * w ** -1.5)
        assert float(s(step - 1)) / 4.4e-4 == pytest.approx(paper / (d ** -0.5 * w ** -0.5))
    cfg = TrainConfig(epochs=10, lr_schedule="noam", warmup=0.25, learning_rate=1e-3)
    assert make_schedule(cfg, steps_per_epoch=40).warmup_steps == 100


def test_backbone_learning_rate_factor():
    """Adam's first step moves a variable by about lr; the backbone's by its own lr."""
    head, backbone = keras.Variable(np.zeros(3, "float32")), keras.Variable(np.zeros(3, "float32"))
    opt = ReportAdam(learning_rate=1e-3, lr_factors={backbone.path: 0.1})
    opt.build([head, backbone])
    g = tf.constant([1.0, -2.0, 0.5])
    opt.apply([g, g], [head, backbone])
    np.testing.assert_allclose(np.abs(head.numpy()), 1e-3, rtol=1e-3)
    np.testing.assert_allclose(np.abs(backbone.numpy()), 1e-4, rtol=1e-3)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="unknown --lr_schedule 'cosine'"):
        TrainConfig(lr_schedule="cosine")
    with pytest.raises(ValueError, match="--warmup is a fraction"):
        TrainConfig(warmup=5)
    with pytest.raises(ValueError, match="--batch_size must be at least 1"):
        TrainConfig(batch_size=0)


def _trainer(tiny_data, tiny_vocab, tmp_path, **cfg):
    keras.utils.set_random_seed(0)
    mc = make_config("cnn_rnn", "demo", vocab_size=len(tiny_vocab), **TINY)
    tc = TrainConfig(**{**dict(epochs=3, batch_size=4, beam_size=1, val_samples=4,
                               mixed_precision="off", learning_rate=3e-3), **cfg})
    trainer = Trainer(lambda: build_model("cnn_rnn", mc), tiny_vocab, tc, str(tmp_path / "m"),
                      str(tmp_path / "logs"), 32, steps_per_epoch=2, quiet=True)

    def train_fn(epoch, skip, ctx, per_replica):
        return pipeline.dataset(tiny_data, "train", batch_size=per_replica, image_size=32,
                                max_sentences=4, max_words=12, training=True, epoch=epoch,
                                skip_batches=skip, input_context=ctx)
    val = pipeline.dataset(tiny_data, "val", batch_size=8, image_size=32, max_sentences=4,
                           max_words=12)
    return trainer, train_fn, val


def test_early_stopping_and_best_checkpoint_follow_validation(tiny_data, tiny_vocab, tmp_path):
    from tfreport.evaluation import references
    trainer, train_fn, val = _trainer(tiny_data, tiny_vocab, tmp_path, epochs=6,
                                      early_stopping=1, learning_rate=1e-9)
    history = trainer.fit(train_fn, val, references(tiny_data, "val"))
    # a learning rate of ~0 never improves on epoch 1: stop after one stale epoch
    assert [r["epoch"] for r in history] == [1, 2]
    assert [r["best"] for r in history] == [True, False]


# Scripted validation scores, one epoch a row: CE-F1 ties at the all-normal figure in
# epochs 1-2 and leads in 3; BLEU-4 leads in 2; their sum leads in 4.
SCRIPTED = [(0.649, 0.000), (0.649, 0.110), (0.700, 0.010), (0.690, 0.090)]


@pytest.mark.parametrize("val_metric, chosen", [
    ("CE-F1", [True, None, True, False]),  # a tie: the lower validation loss (None: see below)
    ("BLEU-4", [True, True, False, False]),
    ("CE-F1+BLEU-4", [True, True, False, True]),
])
def test_best_checkpoint_follows_the_chosen_validation_metric(
        tiny_data, tiny_vocab, tmp_path, monkeypatch, val_metric, chosen):
    """best.keras moves exactly when --val_metric beats every earlier epoch. With
    CE-F1+BLEU-4 (the sum) an epoch that ties on CE-F1, as every epoch of a model that states
    no finding on validation does, is chosen by its BLEU-4, not by coming first."""
    from tfreport.evaluation import references
    from tfreport.metrics import nlg
    from tfreport.training import trainer as trainer_module
    ce = iter(c for c, _ in SCRIPTED)
    bleu = iter(b for _, b in SCRIPTED)
    monkeypatch.setattr(trainer_module, "_ce_f1", lambda predictions, refs: next(ce))
    monkeypatch.setattr(nlg, "score", lambda predictions, refs, metrics: {
        **{m: 0.0 for m in metrics}, "BLEU-4": next(bleu)})
    trainer, train_fn, val = _trainer(tiny_data, tiny_vocab, tmp_path, epochs=4,
                                      val_metric=val_metric)
    history = trainer.fit(train_fn, val, references(tiny_data, "val"))
    # epoch 2 ties epoch 1 on CE-F1: it is kept exactly when its validation loss is lower
    chosen = [history[1]["val_loss"] < history[0]["val_loss"] if c is None else c
              for c in chosen]
    assert [r["best"] for r in history] == chosen
    assert [r["val_CE-F1+BLEU-4"] for r in history] == pytest.approx([c + b for c, b in SCRIPTED])
    assert all(r["seconds"] > 0 for r in history)


def test_a_tied_validation_score_keeps_the_epoch_with_the_lower_loss():
    """A model that writes one report for every study decodes the same validation reports at
    every epoch: the metric ties exactly, and the first, least trained epoch used to stay
    best.keras. The validation loss breaks the tie; it never overrides a higher metric."""
    from tfreport.training.trainer import improves
    assert improves(0.04, 2.2, 0.04, 2.9)  # the tie, broken by the loss
    assert not improves(0.04, 3.0, 0.04, 2.9)
    assert not improves(0.03, 1.0, 0.04, 2.9)  # a lower metric loses whatever its loss
    assert improves(0.05, 9.0, 0.04, 2.9)
    assert improves(0.04, 2.2, -math.inf, math.inf)  # the first epoch
    assert not improves(0.04, None, 0.04, 2.9)  # no validation loss: the earlier epoch stays


def test_nan_loss_stops_with_a_clear_message(tiny_data, tiny_vocab, tmp_path):
    trainer, train_fn, _ = _trainer(tiny_data, tiny_vocab, tmp_path)
    w = trainer.model.trainable_variables[-1]
    w.assign(np.full(w.shape, np.nan, "float32"))
    with pytest.raises(TrainingDiverged, match="loss is nan at epoch 1, step 0"):
        trainer.fit(train_fn, None)


def test_trainer_builds_in_its_policy_and_leaves_the_callers(tiny_data, tiny_vocab, tmp_path):
    """--mixed_precision bfloat16 reaches the model, not the caller's global policy."""
    assert keras.config.dtype_policy().name == "float32"
    trainer, train_fn, _ = _trainer(tiny_data, tiny_vocab, tmp_path, mixed_precision="bfloat16",
                                    epochs=1)
    assert trainer.model.compute_dtype == "bfloat16"
    assert keras.config.dtype_policy().name == "float32"
    trainer.fit(train_fn, None)
    assert trainer.step_losses and all(math.isfinite(v) for v in trainer.step_losses)
    assert keras.config.dtype_policy().name == "float32"
    with pytest.raises(RuntimeError, match="no model"):  # a failed build restores it too
        Trainer(lambda: (_ for _ in ()).throw(RuntimeError("no model")), tiny_vocab,
                TrainConfig(mixed_precision="float16"), str(tmp_path / "x"),
                str(tmp_path / "xl"), 4, steps_per_epoch=1, quiet=True)
    assert keras.config.dtype_policy().name == "float32"


def test_jit_compiled_step_trains(tiny_data, tiny_vocab, tmp_path):
    trainer, train_fn, _ = _trainer(tiny_data, tiny_vocab, tmp_path, jit_compile=True, epochs=3)
    trainer.fit(train_fn, None)
    losses = trainer.step_losses
    assert len(losses) == 6 and all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0]


def test_tensorboard_holds_what_the_issue_lists(tiny_data, tiny_vocab, tmp_path):
    from tfreport.evaluation import references
    trainer, train_fn, val = _trainer(tiny_data, tiny_vocab, tmp_path, epochs=5)
    trainer.write_hparams({"model": "cnn_rnn", "train_config": {"batch_size": 4}})
    trainer.fit(train_fn, val, references(tiny_data, "val"))
    trainer.train_writer.flush()
    trainer.val_writer.flush()
    tags = {}
    for sub in ("", "train", "val"):
        for path in glob.glob(os.path.join(str(tmp_path / "logs"), sub, "events.out.tfevents.*")):
            for event in tf.compat.v1.train.summary_iterator(path):
                for v in event.summary.value:
                    tags.setdefault(sub, set()).add(v.tag)
    assert tags[""] == {"_hparams_/session_start_info"}  # the session: the run's own folder
    assert {"loss", "learning_rate", "examples_per_second", "config"} <= tags["train"]
    assert {"loss", "BLEU-4", "CIDEr", "sample_reports"} <= tags["val"]
    assert any(t.startswith("sample_images") for t in tags["val"])


def test_hparams_tab_shows_the_validation_metrics(tiny_data, tiny_vocab, tmp_path):
    """TensorBoard's own HParams plugin, over `tensorboard --logdir` of the run's parent,
    finds the run's session with its validation metrics (group "val") and their values."""
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.hparams import (api_pb2, get_experiment, hparams_plugin,
                                             list_session_groups)
    from tfreport.evaluation import references
    trainer, train_fn, val = _trainer(tiny_data, tiny_vocab, tmp_path, epochs=1)
    trainer.write_hparams({"model": "cnn_rnn", "run_name": "logs",
                           "train_config": {"batch_size": 4, "learning_rate": 3e-3}})
    history = trainer.fit(train_fn, val, references(tiny_data, "val"))
    trainer.train_writer.flush()
    trainer.val_writer.flush()

    logdir = str(tmp_path)  # as `tensorboard --logdir summary`: the runs are logs, logs/val...
    mux = plugin_event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(logdir)
    mux.Reload()
    provider = data_provider.MultiplexerDataProvider(mux, logdir)
    plugin = hparams_plugin.HParamsPlugin(base_plugin.TBContext(
        logdir=logdir, data_provider=provider, multiplexer=mux))
    ctx = context.RequestContext()
    experiment = get_experiment.Handler(ctx, plugin._context, "",
                                        api_pb2.GetExperimentRequest()).run()
    metrics = {(m.name.group, m.name.tag) for m in experiment.metric_infos}
    assert {("val", "BLEU-4"), ("val", "CIDEr"), ("val", "CE-F1"), ("val", "loss")} <= metrics
    assert {h.name for h in experiment.hparam_infos} >= {"model", "train_config.batch_size"}

    wanted = [api_pb2.MetricName(group="val", tag=t) for t in ("BLEU-4", "CIDEr", "loss")]
    request = api_pb2.ListSessionGroupsRequest(
        start_index=0, slice_size=10, allowed_statuses=[api_pb2.STATUS_UNKNOWN],
        col_params=[api_pb2.ColParams(metric=m) for m in wanted])
    groups = list_session_groups.Handler(ctx, plugin._context, "", request).run().session_groups
    assert len(groups) == 1 and [s.name for s in groups[0].sessions] == ["logs"]
    assert groups[0].hparams["train_config.batch_size"].number_value == 4
    values = {(v.name.group, v.name.tag): v.value for v in groups[0].sessions[0].metric_values}
    for tag in ("BLEU-4", "CIDEr", "loss"):  # the scalars at those tags: the epoch's figures
        assert values[("val", tag)] == pytest.approx(history[-1]["val_" + tag], rel=1e-6)
    scalars = provider.read_scalars(ctx, experiment_id="", plugin_name="scalars",
                                    downsample=10)
    assert scalars["logs/val"]["BLEU-4"][-1].value == pytest.approx(history[-1]["val_BLEU-4"])


def test_the_run_eta_counts_every_epoch_left_and_their_validations():
    from tfreport.training.trainer import run_eta
    # epoch 1 of 3, 2 of 10 steps done at 1 s a step: 8 + 20 steps left; no validation yet
    assert run_eta(10, 3, 1, 2, 1.0, []) == "0:28+val"
    # after one epoch whose validation took 30 s: 10 steps and two validations left
    assert run_eta(10, 3, 2, 10, 1.0, [30.0]) == "1:10"
    assert run_eta(100, 14, 1, 1, 2.0, [60.0]) == "1:00:38"  # 1,399 steps, 14 validations


def test_a_state_half_moved_on_an_object_store_is_never_picked(tmp_path):
    """Remote renames move files one by one, state.json last: at each moment of a save the
    first whole folder of resume, resume.old, resume.tmp is picked, never a half one."""
    from tfreport.training.checkpoint import find_state

    def folder(name, *files):
        (tmp_path / name).mkdir()
        for f in files:
            (tmp_path / name / f).write_text("x")

    assert find_state(str(tmp_path)) is None
    folder("resume.tmp", "variables.npz", "state.json")  # written, not yet moved
    folder("resume", "state.json")  # being moved aside: its arrays already went
    folder("resume.old", "variables.npz")  # ... into here, its state.json still to come
    assert find_state(str(tmp_path)) == str(tmp_path / "resume.tmp")
    (tmp_path / "resume.old" / "state.json").write_text("x")
    assert find_state(str(tmp_path)) == str(tmp_path / "resume.old")
