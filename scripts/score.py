"""Score predictions against references: coco-caption NLG metrics and clinical efficacy.

The legacy-compatible entry point of ``tfreport/commands/score.py`` (``pip install -e .`` first).
"""
from tfreport.cli import run_main
from tfreport.commands.score import main

if __name__ == "__main__":
    run_main(main)
