"""``python -m tfreport <command>``: the same as the ``tfreport`` console command."""
from tfreport.commands import main

if __name__ == "__main__":
    main()
