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


def add_speech_training_arguments(parser: argparse.ArgumentParser) -> None:
    """The training data of the speech-LLM stages (sft_speechllm, grpo_speechllm)."""
    from pathlib import Path

    parser.add_argument("--manifest", type=Path, nargs="+", required=True,
                        help="training manifests (jsonl); max_train_utterances limits the first one")
    parser.add_argument("--vocabulary", type=Path, nargs="+", required=True, help="hotword lists the distractors come from")
    parser.add_argument("--exclude", type=Path, nargs="*", default=[],
                        help="manifests whose hotwords must not occur in training (the evaluation sets)")
    parser.add_argument("--frames", type=Path, required=True, help="retrieval_frames store holding every training manifest")
