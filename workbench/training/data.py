"""Training items for Whisper fine-tuning: reference, POI spans, near-miss negatives, N-best.

An item joins three files by utterance id: the manifest (audio, reference), the near-miss pool
of the ``nearmiss`` stage (POI spans for WCE, negatives for InfoNCE, re-selected per experiment)
and the N-best of the ``nbest`` stage (hypotheses for MWER). A missing id is an error naming the
file: silently training on fewer utterances would make rows of a table incomparable.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from workbench.data import ManifestError, Utterance
from workbench.data.jsonl import read_jsonl
from workbench.errors import MissingInputError
from workbench.nearmiss.gate import TABLE3_GATES, GateConfig
from workbench.nearmiss.pool import negatives_from_record
from workbench.training.experiment import ExperimentConfig


@dataclass(frozen=True)
class TrainingItem:
    id: str
    language: str
    reference: str  # tag-free reference, as in the pool
    poi_spans: tuple[tuple[int, int], ...]  # character spans of the POIs (WCE's up-weighted tokens)
    negatives: tuple[str, ...]  # near-miss transcripts (InfoNCE)
    nbest: tuple[str, ...]  # N-best hypothesis texts (MWER)


def _records_by_id(path: Path, what: str, required: Sequence[str]) -> dict[str, dict]:
    if not path.is_file():
        raise MissingInputError(path, f"{what} file")
    records = {}
    for line, record in enumerate(read_jsonl(path), start=1):
        for key in required:
            if key not in record:
                raise ManifestError(path, line, key, f"missing (a {what} record needs {list(required)})")
        records[record["id"]] = record
    return records


def build_items(
    utterances: Sequence[Utterance],
    pool_path: Path,
    nbest_path: Path | None,
    experiment: ExperimentConfig,
    gate: GateConfig,
) -> list[TrainingItem]:
    pool = _records_by_id(pool_path, "near-miss pool", ("id", "reference", "pois", "negatives"))
    nbest = _records_by_id(nbest_path, "N-best", ("id", "hyps")) if nbest_path is not None else {}
    levels = TABLE3_GATES[experiment.negatives.gate]
    items = []
    for utt in utterances:
        record = pool.get(utt.id)
        if record is None:
            raise ManifestError(pool_path, None, None, f"no pool record for utterance {utt.id!r}")
        if experiment.uses_nbest and utt.id not in nbest:
            raise ManifestError(nbest_path, None, None, f"no N-best list for utterance {utt.id!r}")
        negatives = (
            negatives_from_record(record, gate, levels, experiment.negatives.sources, experiment.negatives.count)
            if experiment.uses_negatives else []
        )
        items.append(TrainingItem(
            utt.id, utt.language, record["reference"], tuple((p["start"], p["end"]) for p in record["pois"]),
            tuple(negatives), tuple(h["text"] for h in nbest.get(utt.id, {}).get("hyps", [])),
        ))
    return items


def epoch_batches(items: Sequence[TrainingItem], batch_size: int, seed: int, epoch: int) -> list[list[TrainingItem]]:
    """The batches of one epoch: a shuffle that depends only on (seed, epoch), so a resumed run
    sees exactly the batches the interrupted one would have."""
    order = list(range(len(items)))
    random.Random(seed * 1_000_003 + epoch).shuffle(order)
    return [[items[i] for i in order[start : start + batch_size]] for start in range(0, len(order), batch_size)]
