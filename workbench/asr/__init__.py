"""Whisper on CPU or GPU: loading by path and batched transcription."""

from workbench.asr.transcribe import TranscribeOptions, Transcription, transcribe_batch
from workbench.asr.whisper_model import load_whisper

__all__ = ["TranscribeOptions", "Transcription", "load_whisper", "transcribe_batch"]
