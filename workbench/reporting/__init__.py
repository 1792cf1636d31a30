"""Comparison reports: MLflow runs -> the seeds' tables (Markdown, CSV) and plots (PNG)."""

from workbench.reporting.runs import RunRecord, RunStore
from workbench.reporting.studies import STUDIES, PlotData, StudyReport
from workbench.reporting.table import Column, Table, format_cell, percent_cell, read_json_or_none

__all__ = ["STUDIES", "Column", "PlotData", "RunRecord", "RunStore", "StudyReport", "Table", "format_cell",
           "percent_cell", "read_json_or_none"]
