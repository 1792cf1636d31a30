"""Whisper encoder features computed once and reused: the one feature store (30-s-padded outputs for
the ASR stages, own-length states for the retrievers and the speech LLM), its layouts and fingerprint,
the encoder passes, and the filling of a store from manifests (the ``encode`` stage)."""

from workbench.features.encoder import clip_mel, encoder_states, mel_states
from workbench.features.options import EncodeConfig
from workbench.features.store import OWN, PADDED, FeatureStore, Layout, encoder_fingerprint, feature_fingerprint

__all__ = [
    "OWN", "PADDED", "EncodeConfig", "FeatureStore", "Layout", "clip_mel", "encoder_fingerprint",
    "encoder_states", "feature_fingerprint", "mel_states",
]
