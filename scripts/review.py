"""Write the review page of decoded model folders (see tfreport/commands/review.py)."""
from tfreport.cli import run_main
from tfreport.commands.review import main

if __name__ == "__main__":
    run_main(main)
