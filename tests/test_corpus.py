"""Marked sentence lists, deterministic splits, and real TTS into valid manifests."""

import numpy as np
import pytest

from conftest import REPO
from workbench.config import ConfigError, load_config
from workbench.corpus.default_corpus import PairSpec, SplitSizes, assign_splits, build_pair, plan_segments
from workbench.corpus.librivox import read_transcription
from workbench.corpus.marked_text import MarkedTextError, parse_marked, read_marked
from workbench.corpus.options import CorpusConfig
from workbench.data import SAMPLE_RATE, read_manifest, write_manifest
from workbench.tts import TTSError, make_engine

TEXT_DIR = REPO / "data_manifests" / "default"


def test_parse_marked_spans():
    s = parse_marked("我们明天开{meeting}讨论{budget}。")
    assert s.text == "我们明天开meeting讨论budget。"
    assert s.terms == ("meeting", "budget")
    assert s.segments() == [("我们明天开", False), ("meeting", True), ("讨论", False), ("budget。", True)]
    with pytest.raises(MarkedTextError, match="x.txt:3"):
        parse_marked("bad {nested {x}}", "x.txt", 3)


def test_committed_lists_are_unique_and_marked():
    seen = set()
    for name in ("cmn_eng", "vie_eng", "en_entities"):
        sentences = read_marked(TEXT_DIR / f"{name}.txt")
        assert len(sentences) >= 100 and all(s.marks for s in sentences)
        texts = {s.text for s in sentences}
        assert len(texts) == len(sentences) and not texts & seen
        seen |= texts


def test_splits_are_seeded_and_disjoint():
    sizes = SplitSizes(test=3, dev=2, train=4)
    a, b = assign_splits(12, sizes, seed=7), assign_splits(12, sizes, seed=7)
    assert a == b and assign_splits(12, sizes, seed=8) != a
    assert [a.count(s) for s in ("test", "dev", "train", None)] == [3, 2, 4, 3]


def test_code_switched_sentence_is_spoken_span_by_span():
    pair = PairSpec("vie_eng", "vi", "en", "espeak:vi", "piper", True, True)
    plan = plan_segments(parse_marked("Bệnh nhân cần tiêm {insulin} trước bữa sáng."), pair)
    assert plan == [("espeak:vi", "Bệnh nhân cần tiêm"), ("piper", "insulin"), ("espeak:vi", "trước bữa sáng.")]


def test_build_pair_with_real_tts_is_deterministic(tmp_path):
    pair = PairSpec("vie_eng", "vi", "en", "espeak:vi", "espeak:en-us", True, True)
    sentences = [parse_marked(line) for line in (
        "Bệnh nhân cần tiêm {insulin} trước bữa sáng.", "Kết quả {CT scan} bình thường.",
        "Đo {blood pressure} mỗi sáng.",
    )]
    runs = []
    for attempt in ("a", "b"):
        out = tmp_path / attempt
        splits = build_pair(pair, sentences, SplitSizes(1, 1, 1), 3, out / "wav", out, make_engine)
        written = write_manifest(out / "all.jsonl", [u for utts in splits.values() for u in utts])
        assert written == 3
        utts = read_manifest(out / "all.jsonl")
        runs.append([(u.id, u.split, (out / u.audio).read_bytes()) for u in utts])
        assert all(u.spans and u.spans[0].language == "en" and u.hotwords for u in utts)
    assert runs[0] == runs[1]


def test_engines_produce_16k_audio():
    (audio,) = make_engine("espeak:vi").synthesize(["xin chào"])
    assert audio.dtype == np.float32 and 0.3 < len(audio) / SAMPLE_RATE < 3
    first, second = make_engine("piper").synthesize(["Ozempic", "Ozempic"])
    assert np.array_equal(first, second) and len(first) > SAMPLE_RATE // 10
    with pytest.raises(TTSError, match="unknown TTS engine"):
        make_engine("festival")


def test_librivox_transcription_format(tmp_path):
    path = tmp_path / "transcription"
    path.write_text("<s> he was not an ill disposed young man </s> (clip-1)\n")
    assert read_transcription(path) == {"clip-1": "he was not an ill disposed young man"}
    path.write_text("garbage\n")
    with pytest.raises(ValueError, match="transcription:1"):
        read_transcription(path)


def test_corpus_config_names_unknown_pairs_and_bad_sizes():
    config = load_config(CorpusConfig, REPO / "params.yaml", "corpus")
    assert set(config.pairs) <= set(config.pair_specs()) and config.sizes == SplitSizes(30, 20, 100)
    assert config.pair_specs()["vie_eng"].matrix_engine == config.vietnamese_engine
    with pytest.raises(ConfigError, match=r"unknown corpus pair\(s\) \['yue_eng'\]"):
        load_config(CorpusConfig, None, "corpus", {"pairs": ["cmn_eng", "yue_eng"]})
    with pytest.raises(ConfigError, match="listed twice"):
        load_config(CorpusConfig, None, "corpus", {"pairs": ["cmn_eng", "cmn_eng"]})
    with pytest.raises(ConfigError, match="sizes.dev"):
        load_config(CorpusConfig, None, "corpus", {"sizes.dev": -1})
