"""Manifests, audio and datasets. Imports nothing else of the package."""

from workbench.data.atomic import atomic_directory, atomic_path, write_json_atomic, write_text_atomic
from workbench.data.audio import AudioError, load_audio, resample, write_wav
from workbench.data.manifest import (
    SAMPLE_RATE,
    ManifestError,
    Span,
    Utterance,
    batches_by_language,
    iter_manifest,
    read_manifest,
    write_manifest,
)

__all__ = [
    "SAMPLE_RATE", "AudioError", "batches_by_language", "ManifestError", "Span", "Utterance", "atomic_directory",
    "atomic_path",
    "iter_manifest", "load_audio", "read_manifest", "resample", "write_json_atomic", "write_manifest",
    "write_text_atomic", "write_wav",
]
