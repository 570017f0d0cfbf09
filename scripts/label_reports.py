"""Label reports with tfreport's rule-based CheXpert labeler (offline, no weights).

The legacy-compatible entry point of ``tfreport/commands/label_reports.py`` (``pip install -e .`` first).
"""
from tfreport.cli import run_main
from tfreport.commands.label_reports import main

if __name__ == "__main__":
    run_main(main)
