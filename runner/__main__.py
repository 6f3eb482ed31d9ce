"""``python -m runner``: the same command line as the ``runner`` console script."""

from runner._cli import main

if __name__ == "__main__":
    main()
