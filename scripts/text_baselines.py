"""Image-free floors on the real IU X-Ray reports, for the legacy and R2Gen splits.

The legacy-compatible entry point of ``tfreport/commands/text_baselines.py`` (``pip install -e .`` first).
"""
from tfreport.cli import run_main
from tfreport.commands.text_baselines import main

if __name__ == "__main__":
    run_main(main)
