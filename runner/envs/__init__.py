"""Managed environments: the definition schema, interpreters, builders (virtualenv
and pip, or uv), the content-keyed cache under ``.runner/envs/`` with locks and
leases, registered and curated definitions.

May import ``runner.core`` and ``runner.store``. Third-party ``virtualenv`` and
``yaml`` are imported where they are used.
"""
