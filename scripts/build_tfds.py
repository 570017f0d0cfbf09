"""Build a tfreport TFDS dataset from its raw files (manual_dir), here or on Apache Beam.

The legacy-compatible entry point of ``tfreport/commands/build_tfds.py`` (``pip install -e .`` first).
"""
from tfreport.cli import run_main
from tfreport.commands.build_tfds import main

if __name__ == "__main__":
    run_main(main)
