"""What only a GPU can show: float16 loss scaling, an XLA-compiled step and MirroredStrategy
over every visible GPU, each training on the GPU. Marked ``gpu``: skipped where TensorFlow
sees no GPU (conftest.py); ``scripts/gpu_check.sh`` runs them with ``-m gpu``.

The runs are test_distribute.py's tiny training (``distributed_helper.train_tiny``), here
in-process: GPUs need no device configuration before TensorFlow starts."""
import contextlib

import numpy as np
import pytest
import tensorflow as tf

from distributed_helper import train_tiny
from tfreport.training.strategy import make_strategy

pytestmark = pytest.mark.gpu


def _weights(result):
    return [result[k] for k in sorted(result) if k.startswith("w")]


def _on_the_gpu(result):
    devices = [str(d) for d in result["devices"]]
    assert devices and all("GPU" in d.upper() for d in devices), devices
    assert result["gpu_peak_bytes"] > 0  # the steps held GPU memory


@contextlib.contextmanager
def _no_tf32():
    """Full float32 matmuls (Ampere and later GPUs use TF32 by default), so two runs that
    split the batch differently can be compared closely."""
    before = tf.config.experimental.tensor_float_32_execution_enabled()
    tf.config.experimental.enable_tensor_float_32_execution(False)
    try:
        yield
    finally:
        tf.config.experimental.enable_tensor_float_32_execution(before)


def test_float16_loss_scaling_trains_on_the_gpu(tiny_data, tmp_path):
    result = train_tiny(make_strategy("one_device"), tiny_data, str(tmp_path), batch_size=8,
                        steps=8, mixed_precision="float16")
    _on_the_gpu(result)
    assert result["policy"] == "mixed_float16"
    losses = result["losses"]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    assert all(np.isfinite(w).all() for w in _weights(result))  # no overflow reached them


@pytest.mark.parametrize("precision", ["off", "float16", "bfloat16"])
def test_an_xla_compiled_step_trains_on_the_gpu(tiny_data, tmp_path, precision):
    result = train_tiny(make_strategy("one_device"), tiny_data, str(tmp_path), batch_size=8,
                        steps=8, mixed_precision=precision, jit_compile=True)
    _on_the_gpu(result)
    losses = result["losses"]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


def test_mirrored_over_every_gpu_follows_the_one_device_trajectory(tiny_data, tmp_path):
    """The global batch fixed: one GPU with all of it, or every visible GPU with a share;
    reports of different lengths, so a replica dividing by its own token count would show."""
    n = len(tf.config.list_logical_devices("GPU"))
    with _no_tf32():
        one = train_tiny(make_strategy("one_device"), tiny_data, str(tmp_path / "one"),
                         batch_size=4 * n)
        mirrored = train_tiny(make_strategy("mirrored"), tiny_data, str(tmp_path / "mirrored"),
                              batch_size=4)
    assert mirrored["replicas"] == n and len(mirrored["devices"]) == n
    _on_the_gpu(one)
    _on_the_gpu(mirrored)
    assert one["losses"][-1] < one["losses"][0]
    np.testing.assert_allclose(one["losses"], mirrored["losses"], rtol=0, atol=1e-4)
    for a, b in zip(_weights(one), _weights(mirrored)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-3)


def test_auto_trains_on_the_gpus_in_float16():
    """--strategy auto and --mixed_precision auto pick every GPU and float16, and train.py's
    device line names them, with no install warning."""
    from tfreport import hardware
    from tfreport.training import precision
    strategy = make_strategy("auto")
    n = len(tf.config.list_physical_devices("GPU"))
    assert strategy.num_replicas_in_sync == n
    assert precision.resolve("auto") == "mixed_float16"
    line = hardware.training_devices(list(strategy.extended.worker_devices),
                                     hardware.gpu_names())
    assert line.startswith(f"Training on {n} GPU") and hardware.gpu_names()[0] in line
    assert hardware.gpu_install_warning(n) is None
