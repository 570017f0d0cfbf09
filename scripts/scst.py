"""Fine-tune a trained flat model with self-critical sequence training (SCST).

The legacy-compatible entry point of ``tfreport/commands/scst.py`` (``pip install -e .`` first).
"""
from tfreport.cli import run_main
from tfreport.commands.scst import main

if __name__ == "__main__":
    run_main(main)
