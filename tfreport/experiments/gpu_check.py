"""docs/gpu.md from the parts ``scripts/gpu_check.sh`` ran: the machine, the GPU tests, training
and decoding throughput, and what each part cost and whether it finished in its time limit.

The script runs each part under ``timeout`` and leaves in its work folder, per part NAME,
``NAME.log`` (what it printed) and ``NAME.status`` (``exit_code seconds limit``); training
measurements also go to ``training.jsonl`` (``bench-training --json_out``), one line each as it
finishes, so a part cut short still reports what it measured.

    python -m tfreport.experiments.gpu_check --work WORK --out docs/gpu.md --command "..."
"""
from __future__ import annotations

import argparse
import datetime
import json
import re
from typing import Dict, List, Optional

import tensorflow as tf

from tfreport.atomic import write_text

# the order of the training table's columns, and of the parts table's rows
PRECISIONS = ("float32", "float16", "bfloat16")
PARTS = (("hardware", "the hardware line"), ("nvidia_smi", "nvidia-smi"),
         ("tests", "GPU tests"), ("training", "training throughput"),
         ("training_xla", "training throughput, XLA"), ("decoding", "decoding throughput"))
TIMED_OUT = (124, 137)  # timeout's exit codes (SIGTERM, then SIGKILL)


def _read(path: str) -> Optional[str]:
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path, "r") as f:
        return f.read()


def read_part(work: str, name: str) -> Dict[str, object]:
    """``{"log", "rc", "seconds", "limit"}`` of one part (rc None: it never ran)."""
    log = _read(f"{work}/{name}.log") or ""
    status = (_read(f"{work}/{name}.status") or "").split()
    rc, seconds, limit = (int(v) for v in status[:3]) if len(status) >= 3 else (None, 0, 0)
    return {"log": log, "rc": rc, "seconds": seconds, "limit": limit}


def status_text(part: Dict[str, object]) -> str:
    rc = part["rc"]
    if rc is None:
        return "not run"
    if rc in TIMED_OUT:
        return f"stopped at its {part['limit']} s limit"
    if rc == 127:
        return "not found"
    return "ok" if rc == 0 else f"failed (exit {rc})"


def _clean(log: str) -> List[str]:
    """A log's lines without TensorFlow's start-up chatter."""
    noise = re.compile(r"^([IWE]\d{4} |WARNING: All log messages|To enable the following|"
                       r"oneDNN custom operations)")
    return [x.rstrip() for x in log.splitlines() if x.strip() and not noise.match(x)]


def hardware_line(work: str) -> str:
    lines = [x for x in _clean(read_part(work, "hardware")["log"]) if x.startswith("CPU: ")]
    return lines[-1] if lines else "(the hardware line was not written)"


def tests_section(part: Dict[str, object]) -> List[str]:
    lines = _clean(part["log"])
    summary = next((x.strip("= ") for x in reversed(lines)
                    if re.search(r"\d+ (passed|failed|skipped|errors?|deselected)", x)), None)
    out = [f"Result: **{summary or 'no pytest summary'}** ({status_text(part)}, "
           f"{part['seconds']} s)."]
    rows = [x for x in lines if re.match(r"^(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) ", x)]
    if rows:
        out += ["", "| outcome | test |", "|---|---|"]
        for row in rows:
            outcome, _, test = row.partition(" ")
            out.append(f"| {outcome} | `{test.replace('|', '/')}` |")
    return out


def training_section(work: str, parts: List[Dict[str, object]]) -> List[str]:
    """The examples/s of every (model, precision, XLA) measured, one row per model."""
    records = []
    for line in (_read(f"{work}/training.jsonl") or "").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut off by the time limit
    if not records:
        return ["No measurement finished (" + "; ".join(status_text(p) for p in parts) + ")."]
    columns = [(p, x) for x in (False, True) for p in PRECISIONS
               if any(r["precision"] == p and r["xla"] == x for r in records)]
    models = list(dict.fromkeys(r["model"] for r in records))
    first = records[0]
    inputs = ("images, the preset's extractor fine-tuned" if first.get("fine_tune")
              else "cached features, the head alone")
    out = [f"Examples per second of one training step (forward, backward, Adam), best of the "
           f"timed steps: {inputs} (random initial weights), synthetic reports of IU X-Ray "
           "length. n/r: not reached within the part's time limit.", "",
           "| model | preset | extractor | batch | "
           + " | ".join(p + ("+XLA" if x else "") for p, x in columns) + " |",
           "|---|---|---|---|" + "---|" * len(columns)]
    for model in models:
        mine = [r for r in records if r["model"] == model]
        ok = next((r for r in mine if "examples_per_second" in r), mine[0])
        extractor = (f"{ok['backbone']} {ok['image_size']} px" if "backbone" in ok else "")
        cells = []
        for p, x in columns:
            r = next((r for r in mine if r["precision"] == p and r["xla"] == x), None)
            if r is None:
                cells.append("n/r")
            elif "error" in r:
                cells.append("failed: " + str(r["error"])[:60].replace("|", "/"))
            else:
                cells.append(f"{r['examples_per_second']:.1f}")
        out.append(f"| {model} | {mine[0]['preset']} | {extractor} | {ok.get('batch_size', '')} | "
                   + " | ".join(cells) + " |")
    return out


def decoding_section(part: Dict[str, object]) -> List[str]:
    """The tables ``bench-decoding`` printed (every line that is a table row), and the line
    just above the first table, which says what was decoded."""
    lines = [x for x in _clean(part["log"]) if not x.startswith("CPU: ")]
    start = next((i for i, x in enumerate(lines) if x.startswith("|")), None)
    if start is None:
        return [f"No figures ({status_text(part)})."]
    heading = [lines[start - 1].split("; CPU: ")[0], ""] if start else []
    return heading + [x for x in lines[start:] if x.startswith("|")]


def render(work: str, command: str, tiny: bool, total_seconds: Optional[int] = None,
           today: Optional[str] = None) -> str:
    parts = {name: read_part(work, name) for name, _ in PARTS}
    smi = _clean(parts["nvidia_smi"]["log"]) or ["(nvidia-smi printed nothing)"]
    today = today or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    took = total_seconds if total_seconds is not None else sum(
        int(p["seconds"]) for p in parts.values())
    lines = [
        "# tfreport on a GPU", "",
        f"Written by `scripts/gpu_check.sh` on {today}, in {took} s"
        + (" with **tiny settings** (`TFREPORT_GPU_CHECK_TINY=1`: a smoke run of the script, "
           "not figures to quote)." if tiny else "."), "",
        "```bash", command, "```", "",
        f"**Machine.** {hardware_line(work)}", "",
        "## nvidia-smi", "", "```", *smi, "```", "",
        "## GPU tests", "",
        "float16 loss scaling, an XLA-compiled step in float32, float16 and bfloat16, and "
        "MirroredStrategy over every visible GPU against one device (`tests/test_gpu.py`, "
        "marker `gpu`; skipped where TensorFlow sees no GPU).", "",
        *tests_section(parts["tests"]), "",
        "## Training throughput", "",
        *training_section(work, [parts["training"], parts["training_xla"]]), "",
        "## Decoding throughput", "",
        "`scripts/benchmark_decoding.py`: reports per second of tfreport's decoder, random "
        "weights, so every report runs to its full length.", "",
        *decoding_section(parts["decoding"]), "",
        "## Parts", "",
        "| part | limit (s) | took (s) | status |", "|---|---|---|---|",
        *[f"| {what} | {parts[name]['limit'] or ''} | {parts[name]['seconds']} | "
          f"{status_text(parts[name])} |" for name, what in PARTS],
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", required=True, help="the script's work folder")
    p.add_argument("--out", required=True, help="the markdown file to write")
    p.add_argument("--command", required=True, help="the command that ran the check")
    p.add_argument("--tiny", action="store_true", help="the run used tiny settings")
    p.add_argument("--seconds", type=int, default=None, help="the whole run's wall time")
    args = p.parse_args(argv)
    write_text(args.out, render(args.work, args.command, args.tiny, args.seconds))
    print(f"Wrote {args.out}")


if __name__ == "__main__":
    from tfreport.cli import run_main
    run_main(main)
