"""The owner of a run on a Ray cluster: the Ray counterpart of the local supervisor.

One process per run, started like the supervisor (forked from the submitting
process, or ``python -m runner.targets.ray_owner ROOT RUN_ID``), owns the run
from Queued to its end and writes the same record a local run gets, so
``wait_for_completion(show_output=True)``, ``runner logs -f`` and ``run.cancel()``
work unchanged:

1. Queued: make sure the cluster has the snapshot's package and the in-run
   package (:mod:`runner.targets.ray_jobs`: named by content, so an unchanged
   snapshot is neither zipped nor uploaded again), submit the job
   (``submission_id`` = run id) with a per-run token. Notes go to
   ``logs/env_build.txt``. Still Queued while Ray says PENDING (queued for
   resources, or building the runtime_env).
2. Running when Ray says RUNNING; the driver log is tailed into
   ``logs/std_log.txt`` (:mod:`runner.targets.ray_logs`). The start time is when
   the script started (the wrapper's ``started`` event), not Ray's submission
   time. A cancel request (SIGUSR1/SIGTERM, or the store's flag) or the time
   limit stops the job (``POST .../stop``).
3. Finalizing when Ray says SUCCEEDED/FAILED/STOPPED (the job's wrapper has
   uploaded ``outputs/`` by then); the rest of the driver log is stored, since Ray
   forgets jobs when its head restarts; then the terminal status of
   :func:`runner.targets.ray_jobs.status_from_job` with the driver's exit code.
   Records the job announced as lost (``lost`` events) become a warning and the
   ``runner.lost_values`` / ``runner.lost_writes`` properties.

If this process dies, the run stays as it was (the job goes on without it; a
reader does not mark it Failed), and ``runner attach RUN`` starts an owner in
*attach* mode: it skips step 1, follows the job by its submission id from
where the log left off, and finishes the record from Ray's final status.
"""

from __future__ import annotations

import json
import math
import os
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
    SPEC_VAR,
    TERMINAL,
    JobsApiError,
    JobsClient,
    build_snapshot_package,
    job_request,
    job_spec,
    runtime_env_for,
    runtime_package,
    snapshot_package_name,
    status_from_job,
)
from .ray_logs import LogTail

#: Seconds between status polls right after a change, and at most.
POLL_FAST = 0.1
POLL_SLOW = 1.0
#: Seconds without an answer from the head before the run is given up as Failed.
LOST_AFTER = 120.0
#: Seconds a submission is retried while the head says it is busy (no job agent yet).
SUBMIT_RETRY = 60.0
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
        self.attach = bool(self.private.get("attach"))
        log = self.run_dir / "logs" / "std_log.txt"
        self.events: list[dict[str, Any]] = []  # appended by the log tail's thread
        self.tail = LogTail(self.client, run_id, log, self.events.append,
                            offset=log.stat().st_size if self.attach and log.exists() else 0)
        self.script_started: float | None = None
        self.lost = {"values": 0, "writes": 0}

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
            if self.attach:
                self.submitted = True
                self._note(f"Re-attached to Ray job {self.run_id} at {self.settings['address']} "
                           f"(pid {os.getpid()}).")
            if self.attach or self._submit():
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
        from ..api.remote_http import CA_VAR, per_run_token
        from ..envs.prepare import canonical
        from ..inrun import context as _context

        paths = self.ws.paths
        address = self.settings["address"]
        env_spec = self.private.get("environment", self.definition.get("environment"))
        env = canonical(env_spec) if env_spec is not None else None
        spec = job_spec(self.definition, env, self.settings)
        started = time.monotonic()
        runtime = runtime_package(paths.tmp / "ray-runtime")
        snapshot_id = self.row["snapshot_id"]
        snapshot_name = snapshot_package_name(snapshot_id)
        built: list[Any] = []

        def build() -> Any:
            built.append(build_snapshot_package(paths, snapshot_id,
                                                paths.tmp / f"ray-{self.run_id}.zip"))
            return built[0].path

        if self._cancel_requested():
            self._finish(CANCELED, None)
            return False
        try:
            try:
                sent_runtime = self.client.ensure_package(runtime.name, runtime.path)
                sent_snapshot = self.client.ensure_package(snapshot_name, build)
            except JobsApiError as exc:
                return self._refused(f"uploading the job's packages to {address} failed: {exc}")
        finally:
            for package in built:
                package.path.unlink(missing_ok=True)
        took = time.monotonic() - started
        self._note(
            (f"Uploaded the snapshot as gcs://{snapshot_name} ({built[0].size / 2**20:.1f} MiB)"
             if sent_snapshot else f"The cluster has the snapshot already (gcs://{snapshot_name})")
            + ("; uploaded runner's in-run package" if sent_runtime else "")
            + f"; {took:.2f} s.")
        token = self.settings.get("tracking_token")
        env_vars = {**(env["environment_variables"] if env else {}),
                    **self.private.get("env", self.definition.get("environmentVariables") or {}),
                    **_context.remote_context_environ(
                        self.settings["tracking_uri"], self.run_id, self.row["experiment"],
                        per_run_token(token, self.run_id) if token else None),
                    SPEC_VAR: json.dumps(spec),
                    "PYTHONUNBUFFERED": "1"}
        if self.settings.get("tracking_ca"):
            env_vars[CA_VAR] = self.settings["tracking_ca"]
        grace = self.settings.get("grace_seconds")
        if grace:
            env_vars["RAY_JOB_STOP_WAIT_TIME_S"] = str(max(1, math.ceil(grace)))
        request = job_request(
            run_id=self.run_id, experiment=self.row["experiment"],
            package_uri=f"gcs://{snapshot_name}", runtime_uri=runtime.uri,
            runtime_env=runtime_env_for(env, self.settings.get("installer", "pip")),
            env_vars=env_vars, resources=self.private.get("resources") or {},
            settings=self.settings)
        if self._cancel_requested():
            self._finish(CANCELED, None)
            return False
        answer = None
        deadline = time.monotonic() + SUBMIT_RETRY
        while answer is None:
            try:
                answer = self.client.submit(request) or {}
            except JobsApiError as exc:
                try:  # an earlier try that got through, its answer lost: submitted
                    if self.client.info(self.run_id) is not None:
                        answer = {}
                        break
                except JobsApiError:
                    pass
                # A head that has just started answers before its job agent is up.
                busy = exc.status is None or exc.status >= 500 or "try again" in str(exc)
                if not busy or time.monotonic() > deadline:
                    return self._refused(f"the Ray cluster at {address} refused the job: {exc}")
                self._log(f"submitting: {exc}; trying again")
                self._sleep(1.0)
                if self._cancel_requested():
                    self._finish(CANCELED, None)
                    return False
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

    def _take_events(self) -> None:
        while self.events:
            self._on_event(self.events.pop(0))

    def _on_event(self, event: dict[str, Any]) -> None:
        """A ``runner-event:`` line of the job's log."""
        if isinstance(event.get("started"), (int, float)):
            self.script_started = float(event["started"])
            self.store.update_run(self.run_id, start_time=self.script_started)
        lost = event.get("lost")
        if isinstance(lost, dict):
            for key in ("values", "writes"):
                if isinstance(lost.get(key), int):
                    self.lost[key] += lost[key]

    def _refused(self, message: str) -> bool:
        self._note(message)
        self._finish(FAILED, error_record(message, code="TargetError"))
        return False

    def _follow(self) -> None:
        """Poll the job until it ends (or a stop request goes unanswered); tail its log."""
        limit = self.definition.get("maxRunDurationSeconds")
        last_change = time.monotonic()
        last_ok = time.monotonic()
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
            if info.get("driver_node_id") and status in ("RUNNING", *TERMINAL):
                self.tail.start(info["driver_node_id"])
            self._take_events()
            if status == "RUNNING" and self.running_since is None:
                self.running_since = time.time()
                # Until the script's own start is announced: when Ray started the driver.
                if self.store.update_run(self.run_id, status=RUNNING,
                                         start_time=self.script_started or time.time(),
                                         only_if_status=(QUEUED,)):
                    self._touch(RUNNING)
            now = time.monotonic()
            if status in TERMINAL:
                self.info = info
                return
            began = self.script_started or self.running_since
            if self.stop_sent is None:
                if self._cancel_requested():
                    self._stop(CANCEL_REQUESTED)
                elif limit and began and time.time() - began >= limit:
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

    def _finalize(self) -> None:
        if self._enter_finalizing(QUEUED, RUNNING, CANCEL_REQUESTED) is None:
            return
        self.tail.finish()
        self._take_events()
        if self.tail.last_error:
            self._log(f"reading the job's log: {self.tail.last_error}")
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
        if self.lost["values"] or self.lost["writes"]:
            # The documented rule: losses do not change the status the job earned; they
            # are a warning and two properties, so no reader mistakes the record as whole.
            system["warnings"] = [{"source": "tracking", "code": "RecordsLost", "message": (
                f"{self.lost['values']} metric value(s) and {self.lost['writes']} other write(s) "
                "logged by the job could not be delivered to the tracking server and are "
                "missing from this record (see the job's log).")}]
            self.store.add_properties(self.run_id, {
                "runner.lost_values": str(self.lost["values"]),
                "runner.lost_writes": str(self.lost["writes"])})
        self._finish(status, error, exit_code=info.get("driver_exit_code"), system=system)

    def _finish(self, status: str, error: dict[str, Any] | None, *, exit_code: int | None = None,
                system: dict[str, Any] | None = None) -> None:
        self.store.update_run(
            self.run_id, status=status, end_time=time.time(), error=error, exit_code=exit_code,
            system=system, only_if_status=tuple(s for s in RunStatus.ALL
                                                if s not in RunStatus.TERMINAL))
        self._touch(status)


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


def attach(ws: Any, run_id: str, *, token: str | None = None, mode: str = "fork") -> int:
    """Start an owner that re-attaches to the Ray job of ``run_id``; returns its pid.

    For a run on a Ray target that is not finished and whose owner is gone (killed,
    or the submitting machine slept or rebooted): the new owner follows the job by
    its submission id and finishes the record from Ray's final status.

    Raises:
        UsageError: not a Ray run, finished already, or its owner still runs.
    """
    from ..core.errors import UsageError
    from ..core.status import RunStatus
    from ..store import proc as _proc
    from ..store.liveness import owner_alive

    row = ws.store.get_run(run_id)
    props = ws.store.properties(run_id)
    if props.get("runner.target") != "ray" or not props.get("ray.address"):
        raise UsageError(f"run {run_id} was not submitted to a Ray cluster (or never reached "
                         "it); there is no job to attach to.", run_id=run_id)
    if row["status"] in RunStatus.TERMINAL:
        raise UsageError(f"run {run_id} has ended ({row['status']}); nothing to attach to.",
                         run_id=run_id)
    if owner_alive(row):
        raise UsageError(f"run {run_id} is followed by its owner (pid {row['owner_pid']}) "
                         "already.", run_id=run_id)
    settings = {"kind": "ray", "address": props["ray.address"], "token": token}
    pid = start_owner(ws, run_id, {"attach": True, "target": settings}, mode)
    ws.store.update_run(run_id, owner_pid=pid, owner_start=_proc.start_time(pid))
    return pid


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
