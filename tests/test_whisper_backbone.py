"""The Whisper backbone of the speech LLM (issue 21), on real Whisper tiny.en weights: the
transformers copy computes what openai-whisper does, the prompt is Whisper's previous-text slot,
and SFT -> GRPO -> eval_contextual (with the vanilla row) run through the stages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import whisper

from conftest import write_speech_corpus
from workbench.asr.whisper_model import load_whisper
from workbench.cli import main
from workbench.data import load_audio
from workbench.speechllm.prompts import PromptConfig
from workbench.speechllm.whisper_backbone import WhisperBackboneConfig, build_whisper_backbone, hf_whisper

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ROWS = [json.loads(line) for line in (FIXTURES / "tiny.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def original(whisper_tiny_en_path):
    return load_whisper(whisper_tiny_en_path)


@pytest.fixture(scope="module")
def backbone(whisper_tiny_en_path):
    return build_whisper_backbone(str(whisper_tiny_en_path), WhisperBackboneConfig(prompt_style="list"),
                                  lora=False).eval()


@pytest.fixture(scope="module")
def padded_states(original):
    mels = torch.stack([whisper.log_mel_spectrogram(whisper.pad_or_trim(torch.from_numpy(
        load_audio(FIXTURES / r["audio"]))), original.dims.n_mels) for r in ROWS])
    with torch.no_grad():
        return list(original.encoder(mels))


def test_the_transformers_copy_computes_what_openai_whisper_does(original, padded_states):
    tokenizer = whisper.tokenizer.get_tokenizer(False)
    head = tokenizer.sot_sequence_including_notimestamps
    ids = torch.tensor([[tokenizer.sot_prev, *tokenizer.encode(" Ponyo"), *head,
                         *tokenizer.encode(" My daughter watches Ponyo")]])
    features = padded_states[1][None]
    with torch.no_grad():
        expected = original.decoder(ids, features)
        got = hf_whisper(original)(encoder_outputs=(features,), decoder_input_ids=ids).logits
    assert torch.allclose(expected, got, atol=1e-4)


def test_tokenizer_and_prompt_ids_are_whispers(backbone):
    tokenizer = backbone.whisper_tokenizer
    for text in (" My daughter watches Ponyo, every single weekend.", " 这个问题你先Google一下", "  two  spaces\n"):
        assert backbone.tokenizer(text, add_special_tokens=False)["input_ids"] == tokenizer.encode(text)
    head = list(tokenizer.sot_sequence_including_notimestamps)
    assert backbone.prompt_ids([], PromptConfig(), "en") == head
    assert backbone.prompt_ids(["Ponyo", "Totoro"], PromptConfig(), "en") == \
        [tokenizer.sot_prev, *tokenizer.encode(" Ponyo, Totoro"), *head]
    listed = backbone.config
    try:
        backbone.config = WhisperBackboneConfig()  # the default: seed 001's sentence for English
        assert backbone.render_prompt(["Ponyo"], PromptConfig(), "en").startswith(
            "<|startofprev|> These biasing words you may use: Ponyo<|startoftranscript|>")
        # other languages get the bare list: an English sentence reads as earlier English speech
        assert backbone.render_prompt(["Google"], PromptConfig(), "zh").startswith("<|startofprev|> Google<|")
    finally:
        backbone.config = listed
    assert backbone.completion_ids("My daughter") == [*tokenizer.encode(" My daughter"), tokenizer.eot]


def test_greedy_generation_matches_openai_whisper_and_batches_like_single_clips(backbone, original, padded_states):
    from whisper.decoding import DecodingOptions, decode

    from workbench.speechllm.decoding import generate

    options = DecodingOptions(language="en", without_timestamps=True, fp16=False, sample_len=32)
    with torch.no_grad():
        expected = [r.text for r in decode(original, torch.stack(padded_states), options)]
    prompts = [backbone.prompt_ids([], PromptConfig(), r["language"]) for r in ROWS]
    assert [n[0] for n in generate(backbone, padded_states, prompts, max_new_tokens=32)] == expected
    # a batch with prompts of different lengths (left padding) decodes as the clips do alone
    listed = [backbone.prompt_ids(["Ponyo"], PromptConfig(), "en"), prompts[1]]
    batched = generate(backbone, padded_states, listed, max_new_tokens=32)
    singles = [generate(backbone, [s], [p], max_new_tokens=32)[0] for s, p in zip(padded_states, listed)]
    assert batched == singles


@pytest.fixture(scope="module")
def padded_store(tmp_path_factory, whisper_tiny_en_path):
    root = write_speech_corpus(tmp_path_factory.mktemp("whisper-backbone"))
    assert main(["encode", "--layout", "padded", str(root / "train.jsonl"), str(root / "test.jsonl"),
                 "--out", str(root / "frames"), "--set", f"model={whisper_tiny_en_path}"]) == 0
    return root


def test_states_come_from_every_store_of_the_layout(padded_store, whisper_tiny_en_path, tmp_path):
    from workbench.errors import InputError
    from workbench.speechllm.data import encoder_states

    root = padded_store
    other = tmp_path / "other"
    rows = [json.loads(line) for line in (root / "test.jsonl").read_text().splitlines()]
    (root / "one.jsonl").write_text(json.dumps(rows[1]) + "\n")
    assert main(["encode", "--layout", "padded", str(root / "one.jsonl"), "--out", str(other),
                 "--set", f"model={whisper_tiny_en_path}"]) == 0
    states = encoder_states([other, root / "frames"], str(whisper_tiny_en_path), [r["id"] for r in rows], "padded")
    assert list(states) == [r["id"] for r in rows] and all(s.shape[0] == 1500 for s in states.values())
    with pytest.raises(InputError, match="not in it"):
        encoder_states([other], str(whisper_tiny_en_path), [r["id"] for r in rows], "padded")


def test_sft_grpo_and_eval_on_the_whisper_backbone(padded_store, whisper_tiny_en_path):
    root = padded_store
    common = ["--set", "tracking.backend=disk", "--set", f"tracking.uri={root / 'runs'}"]
    data = ["--manifest", str(root / "train.jsonl"), "--vocabulary", str(root / "words.txt"),
            "--frames", str(root / "frames")]
    sft = root / "sft"
    assert main(["sft_speechllm", *data, "--out", str(sft), *common, "--set", f"model={whisper_tiny_en_path}",
                 "--set", "whisper.lora_rank=4", "--set", "loop.epochs=2", "--set", "loop.batch_size=2",
                 "--set", "loop.warmup_steps=1", "--set", "loop.learning_rate=0.001"]) == 0
    summary = json.loads((sft / "train.json").read_text())
    assert summary["steps"] == 2 and summary["utterances"] == 2
    meta = json.loads((sft / "model" / "speechllm.json").read_text())
    assert meta["backbone"] == "whisper" and meta["whisper"] == str(whisper_tiny_en_path)

    grpo = root / "grpo"
    assert main(["grpo_speechllm", "--sft", str(sft / "model"), *data, "--out", str(grpo), *common,
                 "--set", "num_generations=2", "--set", "max_steps=2", "--set", "max_completion_length=12",
                 "--set", "learning_rate=0.01"]) == 0
    summary = json.loads((grpo / "train.json").read_text())
    assert summary["steps"] == 2 and summary["lora_tensors_changed"] > 0

    out = root / "eval"
    assert main(["eval_contextual", "--manifest", str(root / "test.jsonl"), "--models", f"sft={sft / 'model'}",
                 f"grpo={grpo / 'model'}", "--rankings", str(root / "rankings.jsonl"), "--frames", str(root / "frames"),
                 "--out", str(out), *common, "--set", f"vanilla={whisper_tiny_en_path}",
                 "--set", "conditions=[NA, GT, top1]", "--set", "joint_conditions=[top1]",
                 "--set", "decoding.max_new_tokens=24", "--set", "joint_decoding.max_new_tokens=24",
                 "--set", "joint_decoding.beam_size=2", "--set", "joint_decoding.joint_n_best=2"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["models"]) == {"vanilla", "sft", "grpo"}
    vanilla = metrics["models"]["vanilla"]["greedy"]
    # tiny.en transcribes the English clip before any training: a real ASR, not noise
    hypotheses = [json.loads(line) for line in (out / "hypotheses.jsonl").read_text().splitlines()]
    english = [h for h in hypotheses if h["model"] == "vanilla" and h["condition"] == "NA"
               and h["id"] == "en_entities-0101"]
    assert "daughter watches" in english[0]["hypothesis"].lower()
    assert vanilla["GT"]["list_recall"] == 1.0 and "top1" in metrics["models"]["grpo"]["joint"]


def test_any_corpus_in_one_command_encodes_ranks_phonetically_and_scores(padded_store, whisper_tiny_en_path, tmp_path):
    root = padded_store
    out, frames = tmp_path / "eval", tmp_path / "frames"
    assert main(["eval_contextual", "--manifest", str(root / "test.jsonl"), "--vocabulary", str(root / "words.txt"),
                 "--frames", str(frames), "--encode", "--out", str(out), "--set", f"vanilla={whisper_tiny_en_path}",
                 "--set", "tracking.backend=disk", "--set", f"tracking.uri={tmp_path / 'runs'}",
                 "--set", "conditions=[NA, top2]", "--set", "joint_conditions=[]",
                 "--set", "decoding.max_new_tokens=24"]) == 0
    assert json.loads((frames / "meta.json").read_text())["layout"] == "padded"
    hypotheses = [json.loads(line) for line in (out / "hypotheses.jsonl").read_text().splitlines()]
    words = set((root / "words.txt").read_text().split())
    lists = [h["list"] for h in hypotheses if h["condition"] == "top2"]
    assert len(lists) == 2 and all(len(x) == 2 and set(x) <= words for x in lists)
    assert set(json.loads((out / "metrics.json").read_text())["models"]) == {"vanilla"}
