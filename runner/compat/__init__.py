"""The ``azureml`` compatibility package: v1 import paths over runner's API.

This folder is not imported as ``runner.compat``: it is put at the END of
``sys.path`` (by ``runner compat install`` for drivers and notebooks, by the
launch shim for submitted scripts), so ``import azureml.core`` finds
``runner/compat/azureml`` only when no real ``azureml-core`` is installed.

Its modules are a thin face: they import names from ``runner`` (the shell's
exports and the API modules; any layer, since this is the top layer) and
define nothing of their own beyond v1 aliases and lazily mapped names.
Nothing in runner imports them.
"""
