"""Measure whether a trained model uses the images, on the demo test split.

The legacy-compatible entry point of ``tfreport/commands/demo_uses_images.py`` (``pip install -e .`` first).
"""
from tfreport.cli import run_main
from tfreport.commands.demo_uses_images import main

if __name__ == "__main__":
    run_main(main)
