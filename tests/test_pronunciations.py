"""The pronunciation corpus: term selection (evaluation hotwords excluded by construction, a seed
decides, a smaller size is a prefix), renditions and effects, and the stage (real TTS): the same
seed gives the same manifest and audio bytes, a killed run resumes, changed settings start fresh."""

import json
import math

import numpy as np
import pytest

import workbench.retrieval.pronunciations as pronunciations
from conftest import FIXTURES, REPO
from workbench.cli import main
from workbench.data import Utterance, read_manifest, write_manifest
from workbench.retrieval.data import load_examples
from workbench.retrieval.pronunciations.renditions import ClipPlan, apply_effects, change_speed
from workbench.retrieval.pronunciations.terms import Exclusion, Term, compact, spell_capitals

SHARES = {"name": 0.3, "word": 0.3, "phrase": 0.2, "acronym": 0.1, "alphanumeric": 0.1}


# --- exclusion -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("term", "blocked"), [
    ("ozempic", True),  # equal, any case
    ("Ozempics", True),  # contains an excluded hotword
    ("Ozempic Labs", True),
    ("Yang", True),  # part of an excluded phrase
    ("After-Yang", True),  # symbols and spaces do not hide it
    ("Pfizer", False),
    ("Maple Ridge", False),
])
def test_exclusion_blocks_terms_equal_to_containing_or_inside_an_excluded_hotword(term, blocked):
    assert Exclusion(["Ozempic", "After Yang"]).blocks(term) is blocked


def test_exclusion_finds_mentions_on_word_boundaries():
    exclusion = Exclusion(["Ponyo", "After Yang"])
    assert exclusion.mentioned_in("We watched after  yang twice.")
    assert not exclusion.mentioned_in("The Ponyomania began.")
    assert not Exclusion([]).mentioned_in("anything") and not Exclusion([]).blocks("anything")


def test_selected_terms_never_overlap_the_evaluation_hotwords():
    unexcluded = pronunciations.select_terms(120, SHARES, 3, Exclusion([]))
    # exclude real terms of every category (and a part of one phrase), plus the project's lists
    phrase = next(t.text for t in unexcluded.terms if t.category == "phrase")
    chosen = [t.text for t in unexcluded.terms[::4]] + [phrase.split()[0]]
    exclusion = pronunciations.load_exclusion(
        [FIXTURES / "tiny.jsonl"], [REPO / "data_manifests/default/en_hotwords.txt"])
    exclusion = Exclusion([*exclusion.hotwords, *chosen])
    selection = pronunciations.select_terms(120, SHARES, 3, exclusion)
    assert len({t.key for t in selection.terms}) == 120
    assert sum(selection.rejected.values()) >= len(chosen) - 1
    for term in selection.terms:
        assert not exclusion.blocks(term.text)
        for hotword in exclusion.hotwords:
            assert compact(hotword) not in compact(term.text) and compact(term.text) not in compact(hotword)
    assert not {t.key for t in selection.terms} & {t.lower() for t in chosen}


def test_selection_is_seeded_proportional_and_a_prefix_of_a_larger_one():
    small = pronunciations.select_terms(50, SHARES, 0, Exclusion([]))
    large = pronunciations.select_terms(400, SHARES, 0, Exclusion([]))
    assert small.terms == large.terms[:50] == pronunciations.select_terms(50, SHARES, 0, Exclusion([])).terms
    assert small.terms != pronunciations.select_terms(50, SHARES, 1, Exclusion([])).terms
    assert large.counts() == {c: round(400 * s) for c, s in SHARES.items()}
    by_category = {t.category: t for t in large.terms}
    assert by_category["name"].text[0].isupper() and " " in by_category["phrase"].text
    assert by_category["acronym"].text.isupper() and "-" in by_category["acronym"].spoken
    assert any(ch.isdigit() for ch in by_category["alphanumeric"].text)


def test_capitals_are_spelled_for_tts():
    assert [spell_capitals(t) for t in ("GPT", "RTX 4090", "RTX4090", "3NP", "A100", "Qwen2")] == [
        "G-P-T", "R-T-X 4090", "R-T-X 4090", "3 N-P", "A100", "Qwen2"]


# --- renditions ----------------------------------------------------------------------------------


def test_effects_are_seeded_and_change_speed_and_noise():
    t = np.linspace(0, 1, 16000, dtype=np.float32)
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    assert len(change_speed(tone, 1.1)) == math.ceil(16000 / 1.1)
    plan = ClipPlan("x", Term("a", "a", "word"), "alone", "a", "a", "piper", "", 0.9, 10.0, "pink", 7, "0000")
    first, second = apply_effects(tone, plan), apply_effects(tone, plan)
    assert first.dtype == np.float32 and np.array_equal(first, second) and len(first) == math.ceil(16000 / 0.9)
    clean = change_speed(tone, 0.9)
    snr = 10 * np.log10(np.mean(clean.astype(np.float64) ** 2) / np.mean((first - clean).astype(np.float64) ** 2))
    assert snr == pytest.approx(10.0, abs=0.01)


def test_plans_are_per_term_seeded_with_distinct_voices_and_templates():
    options = pronunciations.CorpusOptions(
        renditions=pronunciations.Renditions(alone=1, carrier=2, sentence=2),
        carriers=("{word}.", "I heard about {word} today.", "Please write down {word}."), seed=5, shard_size=2)
    sentences = [Utterance(f"s{i}", "x.wav", 1.0, f"We met {name} at noon.", "en", "train", hotwords=(name,))
                 for i, name in enumerate(["Ann", "Bob", "Cy", "Ponyo"])]
    sentences.append(Utterance("s4", "x.wav", 1.0, "We met Dee near Ponyo.", "en", "train", hotwords=("Dee",)))
    templates = pronunciations.sentence_templates(sentences, Exclusion(["Ponyo"]))
    # an excluded hotword may be the one a term replaces, never one left in the sentence
    assert [t.source for t in templates] == ["s0", "s1", "s2", "s3"]
    terms = [Term("Maple Ridge Systems", "Maple Ridge Systems", "phrase"), Term("GPT", "G-P-T", "acronym"),
             Term("Helena", "Helena", "name")]
    plans = pronunciations.plan_corpus(terms, templates, options)
    assert plans == pronunciations.plan_corpus(terms, templates, options)
    assert plans[0] == pronunciations.plan_corpus(terms[:1], templates, options)[0]
    assert [p.shard for p in (plans[0][0], plans[1][0], plans[2][0])] == ["0000", "0000", "0001"]
    acronym = plans[1]
    assert [p.kind for p in acronym] == ["alone", "carrier", "carrier", "sentence", "sentence"]
    assert len({p.voice for p in acronym}) == 5 and len({p.template for p in acronym[1:3]}) == 2
    assert all("GPT" in p.text and "G-P-T" in p.spoken and "{word}" not in p.text for p in acronym)
    assert {p.template for p in acronym[3:]} <= {"s0", "s1", "s2", "s3"} and acronym[3].text.startswith("We met GPT")


# --- the stage -----------------------------------------------------------------------------------


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sentences = [Utterance(f"train-{i}", "missing.wav", 2.0, text, "en", "train", hotwords=(hotword,))
                 for i, (text, hotword) in enumerate([("She switched to Crestor last spring.", "Crestor"),
                                                      ("We watched Oppenheimer on the big screen.", "Oppenheimer")])]
    write_manifest(tmp_path / "train.jsonl", sentences, check_files=False)
    return tmp_path


def stage_args(out, *settings, exclude_list=None):
    args = ["pronunciations", "--sentences", "train.jsonl", "--exclude", str(FIXTURES / "tiny.jsonl"),
            "--out", str(out), "--set", "words=4", "--set", "batch_size=1",
            "--set", "voices=[piper, 'espeak:en-us:160', 'espeak:en-gb:150:40']",
            *[a for s in settings for a in ("--set", s)]]
    return args + (["--exclude-list", str(exclude_list)] if exclude_list else [])


def outputs(out):
    manifest = (out / "manifest.jsonl").read_bytes()
    return manifest, {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted((out / "clips").rglob("*.wav"))}


def watch_terms(monkeypatch, die_after_first: bool = False) -> list[str]:
    """Record the terms the next run synthesizes; optionally die (like kill -9) after the first
    term's record is stored."""
    made, real = [], pronunciations.corpus_records

    def watched(*args, **kwargs):
        for record in real(*args, **kwargs):
            made.append(record["term"])
            yield record
            if die_after_first:
                raise KeyboardInterrupt
    monkeypatch.setattr(pronunciations, "corpus_records", watched)
    return made


def test_stage_is_deterministic_excludes_and_feeds_retriever_training(workspace):
    first, second = workspace / "a", workspace / "b"
    assert main(stage_args(first)) == 0
    assert main(stage_args(second)) == 0
    assert outputs(first) == outputs(second)  # same seed: same manifest and the same audio bytes
    terms = (first / "terms.txt").read_text().splitlines()
    utterances = read_manifest(first / "manifest.jsonl")
    assert len(terms) == 4 and len(utterances) == 12 and {u.hotwords for u in utterances} == {(t,) for t in terms}
    assert {u.custom["kind"] for u in utterances} == {"alone", "carrier", "sentence"}
    assert all(u.audio.startswith("clips/0000/") and u.split == "train" and u.language == "en" for u in utterances)
    examples, _ = load_examples([first / "manifest.jsonl"], set())
    assert all(len(e.hotword_spans) == 1 for e in examples)  # every clip has its term's span
    stats = json.loads((first / "stats.json").read_text())
    assert stats["clips"] == 12 and stats["excluded_hotwords"] == 2 and stats["timings"]["clips_made"] == 12
    assert not (workspace / "a.resume").exists()

    excluded = workspace / "exclude.txt"  # exclude the first two terms: the next of their categories replace them
    excluded.write_text(f"{terms[0].upper()}\n{terms[1]}\n")
    third = workspace / "c"
    assert main(stage_args(third, exclude_list=excluded)) == 0
    again = (third / "terms.txt").read_text().splitlines()
    assert not {t.casefold() for t in again} & {t.casefold() for t in terms[:2]} and again[2:] == terms[2:]
    exclusion = Exclusion([terms[0], terms[1], "Google", "Ponyo"])
    assert not any(exclusion.blocks(t) for t in again)


def test_stage_resumes_after_a_kill_and_restarts_on_other_settings(workspace, monkeypatch):
    fresh = workspace / "fresh"
    assert main(stage_args(fresh)) == 0
    out = workspace / "corpus"
    with monkeypatch.context() as patch:
        watch_terms(patch, die_after_first=True)
        with pytest.raises(KeyboardInterrupt):
            main(stage_args(out))
    assert not (out / "manifest.jsonl").exists()
    with monkeypatch.context() as patch:
        made = watch_terms(patch)
        assert main(stage_args(out)) == 0
    terms = (fresh / "terms.txt").read_text().splitlines()
    assert made == terms[1:]  # the first term was not synthesized again
    assert outputs(out) == outputs(fresh)
    assert not (workspace / "corpus.resume").exists()

    other = workspace / "other"  # killed with other effects, rerun with the defaults: nothing reused
    with monkeypatch.context() as patch:
        watch_terms(patch, die_after_first=True)
        with pytest.raises(KeyboardInterrupt):
            main(stage_args(other, "effects.noise_share=0.0"))
    with monkeypatch.context() as patch:
        made = watch_terms(patch)
        assert main(stage_args(other)) == 0
    assert made == terms and outputs(other) == outputs(fresh)


def test_engine_specs_take_a_piper_length_scale_and_an_espeak_pitch():
    from workbench.errors import TTSError
    from workbench.tts import make_engine

    for bad in ("piper:fast", "piper:0", "espeak:en-us:150:120"):
        with pytest.raises(TTSError):
            make_engine(bad)
    engine = make_engine("espeak:en-us+f2:170:70")
    assert (engine.voice, engine.speed, engine.pitch) == ("en-us+f2", 170, 70)
    text = ["Maple Ridge"]
    (high,), (low,) = engine.synthesize(text), make_engine("espeak:en-us+f2:170:20").synthesize(text)
    assert not np.array_equal(low, high)
    (normal,), (slow,) = make_engine("piper").synthesize(text), make_engine("piper:1.3").synthesize(text)
    assert len(slow) > 1.15 * len(normal)
