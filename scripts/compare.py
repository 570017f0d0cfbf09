"""Paired significance between systems: paired bootstrap and approximate randomisation.

The legacy-compatible entry point of ``tfreport/commands/compare.py`` (``pip install -e .`` first).
"""
from tfreport.cli import run_main
from tfreport.commands.compare import main

if __name__ == "__main__":
    run_main(main)
