"""The signal per finding in the rendered IU X-Ray images: a linear pixel probe's test AUROC.

The legacy-compatible entry point of ``tfreport/commands/rendered_signal.py`` (``pip install -e .`` first).
"""
from tfreport.cli import run_main
from tfreport.commands.rendered_signal import main

if __name__ == "__main__":
    run_main(main)
