"""Choose decoding settings on validation: the length penalty, and MBR's samples and temperature.

The legacy-compatible entry point of ``tfreport/commands/decoding_sweep.py`` (``pip install -e .`` first).
"""
from tfreport.cli import run_main
from tfreport.commands.decoding_sweep import main

if __name__ == "__main__":
    run_main(main)
