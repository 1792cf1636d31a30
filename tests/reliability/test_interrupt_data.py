"""kill -9 data stages mid-run: nothing half written survives at the output path (only marked
temporaries, or complete records in the stage's resume state), and the rerun completes with the
uninterrupted run's output, byte for byte."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from workbench.data.resume import resume_root
from workbench.runner import PARTIAL_RECORDS

from .conftest import complete_lines, in_process, kill_at, seeded_step, tree

pytestmark = pytest.mark.reliability

REPO = Path(__file__).resolve().parents[2]


# --- corpus: espeak-ng speaks a tiny text dir into one atomically renamed directory ---

@pytest.fixture(scope="module")
def text_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("text")
    for pair in ("en_entities", "vie_eng"):
        lines = (REPO / "data_manifests" / "default" / f"{pair}.txt").read_text(encoding="utf-8").splitlines()[:6]
        (directory / f"{pair}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


def corpus_argv(text_dir: Path, out: Path) -> list[str]:
    return ["corpus", "--text-dir", str(text_dir), "--out", str(out), "--set", "pairs=[en_entities, vie_eng]",
            "--set", "english_engine=espeak:en-us", "--set", "vietnamese_engine=espeak:vi:120",
            "--set", "sizes.test=2", "--set", "sizes.dev=2", "--set", "sizes.train=2"]


def test_killed_corpus_leaves_no_half_output_and_reruns_to_the_same_corpus(text_dir, fault, tmp_path):
    reference = tmp_path / "uninterrupted" / "corpus"
    code, err = in_process(corpus_argv(text_dir, reference))
    assert code == 0, err
    out = tmp_path / "killed" / "corpus"
    wavs = len(list(reference.rglob("*.wav")))  # 12: 2 pairs x 6 sentences

    def written() -> int | None:  # wav files the killed run has put into its temporary directory
        return sum(1 for _ in out.parent.glob(".corpus.*.tmp/*/wav/*.wav")) if out.parent.exists() else None

    target = seeded_step("corpus", 1, wavs - 1)
    reached = kill_at(corpus_argv(text_dir, out), tmp_path / "killed.log", written, target)
    fault.inject("kill -9 (data stage)", f"corpus (espeak-ng) after {reached} of {wavs} clips (seeded {target})")
    leftovers = sorted(p.name for p in out.parent.iterdir())
    assert len(leftovers) == 1 and leftovers[0].startswith(".corpus.w") and leftovers[0].endswith(".tmp")  # marked
    fault.lost([out] if out.exists() else [])  # no corpus, rather than a half corpus

    code, err = in_process(corpus_argv(text_dir, out))
    assert code == 0, err
    assert tree(out) == tree(reference)
    assert sorted(p.name for p in out.parent.iterdir()) == ["corpus"]  # the killed run's leftover swept
    fault.recovered()


# --- nbest: finished utterances are appended to <out>.resume/<fingerprint>/records.partial.jsonl;
# the rerun with the same settings skips them ---

def nbest_argv(workspace, out: Path) -> list[str]:
    return ["nbest", "--manifest", str(workspace.train), "--out", str(out), "--set", f"model={workspace.whisper}",
            "--set", "beam_size=2", "--set", "n_best=2", "--set", "batch_size=1", "--set", "max_tokens_per_second=2"]


@pytest.fixture(scope="module")
def nbest_reference(workspace, tmp_path_factory) -> bytes:
    out = tmp_path_factory.mktemp("nbest-uninterrupted") / "nbest.jsonl"
    code, err = in_process(nbest_argv(workspace, out))
    assert code == 0, err
    return out.read_bytes()


@pytest.fixture(scope="module")
def nbest_killed(workspace, tmp_path_factory) -> tuple[Path, int, int]:
    out = tmp_path_factory.mktemp("nbest-killed") / "nbest.jsonl"
    target = seeded_step("nbest", 1, 6)  # of 8 utterances
    reached = kill_at(nbest_argv(workspace, out), out.parent / "killed.log", record_count(out), target)
    return out, target, reached


def partial_records(out: Path) -> Path | None:
    """The records file of the one resume state of ``out`` (None before the run made it)."""
    found = sorted(resume_root(out).glob(f"*/{PARTIAL_RECORDS}"))
    assert len(found) <= 1, f"records of several configurations: {found}"
    return found[0] if found else None


def record_count(out: Path):
    """Complete records in the resume state of ``out``, for ``kill_at``."""
    def progress() -> int | None:
        path = partial_records(out)
        return complete_lines(path)() if path is not None else None
    return progress


def _copy(killed: Path, tmp_path: Path) -> Path:
    shutil.copytree(killed.parent, tmp_path / "run")
    return tmp_path / "run" / killed.name


def test_killed_nbest_resumes_from_its_partial_records(workspace, nbest_killed, nbest_reference, fault, tmp_path,
                                                       caplog):
    killed, target, reached = nbest_killed
    fault.inject("kill -9 (data stage)", f"nbest after {reached} of 8 utterances (seeded {target})")
    out = _copy(killed, tmp_path)
    partial = partial_records(out)
    records = partial.read_bytes().split(b"\n")
    # complete records only
    assert all(json.loads(line)["hyps"] for line in records[:-1]) and len(records) - 1 == reached
    fault.lost([out] if out.exists() else [])

    caplog.set_level(logging.INFO, logger="workbench")
    code, err = in_process(nbest_argv(workspace, out))
    assert code == 0, err
    assert f"resuming, {reached} records already done" in caplog.text  # the finished utterances are not decoded again
    assert out.read_bytes() == nbest_reference and not partial.exists() and not resume_root(out).exists()
    fault.recovered()


def test_record_torn_by_a_kill_mid_append_is_redone(workspace, nbest_killed, nbest_reference, fault, tmp_path):
    """A kill inside ``append_jsonl`` leaves half a record without its newline at the end of the
    resume state's records; the rerun drops it and decodes that utterance again."""
    killed, _, reached = nbest_killed
    out = _copy(killed, tmp_path)
    partial = partial_records(out)
    done = {json.loads(line)["id"] for line in partial.read_text().splitlines()}
    ids = (json.loads(line)["id"] for line in workspace.train.read_text().splitlines())
    torn = next(u for u in ids if u not in done)
    with open(partial, "ab") as handle:
        handle.write(json.dumps({"id": torn, "language": "zh", "hyps": [{"text": "cut"}]}).encode()[:25])
    fault.inject("torn write", f"nbest records cut inside record {reached + 1} (kill mid-append)")

    code, err = in_process(nbest_argv(workspace, out))
    assert code == 0, err
    assert out.read_bytes() == nbest_reference and not partial.exists() and not resume_root(out).exists()
    fault.recovered()


# --- rada: decided words and their clips kept in <out>.resume/<fingerprint>/ (records.partial.jsonl,
# clips/), outside the outputs; the clips move into <out>/clips when the run finishes ---

def rada_argv(workspace, vocabulary: Path, out: Path) -> list[str]:
    return ["rada", "--vocabulary", str(vocabulary), "--out", str(out), "--set", f"model={workspace.whisper}",
            "--set", "engine=espeak:en-us", "--set", "batch_size=2", *workspace.tracking]


RADA_OUTS = ("kept.txt", "dropped.txt", "decisions.jsonl", "clips", "rada.json")  # dvc.yaml's outs of the stage


def rada_decided(out: Path):
    """Words decided so far: complete records in the run's resume state."""
    def progress() -> int | None:
        found = list(out.parent.glob(f"{out.name}.resume/*/records.partial.jsonl"))
        return complete_lines(found[0])() if found else None
    return progress


def test_killed_rada_resumes_after_dvc_removed_its_outputs(workspace, fault, tmp_path):
    """`dvc repro` deletes a stage's outputs (clips/ among them) before running it again; the
    decided words and their clips survive in the resume state beside the output, and a word whose
    clip is gone is decided again (with the rest of its batch)."""
    vocabulary = tmp_path / "words.txt"
    vocabulary.write_text("".join(w + "\n" for w in ("Xarelto", "Ozempic", "Wegovy", "Spiriva", "Totoro", "Ponyo",
                                                       "Lipitor", "Crestor", "Eliquis", "Jardiance")))
    reference = tmp_path / "uninterrupted"
    code, err = in_process(rada_argv(workspace, vocabulary, reference))
    assert code == 0, err
    out = tmp_path / "killed"
    target = seeded_step("rada", 2, 8)  # of 10 words, decided 2 a batch
    reached = kill_at(rada_argv(workspace, vocabulary, out), tmp_path / "killed.log", rada_decided(out), target)
    fault.inject("kill -9 (data stage)",
                 f"rada after {reached} of 10 words (seeded {target}), then dvc's output removal")
    fault.lost([out / name for name in ("kept.txt", "dropped.txt", "decisions.jsonl", "rada.json")
                if (out / name).exists()])
    for name in RADA_OUTS:  # what `dvc repro` does before it runs the command again
        shutil.rmtree(out / name) if (out / name).is_dir() else (out / name).unlink(missing_ok=True)
    first = json.loads(next(out.parent.glob("killed.resume/*/records.partial.jsonl")).read_text().splitlines()[0])
    (staged,) = out.parent.glob(f"killed.resume/*/clips/{first['clips'][0]['audio']}")
    staged.unlink()  # a decided word whose clip is gone

    code, err = in_process(rada_argv(workspace, vocabulary, out))
    assert code == 0, err

    def result(directory: Path) -> dict:
        files = tree(directory, lambda p: p.name == "rada.json")
        summary = json.loads((directory / "rada.json").read_text())
        return {**files, "rada.json": {k: v for k, v in summary.items() if k != "timings"}}

    assert result(out) == result(reference)
    # of 2-word batches, only the complete ones but the first (whose clip is gone) are resumed: a
    # batch with a word to decide is decided whole, as the uninterrupted run decided it
    assert json.loads((out / "rada.json").read_text())["timings"]["words_resumed"] == (reached // 2 - 1) * 2
    assert not (tmp_path / "killed.resume").exists()
    fault.recovered()
