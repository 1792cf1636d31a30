"""Corpus converters (issue 10 part): Kaldi data dirs and CS-FLEURS subsets, each on a tiny
fixture built here in the native layout."""

from __future__ import annotations

import json
import re

import pytest
import soundfile

from workbench.cli import main
from workbench.data import ManifestError, read_manifest
from workbench.testing.dummies import write_tone


def test_kaldi_dir_converts_and_resamples(tmp_path):
    data = tmp_path / "kaldi" / "test"
    write_tone(data / "wav" / "a.wav", seconds=0.5)
    write_tone(data / "wav" / "b.wav", seconds=1.0, rate=8000, channels=2)  # telephone-rate stereo
    (data / "wav.scp").write_text(f"utt-b wav/b.wav\nutt-a {data / 'wav' / 'a.wav'}\n")
    (data / "text").write_text("utt-a hello world\nutt-b take Xarelto daily\n")
    (data / "utt2spk").write_text("utt-a spk1\nutt-b spk2\n")
    out = tmp_path / "manifests" / "test.jsonl"
    assert main(["convert", "kaldi", "--source", str(data), "--out", str(out), "--language", "en"]) == 0
    utterances = {u.id: u for u in read_manifest(out)}
    assert set(utterances) == {"utt-a", "utt-b"}
    assert utterances["utt-b"].text == "take Xarelto daily" and utterances["utt-b"].speaker == "spk2"
    assert utterances["utt-b"].duration == pytest.approx(1.0, abs=0.01)
    converted = out.parent / utterances["utt-b"].audio
    info = soundfile.info(str(converted))
    assert (info.samplerate, info.channels) == (16000, 1) and converted.parent.name == "audio"
    assert utterances["utt-a"].audio_path(out.parent).resolve() == (data / "wav" / "a.wav").resolve()  # already 16 kHz mono


def test_kaldi_errors_name_file_and_line(tmp_path, capsys):
    data = tmp_path / "d"
    write_tone(data / "a.wav")
    (data / "wav.scp").write_text("utt-a sox a.wav -t wav - |\n")
    (data / "text").write_text("utt-a hello\n")
    with pytest.raises(ManifestError, match=r"wav.scp:1: field 'utt-a' piped"):
        list(__import__("workbench.corpus.converters", fromlist=["kaldi"]).kaldi(data, tmp_path, "en", "test"))
    (data / "wav.scp").write_text("utt-a a.wav\n")
    (data / "text").write_text("utt-a hello\nutt-z missing audio\n")
    assert main(["convert", "kaldi", "--source", str(data), "--out", str(tmp_path / "m.jsonl"), "--language", "en"]) == 2
    assert re.search(r"text:2: field 'utt-z' no audio", capsys.readouterr().err)
    (data / "text").write_text("utt-a hello\nutt-a again\n")
    assert main(["convert", "kaldi", "--source", str(data), "--out", str(tmp_path / "m.jsonl"), "--language", "en"]) == 2
    assert re.search(r"text:2: .* duplicate utterance id \(first on line 1\)", capsys.readouterr().err)
    assert not (tmp_path / "m.jsonl").exists()  # nothing half-written


def test_cs_fleurs_subsets_convert_separately(tmp_path, capsys):
    root = tmp_path / "cs-fleurs"
    for subset, rate in (("read/test", 16000), ("xtts/train", 22050)):
        directory = root / subset
        write_tone(directory / "audio" / "0001.wav", seconds=0.6, rate=rate)
        (directory / "metadata.jsonl").write_text(json.dumps(
            {"id": f"{subset.replace('/', '-')}-0001", "file_name": "audio/0001.wav", "text": "我们明天开 meeting",
             "duration": 0.6, "language": "cmn-eng", "speaker": 7}, ensure_ascii=False) + "\n")
    for subset, split in (("read/test", "test"), ("xtts/train", "train")):
        out = tmp_path / "manifests" / f"{split}.jsonl"
        assert main(["convert", "cs_fleurs", "--source", str(root / subset), "--out", str(out), "--split", split]) == 0
        [utt] = read_manifest(out)
        assert utt.language == "cmn" and utt.split == split and utt.speaker == "7" and utt.custom["pair"] == "cmn-eng"
    bad = root / "bad"
    bad.mkdir()
    (bad / "metadata.jsonl").write_text(json.dumps({"id": "x", "text": "t", "language": "cmn-eng"}) + "\n")
    assert main(["convert", "cs_fleurs", "--source", str(bad), "--out", str(tmp_path / "b.jsonl")]) == 2
    assert "metadata.jsonl:1: field 'file_name' missing" in capsys.readouterr().err
