"""scripts/gpu_check.sh and the docs/gpu.md it writes: the report from its parts' logs (fast),
and the whole script in tiny mode on the CPU (slow: about 2-3 minutes on 2 cores)."""
import json
import os
import re
import subprocess

import pytest

from tfreport.experiments import gpu_check

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _part(work, name, log, rc, seconds, limit):
    (work / f"{name}.log").write_text(log)
    (work / f"{name}.status").write_text(f"{rc} {seconds} {limit}\n")


def test_the_report_says_what_each_part_measured_and_what_it_missed(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    _part(work, "hardware", "I0000 00:00 chatter\nCPU: Xeon, 16 cores (AVX2); oneDNN on; "
          "GPU: 1 x NVIDIA H100 80GB HBM3; TensorFlow 2.21.0\n", 0, 9, 60)
    _part(work, "nvidia_smi", "| NVIDIA-SMI 550.54 |\n| 0 NVIDIA H100 80GB HBM3 |\n", 0, 1, 30)
    _part(work, "tests", "PASSED tests/test_gpu.py::test_float16_loss_scaling_trains_on_the_gpu\n"
          "FAILED tests/test_gpu.py::test_an_xla_compiled_step_trains_on_the_gpu[float16]\n"
          "==== 1 failed, 6 passed in 80.1s ====\n", 1, 84, 100)
    records = [
        {"model": "cnn_rnn", "preset": "legacy", "precision": p, "xla": x, "fine_tune": True,
         "examples_per_second": r, "batch_size": 26, "backbone": "inception_v3",
         "image_size": 299}
        for p, x, r in (("float32", False, 101.0), ("float16", False, 250.5),
                        ("bfloat16", False, 240.25), ("float16", True, 300.0))]
    records.append({"model": "m2_transformer", "preset": "paper", "precision": "float32",
                    "xla": False, "fine_tune": True, "error": "out of memory"})
    (work / "training.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in records) + '{"model": "cut off')
    _part(work, "training", "", 124, 150, 150)
    _part(work, "training_xla", "", 124, 110, 110)
    _part(work, "decoding", "CPU: Xeon\npaper preset, batch 16; CPU: Xeon\n"
          "| model | beam | reports/s |\n|---|---|---|\n| m2_transformer | 1 | 812.50 |\n",
          0, 40, 45)
    text = gpu_check.render(str(work), "bash scripts/gpu_check.sh", tiny=False,
                            total_seconds=470, today="2027-01-01")
    sections = re.findall(r"^## (.+)$", text, re.M)
    assert sections == ["nvidia-smi", "GPU tests", "Training throughput",
                        "Decoding throughput", "Parts"]
    assert "in 470 s." in text and "tiny settings" not in text
    assert "**Machine.** CPU: Xeon, 16 cores (AVX2); oneDNN on; GPU: 1 x NVIDIA H100" in text
    assert "| 0 NVIDIA H100 80GB HBM3 |" in text and "chatter" not in text
    assert "Result: **1 failed, 6 passed in 80.1s** (failed (exit 1), 84 s)." in text
    assert "| FAILED | `tests/test_gpu.py::test_an_xla_compiled_step_trains_on_the_gpu[float16]` |" in text
    assert ("| model | preset | extractor | batch | float32 | float16 | bfloat16 | float16+XLA |"
            in text)  # only the columns something was measured in, XLA last
    assert ("| cnn_rnn | legacy | inception_v3 299 px | 26 | 101.0 | 250.5 | 240.2 | 300.0 |"
            in text)
    assert "| m2_transformer | paper |  |  | failed: out of memory | n/r | n/r | n/r |" in text
    assert "paper preset, batch 16\n\n| model | beam | reports/s |" in text
    assert "| m2_transformer | 1 | 812.50 |" in text
    assert "| training throughput | 150 | 150 | stopped at its 150 s limit |" in text
    assert "| decoding throughput | 45 | 40 | ok |" in text

    empty = tmp_path / "empty"  # nothing ran: every section says so, nothing breaks
    empty.mkdir()
    text = gpu_check.render(str(empty), "x", tiny=True)
    assert "No measurement finished (not run; not run)." in text
    assert "No figures (not run)." in text and "tiny settings" in text


@pytest.mark.slow
def test_the_script_in_tiny_mode_writes_the_report_on_a_cpu(tmp_path):
    out = tmp_path / "docs" / "gpu.md"
    env = {**os.environ, "TFREPORT_GPU_CHECK_TINY": "1", "GPU_CHECK_OUT": str(out),
           "GPU_CHECK_WORK": str(tmp_path / "work")}
    run = subprocess.run(["bash", os.path.join(ROOT, "scripts", "gpu_check.sh")],
                         capture_output=True, text=True, timeout=900, env=env,
                         cwd=str(tmp_path))
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    text = out.read_text()
    assert re.findall(r"^## (.+)$", text, re.M) == [
        "nvidia-smi", "GPU tests", "Training throughput", "Decoding throughput", "Parts"]
    assert "TFREPORT_GPU_CHECK_TINY=1" in text and "tiny settings" in text
    assert re.search(r"\*\*Machine\.\*\* CPU: .+, \d+ cores .*TensorFlow 2\.", text)
    assert re.search(r"Result: \*\*\d+ skipped", text)  # no GPU here: the GPU tests skip
    row = re.search(r"^\| cnn_rnn \| demo \| small 32 px \| 2 \| ([\d.]+) \| ([\d.]+) \| "
                    r"([\d.]+) \|$", text, re.M)  # float32, bfloat16, float32+XLA
    assert row and all(float(v) > 0 for v in row.groups()), text
    assert re.search(r"^\| m2_transformer \| 1 \| [\d.]+ \| [\d.]+ \|", text, re.M)
    parts = re.findall(r"^\| (the hardware line|GPU tests|training throughput(?:, XLA)?|"
                       r"decoding throughput) \| \d+ \| \d+ \| ok \|$", text, re.M)
    assert len(parts) == 5, text
