"""Export a trained model as a TensorFlow SavedModel that serves report text.

The legacy-compatible entry point of ``tfreport/commands/export.py`` (``pip install -e .`` first).
"""
from tfreport.cli import run_main
from tfreport.commands.export import main

if __name__ == "__main__":
    run_main(main)
