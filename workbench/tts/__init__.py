"""Offline text-to-speech engines that speak the default corpus (DESIGN.md §5)."""

from workbench.tts.engines import ENGINES, TTSEngine, TTSError, make_engine

__all__ = ["ENGINES", "TTSEngine", "TTSError", "make_engine"]
