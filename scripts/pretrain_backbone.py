"""Pretrain a backbone on the 14 CheXpert observations ("CheXpert-style"), for the report models.

The legacy-compatible entry point of ``tfreport/commands/pretrain_backbone.py`` (``pip install -e .`` first).
"""
from tfreport.cli import run_main
from tfreport.commands.pretrain_backbone import main

if __name__ == "__main__":
    run_main(main)
