"""Reference and hypothesis files for scoring (``workbench score``), read into matched pairs.

References: a manifest or any jsonl with ``id`` and ``text`` (optional ``language``, ``hotwords``,
``spans``). Hypotheses: jsonl with ``id`` and ``hypothesis`` (or ``text``), e.g. evaluate's
hypotheses.jsonl. Every reference id needs a hypothesis and vice versa. Errors name the file and
line (:class:`ScoreInputError`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from workbench.errors import InputError
from workbench.metrics.scorer import Reference


class ScoreInputError(InputError):
    """A reference or hypothesis file line that cannot be scored, or ids that do not match."""


def _records(path: Path) -> Iterator[tuple[int, dict]]:
    try:
        handle = open(path, encoding="utf-8")
    except OSError as error:
        raise ScoreInputError(f"{path}: cannot open: {error.strerror}") from None
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ScoreInputError(f"{path}:{number}: not valid JSON: {error.msg}") from None
            if not isinstance(record, dict) or not isinstance(record.get("id"), str):
                raise ScoreInputError(f"{path}:{number}: field 'id' is missing or not a string")
            yield number, record


def _texts(path: Path, fields: tuple[str, ...]) -> Iterator[tuple[int, dict, str]]:
    """(line, record, text) per record; the text is the first of ``fields`` present; ids unique."""
    seen: set[str] = set()
    for number, record in _records(path):
        text = next((record[f] for f in fields if f in record), None)
        if not isinstance(text, str):
            named = f"'{fields[0]}'" + (f" (or '{fields[1]}')" if len(fields) > 1 else "")
            raise ScoreInputError(f"{path}:{number}: field {named} is missing or not a string")
        if record["id"] in seen:
            raise ScoreInputError(f"{path}:{number}: field 'id' duplicates {record['id']!r}")
        seen.add(record["id"])
        yield number, record, text


def read_references(path: Path) -> dict[str, Reference]:
    refs: dict[str, Reference] = {}
    for _, record, text in _texts(path, ("text",)):
        spans = tuple((s["start"], s["end"]) for s in record.get("spans", []) or [])
        refs[record["id"]] = Reference(record["id"], text, record.get("language", "en"),
                                       tuple(record.get("hotwords", []) or []), spans)
    return refs


def read_hypotheses(path: Path) -> dict[str, str]:
    return {record["id"]: text for _, record, text in _texts(path, ("hypothesis", "text"))}


def read_pairs(ref_path: Path, hyp_path: Path) -> list[tuple[Reference, str]]:
    """(reference, hypothesis) in reference order; refuses ids without a partner, listing them."""
    refs, hyps = read_references(ref_path), read_hypotheses(hyp_path)
    missing_hyp = [i for i in refs if i not in hyps]
    missing_ref = [i for i in hyps if i not in refs]
    if missing_hyp or missing_ref:
        lines = []
        if missing_hyp:
            lines.append(f"{len(missing_hyp)} reference id(s) of {ref_path} have no hypothesis in {hyp_path}: "
                         f"{', '.join(missing_hyp[:20])}")
        if missing_ref:
            lines.append(f"{len(missing_ref)} hypothesis id(s) of {hyp_path} have no reference in {ref_path}: "
                         f"{', '.join(missing_ref[:20])}")
        raise ScoreInputError("ids do not match:\n  " + "\n  ".join(lines))
    return [(refs[i], hyps[i]) for i in refs]
