"""In CI a skip fails the run; elsewhere it stays a skip (the hooks of ``ci_skips``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import ci_skips
import pytest

HERE = Path(__file__).resolve().parent

SUITE = {
    "conftest.py": "from ci_skips import *  # noqa: F403\n",
    "test_a.py": (
        "import pytest\n\n"
        "def test_skips():\n    pytest.skip('no head')\n\n"
        "@pytest.mark.ci_may_skip('no fifos on this platform')\n"
        "def test_may_skip():\n    pytest.skip('platform')\n\n"
        "@pytest.mark.xfail(reason='known')\n"
        "def test_xfails():\n    assert False\n\n"
        "def test_passes():\n    pass\n\n"
        "@pytest.fixture(scope='session')\n"
        "def wheelhouse():\n    pytest.skip('cannot download six')\n\n"
        "def test_needs_a_fixture_that_skips(wheelhouse):\n    pass\n"
    ),
    "test_b.py": "import pytest\n\npytest.importorskip('no_such_module_for_ci_skips')\n",
}


def _run(tmp_path: Path, ci: str | None) -> tuple[int, str]:
    for name, text in SUITE.items():
        (tmp_path / name).write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # a plain pytest starts faster
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
         "--continue-on-collection-errors", "--rootdir", str(tmp_path), str(tmp_path)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    return done.returncode, done.stdout


def test_in_ci_a_skip_is_a_failure_naming_its_reason(tmp_path: Path):
    """With CI=true the skip of a test, of its fixture and of a module fail; ci_may_skip
    and xfail do not."""
    code, out = _run(tmp_path, "true")

    assert 1 == code, out
    assert "1 failed, 1 passed, 1 skipped, 1 xfailed, 2 errors" in out.splitlines()[-1]
    assert "skipped in CI" in out
    assert "no head" in out and "cannot download six" in out
    assert "no_such_module_for_ci_skips" in out


def test_outside_ci_a_skip_stays_a_skip_and_is_listed(tmp_path: Path):
    """Without CI the skips are skips, each listed with its reason (-rs)."""
    code, out = _run(tmp_path, None)

    assert 0 == code, out
    assert "1 passed, 4 skipped, 1 xfailed" in out.splitlines()[-1]
    assert "SKIPPED" in out and "no head" in out


@pytest.mark.parametrize(("value", "expected"), [
    ("true", True), ("1", True), ("yes", True), ("", False), ("0", False), ("false", False),
    ("False", False), (None, False)])
def test_what_counts_as_ci(monkeypatch: pytest.MonkeyPatch, value: str | None, expected: bool):
    """CI is on for any value but empty, 0, false or no."""
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert expected is ci_skips.in_ci()
