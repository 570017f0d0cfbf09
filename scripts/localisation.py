"""Do the heatmaps point at the findings? (see tfreport/commands/localisation.py)."""
from tfreport.cli import run_main
from tfreport.commands.localisation import main

if __name__ == "__main__":
    run_main(main)
