"""The studio's Starlette application: pages, static files, the API, the guards.

Why it exists: one factory, :func:`create_app`, builds the whole studio for a
workspace, so the ``runner studio`` command, the tests (Starlette's
``TestClient``) and the benchmark serve exactly the same thing.

Pages are HTML templates (``templates/*.html``, ``string.Template`` syntax)
filled with a few escaped values and, in a ``<script type="application/json">``
block, the data of the first view, so a page is complete without a second
round trip; the scripts in ``static/`` draw it and keep it live through
``/api/``. No template engine and no build step.
"""

from __future__ import annotations

import json
import threading
from html import escape
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..core.errors import NotFoundError, RunnerError, UsageError
from ..core.version import __version__
from . import api as _api
from . import listing as _listing
from . import queries as _queries
from .security import Guard, new_secret

if TYPE_CHECKING:
    from ..api.workspace import Workspace

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

_templates: dict[str, Template] = {}


def _template(name: str) -> Template:
    found = _templates.get(name)
    if found is None:
        found = _templates[name] = Template((TEMPLATES / name).read_text(encoding="utf-8"))
    return found


def _inline_json(value: Any) -> str:
    """JSON safe inside a ``<script>`` block (no ``</script>``, no ``<!--``)."""
    text = json.dumps(_queries.json_safe(value), ensure_ascii=False, allow_nan=False,
                      separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_page(request: Request, page: str, title: str, data: Any = None,
                status_code: int = 200, **values: str) -> HTMLResponse:
    """A page: ``templates/<page>.html`` inside ``templates/layout.html``.

    Args:
        page: the template name (also ``data-page`` of the body, which the
            scripts dispatch on).
        title: the window title (escaped here).
        data: the first view's data, embedded as JSON.
        values: more template values, already safe HTML.
    """
    state = request.app.state
    body = _template(f"{page}.html").safe_substitute(values)
    html = _template("layout.html").substitute(
        title=escape(title), page=page, body=body, csrf=escape(state.csrf),
        workspace=escape(state.workspace.name), workspace_path=escape(str(state.workspace.root)),
        version=escape(__version__), data=_inline_json(data),
    )
    return HTMLResponse(html, status_code=status_code,
                        headers={"cache-control": "no-store"})


# --------------------------------------------------------------------------- pages


def experiments_page(request: Request) -> Response:
    ws = request.app.state.workspace
    return render_page(request, "experiments", "Experiments",
                       {"experiments": _queries.experiments(ws)})


def _runs_data(request: Request, experiment: str | None) -> dict[str, Any]:
    q = request.query_params
    page = _api._int(request, "page", 1)
    per_page = _api._int(request, "per_page", _listing.PER_PAGE)
    query = {"experiment": experiment, "status": q.get("status") or None,
             "tags": q.getlist("tag"), "text": q.get("q") or None,
             "sort": q.get("sort") or "created", "order": q.get("order") or "desc",
             "page": page, "per_page": per_page, "filter": q.get("filter") or None,
             "children": q.get("children") == "1"}
    try:
        result = _listing.runs_page(request.app.state.workspace, **query)
    except UsageError as exc:  # a bad filter in the address: show the page and the error
        result = _listing.runs_page(request.app.state.workspace,
                                    **dict(query, filter=None, sort="created", order="desc",
                                           page=1))
        query["filter_error"] = exc.message
    return {"query": query, "result": result}


def runs_page(request: Request) -> Response:
    return render_page(request, "runs", "Runs", _runs_data(request, None),
                       heading="All runs")


def experiment_page(request: Request) -> Response:
    name = request.path_params["name"]
    if request.app.state.workspace.store.experiment_id(name, create=False) is None:
        raise NotFoundError(f"no experiment {name!r} in this workspace.", name=name)
    return render_page(request, "runs", f"{name} runs", _runs_data(request, name),
                       heading=f"Experiment {escape(name)}")


def run_page(request: Request) -> Response:
    ws = request.app.state.workspace
    summary = _queries.run_summary(ws, request.path_params["run_id"])
    return render_page(request, "run", summary["display_name"] or summary["id"], summary)


def models_page(request: Request) -> Response:
    return render_page(request, "models", "Models",
                       {"models": _queries.models(request.app.state.workspace)})


def sweep_page(request: Request) -> Response:
    ids = [i for part in request.query_params.getlist("runs") for i in part.split(",") if i]
    data = _queries.sweep(request.app.state.workspace,
                          parent=request.query_params.get("parent") or None, run_ids=ids or None)
    return render_page(request, "sweep", "Sweep", data)


def compare_page(request: Request) -> Response:
    ids = [i for part in request.query_params.getlist("runs") for i in part.split(",") if i]
    return render_page(request, "compare", "Compare runs",
                       _queries.compare(request.app.state.workspace, ids))


# -------------------------------------------------------------------------- errors


async def _error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, NotFoundError):
        code, kind = 404, "not_found"
    elif isinstance(exc, UsageError):
        code, kind = 400, "bad_request"
    else:
        code, kind = 500, "error"
    message = exc.message if isinstance(exc, RunnerError) else str(exc)
    if request.url.path.startswith("/api/"):
        return _api.JSON({"error": kind, "message": message}, status_code=code)
    return render_page(request, "error", "Error", {"message": message, "code": code},
                       status_code=code, message=escape(message), code=str(code))


# ------------------------------------------------------------------------- factory


def create_app(workspace: Workspace, *, token: str | None = None,
               csrf: str | None = None) -> Starlette:
    """The studio for ``workspace``.

    Args:
        workspace: the workspace to show.
        token: when given, every request must carry it (see :mod:`._security`);
            without it only loopback ``Host`` names are answered.
        csrf: the CSRF token pages embed (a new random one by default).
    """
    routes = [
        Route("/", experiments_page),
        Route("/runs", runs_page),
        Route("/experiments/{name}", experiment_page),
        Route("/runs/{run_id}", run_page),
        Route("/compare", compare_page),
        Route("/sweep", sweep_page),
        Route("/models", models_page),
        *_api.ROUTES,
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        # gzip for JSON and pages (a 20,000-point series shrinks about 4 times); the live
        # log (text/event-stream) is never compressed, so its events are not held back.
        middleware=[Middleware(Guard, token=token), Middleware(GZipMiddleware, minimum_size=1024)],
        exception_handlers={RunnerError: _error},
    )
    app.state.workspace = workspace
    app.state.csrf = csrf or new_secret()
    app.state.token_required = token is not None
    app.state.stopping = threading.Event()  # set by the server: live streams end
    return app


def run_path(run_id: str) -> str:
    """The path of a run's page."""
    return f"/runs/{quote(run_id, safe='')}"
