"""Sweeps (HyperDrive): parameter spaces, sampling, early-termination policies as pure decisions.

:mod:`runner.sweep.space` holds the parameter expressions (``choice``, ``uniform``, ...),
:mod:`runner.sweep.sampling` the samplers that turn a space into trials, and
:mod:`runner.sweep.policy` the early-termination policies, each a pure function of the
metric values the trials have logged. Nothing here starts a process or touches a file:
the sweep owner runs the trials and asks these objects what to do next.

May import runner.core only.
"""
