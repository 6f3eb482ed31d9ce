"""Distributed runs on one machine: N processes of the script, one per rank.

A run whose ScriptRunConfig has ``distributed_job_config`` (see
:mod:`runner.api.runconfig_v1`) is launched through this module instead of
directly. :func:`wrap` turns the run's one-process :class:`LaunchPlan` into a
plan that starts ``python -m runner.execution.distributed SPEC -- ARGV``: the
launcher, which is the run's process (the supervisor waits for it, cancels it
and its whole tree as for any script).

``pytorch``
    The launcher picks a free port and starts N processes of ARGV with torch's
    rendezvous variables: ``MASTER_ADDR=127.0.0.1``, ``MASTER_PORT``, ``RANK``,
    ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``NODE_RANK=0``.
``mpi``
    The launcher runs ``mpirun -np N`` over this module's rank wrapper, which
    reads the rank MPI gives it (``OMPI_COMM_WORLD_RANK``, ``PMI_RANK``...),
    sets the same variables and runs ARGV.

Each rank's output goes to its own ``logs/std_log_process_<rank>.txt`` (as in
v1's runtime) and, each line prefixed with ``[rank N]``, to the run's
``logs/std_log.txt``. Every rank reaches the same run through
``Run.get_context()``, as in v1: scripts usually log from rank 0 only. The run
ends with the first failing rank's exit code (the others are then ended), or 0
when all succeed; a failing rank's recorded error becomes the run's.

Standard library only: the launcher runs in the run's environment.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from .launch import LaunchPlan

#: Seconds the other ranks get after one fails, before they are killed.
GRACE = 5.0
_RANK_VARS = ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "MV2_COMM_WORLD_RANK")
_LOCAL_VARS = ("OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "MV2_COMM_WORLD_LOCAL_RANK")


def wrap(plan: LaunchPlan, spec: dict[str, Any] | None) -> LaunchPlan:
    """The launch plan of a distributed run (``spec`` is the definition's
    ``distributed``); ``plan`` unchanged when there is none."""
    if not spec:
        return plan
    data = {**spec, "logs": str(plan.log.parent), "error_file": str(plan.error_file)}
    argv = [sys.executable, "-m", "runner.execution.distributed", json.dumps(data), "--",
            *plan.argv]
    return replace(plan, argv=argv)


def rank_environ(rank: int, world: int, port: int | None) -> dict[str, str]:
    """torch's rendezvous variables for one rank of a one-machine job."""
    env = {"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank),
           "LOCAL_WORLD_SIZE": str(world), "NODE_RANK": "0", "GROUP_RANK": "0",
           "MASTER_ADDR": "127.0.0.1"}
    if port is not None:
        env["MASTER_PORT"] = str(port)
    return env


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pump(rank: int, stream: Any, log_dir: Path, lock: threading.Lock) -> None:
    """Copy one rank's output to its own log and, prefixed, to the run's log."""
    prefix = f"[rank {rank}] ".encode()
    with open(log_dir / f"std_log_process_{rank}.txt", "ab", buffering=0) as own:
        for line in iter(stream.readline, b""):
            own.write(line)
            with lock:
                sys.stdout.buffer.write(prefix + line)
                sys.stdout.buffer.flush()
    stream.close()


def _end(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + GRACE
    for proc in procs:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _adopt_error(spec: dict[str, Any], rank: int) -> None:
    """Make a failed rank's recorded error the run's, unless rank 0 recorded one."""
    main = Path(spec["error_file"])
    mine = main.with_name(f"error_rank{rank}.json")
    if rank and mine.exists() and not main.exists():
        shutil.copyfile(mine, main)


def launch_pytorch(spec: dict[str, Any], argv: list[str]) -> int:
    """Start ``spec["processes"]`` ranks of ``argv`` and wait for them all."""
    world = int(spec["processes"])
    port = _free_port()
    log_dir = Path(spec["logs"])
    lock = threading.Lock()
    procs: list[subprocess.Popen] = []
    pumps = []
    for rank in range(world):
        env = {**os.environ, **rank_environ(rank, world, port)}
        if rank:
            env["RUNNER_ERROR_FILE"] = str(Path(spec["error_file"]).with_name(
                f"error_rank{rank}.json"))
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        procs.append(proc)
        pump = threading.Thread(target=_pump, args=(rank, proc.stdout, log_dir, lock),
                                daemon=True)
        pump.start()
        pumps.append(pump)
    signal.signal(signal.SIGTERM, lambda *_: (_end(procs), sys.exit(143)))
    code = 0
    pending = dict(enumerate(procs))
    while pending:
        for rank, proc in list(pending.items()):
            status = proc.poll()
            if status is None:
                continue
            del pending[rank]
            if status != 0 and code == 0:
                code = status if status > 0 else 128 - status
                print(f"[runner] rank {rank} exited with {status}; ending the other ranks",
                      flush=True)
                _adopt_error(spec, rank)
                _end(list(pending.values()))
        time.sleep(0.05)
    for pump in pumps:
        pump.join(5)
    return code


def launch_mpi(spec: dict[str, Any], argv: list[str]) -> int:
    """``mpirun -np N`` over the rank wrapper; mpirun's own output goes to the run's log."""
    mpirun = spec["mpirun"]
    extra: list[str] = []
    try:
        version = subprocess.run([mpirun, "--version"], capture_output=True, text=True,
                                 timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        version = ""
    if "Open MPI" in version and hasattr(os, "geteuid") and os.geteuid() == 0:
        extra.append("--allow-run-as-root")  # OpenMPI refuses root without it
    wrapper = [sys.executable, "-m", "runner.execution.distributed", "--rank",
               json.dumps(spec), "--", *argv]
    proc = subprocess.run([mpirun, *extra, "-np", str(int(spec["processes"])), *wrapper],
                          stdin=subprocess.DEVNULL)
    return proc.returncode


def run_rank(spec: dict[str, Any], argv: list[str]) -> int:
    """Inside mpirun: this rank's variables and log, then the script (``execv``)."""
    rank = next((int(os.environ[v]) for v in _RANK_VARS if v in os.environ), 0)
    local = next((int(os.environ[v]) for v in _LOCAL_VARS if v in os.environ), rank)
    world = int(spec["processes"])
    os.environ.update(rank_environ(rank, world, None))
    os.environ["LOCAL_RANK"] = str(local)
    if rank:
        os.environ["RUNNER_ERROR_FILE"] = str(Path(spec["error_file"]).with_name(
            f"error_rank{rank}.json"))
    log = os.open(Path(spec["logs"]) / f"std_log_process_{rank}.txt",
                  os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.execv(argv[0], argv)
    return 127  # pragma: no cover - execv does not return


def main(args: list[str] | None = None) -> int:
    """``python -m runner.execution.distributed [--rank] SPEC -- ARGV...``."""
    args = sys.argv[1:] if args is None else args
    rank_mode = bool(args) and args[0] == "--rank"
    if rank_mode:
        args = args[1:]
    if len(args) < 3 or args[1] != "--":
        print("usage: python -m runner.execution.distributed [--rank] SPEC -- ARGV...",
              file=sys.stderr)
        return 2
    spec, argv = json.loads(args[0]), args[2:]
    if rank_mode:
        return run_rank(spec, argv)
    if spec["kind"] == "mpi":
        return launch_mpi(spec, argv)
    return launch_pytorch(spec, argv)


if __name__ == "__main__":
    sys.exit(main())
