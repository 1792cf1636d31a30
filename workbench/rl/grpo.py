"""GRPO on the speech LLM through trl's ``GRPOTrainer``, for any backbone (``workbench.speechllm.backbone``).

trl's trainer knows causal LMs with text (and image) prompts. Audio travels here as a row index:
each dataset row names its utterance, ``_generate_and_score_completions`` records the rows of the
generation batch and adds an ``audio_row`` tensor to trl's batch dict (trl shuffles and splits
every tensor of that dict in unison, so it stays aligned with the prompts), and the two methods
that run the model give the backbone's audio (the adapter's embeddings in front of the text, or
Whisper's encoder states for its cross-attention) with trl's own prompt/completion ids:
``_generate_single_turn`` (sampling the group of completions) and
``_get_per_token_logps_and_entropies`` (policy, old-policy and reference log-probs, through the
fused LM head trl installs, so temperature and fp32 handling stay trl's). Everything else is
trl's: the group-normalized advantages, the clipped loss with the β-weighted KL to the
adapter-disabled reference, reward logging, checkpoints and resume. Only the LoRA weights train;
the encoder (precomputed states) and any adapter are frozen, as in seed 001 §3.2.

One thing is ours for resume: the prompt order. trl's ``RepeatSampler`` draws every epoch's
shuffle from one generator seeded once, so epoch e's order is the (e+1)-th draw; transformers 5
resumes by building a fresh sampler and jumping to epoch e, which replays epoch 0's order there.
``EpochRepeatSampler`` shuffles with a generator seeded by (seed, epoch) through ``set_epoch``
(which the Trainer calls before every epoch, resumed or not), so a run killed in any epoch and
resumed from its checkpoint continues exactly as the uninterrupted run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from trl import GRPOTrainer
from trl.trainer.utils import RepeatSampler, pad

from workbench.errors import CheckpointError
from workbench.speechllm.backbone import SpeechBackbone


class EpochRepeatSampler(RepeatSampler):
    """trl's ``RepeatSampler`` whose shuffle depends only on (seed, epoch), not on how many
    epochs this sampler object has iterated before (see the module docstring)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        if self.shuffle:
            self.generator.manual_seed((self.seed or 0) * 100_003 + self.epoch)
        return super().__iter__()


class SpeechGRPOTrainer(GRPOTrainer):
    def __init__(self, speech: SpeechBackbone, audio_states: Mapping[str, torch.Tensor], **kwargs):
        self.speech = speech
        for name, parameter in speech.named_parameters():
            if not name.startswith("lm."):
                parameter.requires_grad_(False)  # an adapter in front of the LM is frozen in GRPO
        self._audio_ids = list(audio_states)
        self._audio_row = {utt_id: i for i, utt_id in enumerate(self._audio_ids)}
        self._audio = [audio_states[i] for i in self._audio_ids]
        self._rows: torch.Tensor | None = None
        super().__init__(model=speech.lm, processing_class=speech.tokenizer, **kwargs)

    def _get_train_sampler(self, dataset=None):
        sampler = super()._get_train_sampler(dataset)
        if type(sampler) is not RepeatSampler:
            raise RuntimeError(f"trl's train sampler is a {type(sampler).__name__}, "
                               "expected RepeatSampler (trl changed)")
        return EpochRepeatSampler(sampler.data_source, sampler.mini_repeat_count, sampler.batch_size,
                                  sampler.repeat_count, sampler.shuffle, sampler.seed)

    # --- which clip belongs to which row of the current batch ---

    def _generate_and_score_completions(self, inputs):
        missing = [x["utterance_id"] for x in inputs if x["utterance_id"] not in self._audio_row]
        if missing:
            raise KeyError(f"no encoder states for utterance(s) {missing[:3]}")
        self._rows = torch.tensor([self._audio_row[x["utterance_id"]] for x in inputs])
        output = super()._generate_and_score_completions(inputs)
        output["audio_row"] = self._rows.to(output["prompt_ids"].device)
        return output

    def _compute_loss(self, model, inputs):
        self._rows = inputs["audio_row"]
        return super()._compute_loss(model, inputs)

    def _audio_of_rows(self, rows: torch.Tensor):
        with torch.no_grad():  # any adapter is frozen in GRPO
            return self.speech.audio([self._audio[int(r)] for r in rows])

    # --- the model calls, with the audio in front ---

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        if images or multimodal_fields:
            raise ValueError("SpeechGRPOTrainer takes text prompts; the audio comes from audio_states")
        device = self.accelerator.device
        prompts = [torch.tensor(ids) for ids in prompt_ids]
        ids = pad(prompts, padding_value=self._tokenizer.pad_token_id, padding_side="left").to(device)
        mask = pad([torch.ones_like(t) for t in prompts], padding_value=0, padding_side="left").to(device)
        lm = self.accelerator.unwrap_model(self.model)
        with torch.no_grad():
            out = self.speech.generate_ids(self._audio_of_rows(self._rows), ids, mask, lm=lm,
                                           generation_config=self.generation_config)
        return out, None

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, batch_size=None,
                                           compute_entropy=False, compute_aux_loss=False, **_):
        if self._rows is None or len(self._rows) != input_ids.size(0):
            raise RuntimeError("audio rows are not aligned with the batch (internal error)")
        lm = self.accelerator.unwrap_model(model)
        batch_size = batch_size or input_ids.size(0)
        logps, entropies = [], []
        for start in range(0, input_ids.size(0), batch_size):
            end = min(start + batch_size, input_ids.size(0))
            ids, mask = input_ids[start:end], attention_mask[start:end]
            audio = self._audio_of_rows(self._rows[start:end])
            inputs, offset = self.speech.model_inputs(audio, ids, mask, lm=lm)
            labels = ids.masked_fill(mask == 0, -100)
            labels[:, :-logits_to_keep] = -100
            labels = torch.cat([labels.new_full((labels.size(0), offset), -100), labels], dim=1)
            with self.accelerator.autocast():
                outputs = model(**inputs, labels=labels, fused_lm_head=True)
            logps.append(outputs.log_probs[:, -logits_to_keep:])
            if compute_entropy:
                entropies.append(outputs.entropy[:, -logits_to_keep:])
        return torch.cat(logps), (torch.cat(entropies) if compute_entropy else None), None


def grpo_rows(examples: Sequence, lists: Sequence[Sequence[str]], prompts: Sequence[str]) -> list[dict]:
    """Dataset rows: the rendered prompt, and the columns the rewards read."""
    return [{"prompt": p, "utterance_id": e.id, "reference": e.text, "biasing_words": list(words)}
            for e, words, p in zip(examples, lists, prompts, strict=True)]


def last_complete_checkpoint(directory) -> str | None:
    """The newest ``checkpoint-N`` the Trainer finished writing, after deleting any cut off mid-write.

    transformers writes model, optimizer, scheduler and RNG states first and ``trainer_state.json``
    last, into the final directory (not a temporary one): a kill in between leaves a checkpoint
    that cannot be resumed. Its finished ``trainer_state.json`` is the completeness mark.
    """
    import json
    import shutil
    from pathlib import Path

    def step(path: Path) -> int:
        tail = path.name.rpartition("-")[2]
        return int(tail) if tail.isdigit() else -1

    for path in sorted(Path(directory).glob("checkpoint-*"), key=step, reverse=True):
        try:
            json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
            return str(path)
        except (OSError, ValueError):
            shutil.rmtree(path, ignore_errors=True)
    return None


def check_checkpoint(path) -> None:
    """A ``CheckpointError`` naming the first damaged file of a complete checkpoint (which no kill
    can leave: the files are written before ``trainer_state.json``), checked without unpickling
    anything: torch files are zip archives with CRCs, safetensors have a header that must cover
    the file, JSON must parse."""
    from pathlib import Path

    path = Path(path)
    for file in sorted(path.rglob("*")):
        problem = _damage(file)
        if problem:
            raise CheckpointError(f"{file}: damaged checkpoint file ({problem}); delete {path} to resume from "
                                  "an earlier checkpoint (or the checkpoints directory to train from the start)")


def _damage(file) -> str | None:
    import json
    import zipfile

    import safetensors

    try:
        if file.suffix in (".pt", ".pth", ".bin"):
            with zipfile.ZipFile(file) as archive:
                bad = archive.testzip()
            return f"member {bad} fails its CRC" if bad else None
        if file.suffix == ".safetensors":
            with safetensors.safe_open(str(file), framework="pt") as handle:
                list(handle.keys())
        elif file.suffix == ".json":
            json.loads(file.read_text(encoding="utf-8"))
    except Exception as error:  # BadZipFile, SafetensorError, JSONDecodeError, UnicodeDecodeError, OSError
        return str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
    return None
