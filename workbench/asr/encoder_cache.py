"""Whisper encoder outputs computed once per utterance and reused every epoch.

With LoRA on the decoder only (``LoRAConfig(scope="decoder")``) the encoder is frozen, so an
utterance's encoder output is the same at every epoch; the encoder is most of a training step's
forward cost on CPU (0.57 s per 30-s clip for whisper base), so it is paid once per utterance.

An output is ``n_audio_ctx x n_audio_state`` floats: 3 MB per clip for whisper base in float32
(1.5 MB in float16, ``dtype=torch.float16``, which changes losses slightly: the decoder then sees
features rounded to 11 bits). A cache without a directory keeps them in memory; with a directory
they live in safetensors shards and are read back on demand (memory-mapped, so the OS page cache
keeps what fits), since a corpus of 10,000 clips is 30 GB, more than this machine's memory.

The cache is bound to the encoder's weights by a fingerprint (SHA-256 of every encoder tensor and
the model dims): features from another checkpoint, or from an encoder that has been trained since,
would silently be the wrong inputs, so they are refused.
"""

from __future__ import annotations

from workbench.errors import InputError, MissingInputError

import dataclasses
import hashlib
import itertools
import json
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path

import safetensors
import safetensors.torch
import torch
import whisper
from whisper.audio import N_FRAMES

from workbench.asr.whisper_model import encode
from workbench.data.atomic import atomic_path, write_json_atomic

META = "meta.json"
_FORMAT = 1
_DTYPES = {"float32": torch.float32, "float16": torch.float16}


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


def _weight_versions(model: whisper.Whisper) -> tuple | None:
    """Identity and in-place version counter of every encoder tensor: unchanged means the same weights.

    An optimizer step or ``load_state_dict`` bumps the counters, so the fingerprint is recomputed
    only then. None where a tensor has no counter (made under inference mode): hash every time.
    """
    try:
        return tuple((id(t), t._version) for t in itertools.chain(model.encoder.parameters(), model.encoder.buffers()))
    except RuntimeError:
        return None


class EncoderCache:
    """Encoder outputs by utterance id, in memory or in a directory of safetensors shards.

    Each ``get_or_compute`` call that encodes something writes one shard atomically (named by a
    hash of its ids), next to ``meta.json`` (fingerprint, dtype, dims): a killed run leaves whole
    shards only, and a fresh ``EncoderCache`` on the same directory finds them.
    """

    def __init__(self, directory: Path | str | None = None, dtype: torch.dtype = torch.float32):
        if dtype not in _DTYPES.values():
            raise ValueError(f"dtype must be torch.float32 or torch.float16, got {dtype}")
        self.directory = Path(directory) if directory is not None else None
        self.dtype = dtype
        self.fingerprint: str | None = None
        self.encoded = 0  # clips this object has run through the encoder
        self._memory: dict[str, torch.Tensor] = {}  # without a directory
        self._shards: dict[str, Path] = {}  # with a directory: id -> shard holding it
        self._checked: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> weight versions
        if self.directory is not None:
            self._open()

    def __len__(self) -> int:
        return len(self._shards) if self.directory is not None else len(self._memory)

    def __contains__(self, utt_id: str) -> bool:
        return utt_id in (self._shards if self.directory is not None else self._memory)

    def _where(self) -> str:
        return f"encoder cache {self.directory}" if self.directory is not None else "in-memory encoder cache"

    def _open(self) -> None:
        meta_path = self.directory / META
        shards = sorted(self.directory.glob("shard-*.safetensors")) if self.directory.is_dir() else []
        if not meta_path.is_file():
            if shards:
                raise ValueError(f"{self.directory} has encoder shards but no {META}: not a cache this class wrote")
            return
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != _FORMAT:
            raise ValueError(f"{meta_path}: unsupported encoder cache format {meta.get('format')!r}")
        if _DTYPES[meta["dtype"]] != self.dtype:
            raise ValueError(
                f"{self._where()} stores {meta['dtype']}, not {self.dtype}: open it with "
                f"dtype=torch.{meta['dtype']}, or use another directory"
            )
        self.fingerprint = meta["fingerprint"]
        for shard in shards:
            with safetensors.safe_open(str(shard), framework="pt") as handle:
                if (handle.metadata() or {}).get("fingerprint") != self.fingerprint:
                    raise ValueError(f"{shard} was written for other encoder weights than {meta_path} records")
                for utt_id in handle.keys():
                    self._shards[utt_id] = shard

    def _bind(self, model: whisper.Whisper) -> None:
        """Check that ``model``'s encoder is the one the cache holds outputs of (the first model binds it)."""
        versions = _weight_versions(model)
        if versions is not None and self._checked.get(model) == versions:
            return
        fingerprint = encoder_fingerprint(model)
        if self.fingerprint is None:
            self.fingerprint = fingerprint
            if self.directory is not None:
                write_json_atomic(self.directory / META, {
                    "format": _FORMAT, "fingerprint": fingerprint, "dtype": str(self.dtype).removeprefix("torch."),
                    "dims": dataclasses.asdict(model.dims),
                })
        elif fingerprint != self.fingerprint:
            if model in self._checked:
                raise ValueError(
                    f"this model's encoder weights changed since {self._where()} checked them: the cache holds "
                    "outputs of a frozen encoder (train LoRA with scope='decoder' when using it)"
                )
            raise ValueError(
                f"{self._where()} holds outputs of other encoder weights (fingerprint {self.fingerprint[:12]}, "
                f"this model {fingerprint[:12]}): use the checkpoint it was built with, or another cache"
            )
        if versions is not None:
            self._checked[model] = versions

    def get_or_compute(
        self, ids: Sequence[str], mel_fn: Callable[[list[int]], torch.Tensor], model: whisper.Whisper
    ) -> torch.Tensor:
        """Encoder outputs [len(ids), n_audio_ctx, n_audio_state] on the model's device and dtype.

        ``mel_fn(positions)`` gets the positions in ``ids`` of the utterances not cached yet and
        returns their log-mels [n, n_mels, 3000], in that order; they are encoded in one call of
        ``whisper_model.encode`` (chunked as fastest on CPU). Every output goes through the cache
        dtype, including the ones just computed, so each epoch sees the same features.
        """
        self._bind(model)
        parameter = next(model.encoder.parameters())
        if not ids:
            shape = (0, model.dims.n_audio_ctx, model.dims.n_audio_state)
            return torch.empty(shape, device=parameter.device, dtype=parameter.dtype)
        first: dict[str, int] = {}
        for position, utt_id in enumerate(ids):
            if utt_id not in self:
                first.setdefault(utt_id, position)
        fresh: dict[str, torch.Tensor] = {}
        if first:
            mel = mel_fn(list(first.values()))
            expected = (len(first), model.dims.n_mels, N_FRAMES)
            if tuple(mel.shape) != expected:
                raise ValueError(f"mel_fn returned {tuple(mel.shape)} for {len(first)} utterances; expected {expected}")
            features = encode(model, mel.to(parameter.device)).to("cpu", self.dtype)
            self.encoded += len(first)
            fresh = {utt_id: features[i].clone() for i, utt_id in enumerate(first)}  # own storage each
            self._store(fresh)
        rows = {**self._load([i for i in dict.fromkeys(ids) if i not in fresh]), **fresh}
        return torch.stack([rows[utt_id] for utt_id in ids]).to(parameter.device, parameter.dtype)

    def _store(self, features: dict[str, torch.Tensor]) -> None:
        if self.directory is None:
            self._memory.update(features)
            return
        name = hashlib.sha1("\n".join(sorted(features)).encode()).hexdigest()[:16]
        shard = self.directory / f"shard-{name}.safetensors"
        with atomic_path(shard) as tmp:
            safetensors.torch.save_file(features, str(tmp), metadata={"fingerprint": self.fingerprint})
        self._shards.update(dict.fromkeys(features, shard))

    def _load(self, ids: list[str]) -> dict[str, torch.Tensor]:
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


def open_cache(directory: Path) -> EncoderCache:
    """A read-only view for consumer stages: an utterance missing from it is an error, not a
    silent write into another stage's output."""
    if not (directory / "meta.json").is_file():
        raise MissingInputError(directory, "encoder cache (run the encode stage first)")
    return EncoderCache(directory)


def cached_features(cache: EncoderCache, model, ids: list[str]):
    def refuse(positions):
        missing = [ids[i] for i in positions]
        raise InputError(f"{cache.directory}: {len(missing)} utterance(s) not in this encoder cache, e.g. {missing[:3]}; rerun the encode stage")

    return cache.get_or_compute(ids, refuse, model)
