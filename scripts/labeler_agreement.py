"""Agreement of tfreport's labeler with IU X-Ray MeSH terms, per observation.

The legacy-compatible entry point of ``tfreport/commands/labeler_agreement.py`` (``pip install -e .`` first).
"""
from tfreport.cli import run_main
from tfreport.commands.labeler_agreement import main

if __name__ == "__main__":
    run_main(main)
