"""Whisper on CPU or GPU: loading by path, batched transcription, N-best beam search,
teacher-forced scoring, prompt building (S1) and trie hotword biasing."""

from workbench.asr.context_graph import ContextBiasFilter, ContextGraph, install_context_bias
from workbench.asr.nbest import ForcedScore, Hypothesis, NBestOptions, NBestResult, decode_nbest, teacher_forced_scores
from workbench.asr.prompt import PromptBuilder, PromptBuildResult, PromptLimits, check_prompt_tokens
from workbench.asr.transcribe import TranscribeOptions, Transcription, transcribe_batch
from workbench.asr.whisper_model import load_whisper

__all__ = [
    "ContextBiasFilter", "ContextGraph", "ForcedScore", "Hypothesis", "NBestOptions", "NBestResult",
    "PromptBuildResult", "PromptBuilder", "PromptLimits", "TranscribeOptions", "Transcription", "check_prompt_tokens",
    "decode_nbest", "install_context_bias", "load_whisper", "teacher_forced_scores", "transcribe_batch",
]
