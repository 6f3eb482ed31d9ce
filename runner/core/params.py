"""A run's parameters read from its script arguments, as a person reads them.

``--lr 0.1``, ``--lr=0.1`` and ``-n 3`` give ``{"lr": "0.1", "n": "3"}``; a flag
with no value (``--verbose`` followed by another option or nothing) gives
``"true"``. Names lose their leading dashes, so ``params.lr`` in a filter finds
``--lr`` (HyperDrive names its parameters ``--lr`` too). Values stay strings:
comparisons decide how to read them. Positional arguments are not parameters.
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence


def _is_option(arg: str) -> bool:
    """``-x``/``--name`` but not a negative number such as ``-0.5``."""
    if not arg.startswith("-") or arg in ("-", "--"):
        return False
    try:
        float(arg)
    except ValueError:
        return True
    return False


def param_name(option: str) -> str:
    """``--learning-rate`` -> ``learning-rate``; ``-n`` -> ``n``."""
    return option.lstrip("-")


def parse_arguments(argv: Sequence[str]) -> dict[str, str]:
    """The ``name -> value`` pairs of a script's argument list (see the module docstring).

    A name given twice keeps its last value, as argparse does.
    """
    out: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            break
        if _is_option(arg):
            name, eq, value = arg.partition("=")
            if eq:
                if param_name(name):
                    out[param_name(name)] = value
            elif i + 1 < len(argv) and not _is_option(argv[i + 1]) and argv[i + 1] != "--":
                out[param_name(name)] = argv[i + 1]
                i += 1
            else:
                out[param_name(name)] = "true"
        i += 1
    return out
