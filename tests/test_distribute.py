"""Every --strategy path: batch arithmetic, one vs two replicas, two workers, TPU's error.

Logical devices and TF_CONFIG must be set before TensorFlow starts, so the strategy runs go
through ``distributed_helper.py`` in subprocesses."""
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from tfreport.training.strategy import BatchPlan

HERE = os.path.dirname(os.path.abspath(__file__))
HELPER = os.path.join(HERE, "distributed_helper.py")


def run_helper(tmp_path, name, *args, env=None, wait=True):
    out = str(tmp_path / name / "result.npz")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    cmd = [sys.executable, HELPER, "--out", out, *map(str, args)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})})
    if not wait:
        return proc, out
    log, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, log[-3000:]
    return np.load(out)


def weights(result):
    return [result[k] for k in sorted(result.files) if k.startswith("w")]


def test_batch_arithmetic():
    one = BatchPlan(per_replica=26, replicas=1)
    assert (one.global_batch, one.per_worker, one.steps_per_epoch(2811)) == (26, 26, 108)
    four_gpus = BatchPlan(per_replica=26, replicas=4)
    assert four_gpus.global_batch == 104 and four_gpus.steps_per_epoch(2811) == 27
    two_workers = BatchPlan(per_replica=8, replicas=4, workers=2)  # 2 GPUs on each
    assert (two_workers.global_batch, two_workers.per_worker) == (32, 16)
    assert BatchPlan(per_replica=8, replicas=2).steps_per_epoch(5) == 1  # never zero


@pytest.mark.parametrize("model", ["m2_transformer", "mrna"])
def test_one_and_two_replicas_follow_the_same_trajectory(tiny_data, tmp_path, model):
    """Global batch 8 either way; sequences of different lengths, so dividing by a replica's
    own token count instead of the global one would show."""
    one = run_helper(tmp_path, "one", "--strategy", "one_device", "--data_dir", tiny_data,
                     "--batch_size", 8, "--model", model)
    two = run_helper(tmp_path, "two", "--strategy", "mirrored", "--logical_cpus", 2,
                     "--data_dir", tiny_data, "--batch_size", 4, "--model", model)
    assert int(one["replicas"]) == 1 and int(two["replicas"]) == 2
    assert one["losses"][-1] < one["losses"][0]  # it trains
    np.testing.assert_allclose(one["losses"], two["losses"], rtol=0, atol=2e-5)
    for a, b in zip(weights(one), weights(two)):
        np.testing.assert_allclose(a, b, rtol=0, atol=2e-5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_workers_end_with_identical_weights(tiny_data, tmp_path):
    ports = [_free_port(), _free_port()]
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    procs = []
    for i in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
        procs.append(run_helper(tmp_path, f"worker{i}", "--strategy", "multi_worker",
                                "--data_dir", tiny_data, "--batch_size", 4,
                                env={"TF_CONFIG": tf_config}, wait=False))
    results = []
    for proc, out in procs:
        log, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, log[-3000:]
        results.append(np.load(out))
    assert int(results[0]["replicas"]) == 2
    assert np.isfinite(results[0]["losses"]).all()
    np.testing.assert_array_equal(results[0]["losses"], results[1]["losses"])
    for a, b in zip(weights(results[0]), weights(results[1])):
        np.testing.assert_array_equal(a, b)


def test_float16_loss_scaling_trains_on_cpu(tiny_data, tmp_path):
    result = run_helper(tmp_path, "fp16", "--strategy", "one_device", "--data_dir", tiny_data,
                        "--batch_size", 8, "--mixed_precision", "float16", "--steps", 6)
    losses = result["losses"]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


def test_strategy_errors_are_clear(monkeypatch):
    from tfreport.training.strategy import make_strategy
    with pytest.raises(RuntimeError, match="--strategy tpu: no TPU found"):
        make_strategy("tpu")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="needs TF_CONFIG"):
        make_strategy("multi_worker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
        make_strategy("multi_worker")
    with pytest.raises(ValueError, match="unknown --strategy 'gpu'"):
        make_strategy("gpu")


def test_auto_is_one_device_without_gpus():
    import tensorflow as tf
    from tfreport.training.strategy import make_strategy
    if tf.config.list_logical_devices("GPU"):
        pytest.skip("this machine has GPUs")
    strategy = make_strategy("auto")
    assert isinstance(strategy, tf.distribute.OneDeviceStrategy)
    assert strategy.num_replicas_in_sync == 1


_SUM_ONCE = """
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from tfreport.training.optimizer import PreReducedGradients

class PreReducedSGD(PreReducedGradients, keras.optimizers.SGD):
    pass

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
out = []
for cls in (PreReducedSGD, keras.optimizers.SGD):
    with strategy.scope():
        v = keras.Variable(0.0)
        opt = cls(learning_rate=1.0)
        opt.build([v])

    @tf.function
    def step():
        def replica():
            ctx = tf.distribute.get_replica_context()
            g = ctx.all_reduce(tf.distribute.ReduceOp.SUM, tf.ones(()))  # as the trainer does
            opt.apply([g], [v])
        strategy.run(replica)

    step()
    out.append(float(v.numpy()))
print(out[0], out[1])
"""


def test_gradients_reduced_by_the_trainer_are_not_summed_again():
    """Two replicas each contribute gradient 1; the trainer's all-reduce makes it 2. With the
    pre-reduced mixin SGD steps by 2; Keras' own second sum (the plain SGD control) by 4.
    Adam is scale-invariant, so only a plain-SGD check can see a double sum."""
    run = subprocess.run([sys.executable, "-c", _SUM_ONCE], capture_output=True, text=True,
                         timeout=300, cwd=os.path.dirname(HERE))
    assert run.returncode == 0, run.stderr[-3000:]
    once, twice = map(float, run.stdout.split()[-2:])
    assert once == -2.0
    assert twice == -4.0  # the control: a second sum is visible to this test
