"""Lint and documentation checks: ruff over the code (settings in pyproject.toml [tool.ruff]) and
every link and repository path in README.md and docs/ pointing at something that exists.

Run alone with ``pytest tests/test_lint.py`` (``-k ruff`` for the lint only, ``-k document`` for the docs).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

DOCUMENTS = sorted([REPO / "README.md", *(REPO / "docs").rglob("*.md")])
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")  # [text](target), not images
CODE = re.compile(r"`([^`\n]+)`")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)
# repository folders whose paths the documents name in `backticks` (outputs such as results/ are not checked)
CHECKED_ROOTS = ("workbench/", "tests/", "benchmarks/", "experiments/", "data_manifests/", "docs/", "requirements/",
                 "tools/", ".github/", ".ci/")
PLACEHOLDER = re.compile(r"[<>*{}$…]|\.\.\.")  # templates such as experiments/cs_nmg/<variant>.yaml


def test_ruff_finds_nothing():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "workbench", "tests",
         "benchmarks"],
        cwd=REPO, capture_output=True, text=True,
    )
    print(result.stdout, result.stderr, sep="\n")  # the violations, in pytest's captured output
    summary, passed = (result.stdout.strip().splitlines() or [result.stderr.strip()])[-2:], result.returncode == 0
    assert passed, f"ruff: {' '.join(summary)} (listed above; `ruff check --fix` repairs the [*] ones)"


def github_anchor(heading: str) -> str:
    """The fragment GitHub gives a Markdown heading: lower case, punctuation dropped, spaces -> '-'."""
    text = re.sub(r"`|\*\*|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(document: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in FENCE.sub("", document.read_text(encoding="utf-8")).splitlines():
        match = re.match(r"#{1,6}\s+(.*)", line)
        if match:
            anchor = github_anchor(match.group(1))
            count = seen.get(anchor, 0)
            seen[anchor] = count + 1
            out.add(anchor if count == 0 else f"{anchor}-{count}")
    return out


def module_exists(dotted: str) -> bool:
    """``workbench.a.b.c``: some prefix is a module file, and every package before it exists."""
    path = REPO
    for part in dotted.split("."):
        if (path / f"{part}.py").is_file() or (path / f"{part}.pyx").is_file():
            return True
        path = path / part
        if not path.is_dir():
            return False
    return True


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(REPO)))
def test_document_links_and_paths_resolve(document):
    text = document.read_text(encoding="utf-8")
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # http(s):, mailto:
            continue
        path, _, fragment = target.partition("#")
        resolved = (document.parent / path).resolve() if path else document
        if not resolved.exists():
            broken.append(f"link {target}: {resolved} does not exist")
        elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
            broken.append(f"link {target}: no heading #{fragment} in {resolved.relative_to(REPO)}")
    for code in CODE.findall(text):
        for word in code.split():
            word = word.strip(".,;:()'\"").split(":")[0]
            if PLACEHOLDER.search(word):
                continue
            if word.startswith(CHECKED_ROOTS) and not (REPO / word).exists():
                broken.append(f"path `{word}` does not exist")
            elif re.fullmatch(r"workbench(\.\w+)+", word) and not module_exists(word):
                broken.append(f"module `{word}` does not exist")
    assert not broken, f"{document.relative_to(REPO)}:\n" + "\n".join(broken)


def test_every_document_is_linked_from_the_readme_or_docs():
    linked = set()
    for document in DOCUMENTS:
        for target in LINK.findall(document.read_text(encoding="utf-8")):
            path = target.partition("#")[0]
            if path and not re.match(r"[a-z]+:", target):
                linked.add((document.parent / path).resolve())
    orphans = [str(d.relative_to(REPO)) for d in DOCUMENTS if d.name != "README.md" and d.resolve() not in linked]
    assert not orphans, f"documents no page links to: {orphans}"
