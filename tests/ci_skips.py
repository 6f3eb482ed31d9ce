"""In CI, a skipped test is a failed test.

CI (``.ci/run``) installs everything the suite needs: the ``test`` extra, Chromium
(``.ci/browser.sh``), a Ray head (``.ci/ray.sh``) and the network for the wheelhouse.
A skip there means one of those broke, and a green run with "3 skipped" would hide it.
So when the ``CI`` environment variable is set (to anything but ``""``, ``0`` or
``false``), every skip, whether of a test or of a whole module at collection, is
reported as a failure that names the skip's reason. A test whose skip is legitimate
even in CI (a platform feature CI does not have) says so with
``@pytest.mark.ci_may_skip("why")``.

``tests/conftest.py`` imports these hooks; they live here so that a test can load
them into a pytest of its own.
"""

from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    """True when the ``CI`` environment variable says this is a CI run."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _failure(report: pytest.TestReport | pytest.CollectReport) -> None:
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
    report.outcome = "failed"
    report.longrepr = (
        f"skipped in CI, which installs every dependency of the suite (.ci/run): {reason}\n"
        "Fix the CI setup, or mark the test @pytest.mark.ci_may_skip(reason) if the skip "
        "is right even there."
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``ci_may_skip`` marker."""
    config.addinivalue_line(
        "markers", "ci_may_skip(reason): this test may skip even in CI (CI=true)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Turn a test's skip into a failure in CI, unless it is marked ``ci_may_skip``."""
    outcome = yield
    report = outcome.get_result()
    if (report.skipped and not hasattr(report, "wasxfail") and in_ci()
            and item.get_closest_marker("ci_may_skip") is None):
        _failure(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    """Turn a whole module's skip (``importorskip`` at its top) into a failure in CI."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and in_ci():
        _failure(report)
