"""A torch Dataset over a manifest: the audio at 16 kHz with its record."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import Dataset

from workbench.data.audio import load_audio
from workbench.data.manifest import Utterance, read_manifest


class ManifestDataset(Dataset):
    def __init__(self, manifest: Path | str):
        self.manifest = Path(manifest)
        self.utterances: list[Utterance] = read_manifest(self.manifest)

    def __len__(self) -> int:
        return len(self.utterances)

    def __getitem__(self, index: int) -> dict:
        utt = self.utterances[index]
        audio = load_audio(utt.audio_path(self.manifest.parent))
        return {"utterance": utt, "audio": torch.from_numpy(audio)}
