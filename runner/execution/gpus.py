"""The machine's GPUs: which ids exist, what a run may ask for, and how busy they are.

The ids come from ``gpus:`` in ``config.yaml`` when it is set (it overrides discovery, and
it is how a test describes a machine with 4 GPUs when there are none); otherwise from NVML
(the ``nvidia-ml-py`` package, extra ``runner[gpu]``), otherwise from ``nvidia-smi``; a
machine with neither has no GPUs. Discovery runs once per process and only for runs that
ask for GPUs. Samples of memory and utilisation need NVML; without it there are none.
"""

from __future__ import annotations

import subprocess
from typing import Any

from ..core import gpus as _gpus
from ..core.errors import UsageError

_FOUND: list[list[str]] = []


def machine_gpus(config: Any) -> list[str]:
    """The GPU ids runs may be given (``config.gpus`` first, then NVML, then nvidia-smi)."""
    listed = getattr(config, "gpus", None)
    if listed is not None:
        return [str(g) for g in listed]
    if not _FOUND:
        _FOUND.append(_nvml_ids() or _smi_ids() or [])
    return list(_FOUND[0])


def _nvml() -> Any:
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no driver: no GPUs through NVML
        return None
    return pynvml


def _nvml_ids() -> list[str] | None:
    nvml = _nvml()
    if nvml is None:
        return None
    try:
        return [str(i) for i in range(nvml.nvmlDeviceGetCount())]
    except Exception:  # noqa: BLE001
        return None


def _smi_ids() -> list[str] | None:
    try:
        proc = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    return [line.strip() for line in proc.stdout.splitlines() if line.strip()]


def check_request(resources: dict[str, Any] | None, config: Any) -> float:
    """Refuse, at submit, a run asking for more GPUs than the machine has.

    Returns:
        The GPUs asked for (0 for none).

    Raises:
        UsageError: a bad amount, or more GPUs than the machine has.
    """
    amount = _gpus.check_amount((resources or {}).get("gpu") or 0)
    if amount <= 0:
        return 0.0
    machine = machine_gpus(config)
    if _gpus.needed(amount) > len(machine):
        have = f"{len(machine)} ({', '.join(machine)})" if machine else "none"
        raise UsageError(
            f"the run asks for {amount:g} GPUs but this machine has {have}; ask for fewer, "
            "or list the GPUs in .runner/config.yaml as `gpus: [0, 1]`.", gpus=amount)
    return amount


def waiting_for(store: Any, config: Any, row: dict[str, Any]) -> float | None:
    """For a queued run that asks for GPUs not free now, how many it asks for; else None."""
    amount = _gpus.requested((row.get("definition") or {}).get("resources"))
    if amount <= 0:
        return None
    if _gpus.assign(machine_gpus(config), store.gpu_holders(), amount) is not None:
        return None
    return amount


def visible_devices(ids: list[str]) -> dict[str, str]:
    """The variables that show a run exactly its GPUs."""
    value = ",".join(ids)
    return {"CUDA_VISIBLE_DEVICES": value, "NVIDIA_VISIBLE_DEVICES": value}


class GpuSampler:
    """Memory and utilisation of a run's GPUs through NVML (nothing without it)."""

    def __init__(self, ids: list[str]) -> None:
        self.handles: list[tuple[str, Any]] = []
        self.nvml = _nvml() if ids else None
        if self.nvml is None:
            return
        for gpu in ids:
            try:
                self.handles.append((gpu, self.nvml.nvmlDeviceGetHandleByIndex(int(gpu))))
            except Exception:  # noqa: BLE001 - an id NVML does not know (a listed one)
                continue

    def sample(self) -> dict[str, float]:
        """``{"gpu0_memory_used_bytes": ..., "gpu0_utilization_percent": ...}``."""
        out: dict[str, float] = {}
        for gpu, handle in self.handles:
            try:
                memory = self.nvml.nvmlDeviceGetMemoryInfo(handle)
                rates = self.nvml.nvmlDeviceGetUtilizationRates(handle)
            except Exception:  # noqa: BLE001
                continue
            out[f"gpu{gpu}_memory_used_bytes"] = float(memory.used)
            out[f"gpu{gpu}_utilization_percent"] = float(rates.gpu)
        return out
