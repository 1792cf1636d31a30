"""``workbench <stage> ...``: every DVC stage is also a plain command on any manifest."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys

STAGES = (
    "assets", "corpus", "librivox", "evaluate", "nbest", "nearmiss", "encode", "train_asr", "eval_asr", "report_cs_nmg",
    "rada", "retrieval_frames", "train_retriever", "eval_retrieval", "report_retrieval", "score", "table",
    "sft_speechllm", "grpo_speechllm", "eval_contextual", "s1s2_replay", "regress", "convert", "report",
)


def params_epilog(module) -> str | None:
    """List the stage's params.yaml keys with their defaults and comments, for --help."""
    config = getattr(module, "CONFIG", None)
    if config is None:
        return None
    cls, section = config
    lines = [f"params.yaml section '{section}' (defaults shown; override with --set KEY=VALUE):"]
    for field in dataclasses.fields(cls):
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        if dataclasses.is_dataclass(default):
            for sub in dataclasses.fields(default):
                lines.append(f"  {field.name}.{sub.name} = {getattr(default, sub.name)!r}")
        else:
            lines.append(f"  {field.name} = {default!r}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="Contextual ASR Workbench: offline stages for contextual biasing and code-switching ASR. "
        "Each stage reads its section of params.yaml (override with --set key=value) and takes every path "
        "from the command line; `dvc repro` runs them in order (see dvc.yaml).",
    )
    commands = parser.add_subparsers(dest="command", metavar="<stage>", required=True)
    for name in STAGES:
        module = importlib.import_module(f"workbench.stages.{name}")
        sub = commands.add_parser(name, help=module.HELP, description=module.__doc__,
                                  epilog=params_epilog(module), formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    from workbench.config import ConfigError
    from workbench.data import AudioError, ManifestError
    from workbench.data.atomic import NO_ROOM
    from workbench.reporting.runs import TrackingStoreError
    from workbench.retrieval.vocabulary import VocabularyError
    from workbench.training.trainer import CheckpointError

    args = build_parser().parse_args(argv)
    try:
        args._run(args)
    except (ManifestError, ConfigError, AudioError, VocabularyError, CheckpointError, TrackingStoreError,
            FileNotFoundError) as error:
        # bad input: say what and where, without a traceback (MLflow runs already ended FAILED)
        print(f"workbench {args.command}: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        if error.errno not in NO_ROOM:
            raise
        # a full disk or file-size limit: the output is not half written (atomic writes), say which
        print(f"workbench {args.command}: cannot write {error.filename or 'an output'}: {error.strerror}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
