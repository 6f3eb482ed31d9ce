"""Translate conda match specs (as used in Azure ML v1 environments) into pip requirements.

Conda semantics that matter here (conda ``MatchSpec``):

* ``name=1.19``      fuzzy: any 1.19.x            -> pip ``name==1.19.*``
* ``name==1.19.2``   exact                        -> pip ``name==1.19.2``
* ``name=1.19=py37_0`` version + build string: exact version, build ignored
* ``name 1.19.2 py37_0`` the same, space separated
* ``name>=1.16,<2``  operators pass through; ``|`` (OR) has no pip equivalent
* ``channel::name``  channel prefix, ``name -c channel`` inline channel flag

``python`` and ``pip`` are never pip requirements: use :func:`python_pin` for the
interpreter.  Packages that only exist as conda binaries (CUDA, MKL, compilers,
system libraries) are dropped with a notice.  Standard library only.

:func:`pip_for_managed` is what a managed build uses: conda packages become pip
requirements (when no conda is on PATH), and ``azureml-*`` packages are left
out, because runner provides the ``azureml`` package and a real azureml-core in
the run's environment would replace it (its ``Run.get_context()`` would be an
offline run and the metrics lost).
"""

from __future__ import annotations

import re

#: Conda name -> (pip name, notice).  Notice "" means a plain rename.
RENAMES: dict[str, tuple[str, str]] = {
    "pytorch": ("torch", ""),
    "pytorch-cpu": ("torch", "pytorch-cpu is the CPU build of torch"),
    "pytorch-gpu": ("torch", "pytorch-gpu is the CUDA build of torch"),
    "pytorch-nightly": ("torch", "nightly channel build; using the released torch"),
    "py-xgboost": ("xgboost", ""),
    "py-xgboost-cpu": ("xgboost", ""),
    "py-xgboost-gpu": ("xgboost", ""),
    "tensorflow-gpu": ("tensorflow", "discontinued on PyPI; GPU is tensorflow[and-cuda]"),
    "py-opencv": ("opencv-python", ""),
    "opencv": ("opencv-python", ""),
    "matplotlib-base": ("matplotlib", ""),
    "pytables": ("tables", ""),
    "msgpack-python": ("msgpack", ""),
    "fbprophet": ("prophet", "renamed to prophet in 1.0"),
    "sklearn": ("scikit-learn", "the PyPI package 'sklearn' is a deprecated stub"),
    "python-graphviz": ("graphviz", ""),
    "pysoundfile": ("soundfile", ""),
    "ruamel_yaml": ("ruamel.yaml", ""),
    "pyqt": ("PyQt5", ""),
    "tensorflow-mkl": ("tensorflow", ""),
    "keras-gpu": ("keras", ""),
    "lightgbm-cpu": ("lightgbm", ""),
}

#: Conda-only packages that have no pip counterpart worth installing.
DROPPED: dict[str, str] = {
    "python": "python is the interpreter, not a package; see python_pin()",
    "pip": "pip is the installer itself",
    "conda": "conda itself",
    "anaconda": "anaconda metapackage",
    "cpuonly": "conda selector for CPU-only pytorch",
    "nomkl": "conda selector for non-MKL BLAS",
    "pytorch-cuda": "conda selector for the CUDA build of pytorch",
    "pytorch-mutex": "conda selector for pytorch builds",
    "blas": "BLAS selector", "openblas": "system BLAS", "intel-openmp": "OpenMP runtime",
    "mkl": "MKL is bundled by the numpy/torch wheels", "mkl-service": "MKL runtime",
    "mkl_fft": "MKL add-on", "mkl_random": "MKL add-on",
    "nvidia-apex": "apex has no PyPI build; use torch.cuda.amp",
    "cudf": "RAPIDS: install cudf-cu11/cu12 from NVIDIA's index",
    "cuml": "RAPIDS: install cuml-cu11/cu12 from NVIDIA's index",
    "cugraph": "RAPIDS: install cugraph-cu11/cu12 from NVIDIA's index",
    "nvstrings": "RAPIDS (folded into cudf)",
    "ffmpeg": "system binary (apt install ffmpeg)",
    "graphviz": "system binary (apt install graphviz); the Python binding is python-graphviz",
    "nodejs": "system binary", "openjdk": "system binary", "boost": "C++ library",
    "cmake": "build tool (pip 'cmake' exists if really needed)",
    "nb_conda": "conda-only Jupyter extension", "nb_conda_kernels": "conda-only Jupyter extension",
    "ca-certificates": "system certificates", "openssl": "system library",
    "arrow-cpp": "C++ library (bundled in pyarrow wheels)", "hdf5": "C library (bundled in h5py)",
    "qt": "C++ library (bundled in PyQt5)", "tesseract": "system binary", "git": "system binary",
    "make": "build tool", "curl": "system binary", "tk": "system library",
    "tzdata": "system time zone data", "zlib": "system library", "xz": "system library",
    "bzip2": "system library", "ncurses": "system library", "readline": "system library",
    "sqlite": "system library", "jpeg": "system library",
}

#: Renames whose version numbers do not carry over (the pip version line differs).
RENAME_DROPS_VERSION: frozenset[str] = frozenset({"fbprophet", "pytorch-nightly"})

#: Name prefixes of conda-only system/toolchain packages.
DROPPED_PREFIXES: tuple[str, ...] = (
    "cudatoolkit", "cudnn", "cuda-", "cuda9", "cuda10", "cuda11", "cuda12", "nccl", "magma-cuda",
    "_libgcc", "_openmp", "libgcc", "libstdcxx", "libgfortran", "libgomp", "ld_impl_",
    "gcc_", "gxx_", "gfortran_", "sysroot_", "kernel-headers_", "libopencv", "libprotobuf",
    "libblas", "libcblas", "liblapack", "libffi", "libuuid", "libiconv", "libxml2", "libpng",
    "libjpeg", "libsqlite", "libzlib", "libcurl", "libssh2", "libedit", "libnghttp2",
)

#: Channels seen in Azure ML v1 material and what a pip-only runner does with them.
CHANNELS: dict[str, str] = {
    "anaconda": "default channel of the v1 base conda_dependencies.yml; ignored",
    "conda-forge": "in the v1 base yml and most curated envs; ignored",
    "defaults": "ignored",
    "pytorch": "torch/torchvision builds; pip gets them from PyPI (or the PyTorch index for CUDA)",
    "nvidia": "CUDA runtime; ignored",
    "rapidsai": "RAPIDS; not on PyPI under the same names",
}

_OPS = ("===", "==", ">=", "<=", "!=", "~=", ">", "<", "=")
_PEP440 = re.compile(
    r"^v?(?:\d+!)?\d+(?:\.\d+)*(?:[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview)[-_.]?\d*)?"
    r"(?:-\d+|[-_.]?(?:post|rev|r)[-_.]?\d*)?(?:[-_.]?dev[-_.]?\d*)?"
    r"(?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?$", re.IGNORECASE)
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*")


def _split(spec: str) -> tuple[str, str, str, list[str]]:
    """Split a conda spec into (name, version constraint, build, notices)."""
    notes: list[str] = []
    s = spec.strip()
    flag = re.search(r"\s+(?:-c|--channel)\s+(\S+)", s)
    if flag:
        notes.append(f"channel {flag.group(1)!r} ignored")
        s = (s[:flag.start()] + s[flag.end():]).strip()
    if "::" in s:
        channel, s = s.rsplit("::", 1)
        notes.append(f"channel {channel!r} ignored")
    bracket = ""
    if "[" in s and s.endswith("]"):
        s, bracket = s[:s.index("[")], s[s.index("[") + 1:-1]
    m = _NAME.match(s)
    if not m:
        raise ValueError(f"not a conda match spec: {spec!r}")
    name, rest = m.group(0), s[m.end():].strip()
    version, build = "", ""
    if bracket:
        for key, val in re.findall(r"(\w+)\s*=\s*['\"]?([^,'\"\]]+)['\"]?", bracket):
            if key == "version":
                version = val.strip()
            elif key == "build":
                build = val.strip()
            else:
                notes.append(f"[{key}=...] ignored")
    elif rest:
        if rest[0] not in "=<>!~" and " " in rest:  # "1.19.2 py37_0"
            version, build = rest.split(None, 1)
        elif rest[0] not in "=<>!~":  # "1.19.*"
            version = rest
        else:
            rest = re.sub(r"\s*(===|==|>=|<=|!=|~=|>|<|=)\s*", r"\1", rest)
            parts = rest.split()
            version = parts[0]
            if len(parts) > 1:
                build = parts[1]
            # name=ver=build  (a second '=' not part of an operator)
            bm = re.match(r"^(=[^=<>!~,|]+)=([^=<>!~,|]+)$", version)
            if bm:
                version, build = bm.group(1), bm.group(2)
    return name, version, build, notes


def _pip_constraint(version: str, build: str, notes: list[str]) -> str:
    """Turn a conda version constraint into a pip one ('' means unconstrained)."""
    if build:
        notes.append(f"build string {build!r} ignored")
    if version in ("", "*", "=*", "==*"):
        return ""
    if "|" in version:
        notes.append(f"OR constraint {version!r} has no pip form; version dropped")
        return ""
    if version[0].isdigit():  # bare "1.19.2" is exact in conda, "1.19.*" a wildcard
        version = "==" + version
    out = []
    for clause in version.split(","):
        op = next(o for o in (*_OPS, "") if clause.startswith(o))
        ver = clause[len(op):].strip()
        if op == "=":  # fuzzy unless a build string pins it
            op = "=="
            if not build and not ver.endswith("*"):
                ver += ".*"
        if ver.endswith("*"):
            ver = ver.rstrip("*").rstrip(".")
            if op not in ("==", "!="):
                notes.append(f"wildcard dropped from {clause!r}")
            else:
                ver += ".*"
        base = ver.removesuffix(".*")
        if not op or not base or not _PEP440.match(base) or (
                ver.endswith(".*") and not re.match(r"^\d+(\.\d+)*$", base)):
            notes.append(f"version {clause!r} is not valid for pip; dropped")
            continue
        out.append(op + ver)
    return ",".join(out)


def _drop_reason(name: str) -> str | None:
    low = name.lower()
    if low in DROPPED:
        return DROPPED[low]
    if low.startswith("r-"):
        return "R package (CRAN), not Python"
    if any(low.startswith(p) for p in DROPPED_PREFIXES):
        return "conda-only system/toolchain package"
    return None


def conda_spec_to_pip(spec: str) -> tuple[str | None, str]:
    """Convert one conda match spec into a pip requirement.

    :returns: ``(requirement, notice)``; ``requirement`` is None when the package
        is dropped (interpreter, installer, CUDA/MKL/system packages) and
        ``notice`` then says why.  ``notice`` is ``""`` for a plain translation.
    :raises ValueError: for a string that is not a match spec at all.
    """
    name, version, build, notes = _split(spec)
    reason = _drop_reason(name)
    if reason is not None:
        return None, f"{name}: dropped ({reason})"
    pip_name, note = RENAMES.get(name.lower(), (name, ""))
    if pip_name != name:
        notes.insert(0, f"conda {name!r} is pip {pip_name!r}" + (f" ({note})" if note else ""))
    constraint = _pip_constraint(version, build, notes)
    if name.lower() in ("opencv", "py-opencv") and re.fullmatch(r"==\d+\.\d+\.\d+", constraint):
        constraint += ".*"  # opencv-python versions carry a 4th part: 4.5.1.48
    if constraint and name.lower() in RENAME_DROPS_VERSION:
        notes.append(f"version {constraint!r} does not apply to {pip_name}; dropped")
        constraint = ""
    return pip_name + constraint, "; ".join(notes)


_VER = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


def python_pin(spec: str) -> str:
    """Return the ``major.minor`` Python that a conda ``python`` spec asks for.

    ``"python=3.6.2"`` -> ``"3.6"``; ``"3.8"`` -> ``"3.8"``.  For a range the newest
    allowed minor is returned (``"python>=3.5.2,<3.8"`` -> ``"3.7"``,
    ``"python>=3.6,<=3.9"`` -> ``"3.9"``); a lower bound alone gives that bound.
    Returns ``""`` when the spec names no version (``"python"``).
    """
    s = spec.strip()
    if "::" in s:
        s = s.rsplit("::", 1)[1]
    s = re.sub(r"^python\s*", "", s, flags=re.IGNORECASE)
    best_upper = ""
    lower = ""
    for clause in s.replace(" ", "").split(","):
        m = _VER.search(clause)
        if not m:
            continue
        major, minor = int(m.group(1)), int(m.group(2))
        op = clause[:m.start()]
        if op in ("", "=", "==", "~="):
            return f"{major}.{minor}"
        if op == "<":
            exclusive = m.group(3) in (None, "0")
            if exclusive and minor == 0:
                continue
            best_upper = f"{major}.{minor - 1 if exclusive else minor}"
        elif op == "<=":
            best_upper = f"{major}.{minor}"
        elif op in (">=", ">") and not lower:
            lower = f"{major}.{minor}"
    return best_upper or lower


def v1_python_version(spec: str) -> str | None:
    """Return what azureml-core's ``CondaDependencies`` reads as the Python version.

    v1 runs ``re.search(r"(\\d+)\\.(\\d+)(\\.(\\d+))?([ab](\\d+))?$", spec)``: the
    *last* version in the string wins, so ``"python>=3.5.2,<3.8"`` reads ``"3.8"``.
    """
    m = re.search(r"(\d+)\.(\d+)(\.(\d+))?([ab](\d+))?$", spec)
    return m.group(0) if m else None


def convert_dependencies(deps: list[object]) -> tuple[list[str], str, list[str]]:
    """Convert a conda yml ``dependencies:`` list.

    :returns: ``(pip_requirements, python_major_minor, notices)``.  Conda strings
        are translated; entries of a ``{"pip": [...]}`` item are kept verbatim
        (pip options such as ``--extra-index-url`` included).
    """
    reqs: list[str] = []
    notices: list[str] = []
    python = ""
    for item in deps:
        if isinstance(item, dict):
            reqs.extend(str(x) for x in item.get("pip") or [])
        elif isinstance(item, str):
            try:
                name = _split(item)[0].lower()
            except ValueError:
                notices.append(f"{item!r}: not a conda match spec; skipped")
                continue
            if name == "python":
                python = python_pin(item)
                continue
            req, note = conda_spec_to_pip(item)
            if req is not None:
                reqs.append(req)
            if note:
                notices.append(f"{item}: {note}" if req is not None else note)
    return reqs, python, notices


#: ``azureml-*`` packages that stand for something a run still needs.
AZUREML_REPLACEMENTS: dict[str, str] = {"azureml-mlflow": "mlflow-skinny"}


def _req_name(spec: str) -> str:
    head = re.split(r"[\s\[<>=!~;@]", spec.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", head).lower()


def pip_for_managed(pip: list[str], conda_packages: list[str]
                    ) -> tuple[list[str], list[str], list[str]]:
    """The pip requirements a managed build installs, and what was changed.

    Args:
        pip: the definition's pip requirements.
        conda_packages: conda match specs to install with pip (``[]`` when conda builds).

    Returns:
        ``(requirements, mapped, left_out)``: ``mapped`` lines say ``conda -> pip``;
        ``left_out`` lines name each package not installed and why.
    """
    out: list[str] = []
    mapped: list[str] = []
    left_out: list[str] = []
    for spec in conda_packages:
        try:
            req, note = conda_spec_to_pip(spec)
        except ValueError:
            left_out.append(f"{spec}: not a conda package spec")
            continue
        if req is None:
            left_out.append(note)
            continue
        if note:
            mapped.append(f"{spec} -> {req} ({note})")
        elif req != spec:
            mapped.append(f"{spec} -> {req}")
        out.append(req)
    for spec in pip:
        name = _req_name(spec)
        if name == "azureml" or name.startswith("azureml-"):
            replacement = AZUREML_REPLACEMENTS.get(name)
            if replacement:
                out.append(replacement)
                left_out.append(f"{spec}: replaced by {replacement} (runner provides azureml)")
            else:
                left_out.append(f"{spec}: runner provides the azureml package")
            continue
        out.append(spec)
    return list(dict.fromkeys(out)), mapped, left_out
