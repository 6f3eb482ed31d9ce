"""``python -m runner``: the same command line as the ``runner`` console script."""

from .cli.main import main

if __name__ == "__main__":
    main()
