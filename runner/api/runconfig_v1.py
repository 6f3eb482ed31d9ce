"""The parts of v1's ``azureml.core.runconfig`` that say *how* a script runs:
Docker settings and distributed jobs.

``DockerConfiguration(use_docker=True)`` and ``env.docker.enabled`` are accepted:
the run goes ahead without Docker after one notice saying so (runner starts no
containers). A distributed job config starts several local processes:

=========================================  =======================================
``PyTorchConfiguration(process_count=N)``  N processes with torch's rendezvous
                                           variables (MASTER_ADDR, MASTER_PORT,
                                           RANK, WORLD_SIZE, LOCAL_RANK)
``MpiConfiguration(process_count_per_node  ``mpirun -np N`` when ``mpirun`` is on
=N)``                                      PATH; otherwise refused at submit
``TensorflowConfiguration``                refused at submit (no parameter servers)
=========================================  =======================================

Only one node exists here: ``node_count`` above 1 is refused by name. The
launch itself is ``runner.execution.distributed``; this module only holds the
settings and turns them into a :class:`DistributedPlan` (pure, checked at submit).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Any

from ..core.errors import UsageError


class DockerConfiguration:
    """Docker settings of a run (v1's signature). runner runs no containers.

    Args:
        use_docker: True runs the script without Docker after one notice.
        shared_volumes: recorded; no effect.
        arguments: recorded; no effect.
        shm_size: recorded; no effect.
    """

    def __init__(self, use_docker: bool = False, shared_volumes: bool = True,
                 arguments: list[str] | None = None, shm_size: str | None = "2g") -> None:
        self.use_docker = use_docker
        self.shared_volumes = shared_volumes
        self.arguments = list(arguments or [])
        self.shm_size = shm_size

    def to_dict(self) -> dict[str, Any]:
        """The settings, as they are recorded with the run."""
        return {"useDocker": bool(self.use_docker), "sharedVolumes": self.shared_volumes,
                "arguments": list(self.arguments), "shmSize": self.shm_size}

    def __repr__(self) -> str:
        return f"<DockerConfiguration use_docker={self.use_docker}>"


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"{what} must be a whole number of at least 1, not {value!r}.")
    return value


def _one_node(node_count: Any, what: str) -> None:
    if node_count not in (None, 1):
        raise UsageError(
            f"{what}(node_count={node_count!r}) is not supported: runner runs on one machine. "
            f"Use node_count=1 and raise the process count instead.", node_count=node_count)


def _no_more(kwargs: dict[str, Any], what: str) -> None:
    if kwargs:
        raise UsageError(f"{what} got unsupported arguments: {', '.join(sorted(kwargs))}.")


class PyTorchConfiguration:
    """A PyTorch distributed job: ``process_count`` local processes, one per rank.

    Args:
        communication_backend: recorded as the run's communicator (``Nccl``, ``Gloo``).
        process_count: how many processes (default 1).
        node_count: must be 1.
    """

    framework = "PyTorch"

    def __init__(self, communication_backend: str = "Nccl", process_count: int | None = None,
                 node_count: int = 1, **kwargs: Any) -> None:
        _no_more(kwargs, "PyTorchConfiguration")
        self.communication_backend = communication_backend
        self.process_count = process_count
        self.node_count = node_count

    @property
    def communicator(self) -> str:
        """The backend name, as v1 recorded it."""
        return str(self.communication_backend)

    def __repr__(self) -> str:
        return f"<PyTorchConfiguration process_count={self.process_count}>"


class MpiConfiguration:
    """An MPI job: ``mpirun -np process_count_per_node`` on this machine.

    Args:
        process_count_per_node: how many processes (default 1).
        node_count: must be 1.
    """

    framework = "Python"
    communicator = "IntelMpi"

    def __init__(self, process_count_per_node: int = 1, node_count: int = 1,
                 **kwargs: Any) -> None:
        _no_more(kwargs, "MpiConfiguration")
        self.process_count_per_node = process_count_per_node
        self.node_count = node_count

    def __repr__(self) -> str:
        return f"<MpiConfiguration process_count_per_node={self.process_count_per_node}>"


class TensorflowConfiguration:
    """Kept so v1 code imports; refused at submit (parameter servers are not supported)."""

    framework = "TensorFlow"
    communicator = "ParameterServer"

    def __init__(self, worker_count: int = 1, parameter_server_count: int = 1,
                 node_count: int = 1, **kwargs: Any) -> None:
        _no_more(kwargs, "TensorflowConfiguration")
        self.worker_count = worker_count
        self.parameter_server_count = parameter_server_count
        self.node_count = node_count


@dataclass(frozen=True)
class DistributedPlan:
    """How many processes a distributed run starts, and how.

    Attributes:
        kind: ``pytorch`` or ``mpi``.
        processes: the number of processes (ranks).
        mpirun: the ``mpirun`` found on PATH (MPI only).
        backend: the communication backend asked for (PyTorch only).
    """

    kind: str
    processes: int
    mpirun: str | None = None
    backend: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """As recorded in the run definition (``distributed``)."""
        return {"kind": self.kind, "processes": self.processes, "mpirun": self.mpirun,
                "backend": self.backend}


def distributed_plan(config: Any) -> DistributedPlan | None:
    """What a ``distributed_job_config`` asks for; None for a plain one-process run.

    Raises:
        UsageError: an unsupported type or field (named), or MPI without ``mpirun``.
    """
    if config is None:
        return None
    if isinstance(config, PyTorchConfiguration):
        _one_node(config.node_count, "PyTorchConfiguration")
        count = 1 if config.process_count is None else \
            _count(config.process_count, "PyTorchConfiguration.process_count")
        return DistributedPlan("pytorch", count, backend=str(config.communication_backend))
    if isinstance(config, MpiConfiguration):
        _one_node(config.node_count, "MpiConfiguration")
        count = _count(config.process_count_per_node, "MpiConfiguration.process_count_per_node")
        mpirun = shutil.which("mpirun")
        if mpirun is None:
            raise UsageError(
                "MpiConfiguration needs mpirun, and none is on PATH. Install an MPI "
                "(e.g. `apt install openmpi-bin`, `conda install openmpi`), or use "
                "PyTorchConfiguration(process_count=N) for N local processes without MPI.")
        return DistributedPlan("mpi", count, mpirun=mpirun)
    if isinstance(config, TensorflowConfiguration):
        raise UsageError(
            "TensorflowConfiguration (parameter-server training) is not supported by runner; "
            "start the workers yourself, or use MpiConfiguration / PyTorchConfiguration.")
    raise UsageError(
        f"distributed_job_config must be a PyTorchConfiguration or MpiConfiguration, not "
        f"{type(config).__name__}.")
