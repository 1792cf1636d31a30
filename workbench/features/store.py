"""Whisper encoder features computed once per utterance, kept in memory or on disk, bound to the encoder.

Every consumer of frozen encoder features reads them from a :class:`FeatureStore`:

- **padded** (``Layout()``): each clip padded to Whisper's 30-s window, the encoder output the ASR
  decoder reads. With LoRA on the decoder only the encoder is frozen, so an utterance's output is
  the same at every epoch and for every variant's evaluation; the encoder is most of a training
  step's forward cost on CPU (0.57 s per 30-s clip for whisper base), so it is paid once. An
  output is ``n_audio_ctx x n_audio_state`` floats: 3 MB per clip for whisper base in float32.
- **own length** (``Layout(OWN)``): each clip at its own length (about 8x cheaper for 3-4 s
  clips), for the retrievers and the speech LLM; ``below_top_layers`` keeps the states below the
  top blocks that a partly trained encoder runs itself. float16 by default (the towers trained on
  them see the rounding in training and evaluation alike).

A store without a directory keeps features in memory (computed in a training run's first epoch,
reused after). With a directory they live in safetensors shards, one written atomically per
``add`` call and named by a hash of its ids, next to ``meta.json`` (layout, dtype, dims and
fingerprint), and are read back memory-mapped (the OS page cache keeps what fits: a corpus of
10,000 padded clips is 30 GB). A killed run leaves whole shards only; a rerun skips them.

The fingerprint binds a store to what its features are of: the encoder's weights (SHA-256 of every
encoder tensor and the model dims), the layout and the number of encoder blocks run. Features of
another checkpoint, of an encoder trained since, or of another layout would silently be the wrong
inputs, so they are refused with an error naming the store.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import weakref
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import safetensors
import safetensors.torch
import torch
import whisper
from whisper.audio import N_FRAMES

from workbench.asr.whisper_model import encode
from workbench.data.atomic import atomic_path, write_json_atomic
from workbench.errors import ConfigError, InputError, MissingInputError
from workbench.features.encoder import mel_states

META = "meta.json"
FORMAT = 2  # 1: the padded-only EncoderCache; FrameStore's meta had no format
PADDED, OWN = "padded", "own"
DTYPES = {"float32": torch.float32, "float16": torch.float16}


@dataclasses.dataclass(frozen=True)
class Layout:
    """Which encoder features: ``length`` "padded" (30-s window) or "own" (the clip's own length),
    stopped ``below_top_layers`` encoder blocks below the top (own length only; 0: the encoder output)."""

    length: str = PADDED
    below_top_layers: int = 0

    def __post_init__(self):
        if self.length not in (PADDED, OWN):
            raise ConfigError(f"feature layout must be {PADDED!r} or {OWN!r}, got {self.length!r}")
        if self.below_top_layers < 0:
            raise ConfigError(f"below_top_layers must be >= 0, got {self.below_top_layers}")
        if self.length == PADDED and self.below_top_layers:
            raise ConfigError("padded features are the whole encoder's output (what the ASR decoder reads): "
                              "below_top_layers (encode --trainable-layers) needs the own-length layout")

    @property
    def default_dtype(self) -> str:
        return "float32" if self.length == PADDED else "float16"

    def layers(self, model_dims) -> int:
        """Encoder blocks run for these features (all of them: the output, with ln_post)."""
        layers = model_dims.n_audio_layer - self.below_top_layers
        if layers < 0:
            raise ConfigError(f"below_top_layers={self.below_top_layers}, "
                              f"but the encoder has {model_dims.n_audio_layer} blocks")
        return layers

    def __str__(self) -> str:
        if self.length == PADDED:
            return "30-s-padded features"
        below = f" below the top {self.below_top_layers} encoder block(s)" if self.below_top_layers else ""
        return "own-length features" + below


def encoder_fingerprint(model: whisper.Whisper) -> str:
    """SHA-256 of the model dims and every encoder tensor (names, dtypes, shapes, bytes).

    Every tensor, not a sample: a merged encoder LoRA changes only some attention projections, and
    hashing the whole whisper base encoder (20 M parameters) takes a fraction of one clip's encoding.
    """
    digest = hashlib.sha256(json.dumps(dataclasses.asdict(model.dims), sort_keys=True).encode())
    for name, tensor in model.encoder.state_dict().items():
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def feature_fingerprint(model: whisper.Whisper, layout: Layout) -> str:
    """What a store's features are of: ``<encoder sha256>-<length>-layers<blocks run>``."""
    return f"{encoder_fingerprint(model)}-{layout.length}-layers{layout.layers(model.dims)}"


def _weight_versions(model: whisper.Whisper) -> tuple | None:
    """Identity and in-place version counter of every encoder tensor: unchanged means the same weights.

    An optimizer step or ``load_state_dict`` bumps the counters, so the fingerprint is recomputed
    only then. None where a tensor has no counter (made under inference mode): hash every time.
    """
    try:
        return tuple((id(t), t._version) for t in itertools.chain(model.encoder.parameters(), model.encoder.buffers()))
    except RuntimeError:
        return None


class FeatureStore:
    """Encoder features by utterance id, of one :class:`Layout`, in memory (``directory=None``) or
    in a directory of safetensors shards.

    ``dtype`` ("float32"/"float16") is the storage precision; None takes the directory's, or the
    layout's default for a new store. Writing: ``add`` / ``get_or_compute`` encode what is missing.
    Reading: ``load`` (rows by id) and ``stacked`` (a padded batch for a model) never encode.
    """

    def __init__(self, directory: Path | str | None = None, layout: Layout = Layout(), dtype: str | None = None):
        if dtype is not None and dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
        self.directory = Path(directory) if directory is not None else None
        self.layout = layout
        self.dtype = dtype
        self.fingerprint: str | None = None
        self.encoded = 0  # clips this object has run through the encoder
        self._memory: dict[str, torch.Tensor] = {}  # without a directory
        self._shards: dict[str, Path] = {}  # with a directory: id -> shard holding it
        self._checked: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> weight versions
        if self.directory is not None:
            self._open()
        self.dtype = self.dtype or layout.default_dtype

    @classmethod
    def open(cls, directory: Path | str, layout: Layout = Layout()) -> FeatureStore:
        """The store an ``encode`` run wrote into ``directory``, which must exist and hold ``layout``."""
        if not (Path(directory) / META).is_file():
            raise MissingInputError(directory, f"feature store (run `workbench encode --layout {layout.length}` first)")
        return cls(directory, layout)

    def __len__(self) -> int:
        return len(self._shards) if self.directory is not None else len(self._memory)

    def __contains__(self, utt_id: str) -> bool:
        return utt_id in (self._shards if self.directory is not None else self._memory)

    def __str__(self) -> str:
        return f"feature store {self.directory}" if self.directory is not None else "in-memory feature store"

    @property
    def _torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    def _open(self) -> None:
        meta_path = self.directory / META
        shards = sorted(self.directory.glob("shard-*.safetensors")) if self.directory.is_dir() else []
        if not meta_path.is_file():
            if shards:
                raise InputError(f"{self.directory} has feature shards but no {META}: not a store this class wrote")
            return
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            raise InputError(f"{self.directory} was written by an earlier workbench (feature store format "
                             f"{meta.get('format')!r}, not {FORMAT}): delete it and rerun `workbench encode`")
        stored = Layout(meta["layout"], meta["below_top_layers"])
        if stored != self.layout:
            raise InputError(f"{self.directory} holds {stored}, not {self.layout}: rerun `workbench encode "
                             f"--layout {self.layout.length}` into another directory")
        if self.dtype is not None and meta["dtype"] != self.dtype:
            raise InputError(f"{self.directory} stores {meta['dtype']}, not {self.dtype}: open it with "
                             f"dtype={meta['dtype']!r}, or use another directory")
        self.dtype, self.fingerprint = meta["dtype"], meta["fingerprint"]
        for shard in shards:
            with safetensors.safe_open(str(shard), framework="pt") as handle:
                if (handle.metadata() or {}).get("fingerprint") != self.fingerprint:
                    raise InputError(f"{shard} was written for other encoder weights than {meta_path} records")
                for utt_id in handle.keys():
                    self._shards[utt_id] = shard

    def bind(self, model: whisper.Whisper) -> FeatureStore:
        """Check that the store holds features of ``model``'s encoder (the first model binds a new store)."""
        versions = _weight_versions(model)
        if versions is not None and self._checked.get(model) == versions:
            return self
        fingerprint = feature_fingerprint(model, self.layout)
        if self.fingerprint is None:
            self.fingerprint = fingerprint
            if self.directory is not None:
                write_json_atomic(self.directory / META, {
                    "format": FORMAT, "fingerprint": fingerprint, "layout": self.layout.length,
                    "below_top_layers": self.layout.below_top_layers, "layers": self.layout.layers(model.dims),
                    "dtype": self.dtype, "dims": dataclasses.asdict(model.dims),
                })
        elif fingerprint != self.fingerprint:
            if model in self._checked:
                raise InputError(
                    f"this model's encoder weights changed since {self} checked them: the store holds "
                    "outputs of a frozen encoder (train LoRA with scope='decoder' when using it)"
                )
            self.check(fingerprint)
        if versions is not None:
            self._checked[model] = versions
        return self

    def check(self, fingerprint: str) -> FeatureStore:
        """Refuse unless the store holds the features ``fingerprint`` names (e.g. a trained retriever's)."""
        if fingerprint != self.fingerprint:
            raise InputError(
                f"{self} holds {self.layout} of other encoder weights or depth (fingerprint "
                f"{_short(self.fingerprint)}, expected {_short(fingerprint)}): use the checkpoint it was built "
                "with, or rerun `workbench encode` into another directory"
            )
        return self

    def add(self, ids: Sequence[str], mel_fn: Callable[[list[int]], torch.Tensor | list[torch.Tensor]],
            model: whisper.Whisper) -> dict[str, torch.Tensor]:
        """Encode the utterances of ``ids`` not stored yet and store them (one shard); returns them.

        ``mel_fn(positions)`` gets the positions in ``ids`` of those utterances and returns their
        log-mels in that order: [n, n_mels, 3000] padded, or a list of [n_mels, 2T] own length.
        """
        self.bind(model)
        first: dict[str, int] = {}
        for position, utt_id in enumerate(ids):
            if utt_id not in self:
                first.setdefault(utt_id, position)
        if not first:
            return {}
        features = self._encode(model, mel_fn(list(first.values())), len(first))
        self.encoded += len(first)
        fresh = dict(zip(first, features))
        self._store(fresh)
        return fresh

    def _encode(self, model: whisper.Whisper, mels, count: int) -> list[torch.Tensor]:
        """Features of ``count`` log-mels in the storage dtype on the CPU, each in its own storage."""
        if self.layout.length == PADDED:
            expected = (count, model.dims.n_mels, N_FRAMES)
            if tuple(mels.shape) != expected:
                raise ValueError(f"mel_fn returned {tuple(mels.shape)} for {count} utterances; expected {expected}")
            features = encode(model, mels.to(next(model.encoder.parameters()).device)).to("cpu", self._torch_dtype)
            return [row.clone() for row in features]
        if len(mels) != count:
            raise ValueError(f"mel_fn returned {len(mels)} log-mels for {count} utterances")
        layers = self.layout.layers(model.dims)
        return [mel_states(model, mel, layers).to("cpu", self._torch_dtype).contiguous() for mel in mels]

    def get_or_compute(self, ids: Sequence[str], mel_fn: Callable[[list[int]], torch.Tensor],
                       model: whisper.Whisper) -> torch.Tensor:
        """Padded features [len(ids), n_audio_ctx, n_audio_state] on the model's device and dtype,
        encoding (in one ``add``) the ones not stored yet. Every output goes through the storage
        dtype, including the ones just computed, so each epoch sees the same features."""
        fresh = self.add(ids, mel_fn, model)
        return self._stack(ids, model, fresh)

    def stacked(self, ids: Sequence[str], model: whisper.Whisper) -> torch.Tensor:
        """Stored padded features of ``ids`` for ``model`` (checked against its encoder), stacked
        on its device and dtype; an utterance not in the store is an error, never encoded here."""
        self.bind(model)
        return self._stack(ids, model, {})

    def _stack(self, ids: Sequence[str], model: whisper.Whisper, fresh: dict[str, torch.Tensor]) -> torch.Tensor:
        parameter = next(model.encoder.parameters())
        if not ids:
            shape = (0, model.dims.n_audio_ctx, model.dims.n_audio_state)
            return torch.empty(shape, device=parameter.device, dtype=parameter.dtype)
        rows = {**self._rows([i for i in dict.fromkeys(ids) if i not in fresh]), **fresh}
        return torch.stack([rows[utt_id] for utt_id in ids]).to(parameter.device, parameter.dtype)

    def load(self, ids: Iterable[str]) -> dict[str, torch.Tensor]:
        """Stored features by id, as float32 on the CPU (check them with ``bind``/``check`` first)."""
        return {utt_id: row.float() for utt_id, row in self._rows(list(dict.fromkeys(ids))).items()}

    def _store(self, features: dict[str, torch.Tensor]) -> None:
        if self.directory is None:
            self._memory.update(features)
            return
        name = hashlib.sha1("\n".join(sorted(features)).encode()).hexdigest()[:16]
        shard = self.directory / f"shard-{name}.safetensors"
        with atomic_path(shard) as tmp:
            safetensors.torch.save_file(features, str(tmp), metadata={"fingerprint": self.fingerprint})
        self._shards.update(dict.fromkeys(features, shard))

    def _rows(self, ids: list[str]) -> dict[str, torch.Tensor]:
        missing = [utt_id for utt_id in ids if utt_id not in self]
        if missing:
            raise InputError(f"{self}: {len(missing)} utterance(s) not in it, e.g. {missing[:3]}; "
                             f"rerun `workbench encode --layout {self.layout.length}` with their manifests")
        if self.directory is None:
            return {utt_id: self._memory[utt_id] for utt_id in ids}
        by_shard: dict[Path, list[str]] = {}
        for utt_id in ids:
            by_shard.setdefault(self._shards[utt_id], []).append(utt_id)
        rows = {}
        for shard, shard_ids in by_shard.items():  # one open per shard
            with safetensors.safe_open(str(shard), framework="pt") as handle:
                rows.update({utt_id: handle.get_tensor(utt_id) for utt_id in shard_ids})
        return rows


def _short(fingerprint: str | None) -> str:
    return "none" if fingerprint is None else f"{fingerprint[:12]}…{fingerprint[64:]}"
