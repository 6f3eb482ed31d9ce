"""The owner of a run on a Ray cluster: the Ray counterpart of the local supervisor.

One process per run, started like the supervisor (forked from the submitting
process, or ``python -m runner.targets.ray_owner ROOT RUN_ID``), owns the run
from Queued to its end and writes the same record a local run gets, so
``wait_for_completion(show_output=True)``, ``runner logs -f`` and ``run.cancel()``
work unchanged:

1. Queued: zip the snapshot (+ marker + ``.runner_pkg/``), upload it through the
   Jobs API, submit the job (``submission_id`` = run id). Notes go to
   ``logs/env_build.txt``. Still Queued while Ray says PENDING (queued for
   resources, or building the runtime_env).
2. Running when Ray says RUNNING; the driver log is polled into
   ``logs/std_log.txt`` as it grows. A cancel request (SIGUSR1/SIGTERM, or the
   store's flag) or the time limit stops the job (``POST .../stop``).
3. Finalizing when Ray says SUCCEEDED/FAILED/STOPPED (the job's wrapper has
   uploaded ``outputs/`` by then); the final driver log is stored whole, since Ray
   forgets jobs when its head restarts; then the terminal status of
   :func:`runner.targets.ray_jobs.status_from_job` with the driver's exit code.
"""

from __future__ import annotations

import sys
import time
import traceback
from typing import Any

from ..core.status import (
    CANCEL_REQUESTED,
    CANCELED,
    FAILED,
    QUEUED,
    RUNNING,
    RunStatus,
    error_record,
)
from ..execution.owner import RunOwner
from .ray_jobs import (
    TERMINAL,
    JobsApiError,
    JobsClient,
    build_package,
    job_request,
    runtime_env_for,
    status_from_job,
)

#: Seconds between status polls right after a change, and at most.
POLL_FAST = 0.1
POLL_SLOW = 1.0
#: Seconds between driver-log fetches while the job runs.
LOG_POLL = 0.5
#: Seconds without an answer from the head before the run is given up as Failed.
LOST_AFTER = 120.0
#: Seconds a stopped job may take to reach a terminal state before we stop waiting.
STOP_WAIT = 60.0


class RayOwner(RunOwner):
    """Drives one run on a Ray cluster to its end. See the module docstring."""

    def __init__(self, root: str, run_id: str, private: dict[str, Any] | None = None) -> None:
        super().__init__(root, run_id, private)
        self.settings: dict[str, Any] = self.private["target"]
        self.client = JobsClient(self.settings["address"], self.settings.get("token"))
        self.stop_sent: float | None = None
        self.timed_out: float | None = None
        self.submitted = False
        self.running_since: float | None = None
        self.info: dict[str, Any] | None = None
        self.log_chars = 0

    # ------------------------------------------------------------ plumbing

    def _note(self, text: str) -> None:
        """A line in ``logs/env_build.txt``, the log streamed before the script's."""
        with open(self.run_dir / "logs" / "env_build.txt", "a", encoding="utf-8") as f:
            f.write(f"{text}\n")

    # ------------------------------------------------------------ phases

    def run(self) -> int:
        """Own the run to its end; returns the process exit code."""
        self._install_signals()
        (self.run_dir / "logs").mkdir(parents=True, exist_ok=True)
        (self.run_dir / ".sys").mkdir(parents=True, exist_ok=True)
        try:
            if self._submit():
                self._follow()
                self._finalize()
        except BaseException as exc:  # noqa: BLE001 - whatever happens, end the run
            text = traceback.format_exc()
            self._log(text)
            still = ""
            if self.submitted and self.info is None:
                try:
                    self.client.stop(self.run_id)
                except Exception as stop_exc:  # noqa: BLE001 - recorded on the run below
                    still = (f" Stopping the job failed ({type(stop_exc).__name__}: "
                             f"{stop_exc}); it may still run on the cluster as submission "
                             f"{self.run_id}.")
                    self._log(f"stop request failed: {stop_exc}")
            self._finish(FAILED, error_record(
                f"The run's owner failed: {type(exc).__name__}: {exc}.{still}",
                code="SystemError", details="\n".join(text.splitlines()[-12:])))
            return 70
        return 0

    def _submit(self) -> bool:
        """Package, upload and submit; False if the run ended before (canceled, refused)."""
        from ..envs.prepare import canonical
        from ..inrun import context as _context

        paths = self.ws.paths
        address = self.settings["address"]
        env_spec = self.private.get("environment", self.definition.get("environment"))
        env = canonical(env_spec) if env_spec is not None else None
        job = {"run_id": self.run_id, "script": self.definition.get("script"),
               "arguments": self.definition.get("arguments") or [],
               "command": self.definition.get("command"),
               "interpreter": env["python"]["interpreter_path"] if env else "python",
               "python_version": env["python"]["version"] if env else None}
        started = time.monotonic()
        package = build_package(paths, self.row["snapshot_id"], self.run_id, job,
                                paths.tmp / f"ray-{self.run_id}.zip")
        try:
            if self._cancel_requested():
                self._finish(CANCELED, None)
                return False
            try:
                self.client.ensure_package(package.name, package.path)
            except JobsApiError as exc:
                return self._refused(f"uploading the job's working_dir ({package.size:,} bytes) "
                                     f"to {address} failed: {exc}")
        finally:
            package.path.unlink(missing_ok=True)
        self._note(f"Uploaded the snapshot as {package.uri} ({package.size / 2**20:.1f} MiB) in "
                   f"{time.monotonic() - started:.2f} s.")
        env_vars = {**(env["environment_variables"] if env else {}),
                    **self.private.get("env", self.definition.get("environmentVariables") or {}),
                    **_context.remote_context_environ(self.settings["tracking_uri"], self.run_id,
                                                      self.row["experiment"],
                                                      self.settings.get("tracking_token")),
                    "PYTHONUNBUFFERED": "1"}
        request = job_request(
            run_id=self.run_id, experiment=self.row["experiment"], package_uri=package.uri,
            runtime_env=runtime_env_for(env, self.settings.get("installer", "pip")),
            env_vars=env_vars, resources=self.private.get("resources") or {},
            settings=self.settings)
        if self._cancel_requested():
            self._finish(CANCELED, None)
            return False
        try:
            answer = self.client.submit(request)
        except JobsApiError as exc:
            return self._refused(f"the Ray cluster at {address} refused the job: {exc}")
        self.submitted = True
        self.store.add_properties(self.run_id, {
            "runner.target": "ray", "ray.address": address, "ray.submission_id": self.run_id,
            "ray.job_id": (answer or {}).get("job_id")})
        extras = {k: v for k, v in request.items() if k.startswith("entrypoint_")}
        setup = [k for k in ("pip", "uv") if k in request["runtime_env"]]
        self._note(f"Submitted to the Ray cluster at {address} as job {self.run_id}"
                   + (f" ({', '.join(f'{k}={v}' for k, v in extras.items())})" if extras else "")
                   + (f"; Ray installs the {setup[0]} packages before it starts" if setup else "")
                   + ".")
        return True

    def _refused(self, message: str) -> bool:
        self._note(message)
        self._finish(FAILED, error_record(message, code="TargetError"))
        return False

    def _follow(self) -> None:
        """Poll the job until it ends (or a stop request goes unanswered); tail its log."""
        limit = self.definition.get("maxRunDurationSeconds")
        last_change = time.monotonic()
        last_ok = time.monotonic()
        last_logs = 0.0
        status = None
        while True:
            try:
                info = self.client.info(self.run_id)
                last_ok = time.monotonic()
            except JobsApiError as exc:
                if time.monotonic() - last_ok > LOST_AFTER:
                    raise RuntimeError(f"the Ray cluster at {self.settings['address']} has not "
                                       f"answered for {LOST_AFTER:.0f} s ({exc})") from None
                self._sleep(POLL_SLOW)
                continue
            if info is None:
                raise RuntimeError(f"the Ray cluster at {self.settings['address']} no longer "
                                   f"knows job {self.run_id} (was its head restarted?)")
            if info.get("status") != status:
                status = info.get("status")
                last_change = time.monotonic()
                self._log(f"Ray job status {status}")
            if status == "RUNNING" and self.running_since is None:
                self.running_since = time.time()
                if self.store.update_run(self.run_id, status=RUNNING,
                                         start_time=_seconds(info.get("start_time")) or time.time(),
                                         only_if_status=(QUEUED,)):
                    self._touch(RUNNING)
            now = time.monotonic()
            if status in TERMINAL:
                self.info = info
                return
            if status == "RUNNING" and now - last_logs >= LOG_POLL:
                last_logs = now
                self._pump_logs()
            if self.stop_sent is None:
                if self._cancel_requested():
                    self._stop(CANCEL_REQUESTED)
                elif limit and self.running_since and time.time() - self.running_since >= limit:
                    self.timed_out = limit
                    self._stop(CANCEL_REQUESTED)
            elif now - self.stop_sent > STOP_WAIT:
                self._log(f"job still {status} {STOP_WAIT:.0f} s after the stop request")
                self.info = info
                return
            self._sleep(min(POLL_SLOW, POLL_FAST * 1.5 ** max(0.0, (now - last_change) / 2)))

    def _stop(self, status: str) -> None:
        self.stop_sent = time.monotonic()
        self.store.update_run(self.run_id, status=status, only_if_status=(QUEUED, RUNNING))
        self._touch(status)
        try:
            self.client.stop(self.run_id)
        except JobsApiError as exc:
            self._log(f"stop request failed: {exc}")
            self._note(f"runner: the request to stop the job failed ({exc}); it may still run "
                       f"on the cluster as submission {self.run_id}.")

    def _pump_logs(self, final: bool = False) -> None:
        """Append what the driver log gained; at the end, store the log whole."""
        try:
            text = self.client.logs(self.run_id)
        except JobsApiError as exc:
            self._log(f"reading the job's log failed: {exc}")
            return
        if text is None:
            return
        path = self.run_dir / "logs" / "std_log.txt"
        if len(text) < self.log_chars:  # should not happen; keep Ray's version whole
            path.write_text(text, encoding="utf-8")
        elif len(text) > self.log_chars:
            with open(path, "a", encoding="utf-8") as f:
                f.write(text[self.log_chars:])
        self.log_chars = len(text)

    def _finalize(self) -> None:
        if self._enter_finalizing(QUEUED, RUNNING, CANCEL_REQUESTED) is None:
            return
        self._pump_logs(final=True)
        info = self.info or {}
        if info.get("status") not in TERMINAL:
            info = {**info, "status": "STOPPED"}
        if info.get("status") == "FAILED" and info.get("driver_exit_code") is None \
                and info.get("message"):
            self._note(f"Ray: {info['message'].strip()}")
        from ..execution.supervisor import _tail

        status, error = status_from_job(
            info, canceled=self.stop_sent is not None and self.timed_out is None,
            timeout_seconds=self.timed_out, script_error=self.store.get_run(self.run_id)["error"],
            log_tail=_tail(self.run_dir / "logs" / "std_log.txt"))
        system = {"ray": {k: info.get(k) for k in (
            "status", "message", "driver_exit_code", "job_id", "submission_id", "start_time",
            "end_time", "driver_node_id") if info.get(k) is not None}}
        self._finish(status, error, exit_code=info.get("driver_exit_code"), system=system)

    def _finish(self, status: str, error: dict[str, Any] | None, *, exit_code: int | None = None,
                system: dict[str, Any] | None = None) -> None:
        self.store.update_run(
            self.run_id, status=status, end_time=time.time(), error=error, exit_code=exit_code,
            system=system, only_if_status=tuple(s for s in RunStatus.ALL
                                                if s not in RunStatus.TERMINAL))
        self._touch(status)


def _seconds(ms: Any) -> float | None:
    return ms / 1000.0 if isinstance(ms, (int, float)) and ms > 0 else None


# --------------------------------------------------------------------------- starting


def start_owner(ws: Any, run_id: str, private: dict[str, Any], mode: str) -> int:
    """Start the owner of ``run_id`` detached (forked, or exec'd); returns its pid."""
    from ..execution.owner import start_detached

    def preload() -> None:
        from ..envs import schema as _schema  # noqa: F401
        from ..execution import supervisor as _supervisor  # noqa: F401

    return start_detached(ws, run_id, private, mode,
                          owner=lambda: RayOwner(str(ws.root), run_id, private).run(),
                          module="runner.targets.ray_owner", preload=preload)


def main(argv: list[str] | None = None) -> int:
    """``python -m runner.targets.ray_owner WORKSPACE_ROOT RUN_ID``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m runner.targets.ray_owner WORKSPACE_ROOT RUN_ID",
              file=sys.stderr)
        return 2
    return RayOwner(args[0], args[1]).run()


if __name__ == "__main__":
    sys.exit(main())
