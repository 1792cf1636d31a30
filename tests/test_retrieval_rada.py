"""RADA (seed 001 §2.2.1): the matching rule, the verdict with real piper TTS and Whisper tiny.en,
and the stage end to end (outputs, manifest, resuming after an interruption)."""

import json
import re
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.data import read_manifest
from workbench.retrieval.rada import (
    RADA_NORMALIZATION,
    RadaDecision,
    RadaOptions,
    RadaResult,
    choose_carriers,
    contains_hotword,
    iter_rada,
    pending_batches,
    word_batches,
)
from workbench.stages import rada as rada_stage
from workbench.text import build_normalizer

CARRIERS = ("{word}.", "I heard about {word} today.", "Please write down {word}.", "They mentioned {word} again.")


def test_contains_hotword_on_word_boundaries_phrases_and_cjk():
    norm = build_normalizer(RADA_NORMALIZATION)
    assert contains_hotword("I heard about Tuesday, today!", "Tuesday", norm)
    assert contains_hotword("ANDREI  TARKOVSKY.", "Andrei Tarkovsky", norm)
    assert not contains_hotword("I heard about Ann Ray Tarkovsky today.", "Andrei Tarkovsky", norm)  # whole phrase
    assert not contains_hotword("They will announce it.", "Ann", norm)  # not inside a word
    assert contains_hotword("Ｇｏｏｇｌｅ it", "Google", norm)  # width folding
    assert contains_hotword("这个问题你先通义千问一下", "通义千问", norm)  # CJK: plain substring
    assert contains_hotword("這個問題你先通義千問一下", "通义千问", norm)  # traditional output counts
    assert not contains_hotword("", "Tuesday", norm)


def test_carriers_are_deterministic_distinct_and_order_free():
    first = choose_carriers("Zorbulaxin", CARRIERS, 3, seed=0)
    assert first == choose_carriers("Zorbulaxin", CARRIERS, 3, seed=0) and len(set(first)) == 3
    assert {choose_carriers(w, CARRIERS, 1, seed=0) for w in ("a", "b", "c", "d", "e", "f", "g")} != {first[:1]}
    with pytest.raises(ValueError, match="renditions"):
        RadaOptions(carriers=CARRIERS, renditions=5)  # a repeated carrier would be an identical clip
    with pytest.raises(ValueError, match="slot"):
        RadaOptions(carriers=("no slot",))


def test_result_sizes_and_metrics():
    def decision(word, flags, threshold=0.5):
        return RadaDecision(word, CARRIERS[: len(flags)], tuple(CARRIERS[: len(flags)]), ("",) * len(flags), flags,
                            sum(flags) / len(flags) >= threshold)

    result = RadaResult.from_decisions([decision("a", (True, True)), decision("b", (False, True)),
                                        decision("c", (False, False))])
    assert result.kept == ("c",) and result.dropped == ("a", "b") and (result.before, result.after) == (3, 1)
    metrics = result.as_metrics()
    assert metrics["dropped_share"] == pytest.approx(2 / 3) and metrics["clip_recognition_rate"] == pytest.approx(0.5)
    assert metrics["recognition_rate_rendition_1"] == pytest.approx(1 / 3)
    assert metrics["recognition_rate_rendition_2"] == pytest.approx(2 / 3)
    assert RadaDecision.from_json({**result.decisions[1].to_json(), "clips": []}) == result.decisions[1]


def test_a_resumed_run_redoes_whole_batches(tmp_path):
    """A word's verdict can depend on its batch-mates (the decoding budget follows the longest clip):
    a batch holding a word to decide is decided whole again; a stored word whose clip is gone is
    not done."""
    options = RadaOptions(carriers=CARRIERS, renditions=1, clips_per_batch=2)
    words = ["a", "b", "c", "d", "e"]
    assert word_batches(words, options) == [("a", "b"), ("c", "d"), ("e",)]
    (tmp_path / "c.wav").write_bytes(b"")
    stored = {w: {"word": w, "clips": [{"audio": f"{w}.wav"}]} for w in ("a", "c", "d")}
    assert pending_batches(words, stored, [tmp_path], options) == [("a", "b"), ("c", "d"), ("e",)]  # d.wav is gone
    (tmp_path / "d.wav").write_bytes(b"")
    assert pending_batches(words, stored, [tmp_path], options) == [("a", "b"), ("e",)]


@pytest.fixture(scope="module")
def tiny_en(whisper_tiny_en_path):
    from workbench.asr import load_whisper

    return load_whisper(whisper_tiny_en_path)


@pytest.fixture(scope="module")
def piper():
    try:
        from workbench.tts import make_engine

        return make_engine("piper")
    except ImportError as error:
        pytest.skip(f"piper TTS is not installed: {error}")


def test_common_word_is_recognized_and_invented_word_is_not(tiny_en, piper):
    options = RadaOptions(carriers=CARRIERS, renditions=2, clips_per_batch=4)
    batches = list(iter_rada(["Tuesday", "Zorbulaxin"], piper, tiny_en, options))
    assert len(batches) == 1  # 2 words x 2 renditions fit one batch of 4 clips
    tuesday, invented = batches[0].decisions
    assert tuesday.reliably_recognized and all(tuesday.recognized), tuesday
    assert not invented.reliably_recognized and not any(invented.recognized), invented
    assert all("Zorbulaxin" in t for t in invented.texts) and len(set(invented.texts)) == 2
    assert [len(c) for c in batches[0].clips] == [2, 2] and batches[0].clips[0][0].dtype.name == "float32"


class CountingEngine:
    """Piper with a log of what it was asked to speak; optionally fails on call ``fail_on``."""

    def __init__(self, engine, fail_on=None):
        self.engine, self.fail_on, self.texts, self.calls = engine, fail_on, [], 0

    def synthesize(self, texts):
        self.calls += 1
        if self.calls == self.fail_on:
            raise KeyboardInterrupt("simulated kill")
        self.texts.extend(texts)
        return self.engine.synthesize(texts)


def run_stage(argv):
    assert main(["rada", *argv]) == 0


def partial_records(out: Path) -> list[dict]:
    """The decided words an unfinished run keeps in its resume state (beside --out, not in it)."""
    (partial,) = out.parent.glob(f"{out.name}.resume/*/records.partial.jsonl")
    return [json.loads(line) for line in partial.read_text().splitlines()]


def test_stage_writes_outputs_and_resumes(tmp_path, monkeypatch, tiny_en, piper, whisper_tiny_en_path):
    monkeypatch.chdir(tmp_path)  # no params.yaml here: the stage's defaults
    (tmp_path / "a.txt").write_text("# invented and common\nZorbulaxin\n\nTuesday\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("Tuesday\n  \n", encoding="utf-8")
    loads = []

    def load_whisper(path, device="cpu"):
        loads.append(Path(path))
        assert Path(path) == whisper_tiny_en_path, path
        return tiny_en  # the module's model: no second load

    monkeypatch.setattr(rada_stage, "load_whisper", load_whisper)
    argv = ["--vocabulary", "a.txt", "b.txt", "--out", "rada", "--set", f"model={whisper_tiny_en_path}",
            "--set", "batch_size=1",
            "--set", "tracking.backend=disk", "--set", "tracking.uri=runs"]

    killed = CountingEngine(piper, fail_on=2)
    monkeypatch.setattr(rada_stage, "make_engine", lambda spec: killed)
    with pytest.raises(KeyboardInterrupt):
        run_stage(argv)
    partial = partial_records(tmp_path / "rada")
    assert [r["word"] for r in partial] == ["Zorbulaxin"] and not (tmp_path / "rada" / "kept.txt").exists()
    (staged,) = (tmp_path / "rada.resume").glob("*/clips/*.wav")  # the unfinished run's clip, outside the output
    assert staged.name == partial[0]["clips"][0]["audio"]
    (status,) = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*/*/status.json")]
    assert status["status"] == "KILLED"

    resumed = CountingEngine(piper)
    monkeypatch.setattr(rada_stage, "make_engine", lambda spec: resumed)
    run_stage(argv)
    assert resumed.texts and all("Tuesday" in t for t in resumed.texts)  # Zorbulaxin was not spoken again
    out = tmp_path / "rada"
    assert (out / "kept.txt").read_text() == "Zorbulaxin\n" and (out / "dropped.txt").read_text() == "Tuesday\n"
    decisions = [json.loads(line) for line in (out / "decisions.jsonl").read_text().splitlines()]
    assert [d["word"] for d in decisions] == ["Zorbulaxin", "Tuesday"]  # vocabulary order
    assert not (tmp_path / "rada.resume").exists()  # the resume state goes once the outputs are written
    summary = json.loads((out / "rada.json").read_text())
    assert (summary["before"], summary["after"], summary["duplicates"]) == (2, 1, 1)
    assert summary["dropped_share"] == 0.5 and summary["recognition_rate"] == {"rendition_1": 0.5}
    assert summary["timings"]["words_resumed"] == 1 and summary["timings"]["words_decided"] == 1
    utterances = read_manifest(out / "clips" / "manifest.jsonl")  # valid, and every WAV is 16 kHz mono
    assert [u.hotwords for u in utterances] == [("Zorbulaxin",), ("Tuesday",)]
    assert {u.split for u in utterances} == {"train"} and {u.speaker for u in utterances} == {"tts:piper"}
    assert [u.custom["rada"] for u in utterances] == ["kept", "dropped"]
    assert all(u.text == d["texts"][0] and u.language == "en" for u, d in zip(utterances, decisions))
    assert sorted(p.name for p in (out / "clips").glob("*.wav")) == sorted(u.audio for u in utterances)
    runs = sorted((tmp_path / "runs").glob("*/*"))
    finished = [r for r in runs if json.loads((r / "status.json").read_text())["status"] == "FINISHED"]
    assert len(finished) == 1 and (finished[0] / "artifacts" / "rada.json").is_file()
    metrics = json.loads((finished[0] / "metrics.jsonl").read_text().splitlines()[-1])
    assert metrics["after"] == 1.0 and metrics["before"] == 2.0


def test_stage_refuses_an_empty_vocabulary(tmp_path, capsys):
    (tmp_path / "empty.txt").write_text("# nothing\n\n", encoding="utf-8")
    assert main(["rada", "--vocabulary", str(tmp_path / "empty.txt"), "--out", str(tmp_path / "out"),
                 "--set", "tracking.backend=disk", "--set", f"tracking.uri={tmp_path / 'runs'}"]) == 2
    assert re.search(r"empty\.txt.*no hotwords", capsys.readouterr().err)  # a VocabularyError: one line, exit 2


def rada_files(out: Path) -> dict[str, bytes | dict]:
    """Every output file's bytes; rada.json without its wall-clock timings."""
    files = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    summary = json.loads(files.pop("rada.json"))
    return {**files, "rada.json": {k: v for k, v in summary.items() if k != "timings"}}


def test_killed_run_rerun_with_another_setting_equals_a_fresh_run(tmp_path, monkeypatch, tiny_en, piper,
                                                                  whisper_tiny_en_path):
    """Killed with seed 0, rerun with seed 1 (other carriers): nothing of the seed-0 run is reused,
    and the outputs are exactly those of a fresh seed-1 run."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "words.txt").write_text("Zorbulaxin\nTuesday\n", encoding="utf-8")
    monkeypatch.setattr(rada_stage, "load_whisper", lambda path, device="cpu": tiny_en)
    carriers = "carriers=['{word}.', 'I heard about {word} today.', 'Please write down {word}.']"

    def argv(out, seed):
        return ["--vocabulary", "words.txt", "--out", out, "--set", f"model={whisper_tiny_en_path}",
                "--set", "batch_size=1", "--set", carriers, "--set", f"seed={seed}",
                "--set", "tracking.backend=disk", "--set", "tracking.uri=runs"]

    monkeypatch.setattr(rada_stage, "make_engine", lambda spec: CountingEngine(piper))
    run_stage(argv("fresh", 1))
    killed = CountingEngine(piper, fail_on=2)
    monkeypatch.setattr(rada_stage, "make_engine", lambda spec: killed)
    with pytest.raises(KeyboardInterrupt):
        run_stage(argv("rada", 0))
    assert [r["word"] for r in partial_records(tmp_path / "rada")] == ["Zorbulaxin"]

    rerun = CountingEngine(piper)
    monkeypatch.setattr(rada_stage, "make_engine", lambda spec: rerun)
    run_stage(argv("rada", 1))
    assert any("Zorbulaxin" in t for t in rerun.texts) and any("Tuesday" in t for t in rerun.texts)  # both decided anew
    assert rada_files(tmp_path / "rada") == rada_files(tmp_path / "fresh")
    assert json.loads((tmp_path / "rada" / "rada.json").read_text())["timings"]["words_resumed"] == 0
