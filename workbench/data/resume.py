"""Where a training stage keeps its resume state: beside its output, never in it, one directory per
configuration.

``dvc repro`` deletes a stage's outputs before it runs the stage again, so checkpoints inside the
output directory are gone exactly when a killed run needs them. The four training stages
(``train_asr``, ``train_retriever``, ``sft_speechllm``, ``grpo_speechllm``) keep them in a sibling
directory that no stage declares as an output (``*.resume/`` is in .gitignore and .dvcignore)::

    results/cs_nmg/wce/cmn_eng/train              --out: the DVC output (adapter/, train.json)
    results/cs_nmg/wce/cmn_eng/train.resume/      resume_root(out)
        3f2a9c0d1e4b5a67/                         one configuration's state: its fingerprint
            fingerprint.json                      what the fingerprint covers, for people
            checkpoint.pt, dev_history.json       the trainer's files (GRPO: checkpoints/checkpoint-N/)

The fingerprint is a hash of everything that decides the run's result apart from the code:

- the stage's resolved configuration: its params.yaml section after ``--set`` overrides, and the
  experiment YAML's text where the stage has one;
- its inputs (the paths on the command line and the model paths of the configuration), each as
  given plus a cheap content identity: size and mtime (ns) of a file; of a directory, the relative
  path, size and mtime of every file in it, hashed. Nothing is read, so multi-GB encoder caches
  and frame stores cost a ``stat`` per file. Files a manifest refers to (audio) are covered
  through the manifest: the corpus stage rewrites it whenever it rebuilds them. Touching, copying
  or re-checking-out an input changes its mtime and so discards the resume state: the safe way
  to be wrong.

The code is not part of it. Whether a code change reruns the stage is DVC's business (the stages
depend on their packages in dvc.yaml); the resume state only decides where the rerun starts, and
a run killed by a bug resumes after the fix. If a change alters results mid-run, delete
``<out>.resume`` to start over.

A run resumes only the state of its own fingerprint; with another fingerprint it starts afresh in
a new directory. States of other fingerprints are kept (going back to those settings resumes
them), the ``KEEP_OTHERS`` most recently used, older ones are deleted. A run that completes writes
its outputs atomically into ``--out`` and then deletes its state (``ResumeState.finish``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from workbench.data.atomic import write_json_atomic

SUFFIX = ".resume"
RECORD = "fingerprint.json"
KEEP_OTHERS = 2  # resume states of other configurations kept beside the current one


def resume_root(out: Path | str) -> Path:
    """``<out>.resume``: the directory of every resume state of the output ``out``."""
    out = Path(out)
    return out.parent / f"{out.name}{SUFFIX}"


def input_identity(path: Path | str) -> dict:
    """Size and mtime of a file; for a directory, its file count, bytes and a hash of every file's
    (relative path, size, mtime); ``{"missing": True}`` for a path that does not exist."""
    path = Path(path)
    try:
        stat = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return {"missing": True}
    if not path.is_dir():
        return {"bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    listing, count, total = hashlib.sha256(), 0, 0
    for folder, directories, files in os.walk(path):
        directories.sort()
        for name in sorted(files):
            file = Path(folder, name)
            try:
                stat = file.stat()
            except FileNotFoundError:  # a dangling link
                continue
            listing.update(f"{file.relative_to(path).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
            count, total = count + 1, total + stat.st_size
    return {"files": count, "bytes": total, "listing_sha256": listing.hexdigest()[:16]}


def fingerprint(stage: str, config: Mapping, inputs: Iterable[Path | str | None]) -> tuple[str, dict]:
    """(16 hex digits, the record they hash) of a stage's resolved ``config`` (JSON-able) and
    ``inputs`` (``None`` entries, unused optional inputs, are skipped; duplicates count once)."""
    paths = list(dict.fromkeys(str(p) for p in inputs if p is not None))
    record = {"stage": stage, "config": config, "inputs": {p: input_identity(p) for p in paths}}
    text = json.dumps(record, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16], json.loads(text)


@dataclass(frozen=True)
class ResumeState:
    """One configuration's resume directory; the trainer keeps its checkpoints in ``directory``.
    ``fresh``: created by this call; ``kept``/``deleted``: other configurations' states left beside
    it or removed as older than the ``KEEP_OTHERS`` most recent (the runner reports them)."""

    directory: Path
    fingerprint: str
    fresh: bool = field(default=True, compare=False)
    kept: tuple[Path, ...] = field(default=(), compare=False)
    deleted: tuple[Path, ...] = field(default=(), compare=False)

    def finish(self) -> None:
        """The run is complete and its outputs are written: delete its state (and the root if
        no other configuration's state is left in it)."""
        shutil.rmtree(self.directory, ignore_errors=True)
        try:
            self.directory.parent.rmdir()
        except OSError:  # other states, or already gone
            pass


def _last_used(directory: Path) -> int:
    """The newest mtime of a state directory and its entries (0 if it is gone meanwhile)."""
    try:
        times = [directory.stat().st_mtime_ns]
        for entry in directory.iterdir():
            times.append(entry.stat().st_mtime_ns)
    except FileNotFoundError:  # deleted by another process of the same launch
        return 0
    return max(times)


def open_resume_state(out: Path | str, stage: str, config: Mapping, inputs: Iterable[Path | str | None],
                      main_process: bool = True) -> ResumeState:
    """The resume state of this configuration of ``stage`` writing ``out``: its directory is
    created (with ``fingerprint.json``) if new; states of other fingerprints beyond the
    ``KEEP_OTHERS`` most recently used are deleted. Under ``accelerate launch`` every process
    calls this (same inputs, same fingerprint); only the main one writes or deletes."""
    digest, record = fingerprint(stage, config, inputs)
    root = resume_root(out)
    state = ResumeState(root / digest, digest)
    if not main_process:
        return state
    others = []  # other configurations' states, most recently used first
    if root.is_dir():
        others = sorted((p for p in root.iterdir() if p.is_dir() and p.name != digest), key=_last_used, reverse=True)
    for stale in others[KEEP_OTHERS:]:
        shutil.rmtree(stale, ignore_errors=True)
    fresh = not (state.directory / RECORD).is_file()
    state.directory.mkdir(parents=True, exist_ok=True)
    if fresh:
        write_json_atomic(state.directory / RECORD, {"fingerprint": digest, **record})
    return ResumeState(state.directory, digest, fresh, tuple(others[:KEEP_OTHERS]), tuple(others[KEEP_OTHERS:]))
