"""What runs inside the user's interpreter: the run context read from ``RUNNER_*``
variables, the background metric writer, the offline run.

Standard library only (a test imports it in a virtualenv with nothing installed).
May import ``runner.core`` only.
"""
