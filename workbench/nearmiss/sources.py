"""The LLM and phonetic candidate sources (the N-best source lives with the pool)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from workbench.nearmiss.llm import CachedLLM, GenerationSettings, LLMRequest, build_prompt, propose_replacements
from workbench.nearmiss.pool import PoolInput


class LLMSource:
    """Seed 003 §3.1: the LLM sees the reference with the POI marked and the raw N-best POI
    candidates, and answers with replacement strings only. Failures (timeouts, HTTP errors,
    unparseable answers) are recorded per request and the run goes on with the other sources."""

    name = "llm"

    def __init__(
        self, llm: CachedLLM, settings: GenerationSettings, max_replacements: int = 5,
        categories: Sequence[str] = ("embedded",),
    ):
        self.llm, self.settings, self.max_replacements = llm, settings, max_replacements
        self.categories = tuple(categories)  # which POI categories get a request (each costs a call)
        self.requests = 0
        self.cached = 0
        self.failures: Counter = Counter()  # failure kind ("timeout", "http 500", "unparseable", ...) -> count
        self.failure_log: list[dict] = []

    def requests_of(self, item: PoolInput) -> list[tuple[int, LLMRequest]]:
        requests = []
        for index, poi in enumerate(item.pois):
            if poi.category in self.categories:
                nbest = tuple(dict.fromkeys(s[index] for s in item.nbest_segments if s[index]))
                requests.append((index, LLMRequest(
                    item.reference, poi.start, poi.end, item.language, item.embedded_language, nbest,
                    self.max_replacements,
                )))
        return requests

    def prefetch(self, items: Sequence[PoolInput]) -> None:
        """Generate the answers of a batch of utterances in one model call (local backend)."""
        conversations = [build_prompt(request) for item in items for _index, request in self.requests_of(item)]
        try:
            self.llm.prefetch(conversations, self.settings)
        except Exception as error:  # a failed batch leaves each request to fail (and be recorded) alone
            self.failure_log.append({"id": ",".join(i.id for i in items), "poi": "*", "failure": f"batch: {error}"})

    def propose(self, item: PoolInput) -> dict[int, list[str]]:
        proposals: dict[int, list[str]] = {}
        for index, request in self.requests_of(item):
            poi = item.pois[index]
            proposal = propose_replacements(self.llm, request, self.settings)
            self.requests += 1
            self.cached += proposal.cached
            if proposal.failure:
                self.failures[proposal.failure.split(":")[0]] += 1
                self.failure_log.append({"id": item.id, "poi": poi.text, "failure": proposal.failure})
            proposals[index] = list(proposal.replacements)
        return proposals


class PhoneticSource:
    """Deterministic sound-alike replacements (no LLM): pinyin homophones, CMUdict neighbours,
    Vietnamese tone confusions, one word varied at a time."""

    name = "phonetic"

    def __init__(self, neighbours: Callable[[str, str | None, int], list[str]], limit: int = 3):
        self.neighbours, self.limit = neighbours, limit

    def propose(self, item: PoolInput) -> dict[int, list[str]]:
        proposals = {}
        for index, poi in enumerate(item.pois):
            hint = item.embedded_language if poi.category == "embedded" else None
            proposals[index] = self.neighbours(poi.text, hint, self.limit)
        return proposals
