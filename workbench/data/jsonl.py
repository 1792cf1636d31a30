"""Plain jsonl records (hypotheses, N-best lists, per-utterance errors), written atomically."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from workbench.data.atomic import atomic_path
from workbench.data.manifest import ManifestError


def read_jsonl(path: Path | str) -> Iterator[dict]:
    """Records of a jsonl file; a line that is not JSON (a file cut off mid-line, say) is a
    ``ManifestError`` naming the file and line."""
    path = Path(path)
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as error:
                    raise ManifestError(path, number, None,
                                        f"is not valid JSON: {error.msg} (column {error.colno})") from None


def resume_jsonl(path: Path | str) -> list[dict]:
    """The records of a resumable ``.partial`` file that ``append_jsonl`` writes, for a rerun.

    A record is complete once its newline is written; a process killed inside ``append_jsonl``
    leaves a last line without one. That torn tail is cut off the file (so appends continue on
    a clean line) and the record is redone; a bad line before it is an error like any other.
    """
    path = Path(path)
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        with open(path, "r+b") as handle:
            handle.truncate(end)
    return list(read_jsonl(path))


def write_jsonl(path: Path | str, records: Iterable[dict]) -> int:
    count = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for count, record in enumerate(records, start=1):  # noqa: B007 (count is returned after the loop)
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return count


def append_jsonl(handle, record: dict) -> None:
    """Append one record and flush, for resumable stages that skip ids already written."""
    handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    handle.flush()
