"""SCST's cost per step: sampling, rewards and the update.

The legacy-compatible entry point of ``tfreport/commands/benchmark_scst.py`` (``pip install -e .`` first).
"""
from tfreport.cli import run_main
from tfreport.commands.benchmark_scst import main

if __name__ == "__main__":
    run_main(main)
