"""Write a report for a study's images, as the legacy demo.py did, or for a folder of studies.

The legacy-compatible entry point of ``tfreport/commands/generate.py`` (``pip install -e .`` first).
"""
from tfreport.cli import run_main
from tfreport.commands.generate import main

if __name__ == "__main__":
    run_main(main)
