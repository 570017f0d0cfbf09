"""What machine a figure was measured on, and which devices a run trains on.

``describe()`` is the hardware record every benchmark prints at its top (a dict, and
``one_line`` of it): CPU model, cores, the ISA extensions that decide CPU speed (AVX2,
AVX-512F, AVX-512-BF16, AMX), whether TensorFlow's oneDNN kernels are on, the visible GPUs and
the TensorFlow version. ``training_devices`` and ``gpu_install_warning`` are what train.py says
about its devices at the start, so a GPU machine that trains on its CPU says why.
"""
from __future__ import annotations

import os
import platform
import re
import shutil
from typing import Callable, Dict, List, Optional, Sequence

# /proc/cpuinfo flag -> the name benchmark records use, in the order they are listed.
ISA_FLAGS = {"avx2": "AVX2", "avx512f": "AVX-512F", "avx512_bf16": "AVX-512-BF16",
             "amx_tile": "AMX", "amx_bf16": "AMX-BF16"}
_DEVICE = re.compile(r"(CPU|GPU|TPU):(\d+)$", re.IGNORECASE)  # "/device:GPU:0", "/cpu:0"
GPU_INSTALL = ('pip install -r requirements-gpu.txt   '
               '(or: pip install "tensorflow[and-cuda]==2.21.0")')


def parse_cpuinfo(text: str) -> Dict[str, object]:
    """The CPU model name and the ISA flags that matter, from /proc/cpuinfo text (its first
    processor block; x86 names it ``model name``, some ARM kernels ``Model`` or nothing)."""
    names: Dict[str, str] = {}
    flags: set = set()
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key = key.strip().lower()
        if not sep or not value.strip():
            continue
        if key in ("model name", "cpu model", "hardware", "model"):
            names.setdefault(key, value.strip())
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
    # x86's "model" is a number ("model : 143"); its name is "model name"
    model = next((names[k] for k in ("model name", "cpu model", "hardware", "model")
                  if k in names and not names[k].isdigit()), "")
    return {"cpu": model, "isa": [name for flag, name in ISA_FLAGS.items() if flag in flags]}


def _read(path: str) -> str:
    """A /proc file of this machine. Not tf.io.gfile: /proc files report size 0, and
    gfile reads them as empty."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def onednn_enabled() -> Optional[bool]:
    """Whether TensorFlow runs its oneDNN CPU kernels (on by default on x86 Linux;
    ``TF_ENABLE_ONEDNN_OPTS=0`` turns them off). None when TensorFlow cannot say."""
    try:
        from tensorflow.python.util import _pywrap_util_port
        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        return None


def gpu_names() -> List[str]:
    """The names of the GPUs TensorFlow sees (e.g. ``NVIDIA H100 80GB HBM3``)."""
    import tensorflow as tf
    names = []
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            details = tf.config.experimental.get_device_details(gpu)
        except (ValueError, RuntimeError):
            details = {}
        names.append(details.get("device_name") or gpu.name)
    return names


def describe(cpuinfo: Optional[str] = None, gpus: Optional[Sequence[str]] = None,
             environ: Optional[Dict[str, str]] = None) -> Dict[str, object]:
    """The machine, for benchmark records. ``cpuinfo`` (the text of /proc/cpuinfo), ``gpus``
    and ``environ`` default to this machine's; tests pass their own."""
    import tensorflow as tf
    environ = os.environ if environ is None else environ
    info = parse_cpuinfo(_read("/proc/cpuinfo") if cpuinfo is None else cpuinfo)
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count() or 0
    return {
        "cpu": info["cpu"] or platform.processor() or platform.machine(),
        "cores": os.cpu_count() or 0,
        "usable_cores": usable,
        "isa": info["isa"],
        "onednn": onednn_enabled(),
        "onednn_max_cpu_isa": environ.get("ONEDNN_MAX_CPU_ISA") or None,
        "gpus": list(gpu_names() if gpus is None else gpus),
        "tensorflow": tf.__version__,
    }


def one_line(info: Dict[str, object]) -> str:
    """``describe()`` as one line, e.g. ``CPU: Intel Xeon, 16 cores (AVX2, AVX-512F);
    oneDNN on; GPU: 1 x NVIDIA H100; TensorFlow 2.21.0``."""
    cores = f"{info['cores']} cores"
    if info.get("usable_cores") and info["usable_cores"] != info["cores"]:
        cores += f" ({info['usable_cores']} usable)"
    isa = ", ".join(info["isa"]) or "no AVX2"
    onednn = {True: "on", False: "off", None: "unknown"}[info["onednn"]]
    if info.get("onednn_max_cpu_isa"):
        onednn += f", ONEDNN_MAX_CPU_ISA={info['onednn_max_cpu_isa']}"
    gpus = info["gpus"]
    if gpus:
        counts: Dict[str, int] = {}
        for name in gpus:
            counts[name] = counts.get(name, 0) + 1
        gpu = ", ".join(f"{n} x {name}" for name, n in counts.items())
    else:
        gpu = "none visible"
    return (f"CPU: {info['cpu']}, {cores} ({isa}); oneDNN {onednn}; GPU: {gpu}; "
            f"TensorFlow {info['tensorflow']}")


def training_devices(devices: Sequence[str], names: Sequence[str] = ()) -> str:
    """What train.py says it trains on, from the strategy's devices (``/device:GPU:0``...)
    and the visible GPUs' names."""
    parsed = [_DEVICE.search(d) for d in devices]
    kinds = [(m.group(1).upper(), int(m.group(2))) if m else ("CPU", 0) for m in parsed]
    tpus = sum(kind == "TPU" for kind, _ in kinds)
    if tpus:
        return f"Training on {tpus} TPU core{'s' if tpus > 1 else ''}"
    gpus = [index for kind, index in kinds if kind == "GPU"]
    if not gpus:
        unused = (f" ({len(names)} visible GPU{'s' if len(names) > 1 else ''} left unused)"
                  if names else " (no GPU visible to TensorFlow)")
        return "Training on the CPU" + unused
    labels = [names[j] if j < len(names) else f"GPU:{j}" for j in gpus]
    distinct = sorted(set(labels), key=labels.index)
    n = len(gpus)
    return f"Training on {n} GPU{'s' if n > 1 else ''}: {', '.join(distinct)}"


def machine_has_nvidia_gpu(which: Optional[Callable[[str], Optional[str]]] = None,
                           exists: Optional[Callable[[str], bool]] = None) -> bool:
    """Whether this machine looks like it has an NVIDIA GPU, TensorFlow aside: its driver is
    loaded (/proc/driver/nvidia) or ``nvidia-smi`` is on PATH."""
    which, exists = which or shutil.which, exists or os.path.exists
    return bool(which("nvidia-smi")) or exists("/proc/driver/nvidia")


def gpu_install_warning(visible_gpus: int, has_nvidia: Optional[bool] = None) -> Optional[str]:
    """A warning when the machine has an NVIDIA GPU that TensorFlow does not see (the pip
    ``tensorflow`` wheel without its CUDA libraries), else None."""
    if visible_gpus:
        return None
    if not (machine_has_nvidia_gpu() if has_nvidia is None else has_nvidia):
        return None
    return ("WARNING: this machine has an NVIDIA GPU (nvidia-smi or /proc/driver/nvidia), but "
            "TensorFlow sees no GPU, so training runs on the CPU. Install TensorFlow's CUDA "
            f"libraries: {GPU_INSTALL}; then check with: python -c \"import tensorflow as tf; "
            "print(tf.config.list_physical_devices('GPU'))\"")


def announce_devices(strategy) -> None:
    """Prints which devices ``strategy`` trains on, and the install warning when a GPU
    machine's TensorFlow sees no GPU (to stderr)."""
    import sys
    import tensorflow as tf
    devices = list(getattr(strategy.extended, "worker_devices", ()) or ())
    names = gpu_names()
    print(training_devices(devices, names))
    warning = gpu_install_warning(len(tf.config.list_physical_devices("GPU")))
    if warning:
        print(warning, file=sys.stderr)
