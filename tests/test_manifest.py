import json

import pytest

from workbench.data import ManifestError, Span, Utterance, read_manifest, write_manifest
from workbench.data.dataset import ManifestDataset
from workbench.testing.dummies import record, write_lines, write_tone


@pytest.fixture
def audio_dir(tmp_path):
    write_tone(tmp_path / "a.wav")
    write_tone(tmp_path / "b.wav")
    return tmp_path


def read_error(path) -> ManifestError:
    with pytest.raises(ManifestError) as caught:
        read_manifest(path)
    return caught.value


def test_valid_manifest_round_trips(audio_dir):
    utts = [
        Utterance("u1", "a.wav", 0.5, "我们开meeting", "zh", "train", hotwords=("meeting",),
                  spans=(Span(3, 10, "en"),)),
        Utterance("u2", "b.wav", 0.5, "hello", "en", "test", speaker="s1", custom={"k": 1}),
    ]
    path = audio_dir / "m.jsonl"
    assert write_manifest(path, utts) == 2
    assert read_manifest(path) == utts
    dataset = ManifestDataset(path)
    assert len(dataset) == 2 and dataset[0]["audio"].shape[0] == 8000


@pytest.mark.parametrize(
    ("line", "field", "problem"),
    [
        (record(text=None), "text", "is missing"),
        (record(text="   "), "text", "is empty"),
        (record(audio="missing.wav"), "audio", "file not found"),
        (record(language="xx"), "language", "unknown language"),
        (record(duration=-1), "duration", "positive"),
        (record(split="validation"), "split", "must be one of"),
        (record(colour="red"), "colour", "is not a manifest field"),
        (record(spans=[{"start": 0, "end": 99, "language": "en"}]), "spans", "outside the text"),
    ],
)
def test_bad_field_names_file_line_and_field(audio_dir, line, field, problem):
    path = write_lines(audio_dir / "m.jsonl", [record("ok"), line])
    error = read_error(path)
    assert (error.path, error.line, error.field) == (str(path), 2, field)
    assert problem in str(error) and f"{path}:2" in str(error) and field in str(error)


def test_wrong_sample_rate(audio_dir):
    write_tone(audio_dir / "c.wav", rate=22050)
    error = read_error(write_lines(audio_dir / "m.jsonl", [record(audio="c.wav")]))
    assert error.line == 1 and error.field == "audio" and "22050 Hz" in str(error)


def test_stereo_audio(audio_dir):
    write_tone(audio_dir / "s.wav", channels=2)
    error = read_error(write_lines(audio_dir / "m.jsonl", [record(audio="s.wav")]))
    assert error.field == "audio" and "mono" in str(error)


def test_duplicate_id(audio_dir):
    error = read_error(write_lines(audio_dir / "m.jsonl", [record("x"), record("y", "b.wav"), record("x")]))
    assert error.line == 3 and error.field == "id" and "first on line 1" in str(error)


def test_non_utf8_line(audio_dir):
    bad = json.dumps(record("z")).replace("hello", "caf\\u00e9").encode().replace(b"caf\\u00e9", b"caf\xe9")
    error = read_error(write_lines(audio_dir / "m.jsonl", [record("ok"), bad]))
    assert error.line == 2 and "UTF-8" in str(error)


def test_invalid_json(audio_dir):
    error = read_error(write_lines(audio_dir / "m.jsonl", ['{"id": "a",']))
    assert error.line == 1 and "JSON" in str(error)


def test_missing_manifest(tmp_path):
    assert "not found" in str(read_error(tmp_path / "nope.jsonl"))


def test_write_rejects_bad_record_and_keeps_old_file(audio_dir):
    path = audio_dir / "m.jsonl"
    good = Utterance("u1", "a.wav", 0.5, "hello", "en", "test")
    write_manifest(path, [good])
    before = path.read_bytes()
    with pytest.raises(ManifestError):
        write_manifest(path, [good, Utterance("u2", "a.wav", 0.5, "", "en", "test")])
    assert path.read_bytes() == before
    assert [p.name for p in audio_dir.iterdir() if p.name.endswith(".tmp")] == []
