"""Near-miss negatives for contextual ASR (CS-NMG, seed 003 §3.1/§5.1)."""
