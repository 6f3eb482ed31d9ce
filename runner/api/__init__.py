"""The public API: ``Workspace``, ``Experiment``, ``Run``, ``ScriptRunConfig``,
``RunConfiguration``, ``Environment`` (users import them from ``runner``).

May import the adapters (``runner.store``, ``runner.snapshot``, ``runner.envs``),
``runner.inrun`` and ``runner.core``. What a run needs from the layers above it
(submitting, waiting, cancel, the notebook view) goes through
:mod:`runner.api.hooks`, filled by ``runner/__init__``.
"""
