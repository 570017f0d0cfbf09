"""Convert the published CheXbert checkpoint (PyTorch) into the Keras CheXbert labeler.

The legacy-compatible entry point of ``tfreport/commands/convert_chexbert.py`` (``pip install -e .`` first).
"""
from tfreport.cli import run_main
from tfreport.commands.convert_chexbert import main

if __name__ == "__main__":
    run_main(main)
