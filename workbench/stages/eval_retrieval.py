"""Stage ``eval_retrieval``: hotword retrieval quality of a trained retriever (or of the phonetic
baseline alone) on a test set, for vocabularies from the test's own hotwords up to 100k words.

For every vocabulary size it reports recall / precision / F1 at k (exact, seed 000; substring,
seed 001) for: ``phonetic`` (the ASR 1-best → phonemes → sliding-window edit-distance baseline),
the learned retriever alone, and ``fused`` (score interpolation of both after per-query min-max
normalization). Gold hotwords are always in the vocabulary (seed 001 adds the annotated words to
the list); the project's hotword lists come next (for a RADA experiment only the words RADA
kept), then CMUdict / pypinyin distractors. Utterances without annotated hotwords are not
queries: they are counted and reported as excluded.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import safetensors.torch
import torch
from tqdm import tqdm

from workbench.config import config_to_dict
from workbench.config.stages import EvalRetrievalConfig
from workbench.data import read_manifest, write_json_atomic
from workbench.data.jsonl import read_jsonl
from workbench.data.atomic import atomic_path, write_text_atomic
from workbench.asr import load_whisper
from workbench.data import load_audio
from workbench.metrics.retrieval import ranking_recall_at_k, retrieval_at_k
from workbench.retrieval.evaluation import finite_floor, score_queries, text_features
from workbench.retrieval.frames import FrameStore, encoder_states
from workbench.retrieval.longform import relevance, windows_of
from workbench.retrieval.models import load_retriever
from workbench.retrieval.phonetic import PhoneticRetriever
from workbench.retrieval.ranking import fuse, ranked_words
from workbench.retrieval.vocabulary import build_vocabulary, hotword_key, read_hotwords
from workbench.stages.common import add_params_arguments, configure_logging, set_threads, stage_config
from workbench.tracking import make_logger, tracked_run

NAME = "eval_retrieval"
HELP = "hotword retrieval R@k / F1 (exact and substring) for vocabularies up to 100k: learned, phonetic baseline, fused"
CONFIG = (EvalRetrievalConfig, "eval_retrieval")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifest", type=Path, required=True, help="test manifest; utterances with `hotwords` are the queries")
    parser.add_argument("--hypotheses", type=Path, required=True, help="ASR 1-best of the test set (evaluate stage's hypotheses.jsonl)")
    parser.add_argument("--vocabulary", type=Path, nargs="+", required=True, help="hotword / distractor lists (one phrase a line)")
    parser.add_argument("--retriever", type=Path, default=None, help="train_retriever output (omit: phonetic baseline only)")
    parser.add_argument("--rada", type=Path, default=None, help="RADA stage output: kept.txt filters the lists for rada experiments")
    parser.add_argument("--frames", type=Path, default=None, help="retrieval_frames store holding the test manifest")
    parser.add_argument("--text-cache", type=Path, default=None, help="directory caching frozen text-encoder features of vocabularies")
    parser.add_argument("--out", type=Path, required=True, help="output directory: metrics.json, rankings.jsonl, table.md")
    add_params_arguments(parser, "eval_retrieval")


def vocabulary_size(setting: str, minimum_lists: int) -> int | None:
    if setting in ("own", "lists"):
        return None
    if not setting.isdigit():
        raise ValueError(f"eval_retrieval.vocabularies: {setting!r} is not own, lists or a number")
    return max(int(setting), minimum_lists)


def cached_text_features(model, words: list[str], cache: Path | None, batch_size: int, log) -> torch.Tensor:
    """Frozen pretrained text encoders give every experiment the same features for a word: keep
    them by word in ``cache`` (one matrix + its word list per encoder), compute only new words."""
    frozen = model.config.text_encoder == "minilm" and not any(p.requires_grad for p in model.text.parameters())
    matrix_path = cache / "minilm.safetensors" if cache is not None and frozen else None
    known: dict[str, int] = {}
    stored = torch.empty(0, model.text.dim)
    if matrix_path is not None and matrix_path.is_file() and matrix_path.with_suffix(".json").is_file():
        stored = safetensors.torch.load_file(str(matrix_path))["features"]
        known = {w: i for i, w in enumerate(json.loads(matrix_path.with_suffix(".json").read_text(encoding="utf-8")))}
    new = [w for w in dict.fromkeys(words) if w not in known]
    if new:
        started = time.perf_counter()
        with tqdm(total=len(new), desc="vocabulary text features", unit="word") as bar:
            fresh = text_features(model, new, batch_size, bar)
        log.info("text features of %d new words in %.1f s (%d cached)", len(new), time.perf_counter() - started, len(known))
        known.update({w: len(known) + i for i, w in enumerate(new)})
        stored = torch.cat([stored, fresh])
        if matrix_path is not None:
            matrix_path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(matrix_path) as tmp:
                safetensors.torch.save_file({"features": stored.contiguous()}, str(tmp))
            write_text_atomic(matrix_path.with_suffix(".json"), json.dumps(list(known), ensure_ascii=False))
    return stored[torch.tensor([known[w] for w in words], dtype=torch.long)]


def evaluate_rankings(gold: list[list[str]], ranked: list[list[str]], ks) -> dict[str, float]:
    out = {}
    for mode in ("exact", "substring"):
        for k in ks:
            out.update(retrieval_at_k(gold, ranked, k, mode).as_metrics())
    return out


def run(args: argparse.Namespace) -> None:
    log = configure_logging()
    config = stage_config(EvalRetrievalConfig, args, "eval_retrieval")
    set_threads(config.threads)
    utterances = read_manifest(args.manifest)
    queries = [u for u in utterances if u.hotwords]
    if not queries:
        raise ValueError(f"{args.manifest}: no utterance has `hotwords`: nothing to retrieve")
    hypotheses = {r["id"]: r.get("hypothesis", r.get("text", "")) for r in read_jsonl(args.hypotheses)}
    missing = [u.id for u in queries if u.id not in hypotheses]
    if missing:
        raise ValueError(f"{args.hypotheses} lacks {len(missing)} test utterance(s): {missing[:5]}")
    gold = [list(u.hotwords) for u in queries]
    gold_words = list(dict.fromkeys(h for g in gold for h in g))

    model, meta = (load_retriever(args.retriever) if args.retriever else (None, {}))
    experiment = meta.get("experiment", "phonetic")
    lists = [w for path in args.vocabulary for w in read_hotwords(path)]
    lists = list({hotword_key(w): w for w in reversed(lists)}.values())[::-1]  # one per key, first kept
    rada_note = None
    if meta.get("rada"):
        if args.rada is None:
            raise FileNotFoundError(f"{args.retriever} was trained with RADA: pass --rada <rada stage output>")
        kept = {hotword_key(w) for w in read_hotwords(args.rada / "kept.txt")}
        before = len(lists)
        lists = [w for w in lists if hotword_key(w) in kept]
        rada_note = {"lists_before": before, "lists_after": len(lists)}
    minimum = len(set(map(hotword_key, gold_words + lists)))
    sizes = {s: vocabulary_size(s, minimum) for s in config.vocabularies}
    largest = max((s for s in sizes.values() if s is not None), default=None)
    vocabulary = build_vocabulary(gold_words, largest, config.distractor_sources, config.seed, extra=lists)
    prefix = {s: (vocabulary.gold_count if s == "own" else vocabulary.gold_count + vocabulary.extra_count if size is None else size)
              for s, size in sizes.items()}
    log.info("vocabularies: %s (gold %d, lists %d)", prefix, vocabulary.gold_count, vocabulary.extra_count)

    logger = make_logger(config.tracking.backend, config.tracking.experiment, f"eval-{experiment}", config.tracking.uri,
                         tags={"stage": "eval_retrieval", "study": "retrieval", "variant": experiment,
                               "method": meta.get("method", "phonetic")})
    results: dict = {"experiment": experiment, "method": meta.get("method", "phonetic"), "queries": len(queries),
                     "excluded_no_hotwords": len(utterances) - len(queries), "vocabularies": prefix}
    if rada_note:
        results["rada"] = rada_note
    rankings = []
    with tracked_run(logger, {"eval_retrieval": config_to_dict(config), "retriever": meta}):
        started = time.perf_counter()
        phonetic = PhoneticRetriever(list(vocabulary.words), config.language_hint)
        phonetic_scores = phonetic.score([hypotheses[u.id] for u in queries])
        results["phonetic_seconds"] = round(time.perf_counter() - started, 2)
        learned_scores = None
        if model is not None:
            if args.frames is None:
                raise FileNotFoundError("--frames is needed to evaluate a learned retriever")
            store = FrameStore(args.frames)
            store.check(meta["frames_fingerprint"])
            states = store.load(u.id for u in queries)
            features = cached_text_features(model, list(vocabulary.words), args.text_cache, config.batch_size, log)
            with torch.no_grad():
                embeddings = model.project_text(features)
        k_max = max(config.ks)
        for setting, count in prefix.items():
            words = list(vocabulary.words[:count])
            block: dict[str, dict] = {}
            scored = {"phonetic": phonetic_scores[:, :count]}
            if model is not None:
                result = score_queries(model, [states[u.id] for u in queries], embeddings[:count], words, config.clar_candidates)
                scored["learned"] = result.scores
                scored["fused"] = fuse(finite_floor(result.scores), phonetic_scores[:, :count], config.fusion_weight)
                block["seconds_per_query"] = result.seconds_per_query
            for name, scores in scored.items():
                # ties (frequent in the phonetic scores) by the baseline's vocabulary-order-free key:
                # by position they would favour the gold words, which come first
                ranked = ranked_words(scores, words, k_max, tiebreak=phonetic.tie_order[:count])
                block[name] = evaluate_rankings(gold, ranked, config.ks)
                logger.log_metrics({f"{setting}/{name}/{k}": v for k, v in block[name].items()})
                if setting == config.table_vocabulary:
                    rankings.extend({"id": u.id, "method": name, "gold": g, "top": r}
                                    for u, g, r in zip(queries, gold, ranked))
            results[setting] = block
        if model is not None and model.method in ("glclap", "clsr") and config.longform_clips_per_recording:
            results["longform"] = longform_recall(model, meta, queries, args.manifest, config)
            logger.log_metrics({f"longform/{k}": v for k, v in results["longform"].items() if isinstance(v, float)})
        args.out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(args.out / "metrics.json", results)
        with atomic_path(args.out / "rankings.jsonl") as tmp:
            tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rankings), encoding="utf-8")
        write_text_atomic(args.out / "table.md", render(results, config.ks))
        logger.log_artifact(args.out / "metrics.json")
    print(render(results, config.ks))


@torch.no_grad()
def longform_recall(model, meta: dict, queries, manifest: Path, config: EvalRetrievalConfig) -> dict:
    """Seed 002's Q→C and C→Q R@k: each hotword against fixed windows of long recordings."""
    whisper_model = load_whisper(meta["model"])
    layers = int(meta["frames_fingerprint"].rsplit("layers", 1)[1])
    layers = None if layers == len(whisper_model.encoder.blocks) else layers
    clips = [load_audio(u.audio_path(manifest.parent)) for u in queries]
    windows = windows_of(clips, config.longform_clips_per_recording, config.longform_window_seconds)
    states = [encoder_states(whisper_model, w.audio, layers) for w in tqdm(windows, desc="long-form windows", unit="window")]
    contexts = torch.cat([model.query_embeddings(states[i : i + 16]) for i in range(0, len(states), 16)])
    words = [(h, q) for q, u in enumerate(queries) for h in u.hotwords]
    questions = model.embed_text([h for h, _ in words])
    scores = (questions @ contexts.T).numpy()
    q_to_c, c_to_q = relevance(windows, [q for _, q in words])
    keep = [w for w, gold in enumerate(c_to_q) if gold]
    out: dict = {"windows": len(windows), "queries": len(words), "window_seconds": config.longform_window_seconds}
    for k, value in ranking_recall_at_k(scores, q_to_c, config.ks).items():
        out[f"q2c_r@{k}"] = value
    for k, value in ranking_recall_at_k(scores.T[keep], [c_to_q[w] for w in keep], config.ks).items():
        out[f"c2q_r@{k}"] = value
    return out


def render(results: dict, ks) -> str:
    lines = [f"## {results['experiment']} ({results['method']}): {results['queries']} queries, "
             f"{results['excluded_no_hotwords']} utterances without hotwords excluded", "",
             "| vocabulary | words | scorer | " + " | ".join(f"R@{k}" for k in ks) + " | F1@1 | substring R@1 |",
             "|---|---:|---|" + "---:|" * (len(ks) + 2)]
    for setting, count in results["vocabularies"].items():
        block = results.get(setting, {})
        for name in ("phonetic", "learned", "fused"):
            m = block.get(name)
            if m is None:
                continue
            cells = [f"{100 * m[f'exact@{k}_recall']:.1f}" for k in ks]
            cells += [f"{100 * m['exact@1_f1']:.1f}", f"{100 * m['substring@1_recall']:.1f}"]
            lines.append(f"| {setting} | {count} | {name} | " + " | ".join(cells) + " |")
    longform = results.get("longform")
    if longform:
        lines += ["", f"Long-form ({longform['queries']} hotword queries, {longform['windows']} windows of "
                  f"{longform['window_seconds']:g} s): " + ", ".join(
                      f"Q→C R@{k} {100 * longform[f'q2c_r@{k}']:.1f}" for k in ks) + "; " + ", ".join(
                      f"C→Q R@{k} {100 * longform[f'c2q_r@{k}']:.1f}" for k in ks)]
    return "\n".join(lines) + "\n"

