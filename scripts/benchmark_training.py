"""Training throughput of every model by precision and XLA, on cached features or on images.

The legacy-compatible entry point of ``tfreport/commands/benchmark_training.py`` (``pip install -e .`` first).
"""
from tfreport.cli import run_main
from tfreport.commands.benchmark_training import main

if __name__ == "__main__":
    run_main(main)
