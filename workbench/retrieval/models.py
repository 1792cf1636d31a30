"""The three retrievers as dual encoders that return loss parts (the trainer weights them).

- **GLCLAP** (seed 001): utterance embedding (masked mean of encoder frames, projected) against
  the sentence (global loss) and against a hotword or a phrase cropped from the transcript
  (local loss). Retrieval: cosine of the utterance embedding with each hotword (FAISS top-k).
- **CLAR** (seed 000): projected, normalized *frame* embeddings; CIF (quantity loss) learns
  token boundaries; the local loss pools the frames CIF aligns to the annotated hotword's
  tokens. Retrieval: length-aware localized window scoring (``localized.py``), max over windows.
- **CLSR** (seed 002): CIF token embeddings → a small non-autoregressive decoder → distributions
  over the text encoder's vocabulary (CE against the transcript, with Paraformer's sampler) →
  VQ adaptor (argmax one-hot with a straight-through softmax(d/γ) gradient) × the frozen text
  encoder's embedding table → the frozen text encoder → a "text-like" sentence embedding that
  is contrasted with text embeddings. Seed 002's MWER term of L_ASR is left out (CE only).

All contrastive terms are symmetric InfoNCE with a learnable logit scale and soft targets from
sample identity: two rows of a batch with the same text are both positives.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from workbench.errors import ConfigError, InputError
from workbench.retrieval.cif import CifPredictor, cif, quantity_loss
from workbench.retrieval.frames import EncoderTop
from workbench.retrieval.text_encoders import MiniLMEncoder, TokenBatch, masked_mean
from workbench.training.losses import LossParts

METHODS = ("glclap", "clar", "clsr")
TEXT_ENCODERS = ("minilm", "chars", "phonemes")  # pretrained MiniLM, or trained from scratch
POOLINGS = ("mean", "attention")  # ArchitectureConfig.audio_pooling


@dataclass(frozen=True)
class ArchitectureConfig:
    text_encoder: str = "phonemes"  # phonemes | chars (from scratch) | minilm (pretrained); chosen by measurement
    text_trainable_layers: int = 0  # MiniLM layers fine-tuned (0: frozen; its vocabulary embeddings are cached)
    symbol_dim: int = 256  # chars / phonemes encoder width and depth
    symbol_layers: int = 2
    audio_trainable_layers: int = 0  # top Whisper encoder blocks fine-tuned (0: frozen, features precomputed)
    projection_dim: int = 256  # shared embedding space (two-layer heads, seed 000 Eq. 1)
    projection_hidden: int = 512
    initial_temperature: float = 0.07  # logit scale starts at 1/0.07 (CLIP), learnable, capped at max_scale
    learn_temperature: bool = True  # false: the logit scale stays 1/initial_temperature
    max_scale: float = 100.0  # cap of the learnable logit scale
    audio_pooling: str = "mean"  # utterance embedding: mean of the frames, or attention (a learned weight per frame)
    cif_kernel: int = 3
    cif_threshold: float = 1.0  # β
    decoder_layers: int = 2  # CLSR's non-autoregressive decoder
    decoder_dim: int = 256
    vq_temperature: float = 0.1  # CLSR's γ for the straight-through softmax
    vq_adaptor: bool = True  # CLSR: false feeds the softmax(d/γ) mixture itself (seed 002's "w/o VQ" ablation)
    sampler_ratio: float = 0.5  # CLSR's λ: share of wrongly predicted tokens replaced by their embeddings

    def __post_init__(self) -> None:
        if self.text_encoder not in TEXT_ENCODERS:
            raise ValueError(f"text_encoder must be one of {', '.join(TEXT_ENCODERS)}, got {self.text_encoder!r}")
        if min(self.text_trainable_layers, self.audio_trainable_layers) < 0:
            raise ValueError("text_trainable_layers and audio_trainable_layers must be >= 0")
        if min(self.symbol_dim, self.symbol_layers, self.projection_dim, self.projection_hidden, self.cif_kernel,
               self.decoder_layers, self.decoder_dim) < 1:
            raise ValueError("dimensions, layer counts and cif_kernel must be >= 1")
        if min(self.initial_temperature, self.cif_threshold, self.vq_temperature) <= 0:
            raise ValueError("initial_temperature, cif_threshold and vq_temperature must be > 0")
        if self.max_scale < 1.0 / self.initial_temperature:
            raise ValueError(f"max_scale {self.max_scale} is below the initial scale 1/{self.initial_temperature}")
        if self.audio_pooling not in POOLINGS:
            raise ValueError(f"audio_pooling must be one of {', '.join(POOLINGS)}, got {self.audio_pooling!r}")
        if not 0.0 <= self.sampler_ratio <= 1.0:
            raise ValueError(f"sampler_ratio must be in [0, 1], got {self.sampler_ratio}")


class ProjectionHead(nn.Sequential):
    def __init__(self, dim_in: int, hidden: int, dim_out: int):
        super().__init__(nn.Linear(dim_in, hidden), nn.ReLU(), nn.Linear(hidden, dim_out))


def symmetric_infonce(a: torch.Tensor, b: torch.Tensor, scale: torch.Tensor, keys: Sequence[str],
                      negatives: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE between row-aligned normalized embeddings ``a``, ``b`` [N, P]; rows whose
    ``keys`` agree are positives of each other (soft targets spread over them).

    ``negatives`` [M, P]: extra texts (hard negatives, e.g. sound-alike words) that are no row's
    positive; they join the candidates of the audio→text direction only (they have no audio)."""
    logits = scale * a @ b.T
    same = torch.tensor([[x == y for y in keys] for x in keys], dtype=logits.dtype, device=logits.device)
    targets = same / same.sum(1, keepdim=True)
    if negatives is None or not len(negatives):
        return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets))
    text_to_audio = F.cross_entropy(logits.T, targets)
    wide = torch.cat([logits, scale * a @ negatives.T], dim=1)
    return 0.5 * (F.cross_entropy(wide, F.pad(targets, (0, len(negatives)))) + text_to_audio)


@dataclass
class RetrievalBatch:
    """A training batch: padded encoder states plus the texts of each utterance.

    ``local_texts[i]``: the hotword (or cropped phrase, or its fuzzy variant) for the local loss;
    ``local_spans[i]``: its character span in ``texts[i]`` (None when the local text is not a
    span of the transcript, e.g. a fuzzy variant: CLAR then pools the span of the original).
    ``negative_texts``: texts that are no row's local text, extra negatives of the local loss.
    """

    states: torch.Tensor  # [B, T, d]
    mask: torch.Tensor  # [B, T]
    texts: list[str]
    local_texts: list[str]
    local_spans: list[tuple[int, int] | None]
    negative_texts: list[str] = field(default_factory=list)  # hard negatives of the local loss (no row's positive)


class Retriever(nn.Module):
    """Shared towers: the trainable top of the audio encoder, the text encoder, two projection
    heads and the logit scale. Subclasses add their objective and scoring."""

    method = ""

    def __init__(self, whisper_model, text_encoder: nn.Module, config: ArchitectureConfig):
        super().__init__()
        self.config = config
        self.audio_top = EncoderTop(whisper_model, config.audio_trainable_layers)
        self.audio_dim = whisper_model.dims.n_audio_state
        self.text = text_encoder
        self.audio_proj = ProjectionHead(self.audio_dim, config.projection_hidden, config.projection_dim)
        self.text_proj = ProjectionHead(text_encoder.dim, config.projection_hidden, config.projection_dim)
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / config.initial_temperature)),
                                      requires_grad=config.learn_temperature)
        if config.audio_pooling == "attention":  # created last: the default's initialization is unchanged
            self.frame_weight = nn.Linear(self.audio_dim, 1)

    @property
    def scale(self) -> torch.Tensor:
        return self.log_scale.clamp(max=math.log(self.config.max_scale)).exp()

    def pool(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """[B, d] utterance vector of padded frames: their mean, or an attention-weighted sum."""
        if self.config.audio_pooling == "mean":
            return masked_mean(states, mask)
        logits = self.frame_weight(states).squeeze(-1).masked_fill(~mask, float("-inf"))
        return (torch.softmax(logits, dim=1).unsqueeze(-1) * states).sum(1)

    def negative_embeddings(self, batch: RetrievalBatch) -> torch.Tensor | None:
        return self.embed_text(batch.negative_texts) if batch.negative_texts else None

    def text_features(self, texts: Sequence[str]) -> torch.Tensor:
        """Pooled text-encoder outputs [N, dim] (before projection; cacheable when frozen)."""
        return self.text(self.text.tokenize(texts))

    def project_text(self, features: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text_proj(features), dim=-1)

    def embed_text(self, texts: Sequence[str]) -> torch.Tensor:
        return self.project_text(self.text_features(texts))

    def utterance_embedding(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.audio_proj(self.pool(states, mask)), dim=-1)

    def global_loss(self, states, mask, texts) -> torch.Tensor:
        return symmetric_infonce(self.utterance_embedding(states, mask), self.embed_text(texts), self.scale, texts)


class GLCLAP(Retriever):
    method = "glclap"

    def forward(self, batch: RetrievalBatch) -> LossParts:
        states = self.audio_top(batch.states, batch.mask)
        utterance = self.utterance_embedding(states, batch.mask)
        keys = [t.casefold() for t in batch.local_texts]
        return LossParts({
            "global": symmetric_infonce(utterance, self.embed_text(batch.texts), self.scale, batch.texts),
            "local": symmetric_infonce(utterance, self.embed_text(batch.local_texts), self.scale, keys,
                                       self.negative_embeddings(batch)),
        })

    @torch.no_grad()
    def query_embeddings(self, states: Sequence[torch.Tensor]) -> torch.Tensor:
        from workbench.retrieval.frames import pad_states

        padded, mask = pad_states(states)
        return self.utterance_embedding(self.audio_top(padded, mask), mask)


class CLAR(Retriever):
    method = "clar"

    def __init__(self, whisper_model, text_encoder, config: ArchitectureConfig):
        super().__init__(whisper_model, text_encoder, config)
        self.cif = CifPredictor(self.audio_dim, kernel_size=config.cif_kernel)

    def frame_embeddings(self, states: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.audio_proj(states), dim=-1)

    def forward(self, batch: RetrievalBatch) -> LossParts:
        states = self.audio_top(batch.states, batch.mask)
        targets = torch.tensor([self.text.token_count(t) for t in batch.texts], dtype=states.dtype)
        alphas = self.cif(states, batch.mask)
        aligned = cif(states.detach(), alphas, batch.mask, self.config.cif_threshold, target_lengths=targets)
        parts = {"quantity": quantity_loss(aligned.quantity, targets)}
        parts["global"] = symmetric_infonce(
            self.utterance_embedding(states, batch.mask), self.embed_text(batch.texts), self.scale, batch.texts)
        frames = self.frame_embeddings(states)
        spans, keys, local_texts = [], [], []
        for i, (text, span) in enumerate(zip(batch.texts, batch.local_spans)):
            if span is None:
                continue
            first, last = self.text.token_range(text, *span)
            count = int(aligned.token_counts[i])
            first, last = min(first, count - 1), min(last, count - 1)
            start, end = int(aligned.token_spans[i, first, 0]), int(aligned.token_spans[i, last, 1])
            spans.append(F.normalize(frames[i, start : end + 1].mean(0), dim=-1))
            keys.append(batch.local_texts[i].casefold())
            local_texts.append(batch.local_texts[i])
        if spans:
            parts["local"] = symmetric_infonce(torch.stack(spans), self.embed_text(local_texts), self.scale, keys,
                                               self.negative_embeddings(batch))
        return LossParts(parts)

    @torch.no_grad()
    def alignments(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One utterance's normalized frame embeddings [T, P] and CIF token spans [N, 2]."""
        mask = torch.ones(1, states.shape[0], dtype=torch.bool)
        states = self.audio_top(states[None], mask)
        alphas = self.cif(states, mask)
        aligned = cif(states, alphas, mask, self.config.cif_threshold)
        count = int(aligned.token_counts[0])
        return self.frame_embeddings(states)[0], aligned.token_spans[0, :count]

    def text_lengths(self, words: Sequence[str]) -> torch.Tensor:
        return torch.tensor([max(1, self.text.token_count(w)) for w in words], dtype=torch.long)

    query_embeddings = GLCLAP.query_embeddings  # global scores: CLAR's candidate pre-selection


class CLSR(Retriever):
    """Needs the MiniLM text encoder (its embedding table is the VQ codebook), kept frozen."""

    method = "clsr"

    def __init__(self, whisper_model, text_encoder, config: ArchitectureConfig):
        if not isinstance(text_encoder, MiniLMEncoder):
            raise ConfigError("CLSR maps speech into the text encoder's embedding table: use text_encoder: minilm")
        super().__init__(whisper_model, text_encoder, config)
        for parameter in self.text.parameters():
            parameter.requires_grad_(False)  # seed 002 freezes BGE during joint training
        self.cif = CifPredictor(self.audio_dim, kernel_size=config.cif_kernel)
        d = config.decoder_dim
        self.token_in = nn.Linear(self.audio_dim, d)
        self.memory_in = nn.Linear(self.audio_dim, d)
        layer = nn.TransformerDecoderLayer(d, 4, 4 * d, dropout=0.1, batch_first=True, norm_first=True)
        self.decoder = nn.TransformerDecoder(layer, config.decoder_layers)
        self.output = nn.Linear(d, text_encoder.tokenizer.vocab_size)
        del self.text_proj, self.audio_proj  # CLSR compares in the text encoder's own space

    def embed_text(self, texts: Sequence[str]) -> torch.Tensor:
        return F.normalize(self.text_features(texts), dim=-1)

    def project_text(self, features: torch.Tensor) -> torch.Tensor:
        return F.normalize(features, dim=-1)

    def _decode(self, tokens: torch.Tensor, token_mask: torch.Tensor, states, mask) -> torch.Tensor:
        hidden = self.decoder(tokens, self.memory_in(states), tgt_key_padding_mask=~token_mask,
                              memory_key_padding_mask=~mask)
        return self.output(hidden)

    def _text_like(self, logits: torch.Tensor, token_mask: torch.Tensor) -> torch.Tensor:
        """VQ adaptor + frozen text encoder: sentence embeddings [B, dim] of the distributions."""
        soft = F.softmax(logits / self.config.vq_temperature, dim=-1)
        hard = F.one_hot(logits.argmax(-1), logits.shape[-1]).to(soft.dtype)
        # straight-through: forward one-hot, backward softmax; without the adaptor the mixture itself
        quantized = hard + soft - soft.detach() if self.config.vq_adaptor else soft
        table = self.text.word_embeddings
        body = quantized @ table
        tok = self.text.tokenizer
        b = body.shape[0]
        cls = table[tok.cls_token_id].expand(b, 1, -1)
        sep = table[tok.sep_token_id].expand(b, 1, -1)
        embeds = torch.cat([cls, body, sep], dim=1)
        ones = torch.ones(b, 1, dtype=torch.bool, device=token_mask.device)
        full_mask = torch.cat([ones, token_mask, ones], dim=1)
        # the separator goes right after the last real token of each row
        lengths = token_mask.sum(1)
        embeds = embeds.clone()
        full_mask = full_mask.clone()
        full_mask[:, -1] = False
        rows = torch.arange(b)
        embeds[rows, lengths + 1] = table[tok.sep_token_id]
        full_mask[rows, lengths + 1] = True
        batch = TokenBatch(torch.zeros(full_mask.shape, dtype=torch.long), full_mask, full_mask)
        return self.text(batch, inputs_embeds=embeds)

    def forward(self, batch: RetrievalBatch) -> LossParts:
        states = self.audio_top(batch.states, batch.mask)
        tokens = self.text.tokenize(batch.texts)
        target_ids = [row[content] for row, content in zip(tokens.ids, tokens.content)]
        targets = torch.tensor([len(t) for t in target_ids], dtype=states.dtype)
        alphas = self.cif(states, batch.mask)
        aligned = cif(states, alphas, batch.mask, self.config.cif_threshold, target_lengths=targets)
        width = aligned.tokens.shape[1]
        target = torch.full((len(target_ids), width), -100, dtype=torch.long)
        for i, ids in enumerate(target_ids):
            target[i, : min(len(ids), width)] = ids[:width]
        acoustic = self.token_in(aligned.tokens)
        token_mask = aligned.token_mask
        with torch.no_grad():  # sampler round 1: which tokens does the decoder get wrong?
            first = self._decode(acoustic, token_mask, states, batch.mask).argmax(-1)
        wrong = (first != target) & (target >= 0)
        # Paraformer's sampler, embeddings from the output layer's weights as seed 002 does
        truth = F.embedding(target.clamp(min=0), self.output.weight)
        replace = torch.zeros_like(wrong)
        generator = torch.Generator().manual_seed(int(wrong.sum()))
        for i in range(wrong.shape[0]):
            positions = wrong[i].nonzero().flatten()
            count = math.ceil(self.config.sampler_ratio * len(positions))
            if count:
                chosen = positions[torch.randperm(len(positions), generator=generator)[:count]]
                replace[i, chosen] = True
        sampled = torch.where(replace.unsqueeze(-1), truth, acoustic)
        logits = self._decode(sampled, token_mask, states, batch.mask)
        asr = F.cross_entropy(logits.transpose(1, 2), target, ignore_index=-100)
        decoded = self._decode(acoustic, token_mask, states, batch.mask)
        speech = F.normalize(self._text_like(decoded, token_mask), dim=-1)
        text = self.embed_text(batch.texts)
        return LossParts({
            "asr": asr, "quantity": quantity_loss(aligned.quantity, targets),
            "global": symmetric_infonce(speech, text, self.scale, batch.texts),
        })

    @torch.no_grad()
    def query_embeddings(self, states: Sequence[torch.Tensor]) -> torch.Tensor:
        from workbench.retrieval.frames import pad_states

        padded, mask = pad_states(states)
        padded = self.audio_top(padded, mask)
        aligned = cif(padded, self.cif(padded, mask), mask, self.config.cif_threshold)
        if aligned.tokens.shape[1] == 0:
            raise InputError("audio shorter than one CIF token: CLSR has nothing to transcribe")
        token_mask = aligned.token_mask
        logits = self._decode(self.token_in(aligned.tokens), token_mask, padded, mask)
        return F.normalize(self._text_like(logits, token_mask), dim=-1)

    @torch.no_grad()
    def transcribe(self, states: Sequence[torch.Tensor]) -> list[str]:
        """Greedy NAR transcripts (argmax per CIF token), for the ASR side of seed 002's table."""
        from workbench.retrieval.frames import pad_states

        padded, mask = pad_states(states)
        padded = self.audio_top(padded, mask)
        aligned = cif(padded, self.cif(padded, mask), mask, self.config.cif_threshold)
        logits = self._decode(self.token_in(aligned.tokens), aligned.token_mask, padded, mask)
        ids = logits.argmax(-1)
        return [self.text.tokenizer.decode(row[m].tolist()) for row, m in zip(ids, aligned.token_mask)]


def text_encoder_of(config: ArchitectureConfig, minilm_path) -> nn.Module:
    from workbench.retrieval.text_encoders import make_text_encoder

    return make_text_encoder(config.text_encoder, minilm_path, config.text_trainable_layers, config.symbol_dim,
                             config.symbol_layers)


def build_retriever(method: str, whisper_model, text_encoder: nn.Module, config: ArchitectureConfig) -> Retriever:
    classes = {"glclap": GLCLAP, "clar": CLAR, "clsr": CLSR}
    if method not in classes:
        raise ConfigError(f"retriever method must be one of {', '.join(METHODS)}, got {method!r}")
    return classes[method](whisper_model, text_encoder, config)


WEIGHTS, META = "retriever.safetensors", "retriever.json"


def save_retriever(model: Retriever, directory, meta: dict) -> None:
    """The trained weights (parameters that were trainable; frozen encoders reload from their
    checkpoints) and the metadata that rebuilds the model, both written atomically."""
    import dataclasses
    from pathlib import Path

    import safetensors.torch

    from workbench.data.atomic import atomic_path, write_json_atomic

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items() if k in names}
    with atomic_path(directory / WEIGHTS) as tmp:
        safetensors.torch.save_file(state, str(tmp))
    write_json_atomic(directory / META,
                      {**meta, "method": model.method, "architecture": dataclasses.asdict(model.config)})


def load_retriever(directory, whisper_path=None, text_path=None) -> tuple[Retriever, dict]:
    """Rebuild a saved retriever (encoder paths from its metadata unless given)."""
    import json
    from pathlib import Path

    import safetensors.torch

    from workbench.asr import load_whisper
    from workbench.config.loading import build_config
    from workbench.errors import CheckpointError, MissingInputError

    directory = Path(directory)
    if not (directory / META).is_file():
        raise MissingInputError(directory / META, "trained retriever (run train_retriever first)")
    meta = json.loads((directory / META).read_text(encoding="utf-8"))
    architecture = build_config(ArchitectureConfig, meta["architecture"], str(directory / META))
    whisper_model = load_whisper(whisper_path or meta["model"])
    text = text_encoder_of(architecture, text_path or meta["text_model"])
    model = build_retriever(meta["method"], whisper_model, text, architecture)
    state = safetensors.torch.load_file(str(directory / WEIGHTS))
    missing, unexpected = model.load_state_dict(state, strict=False)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    if unexpected or trainable - set(state):
        raise CheckpointError(f"{directory / WEIGHTS} does not fit a {meta['method']} retriever "
                         f"(unexpected {unexpected[:3]}, missing {sorted(trainable - set(state))[:3]})")
    return model.eval(), meta
