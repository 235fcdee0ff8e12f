"""Every example in the README and the docs runs, as written, so the documentation cannot drift from the code.

A fenced block in ``bash``/``sh``, ``yaml`` or ``python`` is an example:

* ``bash``: the block runs as a script (``set -e``) in a sandbox directory that holds the repository's
  ``examples/`` and ``scripts/`` (links) and the project's ``curata`` first on ``PATH``;
* ``yaml``: a complete config (it has ``input``), written to a file and run with ``curata run``;
* ``python``: run with the project's interpreter in the sandbox.

Two exceptions, both explicit: a block preceded by ``<!-- example: not run — reason -->`` is skipped and the
reason must be given (the test says which blocks were skipped and why); and ``bash scripts/test.sh`` is not
run from inside the suite it starts. ``scripts/demo.sh`` runs with ``CURATA_RUNS`` inside the sandbox.
Embeddings are shared through ``CURATA_CACHE_DIR`` so the examples embed each text once.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "examples").glob("*/README.md"))]
LANGS = {"bash", "sh", "yaml", "python"}
SKIP = re.compile(r"<!--\s*example:\s*not run\s*[—-]+\s*(?P<why>.+?)\s*-->")
NOT_IN_SUITE = {"bash scripts/test.sh"}  # the suite itself


@dataclass
class Block:
    doc: Path
    line: int
    lang: str
    text: str
    skip: str | None

    @property
    def name(self) -> str:
        return f"{self.doc.relative_to(REPO)}:{self.line}"


def blocks(doc: Path) -> list[Block]:
    out, lines = [], doc.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        if m.group(1) in LANGS:
            before = lines[i - 1] if i else ""
            s = SKIP.search(before)
            out.append(Block(doc, i + 1, m.group(1), "\n".join(lines[i + 1:j]) + "\n", s.group("why") if s else None))
        i = j + 1
    return out


ALL = [b for d in DOCS for b in blocks(d)]


def test_the_docs_have_examples_and_say_why_any_is_not_run():
    assert len(ALL) >= 6 and any(b.doc.name == "README.md" for b in ALL)
    skipped = [b for b in ALL if b.skip is not None]
    for b in skipped:
        assert len(b.skip) > 20, f"{b.name}: say why the example is not run"
    assert len(skipped) <= len(ALL) // 4, [b.name for b in skipped]  # exceptions stay exceptions
    # the markers are not misspelled: every `<!-- example` comment is one the runner understands
    for d in DOCS:
        for n, line in enumerate(d.read_text(encoding="utf-8").splitlines(), 1):
            if "<!-- example" in line:
                assert SKIP.search(line), f"{d.relative_to(REPO)}:{n}: unreadable example marker"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    root = tmp_path_factory.mktemp("docs")
    for name in ("examples", "scripts"):
        (root / name).symlink_to(REPO / name)
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "HF_HUB_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false", "CURATA_CACHE_DIR": str(root / "shared-cache"),
           "CURATA_RUNS": str(root / "runs")}
    return root, env


def _run(cmd, root: Path, env: dict, name: str, timeout: float = 900) -> None:
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{name} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


@pytest.mark.parametrize("block", [b for b in ALL if b.skip is None], ids=lambda b: b.name)
def test_example_runs(block: Block, sandbox):
    root, env = sandbox
    if block.lang in ("bash", "sh"):
        script = "\n".join(line for line in block.text.splitlines()
                           if line.split("#")[0].strip() not in NOT_IN_SUITE)
        if "bash scripts/demo.sh" in script:  # demo.sh cds to its repository: run the real one
            script = script.replace("bash scripts/demo.sh", f"bash {REPO / 'scripts' / 'demo.sh'}")
        _run(["bash", "-e", "-c", script], root, env, block.name)
    elif block.lang == "yaml":
        import yaml

        data = yaml.safe_load(block.text)
        assert isinstance(data, dict) and "input" in data, \
            f"{block.name}: a YAML example must be a complete config (with `input:`), or say why it is not run"
        cfg = root / f"{block.doc.stem}-{block.line}.yaml"
        cfg.write_text(block.text)
        _run(["curata", "run", str(cfg)], root, env, block.name)
    else:
        _run([sys.executable, "-c", block.text], root, env, block.name)
