"""The instruction pool and target sets of the selection / double-descent benchmarks, from ../shared/data.

Pool (3,015 records, seeded): 600 single-turn LIMA examples (human-curated); 930 GSM8K train problems with
their worked solutions (calculator annotations ``<<48/2=24>>`` removed, as is common for SFT); the Self-Instruct
user-oriented tasks answered by 8 GPT-3-family models (126 tasks × 8 models, less 23 empty responses: from
vanilla davinci, often off-task, to text-davinci-003); 500 MMLU questions (dev + a test sample) as terse QA
("Answer: C. ..."). Each record carries ``source`` (lima, gsm8k, mmlu,
selfinstruct:<model>).

Targets: a GSM8K *test* slice and a held-out LIMA slice (never in the pool).

Responses (pool and targets) are cut to their first ``max_response_tokens`` SmolLM2 tokens (default 128) so
that scoring and fine-tuning 3,000 records fit the CPU budget; the cut is reported per source.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np

from bench_data import SHARED

MODELS = ["davinci", "davinci-t0-ft", "davinci-superni-ft", "davinci-self-instruct",
          "davinci-self-instruct-and-superni-ft", "text-davinci-001", "text-davinci-002", "text-davinci-003"]
SIZES = {"lima": 600, "gsm8k": 930, "selfinstruct_tasks": 126, "mmlu": 500}
_CALC = re.compile(r"<<[^>]*>>")


def _jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def lima_single_turn() -> list[dict]:
    rows = json.loads((SHARED / "lima" / "lima.json").read_text(encoding="utf-8"))
    return [{"instruction": r["instruction"], "input": r.get("input") or "", "output": r["output"]}
            for r in rows if not r.get("history")]


def gsm8k(split: str) -> list[dict]:
    return [{"instruction": r["question"], "input": "", "output": _CALC.sub("", r["answer"])}
            for r in _jsonl(SHARED / "gsm8k" / f"{split}.jsonl")]


def mmlu(rng: np.random.Generator, n: int) -> list[dict]:
    def read(folder: str) -> list[dict]:
        out = []
        for f in sorted((SHARED / "mmlu" / folder).glob("*.csv")):
            subject = f.stem.rsplit("_", 1)[0].replace("_", " ")
            with open(f, encoding="utf-8", newline="") as fh:
                for r in csv.DictReader(fh):
                    choices = [r[f"choice{i}"] for i in range(4)]
                    k = int(r["answer"])
                    out.append({"instruction": f"The following is a multiple choice question about {subject}. "
                                               "Answer with the letter of the correct choice.\n\n" + r["question"]
                                               + "\n" + "\n".join(f"{'ABCD'[i]}. {c}" for i, c in enumerate(choices)),
                                "input": "", "output": f"Answer: {'ABCD'[k]}. {choices[k]}"})
        return out
    dev, test = read("dev"), read("test")
    pick = rng.choice(len(test), size=max(0, n - len(dev)), replace=False)
    return dev + [test[i] for i in pick]


def selfinstruct(rng: np.random.Generator, n_tasks: int) -> list[dict]:
    pred = SHARED / "self-instruct" / "human_eval" / "predictions"
    tasks = np.sort(rng.choice(252, size=n_tasks, replace=False))
    out = []
    for model in MODELS:
        rows = _jsonl(pred / f"{model}_predictions.jsonl")
        for t in tasks:
            r = rows[t]
            out.append({"instruction": r["instruction"].strip(), "input": (r.get("input") or "").strip(),
                        "output": (r.get("response") or "").strip(), "source": f"selfinstruct:{model}",
                        "task": int(t)})
    return out


def cut_responses(records: list[dict], tok, max_tokens: int) -> dict[str, int]:
    """Cut each output to its first ``max_tokens`` tokens in place; returns how many were cut per source."""
    cut: dict[str, int] = {}
    ids = tok([r["output"] for r in records], add_special_tokens=False)["input_ids"]
    for r, x in zip(records, ids):
        if len(x) > max_tokens:
            r["output"] = tok.decode(x[:max_tokens]).rstrip()
            cut[r["source"]] = cut.get(r["source"], 0) + 1
    return cut


def build(out_dir: Path, tok, seed: int = 0, max_response_tokens: int = 128, n_gsm_target: int = 48,
          n_lima_target: int = 48) -> dict:
    """Write pool.jsonl, target_gsm8k.jsonl, target_lima.jsonl (+ build.json) under ``out_dir``."""
    rng = np.random.default_rng(seed)
    lima = lima_single_turn()
    order = rng.permutation(len(lima))
    lima_target = [dict(lima[i], source="lima") for i in order[:n_lima_target]]
    lima_pool = [dict(lima[i], source="lima") for i in order[n_lima_target:n_lima_target + SIZES["lima"]]]
    train = gsm8k("train")
    gsm_pool = [dict(train[i], source="gsm8k") for i in rng.choice(len(train), SIZES["gsm8k"], replace=False)]
    test = gsm8k("test")
    gsm_target = [dict(test[i], source="gsm8k") for i in rng.choice(len(test), n_gsm_target, replace=False)]
    mm = [dict(r, source="mmlu") for r in mmlu(rng, SIZES["mmlu"])]
    si = selfinstruct(rng, SIZES["selfinstruct_tasks"])
    pool = [r for r in lima_pool + gsm_pool + mm + si if r["output"].strip()]
    cuts = {"pool": cut_responses(pool, tok, max_response_tokens),
            "target_gsm8k": cut_responses(gsm_target, tok, max_response_tokens),
            "target_lima": cut_responses(lima_target, tok, max_response_tokens)}
    for i, r in enumerate(pool):
        r["id"] = f"p{i:05d}"
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, rows in (("pool", pool), ("target_gsm8k", gsm_target), ("target_lima", lima_target)):
        with open(out_dir / f"{name}.jsonl", "w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    counts: dict[str, int] = {}
    for r in pool:
        key = "selfinstruct" if r["source"].startswith("selfinstruct") else r["source"]
        counts[key] = counts.get(key, 0) + 1
    meta = {"seed": seed, "max_response_tokens": max_response_tokens, "pool": len(pool), "by_source": counts,
            "targets": {"gsm8k": len(gsm_target), "lima": len(lima_target)}, "responses_cut": cuts}
    (out_dir / "build.json").write_text(json.dumps(meta, indent=2))
    return meta
