"""Integrations: other tools' plugin interfaces, implemented over runner's API.

``mlflow_store`` is MLflow's tracking store and artifact repository for the
``runner:`` URI scheme (the ``mlflow`` extra; MLflow finds it through its
``mlflow.tracking_store`` and ``mlflow.artifact_repository`` entry points).

Modules here may import the API layer and below, and the tool they plug into
(at their top: only that tool imports them); nothing in runner imports them.
"""
