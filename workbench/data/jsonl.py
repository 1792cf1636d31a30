"""Plain jsonl records (hypotheses, N-best lists, per-utterance errors), written atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Iterator

from workbench.data.atomic import atomic_path


def read_jsonl(path: Path | str) -> Iterator[dict]:
    path = Path(path)
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path}:{number}: not valid JSON: {error.msg}") from None


def write_jsonl(path: Path | str, records: Iterable[dict]) -> int:
    count = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for count, record in enumerate(records, start=1):
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return count


def append_jsonl(handle, record: dict) -> None:
    """Append one record and flush, for resumable stages that skip ids already written."""
    handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    handle.flush()
