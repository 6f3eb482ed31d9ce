"""Execution on this machine: ``Experiment.submit`` for a ``ScriptRunConfig``, the
launch plan, the shim, owner and supervisor processes, the queue, cancel, waiting
for a run and following its logs.

May import ``runner.api`` and everything below it.
"""
