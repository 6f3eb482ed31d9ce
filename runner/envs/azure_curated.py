"""Azure ML curated environments (SDK v1 era and later) as plain data.

``AZURE_CURATED`` maps the lower-cased Azure name to::

    {"name": canonical spelling, "python": "3.x", "framework": family,
     "packages": loose pip requirements (no azureml-* SDK packages, no CUDA/MKL/horovod),
     "version_in_name": framework version spelled in the name ("1.6"; "" if none),
     "azure_pins": what Azure pinned (conda + pip strings), "gpu": bool,
     "kind": "training" | "inference" | "automl" | "designer", "source": key, "notes": str}

``source`` says where the entry was read: ``D-2020``/``D-2021-07``/``D-2021-10``
(azure-docs ``resource-curated-environments.md`` of that date), ``WS-2020``/``WS-2021``/
``CLI-2021`` (public ``az ml environment list`` transcripts), ``SDK-1.0.69`` (a
definition embedded in an SDK-era example), ``ASSETS`` (``Azure/azureml-assets``),
``NB`` (``Azure/MachineLearningNotebooks``) and ``EX`` (``Azure/azureml-examples``).
``packages`` states the intent and installs on a current Python; ``azure_pins`` is
the historical record only. :mod:`runner.envs.curated` maps each family to one of
runner's curated definitions. Standard library only.
"""

# ruff: noqa: E501 - a data table: one environment per call reads better than wrapped rows

from __future__ import annotations

import copy
import re
from typing import Any

_SDK = ["azureml-core", "azureml-defaults", "azureml-telemetry",
        "azureml-train-restclients-hyperdrive", "azureml-train-core"]
_SDK_113 = [f"{p}==1.13.0" for p in _SDK]  # the Sept 2020 snapshot pinned SDK 1.13.0
_COMMON_2021 = ["matplotlib>=3.3,<3.4", "psutil>=5.8,<5.9", "tqdm>=4.59,<4.60",
                "pandas>=1.1,<1.2", "scipy>=1.5,<1.6", "numpy>=1.10,<1.20", "ipykernel~=6.0",
                "azureml-core==1.34.0", "azureml-defaults==1.34.0", "azureml-mlflow==1.34.0",
                "azureml-telemetry==1.34.0"]
_LOOSE_2021 = ["matplotlib", "psutil", "tqdm", "pandas", "scipy", "numpy"]

AZURE_CURATED: dict[str, dict[str, Any]] = {}


def _name_version(name: str) -> str:
    """Return the framework version written in the name ("AzureML-PyTorch-1.6-CPU" -> "1.6")."""
    for token in name.split("-"):
        if re.match(r"(?i)(ubuntu|cuda|openmpi|py\d)", token):
            continue
        m = re.search(r"(\d+\.\d+(?:\.\d+)?)$", token)
        if m:
            return m.group(1)
    return ""


def _add(name: str, python: str, framework: str, packages: list[str],
         azure_pins: list[str] | None = None, *, gpu: bool | None = None,
         kind: str = "training", source: str = "", notes: str = "") -> None:
    """Register one curated environment."""
    AZURE_CURATED[name.lower()] = {
        "name": name, "python": python, "framework": framework, "packages": list(packages),
        "azure_pins": list(azure_pins or []),
        "gpu": bool(re.search(r"gpu|cuda", name, re.IGNORECASE)) if gpu is None else gpu,
        "version_in_name": _name_version(name), "kind": kind, "source": source, "notes": notes,
    }


# --- 2019-2021 "classic" names: python=3.6.2, conda-forge channel -------------------------
_add("AzureML-Minimal", "3.6", "minimal", [],
     ["python=3.6.2", "azureml-core==1.27.0", "azureml-defaults==1.27.0"], source="CLI-2021",
     notes="v48 (Apr 2021); base image intelmpi2018.3-ubuntu16.04")
_add("AzureML-Tutorial", "3.6", "tutorial",
     ["pandas", "numpy", "tqdm", "scikit-learn", "matplotlib", "mlflow", "sklearn-pandas"],
     ["python=3.6.2", "pandas", "numpy", "tqdm", "scikit-learn", "matplotlib",
      *_SDK_113, "azureml-widgets==1.13.0", "azureml-pipeline-core==1.13.0",
      "azureml-pipeline-steps==1.13.0", "azureml-opendatasets==1.13.0",
      "azureml-train-automl==1.13.0", "azureml-sdk==1.13.0", "azureml-interpret==1.13.0",
      "azureml-tensorboard==1.13.0", "azureml-mlflow==1.13.0", "mlflow", "sklearn-pandas"],
     source="WS-2020", notes="v49; also azureml-automl-core/-runtime, azureml-train-automl-client")
_add("AzureML-Scikit-learn-0.20.3", "3.6", "sklearn", ["scikit-learn", "scipy", "numpy", "joblib"],
     ["python=3.6.2", "scikit-learn==0.20.3", "scipy==1.2.1", "numpy==1.16.2", "joblib==0.13.2"],
     source="SDK-1.0.69")
_add("AzureML-VowpalWabbit-8.8.0", "3.6", "vowpalwabbit", ["vowpalwabbit"],
     ["python", "azureml-core", "azureml-defaults", "azureml-dataset-runtime[fuse,pandas]"],
     source="D-2020", notes="the pip list had only azureml packages; VW came with the image")
_add("AzureML-PySpark-MmlSpark-0.15", "3.6", "pyspark", ["pyspark"], ["python", *_SDK],
     source="D-2020", notes="MMLSpark came as a Spark package, not pip")
for _cpu in ("CPU", "GPU"):
    _add(f"AzureML-Chainer-5.1.0-{_cpu}", "3.6", "chainer", ["chainer", "mpi4py"],
         ["python", *_SDK, "chainer", "mpi4py"] + (["cupy-cuda90"] if _cpu == "GPU" else []),
         source="D-2020")

# torch pin, torchvision pin, horovod pin (WS-2020: mkl==2018.0.3; tensorboard/future from 1.1)
for _v, _tv, _hv in (("1.0", "0.2.1", "0.16.1"), ("1.1", "0.2.1", "0.16.1"),
                     ("1.2", "0.4.0", "0.16.1"), ("1.3", "0.4.1", "0.18.1"),
                     ("1.4.0", "0.5.0", "0.18.1"), ("1.5.0", "0.5.0", "0.19.1"),
                     ("1.6.0", "0.5.0", "0.19.1")):
    _extra = [] if _v == "1.0" else ["tensorboard==1.14.0", "future==0.17.1"]
    for _cpu in ("CPU", "GPU"):
        _add(f"AzureML-PyTorch-{_v[:3]}-{_cpu}", "3.6", "pytorch",
             ["torch", "torchvision"] + (["tensorboard", "future"] if _extra else []),
             ["python=3.6.2", *_SDK_113, f"torch=={_v}", f"torchvision=={_tv}", "mkl==2018.0.3",
              f"horovod=={_hv}", *_extra], source="WS-2020")

# tensorflow (CPU pin, GPU pin, horovod pin)
for _v, _c, _g, _hv in (("1.10", "1.10", "1.10.0", "0.15.2"), ("1.12", "1.12", "1.12.0", "0.15.2"),
                        ("1.13", "1.13.1", "1.13.1", "0.16.1"), ("2.0", "2.0", "2.0.0", "0.18.1"),
                        ("2.1", "2.1.0", "2.1.0", "0.19.1"), ("2.2", "2.2.0", "2.2.0", "0.19.1")):
    _add(f"AzureML-TensorFlow-{_v}-CPU", "3.6", "tensorflow", ["tensorflow"],
         ["python=3.6.2", *_SDK_113, f"tensorflow=={_c}", f"horovod=={_hv}"], source="WS-2020")
    _add(f"AzureML-TensorFlow-{_v}-GPU", "3.6", "tensorflow", ["tensorflow"],
         ["python=3.6.2", *_SDK_113, f"tensorflow-gpu=={_g}", f"horovod=={_hv}"], source="WS-2020")
for _cpu in ("CPU", "GPU"):
    _add(f"AzureML-TensorFlow-2.3-{_cpu}", "3.6", "tensorflow", ["tensorflow"], [],
         source="NB", notes="listed in workspaces from late 2020; exact pins not seen")

_AUTOML = ["numpy", "scikit-learn", "pandas", "xgboost", "prophet", "holidays", "psutil",
           "py-cpuinfo", "inference-schema"]
for _n, _extra in (("AzureML-AutoML", []), ("AzureML-AutoML-GPU", []),
                   ("AzureML-AutoML-DNN", ["torch", "transformers", "spacy"]),
                   ("AzureML-AutoML-DNN-GPU", ["torch", "transformers", "spacy"]),
                   ("AzureML-AutoML-DNN-Vision-GPU", ["torch", "torchvision"]),
                   ("AzureML-Hyperdrive-ForecastDNN", ["torch"])):
    _add(_n, "3.6", "automl", _AUTOML + _extra,
         ["python", "py-xgboost", "fbprophet", "azureml-automl-core", "azureml-automl-runtime",
          "azureml-train-automl-client", "azureml-train-automl-runtime"],
         kind="automl", source="D-2020",
         notes="python version not recorded; DNN pip list had pytorch-transformers, en_core_web_sm")
for _cpu in ("CPU", "GPU"):
    _add(f"AzureML-Dask-{_cpu}", "3.6", "dask",
         ["adlfs", "dask[complete]", "dask-ml[complete]", "distributed", "fastparquet", "fsspec",
          "joblib", "lz4", "pyarrow"] + (["matplotlib"] if _cpu == "GPU" else []),
         ["python", "azureml-core", "azureml-dataset-runtime", "jupyterlab", "notebook", "mpi4py"],
         source="D-2020", notes="python version not recorded")
for _n, _pin in (("", ""), ("-CV", ""), ("-CV-Transform", "azureml-designer-cv-modules[pytorch]==0.0.14"),
                 ("-IO", ""), ("-NLP", ""), ("-PyTorch", "azureml-designer-pytorch-modules==0.0.16"),
                 ("-PyTorch-Train", "azureml-designer-pytorch-modules==0.0.16"), ("-R", ""),
                 ("-Recommender", ""), ("-Score", ""),
                 ("-Transform", "azureml-designer-datatransform-modules==0.0.57"),
                 ("-VowpalWabbit", "")):
    _add(f"AzureML-Designer{_n}", "3.6", "designer", [], ["python=3.6.8"] + ([_pin] if _pin else []),
         kind="designer", source="WS-2020",
         notes="Designer module runtime; only usable through Designer pipelines")
_add("AzureML-Sidecar", "3.6", "other", [], [], source="WS-2020", notes="internal helper image")
_add("AzureML-Triton", "3.6", "triton", ["tritonclient[http]"], [], kind="inference", source="WS-2021")
_add("AzureML-DeepSpeed-0.3-GPU", "3.6", "pytorch", ["torch", "deepspeed"], [], source="WS-2021")
for _n, _pk in (("AzureML-Minimal-Inference-CPU", []), ("AzureML-PyTorch-1.6-Inference-CPU", ["torch"]),
                ("AzureML-XGBoost-0.9-Inference-CPU", ["xgboost", "scikit-learn"]),
                ("AzureML-TensorFlow-1.15-Inference-CPU", ["tensorflow"])):
    _add(_n, "3.6", _n.split("-")[1].lower(), _pk, [], kind="inference", source="WS-2021")
for _n, _fw, _pk in (("AzureML-TensorFlow2.4-Cuda11-OpenMpi4.1.0-py36", "tensorflow", ["tensorflow"]),
                     ("AzureML-Scikit-learn0.24-Cuda11-OpenMpi4.1.0-py36", "sklearn",
                      ["scikit-learn"]),
                     ("AzureML-Pytorch1.7-Cuda11-OpenMpi4.1.0-py36", "pytorch", ["torch"])):
    _add(_n, "3.6", _fw, _pk, [], source="WS-2021", notes="short-lived early-2021 naming")

# --- 2021-2022 "<framework>-<ver>-ubuntuXX-pyNN-<cpu|cuda>" names ----------------------
_add("AzureML-pytorch-1.9-ubuntu18.04-py37-cuda11-gpu", "3.7", "pytorch",
     ["torch", "torchvision", "torchaudio", *_LOOSE_2021, "tensorboard", "onnxruntime", "future",
      "torch-tb-profiler"],
     ["python=3.7", "pip=20.2.4", "pytorch=1.9.0", "torchvision=0.10.0", "torchaudio=0.9.0",
      "cudatoolkit=11.1.1", "nvidia-apex=0.1.0", *_COMMON_2021, "tensorboard==2.4.0",
      "tensorflow-gpu==2.4.1", "onnxruntime-gpu>=1.7,<1.8", "horovod[pytorch]==0.21.3",
      "future==0.17.1", "torch-tb-profiler==0.2.1"], source="D-2021-07")
for _v, _py in (("1.7", "37"), ("1.8", "37"), ("1.10", "38")):
    _add(f"AzureML-pytorch-{_v}-ubuntu18.04-py{_py}-cuda11-gpu", f"3.{_py[1]}", "pytorch",
         ["torch", "torchvision", *_LOOSE_2021], [], source="D-2021-10",
         notes="same layout as the 1.9 image; exact pins not seen")
_add("AzureML-tensorflow-2.4-ubuntu18.04-py37-cuda11-gpu", "3.7", "tensorflow",
     ["tensorflow", "tensorflow-datasets", "tensorboard", "onnxruntime", *_LOOSE_2021],
     ["python=3.7", "pip=20.2.4", *_COMMON_2021, "tensorboard==2.4.0", "tensorflow-gpu==2.4.1",
      "tensorflow-datasets==4.3.0", "onnxruntime-gpu>=1.7,<1.8",
      "horovod[tensorflow-gpu]==0.21.3"], source="D-2021-07")
for _v in ("2.6", "2.7"):
    _add(f"AzureML-tensorflow-{_v}-ubuntu20.04-py38-cuda11-gpu", "3.8", "tensorflow",
         ["tensorflow", *_LOOSE_2021], [], source="NB",
         notes="exact pins not seen")
for _n in ("AzureML-sklearn-0.24-ubuntu18.04-py37-cpu", "AzureML-sklearn-0.24-ubuntu18.04-py37-cuda11-gpu"):
    _add(_n, "3.7", "sklearn", ["scikit-learn", *_LOOSE_2021],
         ["python=3.7", "pip=20.2.4", *_COMMON_2021, "scikit-learn==0.24.1"], source="D-2021-07",
         notes="the -cuda11-gpu name used the same CPU (openmpi3.1.2-ubuntu18.04) image")
_add("AzureML-sklearn-1.0-ubuntu20.04-py38-cpu", "3.8", "sklearn",
     ["scikit-learn", "pandas", "scipy", "numpy", "joblib", "matplotlib", "psutil", "tqdm"],
     ["python=3.8", "scikit-learn~=1.0.0", "pandas~=1.3.0", "scipy~=1.7.0", "numpy~=1.22.0",
      "joblib~=1.2.0"], source="ASSETS", notes="pins from the first azureml-assets sklearn-1.0")
_add("AzureML-lightgbm-3.2-ubuntu18.04-py37-cpu", "3.7", "lightgbm",
     ["lightgbm", "scikit-learn", "xgboost", "dask", "distributed", "dask-ml", "adlfs",
      *_LOOSE_2021],
     ["python=3.7", "pip=20.2.4", *_COMMON_2021, "scipy~=1.5.0", "scikit-learn~=0.24.1",
      "xgboost~=1.4.0", "lightgbm~=3.2.0", "dask~=2021.6.0", "distributed~=2021.6.0",
      "dask-ml~=1.9.0", "adlfs~=0.7.0"], source="D-2021-07")
for _n, _fw, _pk, _pins in (
        ("sklearn-0.24.1-ubuntu18.04-py37-cpu", "sklearn", ["scikit-learn", "numpy", "pandas"],
         ["scikit-learn==0.24.1", "numpy>=1.16.0", "pandas~=1.1"]),
        ("minimal-ubuntu18.04-py37-cpu", "minimal", [], []),
        ("tensorflow-1.15-ubuntu18.04-py37-cpu", "tensorflow", ["tensorflow"], ["pandas==0.25.1"]),
        ("tensorflow-2.4-ubuntu18.04-py37-cpu", "tensorflow", ["tensorflow"], ["numpy>=1.16.0"]),
        ("tensorflow-2.4-ubuntu18.04-py37-cuda11.0.3-gpu", "tensorflow", ["tensorflow"], []),
        ("pytorch-1.6-ubuntu18.04-py37-cpu", "pytorch", ["torch"], ["numpy==1.20.1"]),
        ("pytorch-1.7-ubuntu18.04-py37-cpu", "pytorch", ["torch"], ["numpy>=1.16.0"]),
        ("onnxruntime-1.6-ubuntu18.04-py37-cpu", "onnxruntime", ["onnxruntime"], []),
        ("xgboost-0.9-ubuntu18.04-py37-cpu", "xgboost", ["xgboost", "scikit-learn"],
         ["scikit-learn==0.23.2", "numpy==1.20.1", "pandas==0.25.1"])):
    _add(f"AzureML-{_n}-inference", "3.7", _fw, _pk, _pins, kind="inference", source="D-2021-07")

# --- registry era (azureml-assets; workspace name = "AzureML-" + asset name) -------------
_RUNTIME = ["matplotlib", "psutil", "tqdm", "joblib"]
_add("AzureML-sklearn-1.1", "3.9", "sklearn", ["scikit-learn", "scikit-learn-intelex", "pandas",
                                               "scipy", "numpy", *_RUNTIME],
     ["python=3.9", "scikit-learn~=1.1.0", "pandas~=1.3.0", "scipy~=1.10.0", "numpy~=1.22.0"],
     source="ASSETS", notes="python was 3.8 in 2023")
_add("AzureML-sklearn-1.0", "3.9", "sklearn", ["scikit-learn", "pandas", "scipy", "numpy", *_RUNTIME],
     ["python=3.9", "scikit-learn~=1.0.0", "pandas~=1.3.0", "scipy~=1.10.0", "numpy~=1.22.0"],
     source="ASSETS", notes="python was 3.8 in 2023")
_add("AzureML-sklearn-1.5", "3.10", "sklearn", ["scikit-learn", "scikit-learn-intelex", "pandas",
                                                "scipy", "numpy", *_RUNTIME],
     ["python=3.10", "scikit-learn~=1.5.0", "pandas~=1.5.3", "scipy~=1.10.0", "numpy~=1.22.0",
      "joblib~=1.2.0", "azureml-inference-server-http"], source="ASSETS")
_add("AzureML-lightgbm-3.3", "3.10", "lightgbm", ["lightgbm", "scikit-learn", "xgboost",
                                                  "distributed", "adlfs", "pandas", "numpy"],
     ["python=3.10", "lightgbm>=4.6.0", "scikit-learn~=1.5.1", "xgboost~=1.7.6",
      "distributed~=2021.10.0", "adlfs~=0.7.0"], source="ASSETS",
     notes="despite the name it now ships lightgbm 4.x (python 3.8 and lightgbm~=3.3.5 in 2023)")
for _v, _py, _pin in (("2.11-cuda11", "3.8", "tensorflow~=2.11.1"),
                      ("2.12-cuda11", "3.8", "tensorflow~=2.12.0"),
                      ("2.16-cuda11", "3.11", "tensorflow[and-cuda]==2.16.2"),
                      ("2.16-cuda12", "3.11", "tensorflow[and-cuda]==2.16.2")):
    _add(f"AzureML-tensorflow-{_v}", _py, "tensorflow",
         ["tensorflow", "tensorflow-datasets", "pandas", "numpy", "scipy", "matplotlib"],
         [f"python={_py}", _pin], source="ASSETS")
for _v, _py in (("1.11-cuda11.3", "3.8"), ("1.12-cuda11.6", "3.8"), ("1.12-py39-cuda11.6", "3.9"),
                ("1.13-cuda11.7", "3.8"), ("2.0-cuda11.7", "3.8"), ("2.1-cuda12.1", "3.8"),
                ("2.2-cuda12.1", "3.10"), ("2.8-cuda12.6", "3.10")):
    _add(f"AzureML-acpt-pytorch-{_v}", _py, "acpt", ["torch", "torchvision"],
         [f"python={_py}"], source="ASSETS",
         notes="ACPT: torch + onnxruntime-training + DeepSpeed + Nebula on an NVIDIA image")
for _cu in ("cuda11.5", "cuda11.3"):
    _add(f"AzureML-ACPT-pytorch-1.11-py38-{_cu}-gpu", "3.8", "acpt", ["torch", "torchvision"],
         ["python=3.8", "torch==1.11.0", "onnxruntime-training==1.11.1", "deepspeed==0.7.1",
          "torch-ort==1.11.0"], source="D-2021-10", notes="preview names (2022)")
_add("AzureML-ACPT-pytorch-1.12-py39-cuda11.6-gpu", "3.9", "acpt", ["torch", "torchvision"],
     ["python=3.9"], source="EX")


def _key(name: str) -> str:
    """Normalise ``azureml:<name>:<ver>`` / ``<name>@latest`` to the bare lower-case name."""
    key = name.strip()
    if key.lower().startswith("azureml:"):
        key = key[len("azureml:"):]
    key = re.sub(r"(@latest|@[\w.-]+|:\d+)$", "", key)
    return key.lower()


def lookup(name: str) -> dict[str, Any] | None:
    """Return a copy of the entry for ``name`` (case-insensitive, as Azure matches), or None.

    Also accepts ``azureml:NAME:VERSION``, ``NAME@latest`` and registry asset names
    without the ``AzureML-`` prefix (``"sklearn-1.5"``).
    """
    key = _key(name)
    entry = AZURE_CURATED.get(key) or AZURE_CURATED.get("azureml-" + key)
    return copy.deepcopy(entry) if entry else None


def families() -> dict[str, list[str]]:
    """Return ``{framework: [canonical names, sorted]}`` over every known environment."""
    out: dict[str, list[str]] = {}
    for entry in AZURE_CURATED.values():
        out.setdefault(entry["framework"], []).append(entry["name"])
    return {fw: sorted(names, key=str.lower) for fw, names in sorted(out.items())}


def is_reserved_name(name: str) -> bool:
    """Return True if ``name`` starts with a prefix reserved for curated envs (AzureML/Microsoft)."""
    return _key(name).startswith(("azureml", "microsoft"))
