"""Cached against recomputed decoding for the M2 transformer: reports per second on this machine.

The legacy-compatible entry point of ``tfreport/commands/benchmark_decoding.py`` (``pip install -e .`` first).
"""
from tfreport.cli import run_main
from tfreport.commands.benchmark_decoding import main

if __name__ == "__main__":
    run_main(main)
