"""Pipeline: in-memory and file input, stage caching and its chain key, accounting, seeds, skipped scorers,
early budget errors and the verbatim outputs of a run directory."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from curata.cluster.kmeans import KMeansClusterer
from curata.dedup.exact import ExactDuplicateScorer
from curata.engine.pipeline import Pipeline
from curata.engine.read import Read
from curata.engine.select import ExcludeRule, Select
from curata.errors import ConfigError, CurataError
from curata.scorers.length import LengthScorer
from curata.scorers.nn_sim import NearestNeighbourScorer
from curata.scorers.proxy import ProxyModelScorer
from curata.scorers.target_sim import TargetSimilarityScorer
from curata.selectors.random import RandomSelector
from curata.selectors.topk import TopKSelector

DUP_RULE = ExcludeRule("exact_dup_score > 0", "exact duplicate of {exact_dup_of}")


def same_records(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Equal values. A text column loaded from a stage's parquet is ``str`` with NaN for missing where the
    freshly computed one is ``object`` with None, so missing markers are compared as missing."""
    def canon(df):
        return df.astype(object).where(df.notna(), None)
    pd.testing.assert_frame_equal(canon(a), canon(b))
    return True


def status_counts(records: pd.DataFrame) -> dict:
    return records["status"].value_counts().to_dict()


def stages(hash_embedder, nn_k: int = 3, budget=0.2):
    return [hash_embedder(), LengthScorer(), ExactDuplicateScorer(), NearestNeighbourScorer(k=nn_k),
            KMeansClusterer(k=4), Select(RandomSelector(), budget=budget, exclude=[DUP_RULE])]


# --- input -----------------------------------------------------------------------------------------------
def test_in_memory_list_without_run_dir(hash_embedder, records):
    recs = records(n=30, dups=0)
    data = [*recs[:10], "not a record", *recs[10:]]
    pipe = Pipeline([hash_embedder(), LengthScorer(), Select(RandomSelector(), budget=5)], progress=False)
    res = pipe.run(data)
    assert res.run_dir is None
    assert res.accounting == {"records_in": 31, "accepted": 30, "selected": 5, "not_selected": 25,
                              "excluded": 0, "rejected": 1}
    rej = res.records[res.records["status"] == "rejected"]
    assert rej["source_line"].tolist() == [11] and "expected a dict" in rej["reason"].iloc[0]
    assert len(res.selected_ids) == 5 and set(res.selected_ids) <= {r["id"] for r in recs}
    # the length scorer ran on the in-memory texts
    first = res.records.set_index("id").loc["r000"]
    assert first["length_score"] == len(recs[0]["text"].split())
    # a DataFrame works the same way, and the same seed gives the same selection
    again = pipe.run(pd.DataFrame(recs))
    assert again.accounting["records_in"] == 30 and again.selected_ids == res.selected_ids


def test_file_input_runs_every_stage(tmp_path, hash_embedder, pool_file):
    res = Pipeline([Read(pool_file), *stages(hash_embedder)], run_dir=tmp_path / "run", seed=1,
                   progress=False).run()
    assert res.accounting["records_in"] == 95 and res.accounting["rejected"] == 2
    assert res.accounting["excluded"] == 3  # the three exact copies
    dups = res.records[res.records["id"].str.startswith("d", na=False)]
    assert (dups["status"] == "not_selected").all()
    assert dups["reason"].tolist() == ["exact duplicate of r000", "exact duplicate of r001",
                                       "exact duplicate of r002"]
    assert res.accounting["selected"] == round(0.2 * 93) == 19
    assert not res.timings["embed"]["cached"]
    assert res.timings["embed"]["encoded"] == 90  # the copies are embedded once
    assert {"length", "exact_dup", "nn_sim", "kmeans", "select"} <= set(res.timings)


# --- caching -----------------------------------------------------------------------------------------------
def test_second_run_loads_every_stage(tmp_path, hash_embedder, pool_file):
    run = tmp_path / "run"
    first = Pipeline([Read(pool_file), *stages(hash_embedder)], run_dir=run, progress=False).run()
    emb = hash_embedder()
    second = Pipeline([Read(pool_file), emb, *stages(hash_embedder)[1:]], run_dir=run, progress=False).run()
    cached = {name: t["cached"] for name, t in second.timings.items() if name != "write"}
    assert set(cached) == {"read-pool", "embed", "length", "exact_dup", "nn_sim", "kmeans", "select"}
    assert all(cached.values()), cached
    assert emb.encoded == [] and second.timings["embed"]["encoded"] == 0
    assert not any(t["cached"] for t in first.timings.values())
    assert same_records(first.records, second.records)
    summary = json.loads((run / "summary.json").read_text())
    assert all(summary["timings"][n]["cached"] for n in cached)


def test_changed_params_invalidate_downstream_not_upstream(tmp_path, hash_embedder, pool_file):
    run = tmp_path / "run"
    Pipeline([Read(pool_file), *stages(hash_embedder, nn_k=3)], run_dir=run, progress=False).run()
    with pytest.raises(CurataError, match="other settings.*--force"):  # never mixed without being asked
        Pipeline([Read(pool_file), *stages(hash_embedder, nn_k=5)], run_dir=run, progress=False).run()
    res = Pipeline([Read(pool_file), *stages(hash_embedder, nn_k=5)], run_dir=run, progress=False,
                   force=True).run()
    assert any("removed its results" in n for n in res.notes)
    cached = {name: t["cached"] for name, t in res.timings.items()}
    assert cached["read-pool"] and cached["embed"] and cached["length"] and cached["exact_dup"]
    assert not cached["nn_sim"] and not cached["kmeans"] and not cached["select"]
    # and the recomputed stage is the new one: the stored key follows the new params
    fresh = Pipeline([Read(pool_file), *stages(hash_embedder, nn_k=5)], run_dir=tmp_path / "fresh",
                     progress=False).run()
    assert same_records(res.records, fresh.records)
    pd.testing.assert_frame_equal(pd.read_parquet(run / "records.parquet"),
                                  pd.read_parquet(tmp_path / "fresh" / "records.parquet"))


def test_changed_budget_reruns_only_the_selection(tmp_path, hash_embedder, pool_file):
    run = tmp_path / "run"
    Pipeline([Read(pool_file), *stages(hash_embedder, budget=0.2)], run_dir=run, progress=False).run()
    res = Pipeline([Read(pool_file), *stages(hash_embedder, budget=10)], run_dir=run, progress=False,
                   force=True).run()
    upstream = ("read-pool", "embed", "length", "exact_dup", "nn_sim", "kmeans")
    assert all(res.timings[n]["cached"] for n in upstream)
    assert not res.timings["select"]["cached"]
    assert res.accounting["selected"] == 10


def test_a_changed_input_file_invalidates_every_stage_but_keeps_embeddings(tmp_path, hash_embedder, records):
    path = tmp_path / "pool.jsonl"
    recs = records(n=30, dups=0)
    path.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    run = tmp_path / "run"
    Pipeline([Read(path), hash_embedder(), LengthScorer(), NearestNeighbourScorer(k=3),
              Select(RandomSelector(), budget=5)], run_dir=run, progress=False).run()
    with open(path, "a") as fh:
        fh.write(json.dumps({"id": "new", "text": "brand new words here", "label": "billing"}) + "\n")
    emb = hash_embedder()
    with pytest.raises(CurataError, match="another input.*--force"):
        Pipeline([Read(path), emb, LengthScorer(), NearestNeighbourScorer(k=3),
                  Select(RandomSelector(), budget=5)], run_dir=run, progress=False).run()
    res = Pipeline([Read(path), emb, LengthScorer(), NearestNeighbourScorer(k=3),
                    Select(RandomSelector(), budget=5)], run_dir=run, progress=False, force=True).run()
    assert not any(res.timings[n]["cached"] for n in ("read-pool", "embed", "length", "nn_sim", "select"))
    assert emb.encoded == ["brand new words here"]  # the other 30 texts come from the content-keyed cache
    assert res.accounting["records_in"] == 31
    assert res.records.set_index("id").loc["new", "length_score"] == 4


def test_changing_the_seed_does_not_reuse_seeded_scorers(tmp_path, hash_embedder, records):
    """k-means with ``seed: None`` follows the run's seed: a cache made under another seed is stale."""
    path = tmp_path / "pool.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records(n=150, dups=0)) + "\n")

    def run(run_dir, seed):
        return Pipeline([Read(path), hash_embedder(), KMeansClusterer(k=12)], run_dir=run_dir, seed=seed,
                        progress=False, force=True).run().records["cluster"].tolist()

    assert run(tmp_path / "a", 0) != run(tmp_path / "b", 1)  # the seed matters on this pool
    assert run(tmp_path / "a", 1) == run(tmp_path / "b", 1)


# --- accounting ------------------------------------------------------------------------------------------
def test_accounting_agrees_everywhere(tmp_path, hash_embedder, pool_file):
    run = tmp_path / "run"
    res = Pipeline([Read(pool_file), *stages(hash_embedder)], run_dir=run, progress=False).run()
    acc = res.accounting
    assert acc["records_in"] == acc["selected"] + acc["not_selected"] + acc["rejected"] == 95
    summary = json.loads((run / "summary.json").read_text())
    assert summary["accounting"] == acc
    assert summary["accounting_line"] == "records in 95 = selected 19 + not selected 74 + rejected 2"
    on_disk = pd.read_parquet(run / "records.parquet")
    assert len(on_disk) == 95
    assert status_counts(on_disk) == {"selected": 19, "not_selected": 74, "rejected": 2}
    assert on_disk["selected"].sum() == 19 and on_disk["excluded"].sum() == acc["excluded"]


# --- seeds -----------------------------------------------------------------------------------------------
def test_same_seed_same_selection_other_seed_other_selection(tmp_path, hash_embedder, pool_file):
    def selected(seed, name):
        return Pipeline([Read(pool_file), *stages(hash_embedder)], run_dir=tmp_path / name, seed=seed,
                        progress=False).run().selected_ids

    a, b, c = selected(7, "a"), selected(7, "b"), selected(8, "c")
    assert a == b
    assert len(a) == len(c) == 19 and set(a) != set(c)


def test_deterministic_selector_ignores_the_seed(hash_embedder, records):
    def selected(seed):
        return Pipeline([hash_embedder(), LengthScorer(), Select(TopKSelector(by="length:1"), budget=5)],
                        seed=seed, progress=False).run(records(n=30, dups=0)).selected_ids

    assert selected(0) == selected(1)


# --- scorers that cannot run -----------------------------------------------------------------------------
def optional(scorer):
    scorer.optional = True
    return scorer


def test_optional_scorers_are_skipped_with_a_note(tmp_path, hash_embedder, records):
    run = tmp_path / "run"
    pipe = Pipeline([hash_embedder(), LengthScorer(), optional(ProxyModelScorer()),
                     optional(TargetSimilarityScorer()), Select(RandomSelector(), budget=5)], run_dir=run,
                    progress=False)
    res = pipe.run(records(n=30, labelled=False, dups=0))
    assert res.notes == ["scorer proxy skipped: the pool has no labels",
                         "scorer target_sim skipped: no target set was given (--target)"]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["notes"] == res.notes
    assert not [c for c in res.records.columns if c.startswith(("proxy", "target_sim"))]
    assert res.accounting["selected"] == 5


@pytest.mark.parametrize("scorer, key, problem", [
    (ProxyModelScorer, "scorers.proxy", "the pool has no labels"),
    (TargetSimilarityScorer, "scorers.target_sim", "no target set"),
])
def test_required_scorer_that_cannot_run_is_a_config_error(hash_embedder, records, scorer, key, problem):
    with pytest.raises(ConfigError) as err:
        Pipeline([hash_embedder(), scorer(), Select(RandomSelector(), budget=5)], progress=False).run(
            records(n=30, labelled=False, dups=0))
    assert err.value.key == key and problem in err.value.problem


def test_budget_larger_than_the_pool_fails_before_any_scorer(tmp_path, hash_embedder, call_recorder,
                                                             pool_file):
    emb = hash_embedder()
    run = tmp_path / "run"
    pipe = Pipeline([Read(pool_file), emb, call_recorder(), KMeansClusterer(),
                     Select(RandomSelector(), budget=94)], run_dir=run, progress=False)
    with pytest.raises(ConfigError) as err:
        pipe.run()
    assert err.value.key == "select.budget"
    assert "larger than the pool (93 usable records)" in err.value.problem
    assert call_recorder.calls == [] and emb.encoded == []
    assert sorted(p.name for p in (run / "stages").iterdir()) == ["00-read-pool"]
    assert not (run / "records.parquet").exists() and not (run / "summary.json").exists()


# --- outputs ---------------------------------------------------------------------------------------------
def test_selected_jsonl_holds_the_source_lines_verbatim(tmp_path, hash_embedder):
    lines = ['{"id":"a1","text":"caf\u00e9 cr\u00e8me br\u00fbl\u00e9e invoice","label":"x"}',
             '{ "label" : "y",   "text": "emoji \U0001F600 parcel late", "id": "a2" }   ',
             '{"id": "a3", "text": "escaped \\u00e9 and \\"quotes\\"", "label": "x", '
             '"extra": [1, 2.50, null]}',
             '{"id": "a4", "text": "tab\\there", "label": "y"}',
             '{"id": "a5", "text": "plain words again", "label": "x"}']
    path = tmp_path / "pool.jsonl"
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    run = tmp_path / "run"
    res = Pipeline([Read(path), hash_embedder(), Select(RandomSelector(), budget=1.0)], run_dir=run,
                   progress=False).run()
    assert res.accounting["selected"] == 5
    out = (run / "selected.jsonl").read_bytes().split(b"\n")
    assert out[-1] == b""
    src = path.read_bytes().split(b"\n")[:-1]
    assert sorted(out[:-1]) == sorted(src)
    by_line = res.records.set_index("id")["source_line"]
    order = [int(by_line[json.loads(x)["id"]]) for x in out[:-1]]
    assert [src[i - 1] for i in order] == out[:-1]


def test_csv_selection_is_header_plus_verbatim_rows(tmp_path, hash_embedder):
    text = ('id,text,label\r\n'
            'c1,"invoice, refund ""now""",billing\r\n'
            'c2,parcel late,shipping\r\n'
            'c3,"two\nlines of crash",technical\r\n'
            'c4,  spaced   out  ,billing\r\n'
            'c5,"caf\u00e9 app",technical\r\n')
    path = tmp_path / "pool.csv"
    path.write_bytes(text.encode("utf-8"))
    run = tmp_path / "run"
    res = Pipeline([Read(path), hash_embedder(), Select(RandomSelector(), budget=1.0)], run_dir=run,
                   progress=False).run()
    assert res.accounting["selected"] == 5
    rows = text.split("\r\n")[1:-1]
    got = (run / "selected.csv").read_text(encoding="utf-8").split("\n")
    assert got[0] == "id,text,label" and got[-1] == ""
    body = "\n".join(got[1:-1])
    for row in rows:
        assert row in body
    assert sorted(body.split("\n")) == sorted("\n".join(rows).split("\n"))
    as_json = [json.loads(x) for x in (run / "selected.jsonl").read_text().splitlines()]
    assert {r["id"]: r["text"] for r in as_json}["c1"] == 'invoice, refund "now"'
    assert {r["id"]: r["text"] for r in as_json}["c3"] == "two\nlines of crash"


def test_rejected_jsonl_has_file_line_reason_raw(tmp_path, hash_embedder, pool_file):
    run = tmp_path / "run"
    Pipeline([Read(pool_file), hash_embedder(), Select(RandomSelector(), budget=5)], run_dir=run,
             progress=False).run()
    rej = [json.loads(x) for x in (run / "rejected.jsonl").read_text().splitlines()]
    assert [set(r) for r in rej] == [{"file", "line", "reason", "raw"}] * 2
    assert [r["line"] for r in rej] == [5, 40]
    assert [r["raw"] for r in rej] == ['{"id": "bad1", "text": ', '["not", "an", "object"]']
    assert rej[0]["reason"].startswith("malformed JSON")
    assert rej[1]["reason"] == "expected a JSON object, got list"
    assert all(r["file"] == str(pool_file) for r in rej)
    src = pool_file.read_text().splitlines()
    assert [src[r["line"] - 1] for r in rej] == [r["raw"] for r in rej]


def test_config_and_manifest_are_written(tmp_path, hash_embedder, pool_file):
    run = tmp_path / "run"
    cfg = {"input": {"path": str(pool_file)}, "seed": 3}
    Pipeline([Read(pool_file), *stages(hash_embedder)], run_dir=run, seed=3, config=cfg, progress=False).run()
    import hashlib
    import yaml

    assert yaml.safe_load((run / "config.yaml").read_text()) == cfg
    man = json.loads((run / "manifest.json").read_text())
    assert man["inputs"]["pool"] == {"path": str(pool_file), "sha256": hashlib.sha256(pool_file.read_bytes())
                                     .hexdigest()}
    assert man["seed"] == 3 and man["versions"]["numpy"] == np.__version__
    assert man["scorers"][0] == "length(field='text')"
