"""Retriever models and their training loop on a tiny random Whisper: each loss goes down in a
few steps, CLSR's straight-through VQ passes gradients, resume reproduces the uninterrupted run,
save/load round-trips, partly trained encoder tops ignore padding."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
import torch

from workbench.features import encoder_states
from workbench.retrieval.data import RetrievalExample, crop_phrase, examples_from, find_span
from workbench.retrieval.experiment import load_retriever_experiment
from workbench.retrieval.frames import EncoderTop, pad_states
from workbench.retrieval.models import (
    ArchitectureConfig,
    build_retriever,
    load_retriever,
    save_retriever,
    text_encoder_of,
)
from workbench.retrieval.text_encoders import SymbolEncoder, make_text_encoder
from workbench.retrieval.training import RetrieverLoopConfig, make_batch, train_retriever
from workbench.testing.dummies import tiny_whisper

TEXTS = [
    ("The nurse gave me Trulicity today", "Trulicity"), ("My grandfather takes tamsulosin", "tamsulosin"),
    ("We watched Oppenheimer last night", "Oppenheimer"), ("She takes Wegovy now", "Wegovy"),
    ("He asked about Spiriva again", "Spiriva"), ("They prescribed Accutane", "Accutane"),
]
SMALL = ArchitectureConfig(text_encoder="chars", symbol_dim=32, symbol_layers=1, projection_dim=32,
                           projection_hidden=64, decoder_dim=64)


def _examples():
    return [RetrievalExample(f"u{i}", t, (h,), (find_span(t, h),), "test") for i, (t, h) in enumerate(TEXTS)]


def _states(dim: int = 64):
    generator = torch.Generator().manual_seed(0)
    return {f"u{i}": torch.randn(40 + 7 * i, dim, generator=generator) for i in range(len(TEXTS))}


def _model(method: str, text_encoder=None, config: ArchitectureConfig = SMALL):
    torch.manual_seed(0)
    return build_retriever(method, tiny_whisper(), text_encoder or text_encoder_of(config, None), config)


def _curve(model, weights, epochs: int, tmp_path, **kwargs) -> list[dict]:
    seen: list[dict] = []
    loop = RetrieverLoopConfig(learning_rate=3e-3, warmup_steps=0, epochs=epochs, batch_size=6)
    train_retriever(model, _examples(), _states(), weights, loop, tmp_path, log_metrics=lambda m, s: seen.append(m),
                    **kwargs)
    return seen


@pytest.mark.parametrize("method, weights", [
    ("glclap", {"global": 1.0, "local": 1.0}),
    ("clar", {"global": 1.0, "local": 1.0, "quantity": 1.0}),
])
def test_a_few_steps_lower_each_loss(method, weights, tmp_path):
    curve = _curve(_model(method), weights, 12, tmp_path)
    for name in weights:
        first, last = curve[0][f"loss_{name}"], curve[-1][f"loss_{name}"]
        assert last < first, f"{method} {name}: {first:.3f} -> {last:.3f}"


CLSR_SMALL = ArchitectureConfig(text_encoder="minilm", projection_dim=32, projection_hidden=64, decoder_dim=64)


def test_clsr_without_the_vq_adaptor_feeds_the_soft_mixture(minilm_path):
    """Seed 002's "w/o VQ" ablation: same weights, the forward pass sees the softmax mixture, not a one-hot."""
    text = make_text_encoder("minilm", minilm_path)
    torch.manual_seed(0)
    vq = _model("clsr", text, CLSR_SMALL).eval()
    soft = _model("clsr", text, dataclasses.replace(CLSR_SMALL, vq_adaptor=False)).eval()
    soft.load_state_dict(vq.state_dict())
    states = list(_states().values())[:2]
    with torch.no_grad():
        assert not torch.allclose(vq.query_embeddings(states), soft.query_embeddings(states))
    soft.train()
    soft(make_batch(_examples(), _states(), random.Random(0), None))["global"].backward()
    assert float(soft.output.weight.grad.abs().sum()) > 0


def test_clsr_losses_fall_and_vq_passes_gradients(minilm_path, tmp_path):
    text = make_text_encoder("minilm", minilm_path)
    model = _model("clsr", text, CLSR_SMALL)
    batch = make_batch(_examples(), _states(), random.Random(0), None)
    model.train()
    model(batch)["global"].backward()  # the contrastive loss alone reaches the decoder only through the VQ adaptor
    grad = model.output.weight.grad
    assert grad is not None and float(grad.abs().sum()) > 0
    assert all(p.grad is None for p in model.text.parameters())  # the text encoder stays frozen
    model.zero_grad()
    curve = _curve(model, {"asr": 1.0, "quantity": 1.0, "global": 1.0}, 10, tmp_path)
    for name in ("asr", "quantity", "global"):
        assert curve[-1][f"loss_{name}"] < curve[0][f"loss_{name}"], name


def test_cif_pretraining_epochs_train_the_quantity_loss_alone(tmp_path):
    model = _model("clar")
    projection = [p.detach().clone() for p in model.audio_proj.parameters()]
    _curve(model, {"global": 1.0, "local": 1.0, "quantity": 1.0}, 1, tmp_path, cif_pretrain_epochs=2,
           stop_after_epochs=2)
    # two epochs of CIF pre-training leave the contrastive heads untouched
    assert all(torch.equal(a, b) for a, b in zip(projection, model.audio_proj.parameters()))


def test_resume_after_a_kill_reproduces_the_uninterrupted_run(tmp_path):
    weights = {"global": 1.0, "local": 1.0, "quantity": 1.0}
    whole = _model("clar")
    _curve(whole, weights, 3, tmp_path / "whole")
    killed = _model("clar")
    _curve(killed, weights, 3, tmp_path / "resumed", stop_after_epochs=1)
    resumed = _model("clar")  # a fresh process: new model, state from the checkpoint
    _curve(resumed, weights, 3, tmp_path / "resumed")
    for (name, a), b in zip(whole.named_parameters(), resumed.parameters()):
        assert torch.allclose(a, b, atol=1e-6), name


def test_save_and_load_round_trip(tmp_path):
    model = _model("clar")
    checkpoint = tmp_path / "tiny.pt"
    whisper = tiny_whisper()
    torch.save({"dims": whisper.dims.__dict__, "model_state_dict": whisper.state_dict()}, checkpoint)
    save_retriever(model, tmp_path / "r", {"model": str(checkpoint), "text_model": "unused"})
    loaded, meta = load_retriever(tmp_path / "r")
    states = list(_states().values())[:2]
    assert torch.allclose(model.eval().query_embeddings(states), loaded.query_embeddings(states), atol=1e-6)
    assert meta["method"] == "clar"


def test_a_retriever_directory_without_weights_is_a_clear_error(tmp_path):
    from workbench.errors import MissingInputError

    with pytest.raises(MissingInputError) as caught:
        load_retriever(tmp_path)
    assert "run train_retriever" in caught.value.args[0] and caught.value.filename == str(tmp_path / "retriever.json")


def test_partly_trained_encoder_top_ignores_padding():
    whisper = tiny_whisper()
    top = EncoderTop(whisper, 1)
    clip = np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)
    lower = encoder_states(whisper, clip, layers=0)  # below the only block
    assert lower.shape == (50, 64)  # 50 frames per second
    alone = top(lower[None], torch.ones(1, 50, dtype=torch.bool))[0]
    padded, mask = pad_states([lower, torch.randn(70, 64)])
    assert torch.allclose(top(padded, mask)[0, :50], alone, atol=1e-5)
    with pytest.raises(ValueError, match="trainable_layers"):
        EncoderTop(whisper, 3)


def test_symbol_encoder_token_ranges():
    chars, phonemes = SymbolEncoder("chars"), SymbolEncoder("phonemes")
    text = "take Trulicity now"
    span = find_span(text, "Trulicity")
    assert chars.token_range(text, *span) == (4, 12)  # non-space characters 4..12
    first, last = phonemes.token_range(text, *span)
    assert 0 < first <= last < phonemes.token_count(text)
    assert phonemes.token_count("Trulicity") == last - first + 1


def test_examples_exclude_evaluation_hotwords_and_find_spans():
    from workbench.data.manifest import Utterance

    utts = [Utterance("a", "a.wav", 1.0, "I take Wegovy daily", "en", "train", hotwords=["Wegovy"]),
            Utterance("b", "b.wav", 1.0, "Ask about Spiriva", "en", "train", hotwords=["Spiriva"])]
    examples, dropped = examples_from(utts, "m", {"spiriva"})
    assert dropped == 1 and [e.id for e in examples] == ["a"]
    assert examples[0].hotword_spans == ((7, 13),)
    assert find_span("cat scatter", "cat") == (0, 3) and find_span("scatter", "cat") is None
    phrase, (start, end) = crop_phrase("one two three four", random.Random(1))
    assert "one two three four"[start:end] == phrase


def test_every_retrieval_experiment_loads():
    from pathlib import Path

    paths = sorted(Path("experiments/retrieval").glob("*.yaml"))
    assert paths
    for path in paths:
        load_retriever_experiment(path)


def test_experiment_errors_name_the_file(tmp_path):
    from workbench.config import ConfigError

    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nmethod: glclap\nlosses: {quantity: 1.0}\n")
    with pytest.raises(ConfigError, match="bad.yaml.*not losses of glclap"):
        load_retriever_experiment(path)


def test_audio_shorter_than_one_cif_token(minilm_path):
    """CLAR falls back to one window over the whole utterance (its documented rule); CLSR has no
    token to transcribe and says so."""
    from workbench.retrieval.evaluation import score_queries

    states = [torch.randn(3, 64)]
    clar = _model("clar").eval()
    with torch.no_grad():
        clar.cif.output.bias.fill_(-30.0)  # alphas ~ 0: no token fires
    frames, spans = clar.alignments(states[0])
    assert spans.shape == (0, 2)
    words = ["Trulicity", "Wegovy"]
    scores = score_queries(clar, states, clar.embed_text(words).detach(), words).scores
    assert np.isfinite(scores).all()
    clsr = _model("clsr", make_text_encoder("minilm", minilm_path),
                  ArchitectureConfig(projection_dim=32, projection_hidden=64, decoder_dim=64)).eval()
    with torch.no_grad():
        clsr.cif.output.bias.fill_(-30.0)
    with pytest.raises(ValueError, match="shorter than one CIF token"):
        clsr.query_embeddings(states)
