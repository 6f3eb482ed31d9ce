"""Compute targets other than this machine (Ray Jobs), and resolving a target by
name from ``config.yaml``'s ``compute_targets``.

May import ``runner.execution`` and everything below it.
"""
