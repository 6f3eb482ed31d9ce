"""Sweeps (HyperDrive): parameter spaces, sampling, early-termination policies, and the
process that runs a sweep's trials.

The pure part: :mod:`runner.sweep.space` holds the parameter expressions (``choice``,
``uniform``, ...), :mod:`runner.sweep.sampling` the samplers that turn a space into trials,
and :mod:`runner.sweep.policy` the early-termination policies, each a pure function of the
metric values the trials have logged. The running part: :mod:`runner.sweep.config`
(``HyperDriveConfig``), :mod:`runner.sweep.submit` (the parent run and resuming it),
:mod:`runner.sweep.owner` (the parent's owner process, which submits trials through the
local queue and asks the policy what to stop) and :mod:`runner.sweep.run`
(``HyperDriveRun``).

Layer 5: may import runner.execution and the layers below it.
"""
