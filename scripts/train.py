"""Train a report model. With no --data_dir it builds and uses the demo dataset.

The legacy-compatible entry point of ``tfreport/commands/train.py`` (``pip install -e .`` first).
"""
from tfreport.cli import run_main
from tfreport.commands.train import main

if __name__ == "__main__":
    run_main(main)
