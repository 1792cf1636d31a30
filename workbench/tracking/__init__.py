"""Experiment tracking behind a small protocol (MLflow and plain-disk backends).

Imports nothing else of the package. Stages build a logger; library code never logs.
"""

from workbench.tracking.loggers import DiskLogger, MLflowLogger, RunLogger, make_logger, tracked_run

__all__ = ["DiskLogger", "MLflowLogger", "RunLogger", "make_logger", "tracked_run"]
