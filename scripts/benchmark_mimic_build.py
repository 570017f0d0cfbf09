"""Studies per second and peak memory of the MIMIC-CXR build on synthetic trees of growing

The legacy-compatible entry point of ``tfreport/commands/benchmark_mimic_build.py`` (``pip install -e .`` first).
"""
from tfreport.cli import run_main
from tfreport.commands.benchmark_mimic_build import main

if __name__ == "__main__":
    run_main(main)
