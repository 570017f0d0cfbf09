"""The hardware record of benchmarks, and what train.py says about its devices (no GPU here:
the GPU cases are faked)."""
import os
import re
import subprocess
import sys
import tomllib
import types

import pytest

from tfreport import hardware

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SAPPHIRE_RAPIDS = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 143
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu vme sse2 avx avx2 fma avx512f avx512dq avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8
bogomips\t: 4000.00

processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu
"""
ZEN2 = "processor : 0\nmodel name : AMD EPYC 7B12\nflags : fpu sse2 avx avx2 fma\n"
GRAVITON = "processor : 0\nBogoMIPS : 243.75\nFeatures : fp asimd sve\nCPU part : 0xd40\n"


def test_cpuinfo_gives_the_model_and_the_isa_that_matter():
    assert hardware.parse_cpuinfo(SAPPHIRE_RAPIDS) == {
        "cpu": "Intel(R) Xeon(R) Platinum 8480+",
        "isa": ["AVX2", "AVX-512F", "AVX-512-BF16", "AMX", "AMX-BF16"]}  # the first block's
    assert hardware.parse_cpuinfo(ZEN2) == {"cpu": "AMD EPYC 7B12", "isa": ["AVX2"]}
    assert hardware.parse_cpuinfo(GRAVITON) == {"cpu": "", "isa": []}
    assert hardware.parse_cpuinfo("") == {"cpu": "", "isa": []}


def test_describe_and_its_line():
    import tensorflow as tf
    info = hardware.describe(cpuinfo=SAPPHIRE_RAPIDS, gpus=["NVIDIA H100 80GB HBM3"] * 2,
                             environ={"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX"})
    assert info["cpu"] == "Intel(R) Xeon(R) Platinum 8480+"
    assert info["cores"] == os.cpu_count() and 1 <= info["usable_cores"] <= info["cores"]
    assert info["gpus"] == ["NVIDIA H100 80GB HBM3"] * 2 and info["tensorflow"] == tf.__version__
    assert info["onednn"] in (True, False) and info["onednn_max_cpu_isa"] == "AVX512_CORE_AMX"
    line = hardware.one_line(info)
    assert line.startswith("CPU: Intel(R) Xeon(R) Platinum 8480+, ")
    assert "(AVX2, AVX-512F, AVX-512-BF16, AMX, AMX-BF16)" in line
    assert "ONEDNN_MAX_CPU_ISA=AVX512_CORE_AMX" in line
    assert "GPU: 2 x NVIDIA H100 80GB HBM3" in line and line.endswith(f"TensorFlow {tf.__version__}")
    bare = hardware.one_line(hardware.describe(cpuinfo=GRAVITON, gpus=[], environ={}))
    assert "GPU: none visible" in bare and "no AVX2" in bare and "ONEDNN_MAX" not in bare
    assert "\n" not in line


def test_onednn_follows_tf_enable_onednn_opts():
    code = "from tfreport import hardware; print(hardware.one_line(hardware.describe()))"
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "oneDNN off" in out.stdout
    # the real machine's line: its own CPU model, core count and GPUs (none here)
    assert re.search(r"^CPU: .+, \d+ cores", out.stdout, re.M)


def test_train_says_which_devices_it_trains_on():
    h100 = ["NVIDIA H100 80GB HBM3"]
    assert (hardware.training_devices(["/job:localhost/replica:0/task:0/device:GPU:0"], h100)
            == "Training on 1 GPU: NVIDIA H100 80GB HBM3")
    assert (hardware.training_devices(["/device:GPU:0", "/device:GPU:1"], h100 * 2)
            == "Training on 2 GPUs: NVIDIA H100 80GB HBM3")
    assert (hardware.training_devices(["/device:GPU:0", "/device:GPU:1"], ["A100", "T4"])
            == "Training on 2 GPUs: A100, T4")
    assert (hardware.training_devices(["/cpu:0"], [])
            == "Training on the CPU (no GPU visible to TensorFlow)")
    assert (hardware.training_devices(["/job:worker/replica:0/task:0/device:CPU:0"], h100)
            == "Training on the CPU (1 visible GPU left unused)")
    assert hardware.training_devices(["/device:TPU:0", "/device:TPU:1"]) == "Training on 2 TPU cores"


def test_a_gpu_machine_whose_tensorflow_sees_no_gpu_is_told_what_to_install(monkeypatch, capsys):
    smi = lambda name: "/usr/bin/nvidia-smi" if name == "nvidia-smi" else None  # noqa: E731
    assert hardware.machine_has_nvidia_gpu(which=smi, exists=lambda p: False)
    assert hardware.machine_has_nvidia_gpu(which=lambda n: None,
                                           exists=lambda p: p == "/proc/driver/nvidia")
    assert not hardware.machine_has_nvidia_gpu(which=lambda n: None, exists=lambda p: False)
    warning = hardware.gpu_install_warning(0, has_nvidia=True)
    assert "TensorFlow sees no GPU" in warning
    assert "pip install -r requirements-gpu.txt" in warning
    assert 'pip install "tensorflow[and-cuda]==2.21.0"' in warning
    assert hardware.gpu_install_warning(1, has_nvidia=True) is None
    assert hardware.gpu_install_warning(0, has_nvidia=False) is None

    # the whole announcement, as train.py makes it: a GPU machine, a CPU-only TensorFlow
    import tensorflow as tf
    strategy = types.SimpleNamespace(extended=types.SimpleNamespace(worker_devices=("/cpu:0",)))
    monkeypatch.setattr(hardware.shutil, "which", smi)
    hardware.announce_devices(strategy)
    out, err = capsys.readouterr()
    assert out.strip() == "Training on the CPU (no GPU visible to TensorFlow)"
    assert "requirements-gpu.txt" in err and "WARNING" in err
    # a GPU that TensorFlow sees: its name, and no warning
    gpu = tf.config.PhysicalDevice("/physical_device:GPU:0", "GPU")
    monkeypatch.setattr(tf.config, "list_physical_devices",
                        lambda kind=None: [gpu] if kind == "GPU" else [])
    monkeypatch.setattr(tf.config.experimental, "get_device_details",
                        lambda device: {"device_name": "NVIDIA H100 80GB HBM3"})
    strategy.extended.worker_devices = ("/job:localhost/replica:0/task:0/device:GPU:0",)
    hardware.announce_devices(strategy)
    out, err = capsys.readouterr()
    assert out.strip() == "Training on 1 GPU: NVIDIA H100 80GB HBM3" and err == ""
    # a machine without NVIDIA's driver and no GPU: no warning
    monkeypatch.setattr(hardware.shutil, "which", lambda n: None)
    monkeypatch.setattr(hardware.os.path, "exists", lambda p: False)
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    strategy.extended.worker_devices = ("/cpu:0",)
    hardware.announce_devices(strategy)
    assert capsys.readouterr().err == ""


def test_the_gpu_install_pins_the_tensorflow_of_requirements_txt():
    """requirements-gpu.txt, the `gpu` extra and the warning name the pinned TensorFlow."""
    def pin(path, pattern):
        text = open(os.path.join(ROOT, path), encoding="utf-8").read()
        found = re.findall(pattern, text, re.M)
        assert len(found) == 1, (path, found)
        return found[0]

    version = pin("requirements.txt", r"^tensorflow==([\d.]+)")
    assert pin("requirements-gpu.txt", r"^tensorflow\[and-cuda\]==([\d.]+)") == version
    assert "-r requirements.txt" in open(os.path.join(ROOT, "requirements-gpu.txt")).read()
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        extras = tomllib.load(f)["project"]["optional-dependencies"]
    assert extras["gpu"] == [f"tensorflow[and-cuda]=={version}"]
    assert f'"tensorflow[and-cuda]=={version}"' in hardware.GPU_INSTALL
