"""What a launched script's interpreter gets so that ``import runner`` and
``from azureml.core import Run`` work without installing anything in it.

``.runner/shim/<key>/``::

    pkg/runner         -> link to this package (on PYTHONPATH: every Python
                          process of the run can import runner)
    pkg/runner_mlflow_plugin-1.0.dist-info/   entry points: MLflow finds runner's
                          store for runner: URIs (when mlflow is installed there)
    boot/runner_boot.py   the launcher's first Python code (see BOOT)

``pkg/runner/compat`` (inside the linked package) holds the ``azureml``
compatibility package (``runner/compat/azureml``): the boot file adds it to the
END of sys.path, so a real azureml-core installed in the run's interpreter wins.
Drivers get the same modules through ``runner compat install``.

Built once per runner installation, in a temporary folder renamed into place.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..core.paths import WorkspacePaths

PACKAGE_DIR = Path(__file__).resolve().parent.parent

#: Runs the user's script as ``python script.py args`` would, and records an
#: uncaught exception (type, message, traceback tail) for the supervisor.
BOOT = r'''"""Start a submitted script as `python SCRIPT ARGS...` would, recording a crash."""
import os
import runpy
import sys


def _check_azureml(compat):
    """Say so when a real azureml-core would answer `from azureml.core import Run`."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("azureml")
    except (ImportError, ValueError):
        return
    origin = (spec.origin or "") if spec else ""
    locations = list(spec.submodule_search_locations or []) if spec else []
    if spec and not origin.startswith(compat) and not any(p.startswith(compat) for p in locations):
        sys.stderr.write(
            "runner: warning: a real azureml package is installed in this interpreter (%s); "
            "`from azureml.core import Run` gets its offline run, and what it logs is not "
            "recorded. Use `from runner import Run`, or a managed environment (azureml-* "
            "packages are left out of it).\n" % (origin or locations))


def _wait_for_release():
    """A script started ahead of its run's preparation waits here for the supervisor's
    go (one byte); the supervisor gone or giving up means leave without running it."""
    hold = os.environ.pop("RUNNER_HOLD_FD", None)
    if hold is None:
        return
    fd = int(hold)
    try:
        go = os.read(fd, 1)
    except OSError:
        go = b""
    os.close(fd)
    if go != b"1":
        os._exit(0)


def main():
    _wait_for_release()
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    compat = os.environ.pop("RUNNER_COMPAT_PATH", None)
    if compat:
        sys.path.append(compat)
        _check_azureml(compat)
    error_file = os.environ.pop("RUNNER_ERROR_FILE", None)
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit:
        raise
    except BaseException as exc:
        import json
        import traceback

        tb = exc.__traceback__
        target = os.path.abspath(script)
        while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) != target:
            tb = tb.tb_next
        text = "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))
        sys.stderr.write(text)
        sys.stderr.flush()
        if error_file:
            name = type(exc).__name__
            record = {
                "code": "UserError",
                "message": "User program failed with %s: %s" % (name, exc),
                "details": "\n".join(text.rstrip().splitlines()[-12:]),
                "debugType": name,
                "debugMessage": str(exc),
            }
            try:
                with open(error_file, "w", encoding="utf-8") as f:
                    json.dump({"error": record}, f)
            except OSError:
                pass
        sys.exit(1)


main()
'''

#: A distribution record on the script's path, so MLflow finds runner's store by its
#: entry points in any interpreter (runner itself is not installed there).
_DIST = "runner_mlflow_plugin-1.0.dist-info"
_DIST_FILES = {
    "METADATA": "Metadata-Version: 2.1\nName: runner-mlflow-plugin\nVersion: 1.0\n",
    "entry_points.txt": (
        "[mlflow.tracking_store]\nrunner = runner.integrations.mlflow_store:RunnerStore\n\n"
        "[mlflow.artifact_repository]\n"
        "runner = runner.integrations.mlflow_store:RunnerArtifactRepository\n"),
}


@dataclass(frozen=True)
class Shim:
    """Paths a launch needs."""

    pkg: Path
    boot: Path
    compat: Path


@functools.lru_cache(maxsize=1)
def _key() -> str:
    """Names this installation's shim: its folder, version and generated files."""
    from ..core.version import __version__

    return hashlib.sha256(
        f"{PACKAGE_DIR}\0{__version__}\0{BOOT}\0{_DIST_FILES}".encode()
    ).hexdigest()[:16]


def ensure_shim(paths: WorkspacePaths) -> Shim:
    """The shim of this runner installation, built on first use."""
    key = _key()
    root = paths.shim / key
    shim = Shim(root / "pkg", root / "boot" / "runner_boot.py", root / "pkg" / "runner" / "compat")
    if (root / "pkg" / "runner").exists():
        return shim
    tmp = paths.shim / f".{key}.{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "pkg").mkdir(parents=True)
    try:
        os.symlink(PACKAGE_DIR, tmp / "pkg" / "runner", target_is_directory=True)
    except OSError:  # pragma: no cover - no symlinks (Windows without privilege)
        shutil.copytree(PACKAGE_DIR, tmp / "pkg" / "runner",
                        ignore=shutil.ignore_patterns("__pycache__"))
    (tmp / "pkg" / _DIST).mkdir()
    for name, text in _DIST_FILES.items():
        (tmp / "pkg" / _DIST / name).write_text(text, encoding="utf-8")
    (tmp / "boot").mkdir()
    (tmp / "boot" / "runner_boot.py").write_text(BOOT, encoding="utf-8")
    try:
        os.rename(tmp, root)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)  # another process made it first
    return shim


def python_path(shim: Shim, existing: str | None) -> str:
    """PYTHONPATH for the script: the shim first, then what was there."""
    return os.pathsep.join([str(shim.pkg), *([existing] if existing else [])])

