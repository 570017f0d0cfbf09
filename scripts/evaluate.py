"""Evaluate a trained model on a split: all, normal and abnormal studies.

The legacy-compatible entry point of ``tfreport/commands/evaluate.py`` (``pip install -e .`` first).
"""
from tfreport.cli import run_main
from tfreport.commands.evaluate import main

if __name__ == "__main__":
    run_main(main)
