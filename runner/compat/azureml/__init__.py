"""azureml, as runner provides it: v1 import paths mapped onto runner.

Installed at the end of ``sys.path`` (``runner compat install``); a real
``azureml-core`` in the same interpreter comes first and wins.
"""

#: Marks this package as runner's, not Microsoft's.
RUNNER_COMPAT = True
