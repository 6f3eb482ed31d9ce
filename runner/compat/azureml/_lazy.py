"""Names that map to parts of runner which may not exist yet in this installation.

``azureml.train.hyperdrive``, ``azureml.core.Model``, ``Dataset``, ``Datastore``
and ``azureml.data`` name runner features built separately (sweeps, models,
data). Each is looked up only when used; a name runner does not have yet is an
ImportError saying which runner name it maps to.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any, Callable


def mapper(module: str, names: dict[str, tuple[str, ...]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` resolving ``names`` (v1 name -> ``"module:attr"`` candidates)."""

    def __getattr__(name: str) -> Any:
        candidates = names.get(name)
        if candidates is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        for candidate in candidates:
            where, _, attr = candidate.partition(":")
            try:
                return getattr(import_module(where), attr)
            except (ImportError, AttributeError):
                continue
        wanted = " or ".join(c.replace(":", ".") for c in candidates)
        raise ImportError(
            f"{module}.{name} maps to {wanted}, which this installation of runner does not "
            f"have (yet). Update runner, or leave {name} out of the code.", name=name)

    return __getattr__
