"""LoRA adapters on an openai-whisper model, through peft, keeping the model a ``whisper.Whisper``.

peft's ``inject_adapter_in_model`` replaces the targeted ``Linear`` layers in place with
``lora.Linear`` wrappers and returns the same object, unlike ``get_peft_model``'s ``PeftModel``
wrapper: ``whisper.decode``, ``decode_nbest``, ``transcribe_batch`` and ``teacher_forced_scores``
(which use ``model.encoder``, ``model.decoder``, ``model.dims``, ``model.install_kv_cache_hooks``,
``model.detect_language``) run on the adapted model unchanged. whisper's kv-cache hooks attach to
``attn.key`` / ``attn.value``, which are then the wrappers, so the cache holds the adapted
projections, and ``nbest``'s grouped cross-attention patch calls ``self.query`` / ``self.key`` /
``self.value`` / ``self.out``, the wrappers too.

Adapters are saved on their own (a few MB, not the 290-MB base model) with the ``LoRAConfig`` that
re-creates the wrappers they fit into; ``merge_lora`` folds them into plain weights for decoding
at base-model speed.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import safetensors.torch
import torch
import whisper
from peft import LoraConfig as PeftLoraConfig
from peft import inject_adapter_in_model
from peft.tuners.lora import LoraLayer
from peft.tuners.tuners_utils import BaseTunerLayer

from workbench.data.atomic import atomic_directory
from workbench.errors import CheckpointError, MissingInputError

ATTENTION_PROJECTIONS = ("query", "key", "value", "out")  # Linear names inside whisper's MultiHeadAttention
MLP_LINEARS = ("mlp.0", "mlp.2")  # ResidualAttentionBlock.mlp = Sequential(Linear, GELU, Linear)
SCOPES = ("decoder", "encoder", "both")
ADAPTER_WEIGHTS = "adapter.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
_CONFIG_ATTRIBUTE = "workbench_lora_config"  # set on the adapted model, so save_adapter needs only the model
_FORMAT = 1


@dataclass(frozen=True)
class LoRAConfig:
    """Where and how big the adapters are.

    Seed 003 fixes only the learning rate (1e-3); its rank, alpha and dropout are lost, so these are
    our documented defaults (alpha = 2 x rank: an update scale of 2, the common LoRA choice).
    """

    rank: int = 16
    alpha: int = 32  # the update is scaled by alpha / rank
    dropout: float = 0.05  # on the adapter's input only, in train mode
    targets: tuple[str, ...] = ATTENTION_PROJECTIONS  # projections adapted in each attention module
    scope: str = "decoder"  # "decoder" (self- and cross-attention) | "encoder" | "both"
    mlp: bool = False  # also adapt each block's two MLP linears
    # Cross-attention keys/values project all 1500 encoder frames: adapting them makes a CPU step
    # ~2.5x slower (their backward runs over every frame; measured on whisper base) for a
    # projection of audio that queries can already re-weight. Off by default; seed 003 is silent.
    cross_attention_kv: bool = False

    def __post_init__(self) -> None:
        if self.rank < 1:
            raise ValueError(f"rank must be at least 1, got {self.rank}")
        if self.alpha <= 0:
            raise ValueError(f"alpha must be positive, got {self.alpha}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not isinstance(self.targets, tuple):
            raise TypeError(f"targets must be a tuple of names, got {type(self.targets).__name__}")
        unknown = [t for t in self.targets if t not in ATTENTION_PROJECTIONS]
        if unknown or len(set(self.targets)) != len(self.targets):
            raise ValueError(f"targets must be distinct names among {ATTENTION_PROJECTIONS}, got {self.targets}")
        if not self.targets and not self.mlp:
            raise ValueError("targets is empty and mlp is False: nothing to adapt")
        if self.scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}, got {self.scope!r}")

    def target_modules(self, model: whisper.Whisper) -> list[str]:
        """Full names of the Linear layers to adapt, e.g. ``decoder.blocks.0.cross_attn.key``.

        Full names rather than suffixes: peft matches a suffix such as ``key`` in the encoder too,
        and ``out`` would also match any future module of that name.
        """
        parts = ("encoder", "decoder") if self.scope == "both" else (self.scope,)
        names = []
        for part in parts:
            for i, block in enumerate(getattr(model, part).blocks):
                prefix = f"{part}.blocks.{i}"
                # the encoder's blocks have no cross-attention (cross_attn is None)
                attentions = [a for a in ("attn", "cross_attn") if getattr(block, a, None) is not None]
                names += [
                    f"{prefix}.{attention}.{target}" for attention in attentions for target in self.targets
                    if self.cross_attention_kv or attention != "cross_attn" or target not in ("key", "value")
                ]
                if self.mlp:
                    names += [f"{prefix}.{linear}" for linear in MLP_LINEARS]
        return names

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "targets": list(self.targets)}

    @classmethod
    def from_json(cls, payload: dict) -> LoRAConfig:
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(payload) - fields)
        if unknown:
            raise CheckpointError(f"unknown LoRAConfig fields {unknown}")
        return cls(**{**payload, "targets": tuple(payload.get("targets", cls.targets))})


def has_lora(model: torch.nn.Module) -> bool:
    return any(isinstance(module, BaseTunerLayer) for module in model.modules())


def lora_config_of(model: torch.nn.Module) -> LoRAConfig:
    """The LoRAConfig ``apply_lora`` used on this model."""
    config = getattr(model, _CONFIG_ATTRIBUTE, None)
    if config is None:
        raise ValueError("model has no LoRA adapters from apply_lora / load_adapter")
    return config


def apply_lora(model: whisper.Whisper, config: LoRAConfig) -> whisper.Whisper:
    """Add fresh LoRA adapters (B = 0: the output is unchanged) to ``model`` in place and return it.

    Every other parameter is frozen. The model stays a ``whisper.Whisper`` (see the module doc);
    its train/eval mode is kept, including for the new dropout layers, which peft creates in train
    mode even in an eval model.
    """
    if has_lora(model):
        raise ValueError("model already has LoRA adapters: merge_lora it, or start from a plain Whisper")
    peft_config = PeftLoraConfig(
        r=config.rank, lora_alpha=config.alpha, lora_dropout=config.dropout,
        target_modules=config.target_modules(model), bias="none",  # whisper's key projections have no bias
    )
    training = model.training
    model = inject_adapter_in_model(peft_config, model)
    adapter = set(_adapter_parameter_names(model))
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(name in adapter)
    setattr(model, _CONFIG_ATTRIBUTE, config)
    return model.train(training)


def _adapter_parameter_names(model: torch.nn.Module) -> list[str]:
    """Names of the adapter weights (``...lora_A.default.weight``), by peft's own list of adapter layers."""
    return [
        name for name, _ in model.named_parameters()
        if any(part in LoraLayer.adapter_layer_names for part in name.split("."))
    ]


def trainable_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts: with decoder LoRA at rank 16 on whisper base, ~1 %."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


def lora_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Only the adapter weights, under their full module names in the adapted model.

    Like ``state_dict()``, the tensors share storage with the parameters: clone them to keep a
    snapshot across optimizer steps.
    """
    names = _adapter_parameter_names(model)
    if not names:
        raise ValueError("model has no LoRA adapters")
    state = model.state_dict()
    return {name: state[name] for name in names}


def save_adapter(model: whisper.Whisper, path: Path | str) -> Path:
    """Write directory ``path``: the adapter weights (safetensors) and the config that re-creates them.

    The base model's dims go along, so the adapter is refused on a model of another size.
    """
    config = lora_config_of(model)
    weights = {name: tensor.detach().cpu().contiguous() for name, tensor in lora_state_dict(model).items()}
    payload = {"format": _FORMAT, "lora": config.to_json(), "dims": dataclasses.asdict(model.dims)}
    path = Path(path)
    with atomic_directory(path) as tmp:  # weights and config appear together or not at all
        safetensors.torch.save_file(weights, str(tmp / ADAPTER_WEIGHTS))
        (tmp / ADAPTER_CONFIG).write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def load_adapter(base_model: whisper.Whisper, path: Path | str) -> whisper.Whisper:
    """``base_model`` (in place) with the adapter saved at ``path``: its config re-applied, its weights loaded.

    Strict: a weight the adapter lacks, a weight the config does not create, or a shape that
    differs is an error naming them, never a silently half-loaded adapter; ``base_model`` is then
    left as it was.
    """
    path = Path(path)
    for name in (ADAPTER_CONFIG, ADAPTER_WEIGHTS):
        if not (path / name).is_file():
            raise MissingInputError(path / name, f"adapter file (an adapter directory holds {ADAPTER_CONFIG} and "
                                                 f"{ADAPTER_WEIGHTS})")
    payload = json.loads((path / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    if payload.get("format") != _FORMAT:
        raise CheckpointError(f"{path / ADAPTER_CONFIG}: unsupported adapter format {payload.get('format')!r}")
    dims = dataclasses.asdict(base_model.dims)
    if payload["dims"] != dims:
        differ = {k: (payload["dims"].get(k), v) for k, v in dims.items() if payload["dims"].get(k) != v}
        raise CheckpointError(f"adapter {path} was trained on a model of other dims (adapter, model): {differ}")
    config = LoRAConfig.from_json(payload["lora"])
    weights = safetensors.torch.load_file(str(path / ADAPTER_WEIGHTS))
    requires_grad = {name: p.requires_grad for name, p in base_model.named_parameters()}
    model = apply_lora(base_model, config)
    try:
        _check_adapter_weights(weights, lora_state_dict(model), f"adapter {path} (config {config})")
    except ValueError:  # leave the caller's model as it was
        _remove_adapters(model, merge=False)
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(requires_grad[name])
        raise
    device = next(model.parameters()).device
    model.load_state_dict({n: t.to(device) for n, t in weights.items()}, strict=False)
    return model


def _check_adapter_weights(weights: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], what: str) -> None:
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{what} does not fit: missing {len(missing)} {missing[:4]}, unexpected {len(unexpected)} {unexpected[:4]}"
        )
    wrong = [
        f"{n} {tuple(weights[n].shape)} != {tuple(t.shape)}" for n, t in expected.items() if weights[n].shape != t.shape
    ]
    if wrong:
        raise CheckpointError(f"{what} has weights of the wrong shape (file != config): {wrong[:4]}")


def merge_lora(model: whisper.Whisper) -> whisper.Whisper:
    """Fold the adapters into the base weights (W + B A alpha / rank) and drop the wrappers, in place.

    The result is a plain ``whisper.Whisper`` (same state-dict keys as the base checkpoint) that
    decodes at base-model speed. The adapted model is consumed: deep-copy it first to keep training.
    Parameters keep the adapted model's ``requires_grad`` (frozen base): call ``requires_grad_()``
    on the result to fine-tune it further.
    """
    if not has_lora(model):
        raise ValueError("model has no LoRA adapters to merge")
    return _remove_adapters(model, merge=True)


def _remove_adapters(model: whisper.Whisper, merge: bool) -> whisper.Whisper:
    """Put each wrapped Linear back in place of its peft wrapper, adapter folded in if ``merge``."""
    for name, module in list(model.named_modules()):
        if isinstance(module, BaseTunerLayer):
            if merge:
                module.merge()
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent), child, module.get_base_layer())
    for attribute in (_CONFIG_ATTRIBUTE, "peft_config"):  # peft's config, set by inject_adapter_in_model
        if hasattr(model, attribute):
            delattr(model, attribute)
    return model
