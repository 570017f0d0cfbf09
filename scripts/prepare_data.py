"""Turn a raw dataset layout into prepared TFRecords.

The legacy-compatible entry point of ``tfreport/commands/prepare_data.py`` (``pip install -e .`` first).
"""
from tfreport.cli import run_main
from tfreport.commands.prepare_data import main

if __name__ == "__main__":
    run_main(main)
