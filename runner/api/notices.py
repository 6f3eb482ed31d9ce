"""One-line notices for calls that mean something else on this machine.

Azure ML material calls cloud operations (provisioning a cluster, Docker
images, conda packages) that run locally here. Each such call prints one line
to stderr saying what happens instead, once per process and kind of notice, so
a notebook that loops over a call is not flooded. Nothing is decided by it.
"""

from __future__ import annotations

import sys

_seen: set[str] = set()


def notice(text: str, key: str | None = None) -> None:
    """Print ``runner: notice: <text>`` to stderr, once per process for ``key`` (or text)."""
    key = key or text
    if key in _seen:
        return
    _seen.add(key)
    print(f"runner: notice: {text}", file=sys.stderr, flush=True)


def reset() -> None:
    """Forget which notices were printed (for tests)."""
    _seen.clear()
