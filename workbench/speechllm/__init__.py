"""The LLM-ASR side of seeds 001 and 000: a backbone (Whisper's decoder, or encoder states ->
adapter -> a causal LM) with LoRA, prompted with retrieved biasing words; SFT here, GRPO in
``workbench.rl``."""
