"""Whisper fine-tuning: experiments, training items, the loss objective and the resumable trainer."""
