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
    # already 16 kHz mono
    assert utterances["utt-a"].audio_path(out.parent).resolve() == (data / "wav" / "a.wav").resolve()


def test_kaldi_errors_name_file_and_line(tmp_path, capsys):
    data = tmp_path / "d"
    write_tone(data / "a.wav")
    (data / "wav.scp").write_text("utt-a sox a.wav -t wav - |\n")
    (data / "text").write_text("utt-a hello\n")
    with pytest.raises(ManifestError, match=r"wav.scp:1: field 'utt-a' piped"):
        list(__import__("workbench.corpus.converters", fromlist=["kaldi"]).kaldi(data, tmp_path, "en", "test"))
    (data / "wav.scp").write_text("utt-a a.wav\n")
    (data / "text").write_text("utt-a hello\nutt-z missing audio\n")
    assert main(["convert", "kaldi", "--source", str(data), "--out", str(tmp_path / "m.jsonl"),
                 "--language", "en"]) == 2
    assert re.search(r"text:2: field 'utt-z' no audio", capsys.readouterr().err)
    (data / "text").write_text("utt-a hello\nutt-a again\n")
    assert main(["convert", "kaldi", "--source", str(data), "--out", str(tmp_path / "m.jsonl"),
                 "--language", "en"]) == 2
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
    (split / "text").write_text("BAC009S0764W0121 甚 至 出 现 交 易 几 乎 停 滞 的 情 况\n"
                                "BAC009S0764W0122 阿 里 巴 巴 和 阿 里 云 发 布\n")
    (split / "hotword.txt").write_text("阿里巴巴\n阿里\n停滞\n")
    (split / "r1-hotword.txt").write_text("阿里巴巴\n")
    audio = tmp_path / "data_aishell" / "wav" / "test"
    for utt in ("BAC009S0764W0121", "BAC009S0764W0122"):
        write_tone(audio / "S0764" / f"{utt}.wav", seconds=0.4)
    out = tmp_path / "m" / "test.jsonl"
    assert main(["convert", "aishell_ne", "--source", str(split), "--audio", str(audio), "--out", str(out)]) == 0
    utts = {u.id: u for u in read_manifest(out)}
    assert (utts["BAC009S0764W0121"].text == "甚至出现交易几乎停滞的情况"
            and utts["BAC009S0764W0121"].hotwords == ("停滞",))
    # longest match first: 阿里巴巴 is one hotword, the later 阿里 (of 阿里云) another
    assert utts["BAC009S0764W0122"].hotwords == ("阿里巴巴", "阿里")
    assert (utts["BAC009S0764W0122"].custom["r1_hotwords"] == ["阿里巴巴"]
            and utts["BAC009S0764W0122"].speaker == "S0764")


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


def _wav_bytes(tmp_path, name, seconds, rate=16000, channels=1):
    return write_tone(tmp_path / "src" / f"{name}.wav", seconds=seconds, rate=rate, channels=channels).read_bytes()


def _vimedcss_shard(path, rows):
    """A parquet shard with the HF card's columns (audio: Audio(decode=False), a bytes+path struct)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


def _vimedcss_row(segment_id, audio, text, terms, **extra):
    row = {"segment_id": segment_id, "audio": audio, "duration_seconds": 1, "segment_text": text,
           "cs_terms_list": terms, "cs_terms_count": 1, "topic": "pharmacology",
           "original_video_link": "https://example.invalid/v", "original_video_title": "t",
           "start_time": "00:00:01", "end_time": "00:00:02"}
    row.update(extra)
    return row


def test_vimedcss_hf_parquet_splits_convert_separately(tmp_path, capsys):
    root = tmp_path / "ViMedCSS"
    a = _wav_bytes(tmp_path, "a", 0.5)
    b = _wav_bytes(tmp_path, "b", 0.8, rate=44100, channels=2)  # 44.1 kHz stereo: resampled, downmixed
    _vimedcss_shard(root / "data" / "train-00000-of-00001.parquet", [
        _vimedcss_row("tr-1", {"bytes": a, "path": "tr-1.wav"}, "Tiêm furosemide tĩnh mạch", '["furosemide"]')])
    _vimedcss_shard(root / "data" / "validation-00000-of-00001.parquet", [
        _vimedcss_row("dv-1", {"bytes": a, "path": "dv-1.wav"}, "Cho bệnh nhân thở oxygen", "['oxygen']")])
    _vimedcss_shard(root / "data" / "test-00000-of-00001.parquet", [
        _vimedcss_row("te-1", {"bytes": b, "path": "te-1.wav"}, "Chụp CT scan và MRI cho bệnh nhân",
                      '["CT scan", "MRI"]')])
    _vimedcss_shard(root / "data" / "hard-00000-of-00002.parquet", [
        _vimedcss_row("hd-1", {"bytes": a, "path": "hd-1.wav"}, "Dùng Xarelto rồi đo INR, xarelto liều thấp",
                      "Xarelto; INR", cs_terms_count=3)])
    _vimedcss_shard(root / "data" / "hard-00001-of-00002.parquet", [
        _vimedcss_row("hd-2", {"bytes": a, "path": "hd-2.wav"}, "Bệnh nhân bị sepsis", '["sepsis", "procalcitonin"]')])
    out_dir = tmp_path / "manifests"
    for subset, split in (("train", "train"), ("dev", "dev"), ("test", "test"), ("hard", "test")):
        out = out_dir / f"{subset}.jsonl"
        assert main(["convert", "vimedcss", "--source", str(root), "--subset", subset, "--out", str(out)]) == 0
        utts = read_manifest(out)  # validates: 16 kHz mono files, spans inside the text
        assert {u.split for u in utts} == {split} and {u.custom["subset"] for u in utts} == {subset}
        assert all(u.language == "vi" and (out_dir / u.audio).parent.name == "audio" for u in utts)
    [test] = read_manifest(out_dir / "test.jsonl")
    assert test.hotwords == ("CT scan", "MRI") and test.duration == pytest.approx(0.8, abs=0.01)
    assert ([test.text[s.start:s.end] for s in test.spans] == ["CT scan", "MRI"]
            and {s.language for s in test.spans} == {"en"})
    assert (soundfile.info(str(out_dir / test.audio)).samplerate,
            soundfile.info(str(out_dir / test.audio)).channels) == (16000, 1)
    hard = {u.id: u for u in read_manifest(out_dir / "hard.jsonl")}
    assert set(hard) == {"hd-1", "hd-2"}  # both shards
    assert hard["hd-1"].hotwords == ("Xarelto", "INR")
    assert [hard["hd-1"].text[s.start:s.end] for s in hard["hd-1"].spans] == ["Xarelto", "INR", "xarelto"]
    assert hard["hd-1"].custom["topic"] == "pharmacology" and hard["hd-1"].custom["cs_terms_count"] == 3
    assert hard["hd-2"].custom["terms_not_in_text"] == ["procalcitonin"] and len(hard["hd-2"].spans) == 1
    assert (out_dir / "hard_hotwords.txt").read_text().splitlines() == ["INR", "Xarelto", "procalcitonin", "sepsis"]
    assert (out_dir / "train_hotwords.txt").read_text() == "furosemide\n"
    assert "hard_hotwords.txt: 4 hotwords" in capsys.readouterr().out


def test_vimedcss_exported_split_folders(tmp_path):
    root = tmp_path / "vimedcss_export"
    write_tone(root / "validation" / "clips" / "d1.wav", seconds=0.4)
    write_tone(root / "validation" / "clips" / "d2.wav", seconds=0.3, rate=44100, channels=2)
    (root / "validation" / "metadata.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in (
        {"segment_id": "d1", "file_name": "clips/d1.wav", "segment_text": "uống paracetamol sau ăn",
         "cs_terms_list": ["paracetamol"]},
        {"segment_id": "d2", "file_name": "clips/d2.wav", "segment_text": "siêu âm Doppler",
         "cs_terms_list": "Doppler"},
    )) + "\n")
    out = tmp_path / "m" / "dev.jsonl.gz"
    assert main(["convert", "vimedcss", "--source", str(root), "--subset", "dev", "--out", str(out),
                 "--hotwords", str(tmp_path / "m" / "dev_vocab.txt")]) == 0
    utts = {u.id: u for u in read_manifest(out)}
    assert utts["d1"].audio_path(out.parent).resolve() == (root / "validation" / "clips" / "d1.wav").resolve()
    assert utts["d2"].hotwords == ("Doppler",) and utts["d2"].split == "dev"
    assert (tmp_path / "m" / "dev_vocab.txt").read_text() == "Doppler\nparacetamol\n"


def test_vimedcss_errors_name_file_and_line(tmp_path, capsys):
    root = tmp_path / "ViMedCSS"
    a = _wav_bytes(tmp_path, "a", 0.3)
    shard = root / "data" / "test-00000-of-00001.parquet"
    rows = [_vimedcss_row("te-1", {"bytes": a, "path": "x.wav"}, "thở oxygen", '["oxygen"]')]
    _vimedcss_shard(shard, [{k: v for k, v in row.items() if k != "cs_terms_list"} for row in rows])
    out = tmp_path / "m.jsonl"
    assert main(["convert", "vimedcss", "--source", str(root), "--subset", "test", "--out", str(out)]) == 2
    assert f"{shard}: field 'cs_terms_list' missing column" in capsys.readouterr().err
    _vimedcss_shard(shard, rows + [_vimedcss_row("te-2", {"bytes": a, "path": "y.wav"}, "thở oxygen", '["oxygen",')])
    assert main(["convert", "vimedcss", "--source", str(root), "--subset", "test", "--out", str(out)]) == 2
    assert f"{shard} row 2: field 'cs_terms_list' cannot parse" in capsys.readouterr().err
    _vimedcss_shard(shard, rows + [_vimedcss_row("te-2", {"bytes": b"not audio", "path": "y.wav"}, "thở oxygen", "[]")])
    assert main(["convert", "vimedcss", "--source", str(root), "--subset", "test", "--out", str(out)]) == 2
    assert f"{shard} row 2: cannot decode the embedded audio" in capsys.readouterr().err
    assert not out.exists()  # nothing half-written
    folder = tmp_path / "export" / "hard"
    write_tone(folder / "h.wav")
    (folder / "metadata.jsonl").write_text(
        json.dumps({"segment_id": "h1", "file_name": "h.wav", "segment_text": "x", "cs_terms_list": []})
        + "\n{not json\n")
    assert main(["convert", "vimedcss", "--source", str(tmp_path / "export"), "--subset", "hard",
                 "--out", str(out)]) == 2
    assert re.search(r"hard/metadata.jsonl:2: not JSON", capsys.readouterr().err)
    (folder / "metadata.csv").write_text("segment_id,file_name,segment_text,cs_terms_list\nh1,h.wav,,[]\n")
    (folder / "metadata.jsonl").unlink()
    assert main(["convert", "vimedcss", "--source", str(tmp_path / "export"), "--subset", "hard",
                 "--out", str(out)]) == 2
    assert "hard/metadata.csv:2: field 'segment_text' is empty" in capsys.readouterr().err
    assert main(["convert", "vimedcss", "--source", str(tmp_path / "export"), "--subset", "train",
                 "--out", str(out)]) == 2
    assert "no ViMedCSS train split" in capsys.readouterr().err
    assert main(["convert", "vimedcss", "--source", str(root), "--out", str(out)]) == 2
    assert "vimedcss: pass --subset" in capsys.readouterr().err


def test_hotword_list_is_what_the_hotword_reader_reads_back(tmp_path):
    from workbench.corpus.converters import hotword_list
    from workbench.data import Utterance
    from workbench.text.hotwords import read_hotword_list

    utts = [Utterance(id=str(i), audio="a.wav", duration=1.0, text="t", language="vi", split="test", hotwords=words)
            for i, words in enumerate([("oxygen", "CT  scan"), ("Oxygen", "insulin"), ("CT scan",)])]
    words = hotword_list(utts)
    assert words == ["CT scan", "Oxygen", "insulin"]  # one spelling per phrase, whitespace collapsed
    (tmp_path / "h.txt").write_text("".join(f"{w}\n" for w in words))
    assert list(read_hotword_list(tmp_path / "h.txt")) == words


def test_convert_needs_the_layouts_options(tmp_path, capsys):
    assert main(["convert", "kaldi", "--source", str(tmp_path), "--out", str(tmp_path / "m.jsonl")]) == 2
    assert "kaldi: pass --language" in capsys.readouterr().err
    assert main(["convert", "kaldi", "--source", str(tmp_path), "--out", str(tmp_path / "m.jsonl"),
                 "--language", "en"]) == 2
    assert "a Kaldi data directory needs wav.scp and text" in capsys.readouterr().err
