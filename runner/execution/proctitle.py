"""A forked owner's command line and name, as ``ps`` and ``pgrep -f`` see them (Linux).

A forked child keeps its parent's command line: a supervisor forked from
``python -m pytest ...`` or a Jupyter kernel would look like a second one, so
``pgrep -f RUN_ID`` finds nothing and ``pkill -f pytest`` kills supervisors.

Linux shows ``/proc/<pid>/cmdline`` from the process's own memory: the argv
strings that the kernel put on the stack, between ``arg_start`` and
``arg_end`` (fields 48 and 49 of ``/proc/<pid>/stat``). A process may
overwrite that memory, and when it overwrites the argv area's final NUL, the
kernel reads on into the environment strings that follow it, up to the next
NUL (up to a page). This is how the ``setproctitle`` library does it; here the
memory is written through ``/proc/self/mem``, so no C code and no dependency is
needed. ``prctl(PR_SET_MM_ARG_START)`` would need CAP_SYS_RESOURCE.

A title longer than the argv area takes the environment's room, so the C
``environ`` strings are first copied elsewhere (with ctypes): libc and other C
code may still call ``getenv()``. Python's ``os.environ`` is its own copy.

:func:`room` says, before forking, how long a title this process can show;
the caller execs instead when the title does not fit or the memory is not
writable. :func:`set_title` runs in the forked child only: it changes that
child's own copy of the memory, never the parent's.
"""

from __future__ import annotations

import sys

#: ``(arg_start, arg_end, env_start, env_end)`` of this process, None if unknown.
_AREAS: tuple[int, int, int, int] | None = None
#: Bytes that :func:`room` found writable: None before it ran, 0 when none.
_ROOM: int | None = None
#: How much of a rewritten command line the kernel shows (one page, at least 4 KiB).
_PAGE = 4096
#: Relocated environment strings (never freed: ``environ`` points into them).
_KEEP: list = []


def _areas() -> tuple[int, int, int, int] | None:
    global _AREAS
    if _AREAS is None:
        try:
            with open("/proc/self/stat", "rb") as f:
                data = f.read()
            fields = data[data.rfind(b")") + 2:].split()
            # Field N of proc(5) is fields[N - 3]; 48..51 exist since Linux 3.5.
            _AREAS = tuple(int(x) for x in fields[45:49])  # type: ignore[assignment]
        except (OSError, ValueError, IndexError):
            return None
        if len(_AREAS) != 4 or not all(_AREAS):  # type: ignore[arg-type]
            _AREAS = None
    return _AREAS


def room() -> int:
    """How many bytes of title this process can show (0: none; then exec instead).

    Checks once that the argv memory can be written (it writes the same bytes
    back), and counts the environment area only when ctypes can relocate it.
    """
    global _ROOM
    if _ROOM is not None:
        return _ROOM
    _ROOM = 0
    areas = _areas() if sys.platform.startswith("linux") else None
    if areas is None:
        return 0
    arg_start, arg_end, env_start, env_end = areas
    try:
        with open("/proc/self/mem", "r+b", buffering=0) as mem:
            mem.seek(arg_start)
            same = mem.read(arg_end - arg_start)
            mem.seek(arg_start)
            mem.write(same)
    except (OSError, ValueError, OverflowError):
        return 0
    size = arg_end - arg_start - 1
    if env_start == arg_end and env_end > env_start:
        try:
            import ctypes  # noqa: F401 - imported here, before a fork, to relocate environ
        except ImportError:  # pragma: no cover - Python built without ctypes
            pass
        else:
            size += env_end - env_start
    _ROOM = min(max(size, 0), _PAGE - 1)  # the kernel shows up to a page of title
    return _ROOM


def set_title(title: str) -> bool:
    """Show ``title`` as this (forked) process's command line; False if it cannot."""
    areas = _areas()
    data = title.encode("utf-8", "replace")
    if areas is None or not data or len(data) > room():
        return False
    arg_start, arg_end, env_start, env_end = areas
    if len(data) >= arg_end - arg_start:
        if not _relocate_environ(env_start, env_end):
            return False
        payload = data + b"\0"
    else:  # fits: pad the rest of the argv area with NULs
        payload = data + b"\0" * (arg_end - arg_start - len(data))
    try:
        with open("/proc/self/mem", "r+b", buffering=0) as mem:
            mem.seek(arg_start)
            mem.write(payload)
    except (OSError, ValueError, OverflowError):
        return False
    return True


def _relocate_environ(env_start: int, env_end: int) -> bool:
    """Point every C ``environ`` entry that lies in the environment area at a copy."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        environ = ctypes.POINTER(ctypes.c_void_p).in_dll(libc, "environ")
        i = 0
        while environ[i]:
            address = environ[i]
            if env_start <= address < env_end:
                copy = ctypes.create_string_buffer(ctypes.string_at(address))
                _KEEP.append(copy)
                environ[i] = ctypes.addressof(copy)
            i += 1
    except (OSError, ValueError, AttributeError, ImportError):
        return False
    return True


def set_comm(name: str) -> None:
    """Name this process ``name`` (15 bytes) in ``ps -o comm`` and ``top`` (Linux)."""
    try:
        with open("/proc/self/comm", "w") as f:
            f.write(name[:15])
    except OSError:
        pass
