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


def test_aishell_ne_joins_text_hotwords_and_audio(tmp_path):
    split = tmp_path / "seaco" / "data" / "test"
    split.mkdir(parents=True)
    (split / "text").write_text("BAC009S0764W0121 甚 至 出 现 交 易 几 乎 停 滞 的 情 况\nBAC009S0764W0122 阿 里 巴 巴 和 阿 里 云 发 布\n")
    (split / "hotword.txt").write_text("阿里巴巴\n阿里\n停滞\n")
    (split / "r1-hotword.txt").write_text("阿里巴巴\n")
    audio = tmp_path / "data_aishell" / "wav" / "test"
    for utt in ("BAC009S0764W0121", "BAC009S0764W0122"):
        write_tone(audio / "S0764" / f"{utt}.wav", seconds=0.4)
    out = tmp_path / "m" / "test.jsonl"
    assert main(["convert", "aishell_ne", "--source", str(split), "--audio", str(audio), "--out", str(out)]) == 0
    utts = {u.id: u for u in read_manifest(out)}
    assert utts["BAC009S0764W0121"].text == "甚至出现交易几乎停滞的情况" and utts["BAC009S0764W0121"].hotwords == ("停滞",)
    # longest match first: 阿里巴巴 is one hotword, the later 阿里 (of 阿里云) another
    assert utts["BAC009S0764W0122"].hotwords == ("阿里巴巴", "阿里")
    assert utts["BAC009S0764W0122"].custom["r1_hotwords"] == ["阿里巴巴"] and utts["BAC009S0764W0122"].speaker == "S0764"


def test_hf_audiofolder_csv_and_jsonl(tmp_path, capsys):
    folder = tmp_path / "folder"
    write_tone(folder / "clips" / "x1.wav", seconds=0.3)
    (folder / "metadata.csv").write_text("file_name,transcription\nclips/x1.wav,xin chào\n")
    out = tmp_path / "m.jsonl"
    assert main(["convert", "audiofolder", "--source", str(folder), "--out", str(out), "--language", "vi"]) == 0
    [utt] = read_manifest(out)
    assert (utt.id, utt.text, utt.language) == ("x1", "xin chào", "vi")
    (folder / "metadata.csv").write_text("file_name,label\nclips/x1.wav,3\n")
    assert main(["convert", "audiofolder", "--source", str(folder), "--out", str(out), "--language", "vi"]) == 2
    assert "metadata.csv:2: field 'text' no transcript column" in capsys.readouterr().err
