"""Aho-Corasick hotword biasing: hand-checked score tables on toy token ids, the logit filter, validation."""

from types import SimpleNamespace

import pytest
import torch

from workbench.asr.context_graph import ROOT, ContextBiasFilter, ContextGraph, install_context_bias

S = 1.5  # per-token bonus used throughout


def walk(graph: ContextGraph, tokens: list[int]) -> tuple[list[float], int]:
    """Per-step deltas and the final state."""
    state, deltas = ROOT, []
    for token in tokens:
        delta, state = graph.forward_one_step(state, token)
        deltas.append(delta)
    return deltas, state


# trie of [[1,2,3],[2,3],[5]]: node_score [1]=S, [1,2]=2S, [1,2,3]=3S, [2]=S, [2,3]=2S, [5]=S;
# fail links [1,2]->[2], [1,2,3]->[2,3], all others -> root
@pytest.mark.parametrize(
    ("tokens", "deltas", "final"),  # final = finalize() of the end state
    [
        ([1, 2, 3], [S, S, S], 0.0),  # full match: 3S kept, back to root
        ([1, 2, 4], [S, S, -2 * S], 0.0),  # 4 breaks [1,2]: take back 2S, 4 itself earns nothing -> 0
        ([1, 2, 1, 2, 3], [S, S, -S, S, S], 0.0),  # third token: -2S back, +S for the new [1] -> S; then 3S
        ([1, 2, 2, 3], [S, S, -S, S], 0.0),  # [1,2]+2 falls back to [2] (S - 2S), then [2,3] -> 2S total
        ([4, 2, 3], [0.0, S, S], 0.0),  # [2,3] alone after an unrelated token: 2S
        ([1, 2, 5], [S, S, -S], 0.0),  # [1,2] fails into the one-token hotword [5]: S - 2S -> total S
        ([2, 3, 5, 1, 2, 3], [S, S, S, S, S, S], 0.0),  # back-to-back hotwords: 2S + S + 3S
        ([1, 2], [S, S], -2 * S),  # decoding ends mid-match: finalize takes the 2S back -> 0
        ([5, 1], [S, S], -S),  # [5] kept, unfinished [1] taken back -> S
    ],
)
def test_golden_walks(tokens, deltas, final):
    graph = ContextGraph([[1, 2, 3], [2, 3], [5]], score=S)
    got, state = walk(graph, tokens)
    assert got == pytest.approx(deltas)
    assert graph.finalize(state) == pytest.approx(final)


def test_failure_link_lands_inside_another_hotword():
    # [[1,2,4],[2,3]]: fail([1,2]) = [2]; token 3 is not a child of [1,2] but is of [2]
    graph = ContextGraph([[1, 2, 4], [2, 3]], score=S)
    deltas, state = walk(graph, [1, 2, 3])
    # third step: node_score([2,3]) - node_score([1,2]) = 2S - 2S = 0, and [2,3] is matched -> total 2S
    assert deltas == pytest.approx([S, S, 0.0])
    assert state == ROOT and graph.finalize(state) == 0.0


def test_prefix_hotword_is_kept_while_the_longer_one_continues():
    graph = ContextGraph([[1, 2], [1, 2, 3]], score=S)
    deltas, state = walk(graph, [1, 2, 3])
    assert sum(deltas) == pytest.approx(3 * S) and state == ROOT  # the longer hotword: 3S
    deltas, state = walk(graph, [1, 2, 4])
    assert deltas == pytest.approx([S, S, 0.0])  # [1,2] was complete: nothing to take back -> 2S
    deltas, state = walk(graph, [1, 2])
    assert sum(deltas) + graph.finalize(state) == pytest.approx(2 * S)  # ends on a complete hotword


def test_hotword_inside_a_failed_longer_match_is_kept():
    graph = ContextGraph([[1, 2, 3], [2]], score=S)
    deltas, _ = walk(graph, [1, 2, 4])
    # [1,2] holds 2S of which [2] (S) is a complete hotword: 4 takes back only S -> total S
    assert deltas == pytest.approx([S, S, -S])
    assert sum(walk(graph, [1, 2, 3])[0]) == pytest.approx(3 * S)


def test_same_occurrence_is_not_counted_twice_after_a_failure():
    graph = ContextGraph([[2], [1, 2, 3], [2, 6, 7]], score=S)
    deltas, state = walk(graph, [1, 2, 6, 9])
    # [1,2] = 2S (S of it is [2]); 6 -> [2,6]: its [2] is the same occurrence, so +0; 9 takes back
    # the pending S of [2,6] -> total S, the single [2]
    assert deltas == pytest.approx([S, S, 0.0, -S])
    assert state == ROOT


def test_per_phrase_scores_and_shared_prefix_takes_the_max():
    graph = ContextGraph([[1, 2], [1, 3]], score=S, phrase_scores=[1.0, 2.0])
    # node [1] is shared: bonus max(1.0, 2.0) = 2.0; [1,2] adds 1.0, [1,3] adds 2.0
    assert walk(graph, [1, 2])[0] == pytest.approx([2.0, 1.0])
    assert walk(graph, [1, 3])[0] == pytest.approx([2.0, 2.0])
    assert walk(graph, [1, 4])[0] == pytest.approx([2.0, -2.0])


def test_bonuses_are_the_continuations():
    graph = ContextGraph([[1, 2, 3], [2, 3], [5]], score=S)
    assert graph.bonuses(ROOT) == {1: S, 2: S, 5: S}  # every hotword's first token
    _, state = walk(graph, [1, 2])
    assert graph.bonuses(state) == {3: S}  # restarting at 1, 2 or 5 would lose the pending 2S


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([],), "empty list"),
        (([[1], []],), "#1"),
        (([[1]], -1.0), "positive"),
        (([[1], [2]], S, [1.0]), "1 phrase scores for 2"),
    ],
)
def test_invalid_graphs(args, message):
    with pytest.raises(ValueError, match=message):
        ContextGraph(*args)


class SplitTokenizer:
    """Stands in for Whisper's tokenizer: one id per character."""

    def encode(self, text: str) -> list[int]:
        return [ord(c) for c in text]


@pytest.mark.parametrize("bad", ["", "   "])
def test_phrase_that_tokenizes_to_nothing_is_named(bad):
    with pytest.raises(ValueError, match=repr(bad)):
        ContextGraph.from_phrases(["ok", bad], SplitTokenizer())
    with pytest.raises(ValueError, match="empty list"):
        ContextGraph.from_phrases([], SplitTokenizer())


def test_from_phrases_adds_both_spacings_once():
    graph = ContextGraph.from_phrases(["ab", " ab"], SplitTokenizer(), score=S)
    # "ab" and " ab" (both phrases give the same two variants): 2 + 3 nodes besides the root
    assert graph.num_nodes == 1 + 2 + 3
    assert sum(walk(graph, [ord(" "), ord("a"), ord("b")])[0]) == pytest.approx(3 * S)


def test_filter_boosts_only_the_next_hotword_token_per_row():
    graph = ContextGraph([[10, 11, 12], [20]], score=S)
    bias = ContextBiasFilter(graph, sample_begin=2)
    tokens = torch.tensor([[50, 51, 10], [50, 51, 7], [50, 51, 10]])  # prefix 50 51, then 1 generated token
    logits = torch.zeros(3, 30)
    bias.apply(logits, tokens)
    assert logits[0, 11] == S and logits[2, 11] == S  # continues [10, 11, ...]
    assert logits[0].count_nonzero() == 1  # nothing else touched, no penalties
    assert logits[1, 11] == 0 and logits[1, 10] == S and logits[1, 20] == S  # row 1 is at root
    assert logits[1].count_nonzero() == 2


def test_filter_follows_beam_reordering_and_scale():
    graph = ContextGraph([[10, 11, 12]], score=S)
    bias = ContextBiasFilter(graph, sample_begin=1, scale=2.0)
    bias.apply(torch.zeros(2, 30), torch.tensor([[0], [0]]))
    bias.apply(torch.zeros(2, 30), torch.tensor([[0, 10], [0, 7]]))
    logits = torch.zeros(2, 30)
    bias.apply(logits, torch.tensor([[0, 7, 3], [0, 10, 11]]))  # rows swapped, as a beam reorder does
    assert logits[0].count_nonzero() == 1 and logits[0, 10] == 2 * S
    assert logits[1].count_nonzero() == 1 and logits[1, 12] == 2 * S


def test_filter_keeps_masked_tokens_masked():
    bias = ContextBiasFilter(ContextGraph([[3]], score=S), sample_begin=0)
    logits = torch.zeros(1, 5)
    logits[0, 3] = -torch.inf
    bias.apply(logits, torch.zeros(1, 0, dtype=torch.long))
    assert logits[0, 3] == -torch.inf


def test_install_appends_to_the_task_filters():
    task = SimpleNamespace(logit_filters=["suppress"], sample_begin=4)
    bias = install_context_bias(task, ContextGraph([[1]], score=S))
    assert task.logit_filters == ["suppress", bias] and bias.sample_begin == 4


def test_whisper_tokenizer_gives_both_spacing_variants():
    from whisper.tokenizer import get_tokenizer

    tokenizer = get_tokenizer(multilingual=True)
    bare, spaced = tokenizer.encode("Xarelto"), tokenizer.encode(" Xarelto")
    assert bare and spaced and bare != spaced
    graph = ContextGraph.from_phrases(["Xarelto"], tokenizer, score=S)
    for tokens in (bare, spaced):
        deltas, state = walk(graph, tokens)
        assert sum(deltas) == pytest.approx(S * len(tokens)) and state == ROOT
