"""The studio: a local web page over a workspace (``runner studio``).

Why a package of its own: the studio is the only part of ``runner`` that needs
a web framework (Starlette, served by uvicorn; the ``runner[studio]`` extra),
and those imports must stay out of ``import runner``. This ``__init__`` imports
nothing; only ``app`` and ``api`` import Starlette (and ``server``
uvicorn, when a server is made), so every other module is standard library
only:

=================  ============================================================
``discovery``      ``.runner/studio.json``: which studio serves the workspace
``queries``        what the pages show, composed from the public API (no SQL)
``downsample``     min/max-per-bucket thinning of long metric series
``render``         static HTML (inline SVG charts) for notebooks
``openapi``        the OpenAPI document of ``/api/``
``app``            the Starlette app factory and the page routes
``api``            the JSON API and the live log stream (Server-Sent Events)
``security``       loopback/Host check, token, CSRF, safe file paths
``server``         binding, serving (foreground or a thread), ``studio.json``
=================  ============================================================

Pages are plain HTML (``templates/``) with small vanilla scripts
(``static/``); the chart library, uPlot, is vendored in ``static/vendor/`` so
the page works with no internet.

The studio is part of the shell: it may import everything below it, and it
reads runs through the public API and ``runner.store`` (no SQL of its own).
"""

from __future__ import annotations
