"""The offline run ``Run.get_context()`` returns outside a submitted run.

Its logging calls succeed and print what they would have logged, so a script
written for submission also runs as a plain ``python train.py``.
"""

from __future__ import annotations

import uuid
from typing import Any


class OfflineRun:
    """A run that records nothing and prints ``Attempted to log ...`` instead."""

    def __init__(self, run_id: str | None = None) -> None:
        self.id = run_id or f"OfflineRun_{uuid.uuid4()}"

    def __repr__(self) -> str:
        return f"<OfflineRun {self.id}>"

    def _say(self, what: str, name: str, value: Any) -> None:
        print(f"Attempted to log {what} metric {name}:\n{value}")

    def log(self, name: str, value: Any, description: str = "", step: int | None = None) -> None:
        self._say("scalar", name, value)

    def log_list(self, name: str, value: Any, description: str = "") -> None:
        self._say("list", name, value)

    def log_row(self, name: str, description: str | None = None, **kwargs: Any) -> None:
        self._say("row", name, kwargs)

    def log_table(self, name: str, value: Any, description: str = "") -> None:
        self._say("table", name, value)

    def log_image(self, name: str, path: Any = None, plot: Any = None,
                  description: str = "") -> None:
        self._say("image", name, path if path is not None else plot)

    def log_confusion_matrix(self, name: str, value: Any, description: str = "") -> None:
        self._say("confusion_matrix", name, value)

    def log_accuracy_table(self, name: str, value: Any, description: str = "") -> None:
        self._say("accuracy_table", name, value)

    def log_predictions(self, name: str, value: Any, description: str = "") -> None:
        self._say("predictions", name, value)

    def log_residuals(self, name: str, value: Any, description: str = "") -> None:
        self._say("residuals", name, value)

    def tag(self, key: str, value: Any = None) -> None:
        print(f"Attempted to set tag {key}:\n{value}")

    def set_tags(self, tags: dict[str, Any]) -> None:
        print(f"Attempted to set tags:\n{tags}")

    def add_properties(self, properties: dict[str, Any]) -> None:
        print(f"Attempted to add properties:\n{properties}")

    def upload_file(self, name: str, path_or_stream: Any, **kwargs: Any) -> None:
        print(f"Attempted to upload file {name} from {path_or_stream}")

    def upload_files(self, names: list[str], paths: list[str], **kwargs: Any) -> None:
        print(f"Attempted to upload files {names}")

    def upload_folder(self, name: str, path: Any, **kwargs: Any) -> None:
        print(f"Attempted to upload folder {name} from {path}")

    def flush(self, timeout_seconds: float = 300) -> None:
        pass

    def complete(self, _set_status: bool = True) -> None:
        pass

    def cancel(self) -> None:
        pass

    def fail(self, error_details: Any = None, error_code: str | None = None,
             _set_status: bool = True) -> None:
        print(f"Attempted to fail the run: {error_details}")

    def child_run(self, name: str | None = None, run_id: str | None = None,
                  outputs: str | None = None) -> OfflineRun:
        return OfflineRun(f"{self.id}.{name or run_id or uuid.uuid4()}")

    def __enter__(self) -> OfflineRun:
        print(f"[START] Run {self.id} context")
        return self

    def __exit__(self, *exc: Any) -> None:
        print(f"[STOP] Run {self.id} context")
