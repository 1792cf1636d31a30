"""``workbench <stage> ...``: every DVC stage is also a plain command on any manifest."""

from __future__ import annotations

import argparse
import importlib
import sys

STAGES = (
    "assets", "corpus", "librivox", "evaluate", "nbest", "nearmiss", "encode", "train_asr", "eval_asr", "report_cs_nmg",
    "rada", "pronunciations", "train_retriever", "eval_retrieval", "retrieval_scale", "report_retrieval", "score",
    "compare", "table", "sft_speechllm", "grpo_speechllm", "eval_contextual", "s1s2_replay", "regress", "convert",
    "report",
)


def params_epilog(stage) -> str | None:
    """The stage's params.yaml keys with their defaults, for --help."""
    from workbench.runner import stage_fields

    if stage.config is None:
        return None
    header = f"params.yaml section '{stage.params_section}' (defaults shown; override with --set KEY=VALUE):"
    return "\n".join([header, *stage_fields(stage.config)])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="Contextual ASR Workbench: offline stages for contextual biasing and code-switching ASR. "
        "Each stage reads its section of params.yaml (override with --set key=value) and takes every path "
        "from the command line; `dvc repro` runs them in order (see dvc.yaml).",
    )
    commands = parser.add_subparsers(dest="command", metavar="<stage>", required=True)
    for name in STAGES:
        stage = importlib.import_module(f"workbench.stages.{name}").STAGE
        sub = commands.add_parser(name, help=stage.help, description=stage.description, epilog=params_epilog(stage),
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        stage.build_parser(sub)
        sub.set_defaults(_run=stage)
    return parser


def main(argv: list[str] | None = None) -> int:
    from workbench.data.atomic import NO_ROOM
    from workbench.errors import WorkbenchError

    args = build_parser().parse_args(argv)
    try:
        result = args._run(args)
    except WorkbenchError as error:
        # bad input: say what and where, without a traceback (MLflow runs already ended FAILED)
        print(f"workbench {args.command}: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        if error.errno not in NO_ROOM:
            raise
        # a full disk or file-size limit: the output is not half written (atomic writes), say which
        print(f"workbench {args.command}: cannot write {error.filename or 'an output'}: {error.strerror}",
              file=sys.stderr)
        return 1
    # a stage may report an outcome (regress: 1 = worse)
    return result if isinstance(result, int) and not isinstance(result, bool) else 0


if __name__ == "__main__":
    sys.exit(main())
