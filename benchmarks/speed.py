"""Speed and memory of `curata select` on a pool of >=100,000 short texts built from ../shared/data.

In one run: (1) bare `SentenceTransformer.encode` over the same texts (the floor), (2) `curata select`
end to end in a fresh run directory (wall time, peak RSS of the process tree, per-stage timings),
(3) the same command again (everything cached). Reports the pipeline's overhead over the bare encode
and the cached/first ratio. Usage:

    .venv/bin/python benchmarks/speed.py [--n 100000] [--recipe balanced] [--embedder minilm|static]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_data import OUT, SHARED, require_shared, write_jsonl  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def short_texts(max_words: int = 40) -> list[dict]:
    """Short texts labelled by their source, from every text source in ../shared/data."""
    rows: list[dict] = []
    cls = SHARED / "text-cls-harvardnlp" / "data"
    for name, enc in (("stsa.fine.train", "utf-8"), ("stsa.fine.dev", "utf-8"), ("stsa.fine.test", "utf-8"),
                      ("rt-polarity.all", "latin-1"), ("TREC.train.all", "latin-1"), ("TREC.test.all", "utf-8")):
        src = "trec" if "TREC" in name else "sst" if "stsa" in name else "mr"
        for line in open(cls / name, encoding=enc, errors="replace"):
            rows.append({"text": line.strip().partition(" ")[2], "label": src})
    for line in open(SHARED / "sms-spam" / "SMSSpamCollection.tsv", encoding="utf-8"):
        rows.append({"text": line.rstrip("\n").partition("\t")[2], "label": "sms"})
    for split in ("train", "test"):
        for line in open(SHARED / "gsm8k" / f"{split}.jsonl", encoding="utf-8"):
            d = json.loads(line)
            rows.append({"text": d["question"], "label": "gsm8k"})
            for step in d["answer"].split("\n"):
                rows.append({"text": re.sub(r"<<[^>]*>>", "", step), "label": "gsm8k"})
    import csv
    for f in sorted((SHARED / "mmlu" / "test").glob("*.csv")) + sorted((SHARED / "mmlu" / "dev").glob("*.csv")):
        with open(f, encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                rows.append({"text": r["question"], "label": "mmlu"})
                rows.extend({"text": r[f"choice{i}"], "label": "mmlu"} for i in range(4))
    lima = json.loads((SHARED / "lima" / "lima.json").read_text())
    for d in lima:
        rows.append({"text": d["instruction"], "label": "lima"})
        rows.extend({"text": s, "label": "lima"} for s in re.split(r"(?<=[.!?])\s+", d["output"]))
    for f in (SHARED / "entity-matching-ditto" / "data" / "er_magellan").rglob("*.txt"):
        for line in open(f, encoding="utf-8"):
            parts = line.split("\t")
            rows.extend({"text": p.strip(), "label": "entity"} for p in parts[:2])
    seen, out = set(), []
    for r in rows:
        t = " ".join(r["text"].split())
        if 3 <= len(t) and len(t.split()) <= max_words and t not in seen:
            seen.add(t)
            out.append({"text": t, "label": r["label"]})
    random.Random(0).shuffle(out)
    return out


class PeakRSS(threading.Thread):
    """Polls the resident memory of a process and its children."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        import psutil
        self.proc, self.peak, self.stop = psutil.Process(pid), 0, False

    def run(self):
        import psutil
        while not self.stop:
            try:
                procs = [self.proc, *self.proc.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in procs))
            except psutil.Error:
                pass
            time.sleep(0.2)


def run_cli(args: list[str]) -> dict:
    t0 = time.perf_counter()
    p = subprocess.Popen([str(ROOT / ".venv" / "bin" / "curata"), *args], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    mon = PeakRSS(p.pid)
    mon.start()
    out, _ = p.communicate()
    mon.stop = True
    if p.returncode != 0:
        sys.exit(f"curata failed:\n{out[-3000:]}")
    return {"seconds": time.perf_counter() - t0, "peak_rss_mb": mon.peak / 2**20, "tail": out.strip()[-400:]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--recipe", default="balanced")
    ap.add_argument("--embedder", default="minilm")
    ap.add_argument("--skip-bare", action="store_true")
    a = ap.parse_args()
    require_shared()
    rows = short_texts()
    if len(rows) < a.n:
        sys.exit(f"only {len(rows)} distinct short texts in ../shared/data; asked for {a.n}")
    rows = rows[:a.n]
    pool = write_jsonl(OUT / "speed" / f"pool-{a.n}.jsonl", rows)
    texts = [r["text"] for r in rows]
    res: dict = {"n": len(rows), "recipe": a.recipe, "embedder": a.embedder, "date": time.strftime("%Y-%m-%d"),
                 "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
                 "mean_words": sum(len(t.split()) for t in texts) / len(texts)}
    if not a.skip_bare:
        os.environ["HF_HUB_OFFLINE"] = "1"
        from curata.embed.sentence_transformer import resolve_model
        if a.embedder == "static":
            from curata.embed.static import StaticEmbedder
            enc = StaticEmbedder().encode
        else:
            from sentence_transformers import SentenceTransformer
            m = SentenceTransformer(resolve_model(a.embedder), device="cpu")
            m.max_seq_length = 256
            enc = lambda t: m.encode(t, batch_size=64, normalize_embeddings=True, show_progress_bar=False)  # noqa
        t0 = time.perf_counter()
        enc(texts)
        res["bare_encode_seconds"] = time.perf_counter() - t0
        res["bare_texts_per_second"] = len(texts) / res["bare_encode_seconds"]
    run = OUT / "speed" / "run"
    shutil.rmtree(run, ignore_errors=True)
    cmd = ["select", str(pool), "--budget", "0.1", "--recipe", a.recipe, "--embedder", a.embedder, "--out",
           str(run), "--quiet"]
    res["first"] = run_cli(cmd)
    res["first"]["timings"] = json.loads((run / "summary.json").read_text())["timings"]
    res["cached"] = run_cli(cmd)
    res["cached"]["timings"] = json.loads((run / "summary.json").read_text())["timings"]
    first = res["first"]["seconds"]
    enc_s = res["first"]["timings"].get("embed", {}).get("encode_seconds")
    if enc_s:
        res["share_outside_encode"] = (first - enc_s) / first
    if "bare_encode_seconds" in res:
        res["overhead_vs_bare"] = first / res["bare_encode_seconds"] - 1
    res["cached_over_first"] = res["cached"]["seconds"] / first
    out = OUT / f"speed-{a.embedder}-{a.n}.json"
    out.write_text(json.dumps(res, indent=2))
    print(json.dumps({k: v for k, v in res.items() if k not in ("first", "cached")}, indent=2))
    print(f"first run {first:.1f}s (peak {res['first']['peak_rss_mb']:.0f} MB); cached {res['cached']['seconds']:.1f}s")
    for k, v in res["first"]["timings"].items():
        print(f"  {k:16s} {v['seconds']:8.1f}s")
    print(f"written {out}")


if __name__ == "__main__":
    main()
