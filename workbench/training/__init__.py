"""Whisper fine-tuning: experiments, training items, the loss objective, the resumable trainer, and
where every training stage keeps its resume state (``resume``)."""
