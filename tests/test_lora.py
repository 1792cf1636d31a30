"""LoRA adapters on a tiny random Whisper (freezing, save/load, merge, decoding)."""

import copy
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from workbench.asr.lora import (
    LoRAConfig,
    apply_lora,
    has_lora,
    load_adapter,
    lora_state_dict,
    merge_lora,
    save_adapter,
    trainable_parameters,
)
from workbench.asr.nbest import NBestOptions, decode_nbest
from workbench.asr.transcribe import TranscribeOptions, transcribe_batch
from workbench.asr.whisper_model import encode
from workbench.testing.dummies import tiny_whisper

SOT_EN = [50258, 50259, 50359, 50363]  # <|startoftranscript|><|en|><|transcribe|><|notimestamps|>
CONFIG = LoRAConfig(rank=4, alpha=8)


@pytest.fixture(scope="module")
def base():
    return tiny_whisper()


@pytest.fixture(scope="module")
def mel():
    torch.manual_seed(1)
    return torch.randn(2, 80, 3000)


@pytest.fixture(scope="module")
def features(base, mel):
    return encode(base, mel)


@pytest.fixture(scope="module")
def tokens():
    return torch.tensor([SOT_EN + [400, 1000, 2000, 50257]] * 2)


def adapted(base, config=CONFIG, perturb: float = 0.0):
    """A LoRA copy of ``base``; ``perturb`` > 0 gives the B matrices random values (a trained-like adapter)."""
    model = apply_lora(copy.deepcopy(base), config)
    if perturb:
        generator = torch.Generator().manual_seed(5)
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if "lora_B" in name:
                    parameter.copy_(torch.randn(parameter.shape, generator=generator) * perturb)
    return model


def decoder_logits(model, tokens, features):
    with torch.no_grad():
        return model.decoder(tokens[:, :-1], features)


def decoder_loss(model, tokens, features):
    logits = model.decoder(tokens[:, :-1], features)
    return F.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten())


# --- config ---


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"rank": 0}, "rank"), ({"alpha": 0}, "alpha"), ({"dropout": 1.0}, "dropout"),
        ({"targets": ("query", "mlp")}, "targets"), ({"targets": ("key", "key")}, "targets"),
        ({"targets": ()}, "targets is empty"), ({"scope": "all"}, "scope"),
    ],
)
def test_config_names_the_bad_field(overrides, field):
    with pytest.raises(ValueError, match=field):
        LoRAConfig(**overrides)
    with pytest.raises(TypeError, match="targets must be a tuple"):
        LoRAConfig(targets=["query"])


def test_target_modules_follow_scope(base):
    decoder = LoRAConfig().target_modules(base)
    assert len(decoder) == 2 * (4 + 2)  # 2 blocks x (attn: q, k, v, out; cross_attn: q, out)
    assert "decoder.blocks.0.cross_attn.query" in decoder and "decoder.blocks.1.attn.out" in decoder
    assert "decoder.blocks.0.cross_attn.key" not in decoder  # frozen audio projections by default
    with_kv = LoRAConfig(cross_attention_kv=True).target_modules(base)
    assert len(with_kv) == 2 * 2 * 4 and "decoder.blocks.0.cross_attn.key" in with_kv
    assert all(name.startswith("decoder.") for name in decoder)
    encoder = LoRAConfig(scope="encoder", targets=("query", "value"), mlp=True).target_modules(base)
    assert encoder == [
        "encoder.blocks.0.attn.query", "encoder.blocks.0.attn.value",
        "encoder.blocks.0.mlp.0", "encoder.blocks.0.mlp.2",
    ]
    both = LoRAConfig(scope="both").target_modules(base)
    assert len(both) == len(decoder) + 4


# --- training behaviour ---


def test_only_lora_parameters_train(base, features, tokens):
    model = adapted(base).train()
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert names and all(".lora_A." in n or ".lora_B." in n for n in names)
    assert len(names) == 2 * 12  # A and B for each of the 12 adapted projections (cross-attention k/v frozen)
    trainable, total = trainable_parameters(model)
    assert trainable == sum(p.numel() for n, p in model.named_parameters() if n in names)
    assert total == sum(p.numel() for p in base.parameters()) + trainable

    decoder_loss(model, tokens, features).backward()
    for name, parameter in model.named_parameters():
        assert (parameter.grad is not None) == (name in names), name
    before = copy.deepcopy(model.state_dict())
    torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3).step()
    after = model.state_dict()
    for name in before:
        if name in names:
            if ".lora_B." in name:  # A's gradient is 0 while B = 0; B's is not
                assert not torch.equal(before[name], after[name]), name
        else:
            assert torch.equal(before[name], after[name]), name


def test_fresh_adapter_leaves_logits_unchanged(base, features, tokens):
    model = adapted(base)
    assert not model.training and not any(m.training for m in model.modules())  # peft's dropouts follow eval
    assert torch.equal(decoder_logits(model, tokens, features), decoder_logits(base, tokens, features))
    assert torch.equal(model.encoder(features.new_zeros(1, 80, 3000)), base.encoder(features.new_zeros(1, 80, 3000)))


def test_apply_twice_is_refused(base, tmp_path):
    model = adapted(base)
    with pytest.raises(ValueError, match="already has LoRA"):
        apply_lora(model, CONFIG)
    save_adapter(model, tmp_path / "adapter")
    with pytest.raises(ValueError, match="already has LoRA"):
        load_adapter(model, tmp_path / "adapter")


# --- save / load / merge ---


def test_save_load_round_trip(base, features, tokens, tmp_path):
    model = adapted(base, perturb=0.05)
    expected = decoder_logits(model, tokens, features)
    assert not torch.equal(expected, decoder_logits(base, tokens, features))
    save_adapter(model, tmp_path / "adapter")
    assert set(lora_state_dict(model)) == set(lora_state_dict(load_adapter(copy.deepcopy(base), tmp_path / "adapter")))
    loaded = load_adapter(copy.deepcopy(base), tmp_path / "adapter")
    assert torch.equal(decoder_logits(loaded, tokens, features), expected)
    assert json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())["lora"]["rank"] == CONFIG.rank


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"targets": ["query", "key"]}, r"missing 0 \[\], unexpected 12"),  # file has value/out, config does not
        ({"scope": "both"}, r"missing 8 \['encoder\.blocks\.0"),
        ({"rank": 8}, "wrong shape"),
    ],
)
def test_load_with_another_config_errors(base, tmp_path, edit, message):
    save_adapter(adapted(base), tmp_path / "adapter")
    config_path = tmp_path / "adapter" / "adapter_config.json"
    payload = json.loads(config_path.read_text())
    payload["lora"].update(edit)
    config_path.write_text(json.dumps(payload))
    model = copy.deepcopy(base)
    with pytest.raises(ValueError, match=message):
        load_adapter(model, tmp_path / "adapter")
    assert not has_lora(model) and list(model.state_dict()) == list(base.state_dict())  # left as it was
    assert all(p.requires_grad for p in model.parameters())


def test_load_into_other_dims_errors(base, tmp_path):
    save_adapter(adapted(base), tmp_path / "adapter")
    with pytest.raises(ValueError, match="other dims.*n_vocab"):
        load_adapter(tiny_whisper(multilingual=False), tmp_path / "adapter")
    with pytest.raises(FileNotFoundError, match="adapter_config.json"):
        load_adapter(copy.deepcopy(base), tmp_path)


def test_merge_matches_adapted_model(base, features, tokens):
    model = adapted(base, LoRAConfig(rank=4, alpha=8, scope="both", mlp=True), perturb=0.05)
    mel = torch.randn(2, 80, 3000, generator=torch.Generator().manual_seed(2))
    expected = decoder_logits(model, tokens, encode(model, mel))  # the encoder is adapted too
    merged = merge_lora(model)
    assert type(merged) is type(base) and not has_lora(merged)
    assert list(merged.state_dict()) == list(base.state_dict())  # plain whisper keys: loadable as a checkpoint
    actual = decoder_logits(merged, tokens, encode(merged, mel))
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)


# --- decoding on the adapted model ---


def test_decode_nbest_on_adapted_model(base, mel):
    """Non-zero adapters (cross-attention included: nbest's grouped cross-attention patch calls the
    wrapped projections, whisper's kv-cache hooks sit on them) search as the merged weights do."""
    options = NBestOptions(beam_size=2, n_best=2, language="en", max_tokens=5)
    model = adapted(base, perturb=0.05)
    results = decode_nbest(model, mel, options)
    merged = decode_nbest(merge_lora(copy.deepcopy(model)), mel, options)
    assert [[h.tokens for h in r.hyps] for r in results] == [[h.tokens for h in r.hyps] for r in merged]
    for result, reference in zip(results, merged):
        assert [h.sum_logprob for h in result.hyps] == pytest.approx([h.sum_logprob for h in reference.hyps], abs=1e-3)


def test_transcribe_batch_on_adapted_model(base):
    """Greedy: a batch through whisper's own attention forward (nbest's patch is not used here)."""
    rng = np.random.default_rng(0)
    clips = [(0.1 * rng.standard_normal(16000)).astype(np.float32) for _ in range(2)]
    options = TranscribeOptions(language="en", fallback_temperatures=(), max_tokens_per_second=1.0)
    model = adapted(base, perturb=0.05)
    results = transcribe_batch(model, clips, options)
    merged = transcribe_batch(merge_lora(copy.deepcopy(model)), clips, options)
    assert len(results) == 2 and [r.tokens for r in results] == [r.tokens for r in merged]

