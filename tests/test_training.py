"""Whisper-LoRA training: the objective's parts, loss goes down, kill + resume = uninterrupted,
the encoder cache changes nothing, every experiment YAML validates."""

from pathlib import Path

import pytest
import torch

from conftest import REPO
from workbench.asr.lora import LoRAConfig, apply_lora, lora_state_dict
from workbench.asr.whisper_model import encode
from workbench.config import ConfigError
from workbench.features import FeatureStore
from workbench.testing.dummies import tiny_whisper
from workbench.training.data import TrainingItem, epoch_batches
from workbench.training.experiment import load_experiment
from workbench.training.objective import Objective
from workbench.training.trainer import LoopConfig, train

ITEMS = [
    TrainingItem("a", "zh", "我们开meeting讨论", ((3, 10),), ("我们开米听讨论", "我们开讨论"),
                 ("我们开米听讨论", "我们开meeting讨论")),
    TrainingItem("b", "zh", "发email给我", ((1, 6),), ("发一妹儿给我",), ("发一妹儿给我", "发email给我", "发给我")),
    TrainingItem("c", "vi", "gửi email cho tôi", ((4, 9),), ("gửi i meo cho tôi",), ("gửi i meo cho tôi",)),
    TrainingItem("d", "vi", "mở laptop đi", ((3, 9),), (), ("mở láp tóp đi", "mở laptop đi")),
]


def _experiment(tmp_path: Path, text: str):
    path = tmp_path / (text.split("\n")[0].split(": ")[1] + ".yaml")
    path.write_text(text)
    return load_experiment(path)


@pytest.fixture()
def full_experiment(tmp_path):
    return _experiment(tmp_path,
                       "name: everything\nlosses: {wce: 1.0, infonce: 0.5, mwer: 0.3}\npoi_weight: 2.0\ntau: 0.1\n")


def _features(model, n=len(ITEMS), seed=3):
    generator = torch.Generator().manual_seed(seed)
    mel = torch.randn(n, 80, 3000, generator=generator)
    return encode(model, mel)


def test_objective_returns_each_part_and_only_lora_gets_gradients(full_experiment):
    model = apply_lora(tiny_whisper(), LoRAConfig(rank=4, alpha=8))
    features = _features(model)
    parts = Objective(model, full_experiment)(features, ITEMS)
    assert set(parts) == {"wce", "infonce", "mwer"}
    assert all(torch.isfinite(v) for v in parts.values())
    parts.total(full_experiment.losses).backward()
    for name, parameter in model.named_parameters():
        if "lora_" in name:
            assert parameter.grad is not None, name
        else:
            assert parameter.grad is None, name
    assert any(p.grad.abs().sum() > 0 for n, p in model.named_parameters() if "lora_B" in n or "lora_A" in n)


def test_shared_audio_equals_expanded_features(full_experiment):
    """Sequences indexing their clip's keys/values give the logits of features repeated per row."""
    from workbench.training.objective import shared_audio

    model = tiny_whisper()
    objective = Objective(model, full_experiment)
    features = _features(model)
    rows = objective._rows(ITEMS)
    with torch.no_grad(), shared_audio(model, rows.clip):
        shared = model.decoder(rows.inputs, features)
    with torch.no_grad():
        expanded = model.decoder(rows.inputs, features[rows.clip])
    assert torch.allclose(shared, expanded, atol=1e-4)


def _train(tmp_path, experiment, stop_after=None, steps_config=None, features=None, on_resume=lambda step: None):
    model = apply_lora(tiny_whisper(), LoRAConfig(rank=4, alpha=8, dropout=0.1))

    def feature_fn(batch):
        ids = [ITEMS.index(item) for item in batch]
        return features[ids]

    config = steps_config or LoopConfig(learning_rate=1e-2, warmup_steps=0, epochs=3, batch_size=2, checkpoint_every=1,
                                        seed=5)
    losses = []
    done = train(model, Objective(model, experiment), ITEMS, feature_fn, experiment.losses, config, tmp_path,
                 log_metrics=lambda metrics, step: losses.append(metrics["loss"]), stop_after=stop_after,
                 on_resume=on_resume)
    return model, done, losses


def test_training_lowers_the_loss(tmp_path, full_experiment):
    features = _features(tiny_whisper())
    config = LoopConfig(learning_rate=3e-2, warmup_steps=0, epochs=1, batch_size=4, checkpoint_every=10, seed=1)
    model = apply_lora(tiny_whisper(), LoRAConfig(rank=4, alpha=8, dropout=0.0))
    objective = Objective(model, full_experiment)
    with torch.no_grad():
        before = float(objective(features, ITEMS).total(full_experiment.losses))
    for epoch in range(3):  # three steps of one batch holding every item
        train(model, objective, ITEMS, lambda batch: features, full_experiment.losses,
              LoopConfig(**{**config.__dict__, "epochs": epoch + 1}), tmp_path)
    with torch.no_grad():
        after = float(objective(features, ITEMS).total(full_experiment.losses))
    assert after < before


@pytest.fixture()
def one_thread():
    """Multi-threaded CPU reductions differ run to run by ~1e-7 (two uninterrupted runs do too,
    measured); with one thread a run is bit-reproducible, so resume can be checked exactly."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_kill_and_resume_gives_the_uninterrupted_weights(tmp_path, full_experiment, one_thread):
    features = _features(tiny_whisper())
    straight, steps, _ = _train(tmp_path / "straight", full_experiment, features=features)
    assert steps == 6  # 4 items, batches of 2, 3 epochs
    _killed, done, _ = _train(tmp_path / "resumed", full_experiment, stop_after=3, features=features)
    assert done == 3 and (tmp_path / "resumed" / "checkpoint.pt").exists()
    resumed_at: list[int] = []
    resumed, steps, losses = _train(tmp_path / "resumed", full_experiment, features=features,
                                    on_resume=resumed_at.append)  # a fresh process would do this
    assert steps == 6 and len(losses) == 3 and resumed_at == [3]  # only the remaining steps ran
    a, b = lora_state_dict(straight), lora_state_dict(resumed)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_encoder_cache_gives_the_same_loss(full_experiment):
    model = apply_lora(tiny_whisper(), LoRAConfig(rank=4, alpha=8, dropout=0.0))
    generator = torch.Generator().manual_seed(7)
    mel = torch.randn(len(ITEMS), 80, 3000, generator=generator)
    cache = FeatureStore()
    ids = [item.id for item in ITEMS]
    objective = Objective(model, full_experiment)
    with torch.no_grad():
        direct = objective(encode(model, mel), ITEMS).total(full_experiment.losses)
        first = objective(cache.get_or_compute(ids, lambda positions: mel[positions], model), ITEMS)
        second = objective(cache.get_or_compute(ids, lambda positions: mel[positions], model), ITEMS)
        first, second = first.total(full_experiment.losses), second.total(full_experiment.losses)
    assert cache.encoded == len(ITEMS)  # the second epoch encoded nothing
    assert torch.equal(direct, first) and torch.equal(first, second)


def test_batches_depend_only_on_seed_and_epoch():
    assert epoch_batches(ITEMS, 2, 1, 0) == epoch_batches(ITEMS, 2, 1, 0)
    assert (epoch_batches(ITEMS, 2, 1, 0) != epoch_batches(ITEMS, 2, 1, 1)
            or epoch_batches(ITEMS, 2, 1, 2) != epoch_batches(ITEMS, 2, 1, 0))


@pytest.mark.parametrize("path", sorted((REPO / "experiments" / "cs_nmg").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_experiment_yaml_loads_and_validates(path):
    experiment = load_experiment(path)
    assert experiment.name == path.stem and experiment.label


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: bad\nlosses: {ce: 1.0, wce: 1.0}\n", "alternatives"),
        ("name: bad\nlosses: {cross: 1.0}\n", "unknown loss"),
        ("name: bad\nlosses: {ce: 1.0}\nnegatives: {gate: strict}\n", "negatives.gate"),
        ("name: bad\nlosses: {ce: 1.0}\nlr: 3\n", "unknown key"),
        ("name: bad\nlosses: {infonce: 1.0}\ntau: 0\n", "tau"),
        ("name: other\nlosses: {ce: 1.0}\n", "must equal the file name"),
    ],
)
def test_bad_experiments_are_located(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as error:
        load_experiment(path)
    assert str(path) in str(error.value)
