"""Expected GPU wall time of docs/REPRODUCE.md's runs, from FLOPs counted per training step.

The legacy-compatible entry point of ``tfreport/commands/estimate_gpu_time.py`` (``pip install -e .`` first).
"""
from tfreport.cli import run_main
from tfreport.commands.estimate_gpu_time import main

if __name__ == "__main__":
    run_main(main)
