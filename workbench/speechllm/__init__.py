"""The LLM-ASR side of seeds 001 and 000: Whisper encoder states -> adapter -> a causal LM with
LoRA, prompted with retrieved biasing words; SFT here, GRPO in ``workbench.rl``."""

from workbench.speechllm.decoding import DecodeOptions, candidate_scores, generate, joint_decode, transcribe
from workbench.speechllm.model import SpeechLLM, SpeechLLMConfig, build_speechllm, load_causal_lm, load_speechllm
from workbench.speechllm.prompts import PromptConfig, condition_words, prompt_text, render_chat, training_list

__all__ = [
    "DecodeOptions", "PromptConfig", "SpeechLLM", "SpeechLLMConfig", "build_speechllm", "candidate_scores",
    "condition_words", "generate", "joint_decode", "load_causal_lm", "load_speechllm", "prompt_text", "render_chat",
    "training_list", "transcribe",
]
