"""Arguments every stage shares: the params file and ``--set key=value`` overrides."""

from __future__ import annotations

import argparse
import logging
import os
from typing import TypeVar

from workbench.config import load_config, parse_overrides

T = TypeVar("T")


def add_params_arguments(parser: argparse.ArgumentParser, section: str) -> None:
    parser.add_argument(
        "--params", default="params.yaml",
        help=f"params file whose '{section}' section configures this stage (default: params.yaml; "
        "missing file: built-in defaults)",
    )
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help=f"override a '{section}' parameter, e.g. --set batch_size=4 (repeatable; values are YAML)",
    )


def stage_config(cls: type[T], args: argparse.Namespace, section: str) -> T:
    return load_config(cls, args.params, section, parse_overrides(args.overrides))


def set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def configure_logging() -> logging.Logger:
    logging.basicConfig(level=os.environ.get("WORKBENCH_LOG", "INFO"), format="%(asctime)s %(name)s %(message)s")
    return logging.getLogger("workbench")


def read_json_or_none(path) -> dict | None:
    """A results file, or None when the run that writes it has not been done (a gap in a table)."""
    import json

    try:
        return json.loads(open(path, encoding="utf-8").read())
    except (OSError, ValueError):
        return None


def percent_cell(value, digits: int = 2) -> str:
    """A rate as a percentage table cell; a missing value is a gap ("–"), never a zero."""
    import math

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{100 * value:.{digits}f}"
