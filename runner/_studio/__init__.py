"""The studio: a local web page over a workspace (``runner studio``).

Why a package of its own: the studio is the only part of ``runner`` that needs
a web framework (Starlette, served by uvicorn; the ``runner[studio]`` extra),
and those imports must stay out of ``import runner``. This ``__init__`` imports
nothing; only ``_app`` and ``_api`` import Starlette (and ``_server``
uvicorn, when a server is made), so every other module is standard library
only:

=================  ============================================================
``_discovery``     ``.runner/studio.json``: which studio serves the workspace
``_queries``       what the pages show, composed from the public API (no SQL)
``_downsample``    min/max-per-bucket thinning of long metric series
``_render``        static HTML (inline SVG charts) for notebooks
``_openapi``       the OpenAPI document of ``/api/``
``_app``           the Starlette app factory and the page routes
``_api``           the JSON API and the live log stream (Server-Sent Events)
``_security``      loopback/Host check, token, CSRF, safe file paths
``_server``        binding, serving (foreground or a thread), ``studio.json``
=================  ============================================================

Pages are plain HTML (``templates/``) with small vanilla scripts
(``static/``); the chart library, uPlot, is vendored in ``static/vendor/`` so
the page works with no internet.
"""

from __future__ import annotations
