"""Distributed runs on one machine: N real rank processes with torch's rendezvous variables,
one log per rank, the first failure ending the others, and mpirun used when asked."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from runner import Experiment, MpiConfiguration, PyTorchConfiguration, ScriptRunConfig
from runner.execution.distributed import rank_environ, wrap
from runner.execution.launch import LaunchPlan

RANKS = """
import os, sys
from azureml.core.run import Run
run = Run.get_context()
rank = int(os.environ["RANK"])
names = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
print(" ".join(f"{n}={os.environ.get(n)}" for n in names))
if rank == 0:
    run.log("world", int(os.environ["WORLD_SIZE"]))
if rank == int(os.environ.get("FAIL_RANK", "-1")):
    raise ValueError(f"rank {rank} broke")
if os.environ.get("SLOW"):
    import time; time.sleep(60)
"""


def _submit(exp: Experiment, tmp_path: Path, config, **env: str):
    (tmp_path / "train.py").write_text(RANKS)
    src = ScriptRunConfig(str(tmp_path), "train.py", distributed_job_config=config)
    src.run_config.environment_variables = env
    run = exp.submit(src)
    run.wait_for_completion(raise_on_error=False)
    return run


def test_wrap_leaves_a_one_process_run_alone(tmp_path: Path):
    """Without a distributed spec the launch plan is unchanged."""
    plan = LaunchPlan(["python", "x.py"], {}, tmp_path, tmp_path / "logs" / "std_log.txt",
                      tmp_path / "e.json")

    assert plan is wrap(plan, None)
    assert ["-m", "runner.execution.distributed"] == \
        wrap(plan, {"kind": "pytorch", "processes": 2}).argv[1:3]


def test_rank_environ_is_torchs_rendezvous_for_one_machine():
    """Each rank gets MASTER_ADDR/PORT, RANK, WORLD_SIZE and LOCAL_RANK."""
    assert {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": "29500"}.items() <= rank_environ(1, 2, 29500).items()


def test_pytorch_configuration_starts_one_process_per_rank(exp: Experiment, tmp_path: Path):
    """process_count=3 runs 3 ranks with the rendezvous variables, each with its own log;
    rank 0's metric is in the run."""
    run = _submit(exp, tmp_path, PyTorchConfiguration(process_count=3))

    logs = [(run.folder / "logs" / f"std_log_process_{r}.txt").read_text() for r in range(3)]
    assert "Completed" == run.get_status()
    assert {"world": 3} == run.get_metrics()
    ports = {line.split("MASTER_PORT=")[1].strip() for line in logs}
    assert 1 == len(ports) and ports != {"None"}
    for rank, text in enumerate(logs):
        assert f"RANK={rank} WORLD_SIZE=3 LOCAL_RANK={rank} MASTER_ADDR=127.0.0.1" in text
    combined = (run.folder / "logs" / "std_log.txt").read_text()
    assert "[rank 2] RANK=2" in combined
    assert "distributed" in run.get_details()["runDefinition"]


def test_a_failing_rank_fails_the_run_and_ends_the_others(exp: Experiment, tmp_path: Path):
    """Rank 1 raising ends the sleeping rank 0 at once; the run is Failed with rank 1's error."""
    started = time.monotonic()
    run = _submit(exp, tmp_path, PyTorchConfiguration(process_count=2), FAIL_RANK="1",
                  SLOW="1")

    assert time.monotonic() - started < 40
    details = run.get_details()
    assert ("Failed", 1) == (details["status"], details["exitCode"])
    assert "rank 1 broke" in details["error"]["error"]["message"]


MPIRUN = f"""#!{sys.executable}
# A stand-in for OpenMPI's mpirun (none is installed where the tests run): it starts
# -np copies of the command with the rank variables OpenMPI sets, and waits for them.
import os, subprocess, sys
args = sys.argv[1:]
if args == ["--version"]:
    print("mpirun (Open MPI) 4.1.2"); sys.exit(0)
args = [a for a in args if a != "--allow-run-as-root"]
n = int(args[args.index("-np") + 1]); command = args[args.index("-np") + 2:]
procs = [subprocess.Popen(command, env={{**os.environ, "OMPI_COMM_WORLD_RANK": str(r),
         "OMPI_COMM_WORLD_LOCAL_RANK": str(r), "OMPI_COMM_WORLD_SIZE": str(n)}})
         for r in range(n)]
sys.exit(max(p.wait() for p in procs))
"""


def test_mpi_configuration_runs_ranks_through_mpirun(exp: Experiment, tmp_path: Path,
                                                     monkeypatch):
    """With mpirun on PATH, each rank it starts gets RANK/WORLD_SIZE and its own log."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "mpirun").write_text(MPIRUN)
    (bindir / "mpirun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    source = tmp_path / "src"
    source.mkdir()

    run = _submit(exp, source, MpiConfiguration(process_count_per_node=2))

    assert "Completed" == run.get_status()
    assert {"world": 2} == run.get_metrics()
    for rank in range(2):
        text = (run.folder / "logs" / f"std_log_process_{rank}.txt").read_text()
        assert f"RANK={rank} WORLD_SIZE=2 LOCAL_RANK={rank}" in text


def test_canceling_a_distributed_run_ends_every_rank(exp: Experiment, tmp_path: Path):
    """Cancel ends the launcher and all its ranks; the run is Canceled."""
    import psutil

    pids = tmp_path / "pids"
    pids.mkdir()
    (tmp_path / "train.py").write_text(  # each pid file appears whole (written, renamed)
        "import os, time\n"
        f"path = os.path.join({str(pids)!r}, os.environ['RANK'])\n"
        "open(path + '.tmp', 'w').write(str(os.getpid()))\n"
        "os.replace(path + '.tmp', path)\n"
        "time.sleep(60)\n")
    run = exp.submit(ScriptRunConfig(str(tmp_path), "train.py",
                                     distributed_job_config=PyTorchConfiguration(
                                         process_count=2)))

    def written():
        return [p for p in pids.iterdir() if not p.name.endswith(".tmp")]

    try:
        deadline = time.monotonic() + 30
        while len(written()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        ranks = [int(p.read_text()) for p in written()]
    finally:
        run.cancel()
        run.wait_for_completion(raise_on_error=False)

    assert "Canceled" == run.get_status()
    assert 2 == len(ranks)
    assert [] == [pid for pid in ranks if psutil.pid_exists(pid)
                  and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
