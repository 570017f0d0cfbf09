"""Reader throughput and record size: tfreport's JPEG records against the legacy layout

The legacy-compatible entry point of ``tfreport/commands/benchmark_reader.py`` (``pip install -e .`` first).
"""
from tfreport.cli import run_main
from tfreport.commands.benchmark_reader import main

if __name__ == "__main__":
    run_main(main)
