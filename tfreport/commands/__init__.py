"""The command line: ``tfreport <command> [flags]``, one module per command.

Each module here has ``main(argv=None)``; ``scripts/<module>.py`` are the legacy-compatible
entry points (``python scripts/train.py --model mrna``) and call the same function.
"""
from __future__ import annotations

import importlib
import os
import sys
from typing import List, Optional

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter

# subcommand -> module. The report workflow first, then the measurements.
COMMANDS = {
    "prepare": "prepare_data",
    "train": "train",
    "scst": "scst",
    "evaluate": "evaluate",
    "generate": "generate",
    "review": "review",
    "score": "score",
    "compare": "compare",
    "export": "export",
    "label": "label_reports",
    "convert-chexbert": "convert_chexbert",
    "pretrain": "pretrain_backbone",
    "build-tfds": "build_tfds",
    "benchmark": "benchmark",
    "text-baselines": "text_baselines",
    "decoding-sweep": "decoding_sweep",
    "labeler-agreement": "labeler_agreement",
    "rendered-signal": "rendered_signal",
    "demo-uses-images": "demo_uses_images",
    "localisation": "localisation",
    "estimate-gpu-time": "estimate_gpu_time",
    "bench-decoding": "benchmark_decoding",
    "bench-mimic-build": "benchmark_mimic_build",
    "bench-reader": "benchmark_reader",
    "bench-training": "benchmark_training",
    "bench-scst": "benchmark_scst",
    "bench-feature-cache": "benchmark_feature_cache",
}


def _summary(module: str) -> str:
    """The first line of a command's docstring, read without importing TensorFlow."""
    import ast
    path = os.path.join(os.path.dirname(__file__), module + ".py")
    with open(path, encoding="utf-8") as f:
        doc = ast.get_docstring(ast.parse(f.read())) or ""
    return doc.split("\n\n")[0].replace("\n", " ")


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: tfreport <command> [flags]   (tfreport <command> --help for its flags)",
             "", "commands:"]
    lines += [f"  {name:<{width}}  {_summary(module)}" for name, module in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> None:
    """``tfreport <command> ...``: runs the command's ``main`` on the remaining flags."""
    from tfreport.cli import run_main
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return
    name = argv[0]
    module = COMMANDS.get(name) or (name if name in COMMANDS.values() else None)
    if module is None:
        print(usage(), file=sys.stderr)
        sys.exit(f"tfreport: unknown command {name!r}")
    sys.argv[0] = f"tfreport {name}"
    command = importlib.import_module(f"tfreport.commands.{module}")
    run_main(lambda: command.main(argv[1:]))
