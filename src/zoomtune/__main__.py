"""`python -m zoomtune` runs the command-line tool."""

from zoomtune.cli import main

if __name__ == "__main__":
    main()
