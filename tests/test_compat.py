"""The ``azureml`` compatibility package: one install step for drivers, the same modules
for submitted scripts, and a real azureml-core always winning."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from runner import Experiment, ScriptRunConfig, Workspace

ROOT = Path(__file__).resolve().parent.parent
COMPAT = ROOT / "runner" / "compat"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNER_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def compat_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A virtualenv seeing this interpreter's packages, after `runner compat install`."""
    folder = tmp_path_factory.mktemp("compat") / "venv"
    venv.create(folder, with_pip=False, system_site_packages=True)
    python = str(folder / "bin" / "python")
    proc = subprocess.run([python, "-m", "runner", "compat", "install"], env=_env(),
                          capture_output=True, text=True, timeout=60)
    assert 0 == proc.returncode, proc.stdout + proc.stderr
    assert "runner-azureml-compat.pth" in proc.stdout
    return python


def _run(python: str, code: str, **env: str) -> str:
    proc = subprocess.run([python, "-c", code], env=_env(**env), capture_output=True,
                          text=True, timeout=60)
    assert 0 == proc.returncode, proc.stdout + proc.stderr
    return proc.stdout


def test_compat_install_makes_the_v1_import_surface_importable(compat_python):
    """After `runner compat install`, every v1 module and name of the surface imports."""
    code = """
import azureml.core
from azureml.core import (Workspace, Experiment, Run, ScriptRunConfig, Environment,
                          RunConfiguration, ComputeTarget, VERSION)
from azureml.core.runconfig import (RunConfiguration, DockerConfiguration,
                                    PyTorchConfiguration, MpiConfiguration, DEFAULT_CPU_IMAGE)
from azureml.core.conda_dependencies import CondaDependencies
from azureml.core.environment import Environment, CondaDependencies
from azureml.core.compute import ComputeTarget, AmlCompute, ComputeInstance
from azureml.core.compute_target import ComputeTargetException
from azureml.core.run import Run, _OfflineRun
from azureml.core.experiment import Experiment
from azureml.core.authentication import InteractiveLoginAuthentication
from azureml.widgets import RunDetails
from azureml.exceptions import ActivityFailedException, UserErrorException, AzureMLException
import runner
assert Workspace is runner.Workspace and Run is runner.Run
assert isinstance(Run.get_context(), _OfflineRun)
assert issubclass(UserErrorException, AzureMLException)
print(azureml.core.VERSION, azureml.__file__)
"""
    out = _run(compat_python, code)

    assert out.startswith("1.61.0+runner.")
    assert str(COMPAT / "azureml" / "__init__.py") in out


def test_a_real_azureml_core_in_site_packages_wins(tmp_path):
    """An azureml package in the same site-packages as the .pth is the one imported."""
    folder = tmp_path / "venv"
    venv.create(folder, with_pip=False, system_site_packages=True)
    python = str(folder / "bin" / "python")
    subprocess.run([python, "-m", "runner", "compat", "install"], env=_env(), check=True,
                   capture_output=True, timeout=60)
    site_dir = next((folder / "lib").glob("python*/site-packages"))
    (site_dir / "azureml" / "core").mkdir(parents=True)
    (site_dir / "azureml" / "__init__.py").write_text("")
    (site_dir / "azureml" / "core" / "__init__.py").write_text("VERSION = '1.61.0'\n")

    out = _run(python, "import azureml.core, sys; print(azureml.core.VERSION, "
               f"{str(COMPAT)!r} in sys.path)")

    assert "1.61.0 False" == out.strip()


def test_a_real_azureml_core_wins_over_the_compat_package(compat_python, tmp_path):
    """An azureml package found earlier on the path is the one imported."""
    real = tmp_path / "site" / "azureml" / "core"
    real.mkdir(parents=True)
    (real.parent / "__init__.py").write_text("")
    (real / "__init__.py").write_text("VERSION = '1.61.0'\n")

    out = _run(compat_python, "import azureml.core; print(azureml.core.VERSION)",
               PYTHONPATH=f"{ROOT}{os.pathsep}{tmp_path / 'site'}")

    assert "1.61.0" == out.strip()


def test_compat_uninstall_removes_the_path_file(tmp_path):
    """`runner compat uninstall` removes what install wrote; azureml no longer imports."""
    folder = tmp_path / "venv"
    venv.create(folder, with_pip=False, system_site_packages=True)
    python = str(folder / "bin" / "python")
    for command in ("install", "uninstall"):
        subprocess.run([python, "-m", "runner", "compat", command], env=_env(), check=True,
                       capture_output=True, timeout=60)

    proc = subprocess.run([python, "-c", "import azureml.core"], env=_env(),
                          capture_output=True, text=True, timeout=60)

    assert 0 != proc.returncode
    assert "No module named 'azureml'" in proc.stderr


def test_a_name_runner_lacks_fails_to_import_naming_its_runner_name():
    """A lazily mapped name whose runner part is absent says which name it maps to."""
    sys.path.append(str(COMPAT))
    try:
        from azureml._lazy import mapper

        getter = mapper("azureml.core", {"Model": ("runner:NoSuchModelClass",)})
        with pytest.raises(ImportError, match=r"runner\.NoSuchModelClass"):
            getter("Model")
        with pytest.raises(AttributeError):
            getter("Unmapped")
    finally:
        sys.path.remove(str(COMPAT))
        for name in [m for m in sys.modules if m == "azureml" or m.startswith("azureml.")]:
            del sys.modules[name]


def test_hyperdrive_expressions_map_onto_runner_sweeps(compat_python):
    """azureml.train.hyperdrive's choice is runner's sweep expression."""
    out = _run(compat_python, "from azureml.train.hyperdrive import choice\n"
               "from azureml.train.hyperdrive.parameter_expressions import uniform\n"
               "print(choice.__module__, uniform.__module__)")

    modules = out.split()
    assert 2 == len(modules) and all(m.startswith("runner.sweep") for m in modules), modules


def test_a_submitted_script_sees_the_same_compat_modules(ws: Workspace, tmp_path: Path):
    """Inside a run, azureml.core.run.Run is runner's Run and logs into the run."""
    (tmp_path / "train.py").write_text(
        "import azureml, azureml.core\n"
        "from azureml.core.run import Run, _OfflineRun\n"
        "run = Run.get_context()\n"
        "assert not isinstance(run, _OfflineRun)\n"
        "run.log('where', azureml.__file__)\n")

    run = Experiment(ws, "compat").submit(ScriptRunConfig(str(tmp_path), "train.py"))
    run.wait_for_completion()

    assert "Completed" == run.get_status()
    where = run.get_metrics()["where"]
    assert where.endswith(os.path.join("runner", "compat", "azureml", "__init__.py")), where


def test_a_real_azureml_in_the_run_interpreter_is_warned_about(ws: Workspace, tmp_path: Path,
                                                               monkeypatch):
    """A script whose interpreter has its own azureml gets a warning in its log saying its
    Run would record nothing."""
    real = tmp_path / "site" / "azureml"
    real.mkdir(parents=True)
    (real / "__init__.py").write_text("")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "site"))
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text("print('ran')\n")

    run = Experiment(ws, "real").submit(ScriptRunConfig(str(tmp_path / "src"), "train.py"))
    run.wait_for_completion()

    log = (run.folder / "logs" / "std_log.txt").read_text()
    assert "a real azureml package is installed" in log
    assert "ran" in log


def test_models_data_and_hyperdrive_names_are_runners(compat_python):
    """azureml's Model, Dataset, Datastore, OutputFileDatasetConfig and HyperDrive names are
    the runner classes of the same names."""
    out = _run(compat_python, """
import runner
from azureml.core import Model, Dataset, Datastore
from azureml.core.model import InferenceConfig
from azureml.data import OutputFileDatasetConfig
from azureml.data.datapath import DataPath
from azureml.train.hyperdrive import HyperDriveConfig, RandomParameterSampling, BanditPolicy
names = dict(Model=Model, Dataset=Dataset, Datastore=Datastore, DataPath=DataPath,
             InferenceConfig=InferenceConfig, OutputFileDatasetConfig=OutputFileDatasetConfig,
             HyperDriveConfig=HyperDriveConfig, BanditPolicy=BanditPolicy,
             RandomParameterSampling=RandomParameterSampling)
print(sorted(n for n, v in names.items() if v is not getattr(runner, n)))
""")

    assert "[]" == out.strip()


def test_importing_the_v1_surface_loads_only_the_standard_library(compat_python):
    """`import azureml.core` (and run, runconfig, widgets, exceptions) adds no third-party
    module to what the interpreter loads at start-up."""
    code = ("import sys, json; before = set(sys.modules)\n"
            "import azureml.core, azureml.core.run, azureml.core.runconfig, azureml.widgets\n"
            "import azureml.exceptions, azureml.core.compute\n"
            "new = {m.split('.')[0] for m in set(sys.modules) - before}\n"
            "print(json.dumps(sorted(new - set(sys.stdlib_module_names)"
            " - {'runner', 'azureml'})))")

    assert "[]" == _run(compat_python, code).strip()
