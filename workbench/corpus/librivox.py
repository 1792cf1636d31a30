"""Real human speech: the LibriVox clips of Debian's pocketsphinx-testdata as a test manifest."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from workbench.data.audio import load_audio
from workbench.data.manifest import SAMPLE_RATE, Utterance
from workbench.errors import InputError, MissingInputError

DEFAULT_ROOT = Path("/usr/share/pocketsphinx/test/data/librivox")
_LINE = re.compile(r"^<s>\s*(?P<text>.*?)\s*</s>\s*\((?P<id>[^)]+)\)\s*$")


def read_transcription(path: Path) -> dict[str, str]:
    """Sphinx-style ``<s> text </s> (utt_id)`` lines."""
    out = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        match = _LINE.match(line)
        if not match:
            raise InputError(f"{path}:{number}: not a '<s> text </s> (id)' line: {line!r}")
        out[match["id"]] = match["text"]
    return out


def librivox_utterances(root: Path, audio_dir: Path, manifest_dir: Path) -> list[Utterance]:
    if not (root / "transcription").is_file():
        raise MissingInputError(root / "transcription", "LibriVox transcription (Debian's pocketsphinx-testdata: "
                                "`make install` installs it)")
    utterances = []
    for utt_id, text in sorted(read_transcription(root / "transcription").items()):
        source = root / f"{utt_id}.wav"
        target = audio_dir / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        samples = load_audio(target)  # checks 16 kHz mono
        utterances.append(
            Utterance(
                id=f"librivox-{utt_id}", audio=str(target.relative_to(manifest_dir)),
                duration=round(len(samples) / SAMPLE_RATE, 3), text=text, language="en", split="test",
                speaker="librivox:" + utt_id.split("_64kb")[0], custom={"pair": "librivox"},
            )
        )
    return utterances
