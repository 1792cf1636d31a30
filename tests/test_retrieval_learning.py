"""Learning checks on real speech: CMUdict words spoken by piper, encoded by Whisper tiny.en's real
encoder (own-length states), a GLCLAP with the phoneme text tower trained from scratch.

- it memorizes its training words (R@1 on the training clips -> 100 %), with either pooling;
- held-out R@1 rises with the number of distinct training words (the data-scale curve, also end
  to end through ``encode`` -> ``retrieval_scale``);
- hard negatives: k = 0 trains bit-identically to the loop without them; k > 0 feeds sound-alike
  words (never an evaluation hotword) into the local loss.

The clips are synthesized and encoded once per session (~30 s on this CPU, one torch thread).
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import soundfile
import torch

from workbench.cli import main
from workbench.retrieval.data import RetrievalExample
from workbench.retrieval.experiment import RetrieverExperiment
from workbench.retrieval.fit import hard_negative_neighbours, heldout_ratios, scale_curve, train_examples, word_subsets
from workbench.retrieval.models import ArchitectureConfig, symmetric_infonce
from workbench.retrieval.options import TrainRetrieverConfig
from workbench.retrieval.training import RetrieverLoopConfig, batch_negatives, make_batch, train_retriever

WORDS = 200  # 170 for training, the last 30 held out
HELDOUT = 30
SMALL = ArchitectureConfig(text_encoder="phonemes", symbol_dim=64, symbol_layers=1, projection_dim=128,
                           projection_hidden=256)
LOOP = RetrieverLoopConfig(learning_rate=3e-3, warmup_steps=5, epochs=20, batch_size=16)
GLCLAP = RetrieverExperiment(name="glclap_phonemes", method="glclap", losses={"global": 1.0, "local": 1.0})


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread: on this shared 2-core machine more threads run the small matmuls far slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def spoken_words(tmp_path_factory, whisper_tiny_en_path):
    """(words, clips, encoder states by word, the Whisper model, a directory of the clips as wav)."""
    from workbench.asr import load_whisper
    from workbench.features import encoder_states
    from workbench.retrieval.vocabulary import english_words
    from workbench.tts.engines import make_engine

    pool = [w for w in english_words() if 5 <= len(w) <= 9]
    words = [pool[i] for i in np.random.default_rng(0).permutation(len(pool))[:WORDS]]
    clips = make_engine("piper").synthesize(words)
    model = load_whisper(whisper_tiny_en_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        states = {w: encoder_states(model, clip) for w, clip in zip(words, clips)}
    finally:
        torch.set_num_threads(threads)
    return words, clips, states, model


def _examples(words) -> list[RetrievalExample]:
    return [RetrievalExample(w, w, (w,), ((0, len(w)),), "piper") for w in words]


def _config(architecture: ArchitectureConfig = SMALL, loop: RetrieverLoopConfig = LOOP) -> TrainRetrieverConfig:
    return TrainRetrieverConfig(architecture=architecture, loop=loop)


def _recall(ratios, name="exact@1_recall") -> float:
    hits, gold = ratios[name]
    return float(hits.sum() / gold.sum())


@pytest.mark.parametrize("pooling", ["mean", "attention"])
def test_a_retriever_memorizes_its_training_words(spoken_words, one_thread, tmp_path, pooling):
    words, _, states, whisper_model = spoken_words
    train = _examples(words[:30])
    config = _config(ArchitectureConfig(**{**SMALL.__dict__, "audio_pooling": pooling}))
    model, epochs = train_examples(GLCLAP, config, train, states, whisper_model, tmp_path)
    assert epochs == LOOP.epochs
    assert _recall(heldout_ratios(model, train, states, words[:30], (1,))) >= 0.95  # 30 candidates, chance 3.3 %


def test_heldout_recall_rises_with_distinct_training_words(spoken_words, one_thread, tmp_path):
    words, _, states, whisper_model = spoken_words
    train, heldout = _examples(words[:-HELDOUT]), _examples(words[-HELDOUT:])
    curve = scale_curve(GLCLAP, _config(), train, heldout, states, whisper_model, [20, 140], tmp_path, ks=(1, 5))
    metrics = curve.metrics()
    assert (metrics["queries"], metrics["candidates"]) == (HELDOUT, HELDOUT)
    few, many = metrics["points"]
    assert (few["words"], many["words"]) == (20, 140) and (few["examples"], many["examples"]) == (20, 140)
    # measured: 13 % [3, 27] with 20 words, 57 % [40, 73] with 140 (chance 3.3 %)
    assert many["exact@1_recall"] > few["exact@1_recall"] + 0.15
    assert many["exact@1_recall_ci_lo"] <= many["exact@1_recall"] <= many["exact@1_recall_ci_hi"]
    assert many["exact@5_recall"] >= many["exact@1_recall"]
    assert "| 140 | 140 |" in curve.table()


def test_word_subsets_are_nested_and_whole_examples():
    examples = [RetrievalExample(f"u{i}", f"{a} and {b}", (a, b), ((0, 1), (2, 3)), "t")
                for i, (a, b) in enumerate([("x", "y"), ("y", "z"), ("z", "w"), ("w", "x")])]
    examples.append(RetrievalExample("plain", "no hotword here", (), (), "t"))
    subsets = word_subsets(examples, [2, 3, None, 99], seed=1)
    assert list(subsets) == [2, 3, 4]  # None and sizes above the distinct words: all of them
    assert set(e.id for e in subsets[2]) <= set(e.id for e in subsets[3]) <= set(e.id for e in subsets[4])
    assert len(subsets[4]) == 4 and all(e.hotwords for s in subsets.values() for e in s)
    assert subsets == word_subsets(examples, [2, 3, None], seed=1)


def test_scale_stage_end_to_end(spoken_words, tmp_path, whisper_tiny_en_path):
    words, clips, _, _ = spoken_words
    (tmp_path / "wav").mkdir()
    rows = {"train": words[:40], "test": words[-10:]}
    for split, chosen in rows.items():
        lines = []
        for word in chosen:
            clip = clips[words.index(word)]
            soundfile.write(tmp_path / "wav" / f"{word}.wav", clip, 16000)
            lines.append(json.dumps({"id": word, "audio": f"wav/{word}.wav", "duration": len(clip) / 16000,
                                     "text": word.capitalize() + ".", "language": "en", "split": split,
                                     "hotwords": [word]}))
        (tmp_path / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    frames = tmp_path / "frames"
    assert main(["encode", "--layout", "own", str(tmp_path / "train.jsonl"), str(tmp_path / "test.jsonl"),
                 "--out", str(frames), "--set", f"model={whisper_tiny_en_path}", "--set", "threads=1"]) == 0
    experiment = tmp_path / "glclap_phonemes.yaml"
    experiment.write_text("name: glclap_phonemes\nmethod: glclap\nlosses: {global: 1.0, local: 1.0}\n"
                          "architecture: {text_encoder: phonemes, symbol_dim: 32, symbol_layers: 1}\n")
    lists = tmp_path / "distractors.txt"
    lists.write_text("\n".join(words[40:60]) + "\n")
    out = tmp_path / "scale"
    assert main(["retrieval_scale", "--experiment", str(experiment), "--manifest", str(tmp_path / "train.jsonl"),
                 "--heldout", str(tmp_path / "test.jsonl"), "--vocabulary", str(lists), "--frames", str(frames),
                 "--out", str(out), "--set", f"model={whisper_tiny_en_path}", "--set", "sizes=[10, null]",
                 "--set", "loop.epochs=3", "--set", "loop.batch_size=8", "--set", "ks=[1, 5]",
                 "--set", "threads=1", "--set", "tracking.backend=disk",
                 "--set", f"tracking.uri={tmp_path / 'runs'}"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["queries"], metrics["candidates"]) == (10, 30)  # held-out words + the 20 listed
    assert [p["words"] for p in metrics["points"]] == [10, 40] and metrics["ks"] == [1, 5]
    ratios = json.loads((out / "ratios.json").read_text())
    assert set(ratios["metrics"]) == {f"words_{n}/exact@{k}_recall" for n in (10, 40) for k in (1, 5)}
    assert "| 40 | 40 |" in (out / "table.md").read_text()
    assert not (out.parent / "scale.resume").exists()  # finished: the checkpoints are gone


# --- hard negatives -------------------------------------------------------------------------------


def test_hard_negatives_are_sound_alike_words_never_evaluation_hotwords():
    training = ["station", "tamsulosin", "Humira", "Spiriva", "Wegovy"]
    examples = _examples(training)
    neighbours = hard_negative_neighbours(examples, 3)
    assert all(len(found) == 3 for found in neighbours.values())
    assert neighbours["station"][0] == "stations"  # CMUdict sound-alikes first (one phoneme edit)
    assert set(neighbours["tamsulosin"]) <= set(training)  # none in CMUdict: the nearest training words
    excluded = hard_negative_neighbours(examples, 3, exclude={"stations", "humira"})
    assert "stations" not in excluded["station"] and len(excluded["station"]) == 3
    assert "humira" not in excluded and "Humira" not in excluded["tamsulosin"]
    assert hard_negative_neighbours(examples, 0) == {}
    # a batch's negatives: each once, never a local text of the batch (that row's positive)
    table = {"station": ("nation", "stations"), "nation": ("station",), "cat": ("hat",)}
    assert batch_negatives(["Station", "nation", "dog"], table) == ["stations"]
    assert batch_negatives(["cat", "station"], None) == []


def test_extra_negatives_only_widen_the_audio_to_text_softmax():
    generator = torch.Generator().manual_seed(0)
    a, b, extra = (torch.nn.functional.normalize(torch.randn(n, 8, generator=generator), dim=-1) for n in (4, 4, 3))
    keys = ["a", "b", "c", "a"]
    scale = torch.tensor(10.0)
    plain = symmetric_infonce(a, b, scale, keys)
    assert torch.equal(symmetric_infonce(a, b, scale, keys, torch.empty(0, 8)), plain)
    assert symmetric_infonce(a, b, scale, keys, extra) > plain  # more candidates: a harder softmax


def test_hard_negatives_zero_trains_bit_identically_and_k_changes_training(spoken_words, one_thread, tmp_path):
    words, _, states, whisper_model = spoken_words
    train = _examples(words[:24])
    config = _config(loop=RetrieverLoopConfig(learning_rate=3e-3, warmup_steps=2, epochs=2, batch_size=8))

    def weights(experiment, directory):
        model, _ = train_examples(experiment, config, train, states, whisper_model, tmp_path / directory)
        return {k: v.clone() for k, v in model.state_dict().items()}

    # the loop called as before hard negatives existed (no neighbours argument)
    from workbench.retrieval.models import build_retriever, text_encoder_of

    torch.manual_seed(config.loop.seed)
    reference = build_retriever("glclap", whisper_model, text_encoder_of(SMALL, None), SMALL)
    train_retriever(reference, train, states, GLCLAP.loss_weights(), config.loop, tmp_path / "reference")
    zero = weights(GLCLAP, "zero")
    assert all(torch.equal(zero[k], v) for k, v in reference.state_dict().items())
    hard = RetrieverExperiment(name="hard", method="glclap", losses={"global": 1.0, "local": 1.0}, hard_negatives=2)
    batch = make_batch(train[:8], states, random.Random(0), None, hard_negative_neighbours(train[:8], 2))
    assert len(batch.negative_texts) >= 8 and not {t.casefold() for t in batch.negative_texts} & set(words[:8])
    changed = weights(hard, "hard")
    assert any(not torch.equal(changed[k], v) for k, v in zero.items())


def test_hard_negatives_need_a_local_loss():
    with pytest.raises(ValueError, match="negatives of the local loss"):
        RetrieverExperiment(name="x", method="glclap", losses={"global": 1.0}, hard_negatives=2)
    with pytest.raises(ValueError, match="hard_negatives must be >= 0"):
        RetrieverExperiment(name="x", method="glclap", losses={"global": 1.0, "local": 1.0}, hard_negatives=-1)


def test_attention_pooling_ignores_padding():
    from workbench.retrieval.frames import pad_states
    from workbench.retrieval.models import build_retriever, text_encoder_of
    from workbench.testing.dummies import tiny_whisper

    config = ArchitectureConfig(text_encoder="chars", symbol_dim=16, symbol_layers=1, projection_dim=16,
                                projection_hidden=32, audio_pooling="attention")
    model = build_retriever("glclap", tiny_whisper(), text_encoder_of(config, None), config).eval()
    generator = torch.Generator().manual_seed(0)
    short, long = torch.randn(5, 64, generator=generator), torch.randn(9, 64, generator=generator)
    alone = model.query_embeddings([short])
    padded, mask = pad_states([short, long])
    together = model.utterance_embedding(padded, mask)
    torch.testing.assert_close(together[0], alone[0])
    with pytest.raises(ValueError, match="audio_pooling must be one of"):
        ArchitectureConfig(audio_pooling="max")


def test_a_fixed_temperature_stays_fixed():
    from workbench.retrieval.models import build_retriever, text_encoder_of
    from workbench.testing.dummies import tiny_whisper

    config = ArchitectureConfig(text_encoder="chars", symbol_dim=16, symbol_layers=1, projection_dim=16,
                                projection_hidden=32, learn_temperature=False, initial_temperature=0.05)
    model = build_retriever("glclap", tiny_whisper(), text_encoder_of(config, None), config)
    assert not model.log_scale.requires_grad and float(model.scale) == pytest.approx(20.0)
    with pytest.raises(ValueError, match="max_scale"):
        ArchitectureConfig(initial_temperature=0.005, max_scale=100.0)
