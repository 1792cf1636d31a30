"""The one stage runner: what every ``workbench <stage>`` does around its library call.

A stage file declares a :class:`Stage` (name, help, config class and params section, arguments)
and a ``run(context)`` that calls one library function and writes its outputs. The runner does
the rest, the same way for every stage:

- the params.yaml section plus ``--set`` overrides, as the stage's frozen config;
- torch threads (``config.threads``) and the console log (``WORKBENCH_LOG`` sets the level);
- the tracked run (``context.tracked``): resolved config logged first, tags, FAILED on error;
- resume state guarded by a settings fingerprint (``context.resume`` for trainers,
  ``context.records`` for data stages appending finished records): a rerun with other settings
  or inputs starts fresh, the same settings continue;
- progress bars (``context.progress``) drawn here, never in library code;
- atomic outputs (``workbench.data.atomic``) and artifact logging (``context.publish``).

Errors: bad input raises a ``WorkbenchError`` anywhere below; the CLI prints it on one line and
exits 2. A missing input path becomes a ``MissingInputError`` here.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.config import config_to_dict, load_config, parse_overrides
from workbench.data.atomic import write_json_atomic
from workbench.data.jsonl import append_jsonl, resume_jsonl, write_jsonl
from workbench.data.resume import ResumeState, open_resume_state
from workbench.errors import MissingInputError

PARTIAL_RECORDS = "records.partial.jsonl"


@dataclass(frozen=True)
class Stage:
    """One ``workbench <name>`` command: a declaration the CLI and the runner read."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[StageContext], Any]
    config: type | None = None  # frozen dataclass read from params.yaml section ``section``
    section: str | None = None  # default: the stage's name
    description: str | None = None  # --help text above the arguments (the stage module's docstring)

    @property
    def params_section(self) -> str:
        return self.section or self.name

    def build_parser(self, parser: argparse.ArgumentParser) -> None:
        self.add_arguments(parser)
        if self.config is not None:
            add_params_arguments(parser, self.params_section)

    def __call__(self, args: argparse.Namespace) -> Any:
        config = None
        if self.config is not None:
            config = load_config(self.config, args.params, self.params_section, parse_overrides(args.overrides))
        context = StageContext(self, args, config)
        threads = getattr(config, "threads", None)
        if threads:
            import torch

            torch.set_num_threads(threads)
        try:
            return self.run(context)
        except FileNotFoundError as error:
            if isinstance(error, MissingInputError) or error.filename is None:
                raise
            raise MissingInputError(error.filename, "file") from None


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


def console_log() -> logging.Logger:
    logging.basicConfig(level=os.environ.get("WORKBENCH_LOG", "INFO"), format="%(asctime)s %(name)s %(message)s")
    return logging.getLogger("workbench")


class RecordLog:
    """Finished records of a resumable data stage, appended one per line as they are done, in the
    stage's resume state (so a rerun with other settings never mixes its records with these).

    ``done`` maps each finished key to its record; a record torn by a kill is cut off and redone.
    ``finish`` writes the records in the given order atomically to the output and deletes the state.
    """

    def __init__(self, state: ResumeState, key: str = "id"):
        self.state, self.key = state, key
        self.path = state.directory / PARTIAL_RECORDS
        records = resume_jsonl(self.path) if self.path.exists() else []
        self.done: dict[str, dict] = {record[key]: record for record in records}
        self._handle = None

    def append(self, record: dict) -> None:
        if self._handle is None:
            self._handle = open(self.path, "a", encoding="utf-8")
        append_jsonl(self._handle, record)
        self.done[record[self.key]] = record

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def finish(self, out: Path, order: Iterable[str]) -> int:
        """Write the records of ``order`` to ``out`` (atomically) and delete the resume state."""
        self.close()
        order = list(order)
        missing = [key for key in order if key not in self.done]
        if missing:
            raise RuntimeError(f"{len(missing)} records missing from {self.path}: {missing[:5]}")
        count = write_jsonl(out, (self.done[key] for key in order))
        self.state.finish()
        return count


class TrainingProgress:
    """``progress(done, total)`` and ``resumed(step)`` for a training loop's callbacks."""

    def __init__(self, bar, log: logging.Logger | None, where: Path):
        self.bar, self.log, self.where = bar, log, where

    def progress(self, done: int, total: int) -> None:
        if self.bar is not None:
            self.bar.total = total
            self.bar.update(done - self.bar.n)

    def resumed(self, step: int, where: Path | None = None) -> None:
        if self.log is not None:
            total = self.bar.total if self.bar is not None else None
            self.log.info("resuming from step %d of %s (%s)", step, total, where or self.where)


class StageContext:
    """What a stage's ``run`` gets: its arguments, its config, and the runner's services."""

    def __init__(self, stage: Stage, args: argparse.Namespace, config: Any):
        self.stage, self.args, self.config = stage, args, config
        self.log = console_log()
        self.logger = None  # the tracked run's logger, inside ``tracked``

    def settings(self) -> dict:
        """The resolved config as a dict (logged first, and fingerprinted for resume)."""
        return {self.stage.params_section: config_to_dict(self.config)} if self.config is not None else {}

    @contextlib.contextmanager
    def tracked(self, run_name: str, tags: Mapping[str, str] | None = None, params: Mapping | None = None,
                main_process: bool = True) -> Iterator[Any]:
        """A tracking run named ``run_name`` under ``config.tracking`` (MLflow by default), tagged
        with the stage's name and ``tags``; the resolved config and ``params`` are logged first,
        and the run ends FAILED if the body raises."""
        from workbench.tracking import make_logger, tracked_run

        tracking = self.config.tracking
        logger = make_logger(tracking.backend, tracking.experiment, run_name, tracking.uri,
                             tags={"stage": self.stage.name, **(tags or {})}, main_process=main_process)
        with tracked_run(logger, {**self.settings(), **(params or {})}) as run:
            self.logger = run
            try:
                yield run
            finally:
                self.logger = None

    def resume(self, out: Path, inputs: Iterable[Path | str | None], extra: Mapping | None = None,
               main_process: bool = True) -> ResumeState:
        """The resume state of this stage's settings (config + ``extra``) and ``inputs`` for ``out``."""
        state = open_resume_state(out, self.stage.name, {**self.settings(), **(extra or {})}, inputs, main_process)
        if main_process:
            for stale in state.deleted:
                self.log.info("%s: deleted the resume state of older settings %s", self.stage.name, stale)
            if state.kept:
                self.log.info("%s: resume states of other settings kept (delete them to free space): %s",
                              self.stage.name, ", ".join(map(str, state.kept)))
            self.log.info("%s: resume state %s (%s)", self.stage.name, state.directory,
                          "new" if state.fresh else "existing")
        return state

    def records(self, out: Path, inputs: Iterable[Path | str | None], extra: Mapping | None = None,
                key: str = "id") -> RecordLog:
        """The finished records of an interrupted run with the same settings and inputs (none if new)."""
        records = RecordLog(self.resume(out, inputs, extra), key)
        if records.done:
            self.log.info("%s: resuming, %d records already done (%s)", self.stage.name, len(records.done),
                          records.path)
        return records

    def progress(self, total: int | None, desc: str, unit: str = "utt", initial: int = 0):
        """A progress bar with rate and estimated time left (tqdm), on stderr."""
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=unit, initial=initial, dynamic_ncols=True)

    @contextlib.contextmanager
    def training_progress(self, desc: str, where: Path, total: int | None = None,
                          main_process: bool = True) -> Iterator[TrainingProgress]:
        """The callbacks a training loop reports through: a bar in optimizer steps and the
        "resuming from step N of M" line (processes other than the main one report nothing)."""
        if not main_process:
            yield TrainingProgress(None, None, where)
            return
        with self.progress(total, desc, "step") as bar:
            yield TrainingProgress(bar, self.log, where)

    def write_json(self, path: Path, payload: object, publish: bool = True) -> None:
        """Write ``payload`` atomically and log it as an artifact of the tracked run."""
        write_json_atomic(path, payload)
        if publish:
            self.publish(path)

    def publish(self, *paths: Path, folder: str | None = None) -> None:
        """Log outputs as artifacts of the tracked run (no-op outside one)."""
        if self.logger is not None:
            for path in paths:
                self.logger.log_artifact(path, folder) if folder else self.logger.log_artifact(path)


def stage_fields(config_class: type) -> list[str]:
    """``section.key = default`` lines of a config class, for --help."""
    lines = []
    for field in dataclasses.fields(config_class):
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        if dataclasses.is_dataclass(default):
            lines += [f"  {field.name}.{sub.name} = {getattr(default, sub.name)!r}"
                      for sub in dataclasses.fields(default)]
        else:
            lines.append(f"  {field.name} = {default!r}")
    return lines
