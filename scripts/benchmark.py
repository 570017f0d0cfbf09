"""Train every model on one dataset, score each on its test split, and write one table.

The legacy-compatible entry point of ``tfreport/commands/benchmark.py`` (``pip install -e .`` first).
"""
from tfreport.cli import run_main
from tfreport.commands.benchmark import main

if __name__ == "__main__":
    run_main(main)
