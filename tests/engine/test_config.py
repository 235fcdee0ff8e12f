"""Typed YAML configs: errors name the exact key, every shipped recipe validates, ``recipe:`` expands."""

from __future__ import annotations

import pytest
import yaml

from curata.config import build_pipeline, load_config, load_recipe, merge, recipe_names
from curata.engine.budget import Budget
from curata.errors import ConfigError


@pytest.fixture
def pool(tmp_path):
    p = tmp_path / "pool.jsonl"
    p.write_text('{"text": "a", "label": "x"}\n')
    return str(p)


@pytest.fixture
def write_yaml(tmp_path):
    def _write(text: str, name: str = "config.yaml"):
        path = tmp_path / name
        path.write_text(text)
        return path
    return _write


def error_of(source) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        load_config(source)
    assert "\n" not in str(err.value)
    return err.value


def test_yaml_config_loads_into_typed_sections(write_yaml, pool, tmp_path):
    path = write_yaml(f"""
input: {{path: {pool}, fields: {{text_field: body, label_field: y}}}}
embed: {{name: static, pca_dims: 64}}
scorers:
  - length
  - {{name: nn_sim, k: 4}}
  - {{name: proxy, optional: true, folds: 3}}
select:
  budget: 20k tokens
  selector: {{name: topk, by: "proxy_prob:1"}}
  exclude:
    - {{when: "nn_sim_score > 0.99", reason: "near copy of {{nn_id}}"}}
evaluate: {{budgets: [0.1, 50], seeds: 2}}
seed: 7
out: {tmp_path / 'run'}
""")
    cfg = load_config(path)
    assert cfg.input.path == pool
    assert cfg.input.fields.text_field == "body" and cfg.input.fields.label_field == "y"
    assert (cfg.embed.name, cfg.embed.params()) == ("static", {"pca_dims": 64})
    assert [(s.name, s.optional, s.params()) for s in cfg.scorers] == [
        ("length", False, {}), ("nn_sim", False, {"k": 4}), ("proxy", True, {"folds": 3})]
    assert Budget.parse(cfg.select.budget) == Budget("tokens", 20_000)
    assert cfg.select.exclude[0].reason == "near copy of {nn_id}"
    assert cfg.evaluate.budgets == [0.1, 50] and cfg.evaluate.seeds == 2
    assert cfg.evaluate.trainer.name == "logreg"
    assert cfg.seed == 7

    pipe = build_pipeline(cfg)
    assert [s.describe() for s in pipe.scorers] == [
        "length(field='text')", "nn_sim(k=4, exact_max=50000, nprobe=16, seed=None)",
        "proxy(folds=3, C=1.0, seed=None)"]
    assert pipe.scorers[2].optional is True and pipe.scorers[1].optional is False
    assert pipe.embedder.params.pca_dims == 64 and pipe.seed == 7
    assert pipe.select.budget == Budget("tokens", 20_000)
    assert pipe.run_dir.root == tmp_path / "run"


def test_task_shorthand_sets_the_field_mapping(pool):
    assert load_config({"input": pool, "task": "pair"}).input.fields.task == "pair"


@pytest.mark.parametrize("extra, key, problem", [
    ({"scorers": ["length", {"name": "nn_sim", "k": 0}]}, "scorers[1].k", "greater than or equal to 1"),
    ({"scorers": ["length", "mtld", {"name": "kmeans", "niter": "x"}]}, "scorers[2].niter", "valid integer"),
    ({"scorers": [{"name": "length", "colour": "red"}]}, "scorers[0].colour", "Extra inputs are not"),
    ({"scorers": ["length", "lenght"]}, "scorers[1].name", "unknown scorer 'lenght'"),
    ({"select": {"selector": {"name": "best"}}}, "select.selector.name", "unknown selector 'best'"),
    ({"select": {"selector": {"name": "topk"}}}, "select.selector.by", "Field required"),
    ({"select": {"budget": 0}}, "select.budget", "budget must be positive"),
    ({"select": {"budget": "lots"}}, "select.budget", "cannot read 'lots' as a budget"),
    ({"select": {"exclude": [{"when": "a > 0"}, {"when": "b >"}]}}, "select.exclude[1].when", "cannot parse"),
    ({"select": {"exclude": [{"when": "a > 0", "why": "x"}]}}, "select.exclude[0].why", "Extra inputs"),
    ({"embed": {"name": "bert"}}, "embed.name", "unknown embedder 'bert'"),
    ({"embed": {"name": "static", "pca_dims": "x"}}, "embed.pca_dims", "valid integer"),
    ({"evaluate": {"seeds": 0}}, "evaluate.seeds", "greater than or equal to 1"),
    ({"evaluate": {"trainer": {"name": "logreg", "C": -1}}}, "evaluate.trainer.C", "greater than 0"),
    ({"bogus": 1}, "bogus", "Extra inputs are not permitted"),
    ({"seed": "abc"}, "seed", "valid integer"),
    ({"task": "image"}, "task", "Input should be"),
    ({"target": "/no/such/target.jsonl"}, "target.path", "file not found: /no/such/target.jsonl"),
])
def test_errors_name_the_key(pool, extra, key, problem):
    err = error_of({"input": pool, **extra})
    assert err.key == key
    assert problem in err.problem
    assert str(err).startswith(f"config `{key}`: ")


def test_missing_input_file_names_input_path():
    err = error_of({"input": {"path": "/no/such/pool.jsonl"}})
    assert err.key == "input.path" and err.problem == "file not found: /no/such/pool.jsonl"


def test_input_field_typos_name_the_nested_key(pool):
    assert error_of({"input": {"path": pool, "fields": {"txt_field": "a"}}}).key == "input.fields.txt_field"


def test_missing_input_section(pool):
    err = error_of({"scorers": ["length"]})
    assert err.key == "input" and "Field required" in err.problem


def test_unknown_top_level_key_in_yaml(write_yaml, pool):
    err = error_of(write_yaml(f"input: {pool}\nscorer: [length]\n"))
    assert err.key == "scorer" and "Extra inputs are not permitted" in err.problem


def test_invalid_yaml_names_the_line(write_yaml, pool):
    path = write_yaml(f"input: {pool}\nscorers:\n  - length\n  - {{name: nn_sim, k: 4\n"
                      "select: {budget: 0.1}\n")
    err = error_of(path)
    assert err.key == "config"
    assert f"{path}: not valid YAML at line 5" in err.problem


def test_yaml_that_is_not_a_mapping(write_yaml):
    err = error_of(write_yaml("- length\n- mtld\n"))
    assert err.key == "config" and "expected a mapping of sections" in err.problem


def test_missing_config_file(tmp_path):
    err = error_of(tmp_path / "nope.yaml")
    assert err.key == "config" and "file not found" in err.problem


# --- recipes ---------------------------------------------------------------------------------------------
def test_recipe_names():
    assert recipe_names() == ["balanced", "bandit", "clean", "diverse", "quality", "random", "target", "value"]


@pytest.mark.parametrize("name", recipe_names())
def test_every_recipe_loads_and_validates(name, pool):
    data = load_recipe(name)
    assert "description" not in data and data["select"]["budget"] == 0.1
    cfg = load_config({"recipe": name, "input": pool})
    assert cfg.select is not None and cfg.scorers
    assert cfg.embed.name == "sentence_transformer" and cfg.embed.params() == {"model": "minilm"}
    pipe = build_pipeline(cfg)  # every operator builds
    assert len(pipe.scorers) == len(data["scorers"])
    assert pipe.select.selector.name == data["select"]["selector"]["name"]


def test_recipe_key_expands_with_overrides(write_yaml, pool, tmp_path):
    path = write_yaml(f"""
recipe: target
input: {pool}
select:
  budget: 25
  selector: {{ascending: true}}
embed: {{name: static}}
""")
    cfg = load_config(path)
    base = load_recipe("target")
    assert [s.name for s in cfg.scorers] == [s if isinstance(s, str) else s["name"] for s in base["scorers"]]
    assert cfg.select.budget == 25
    # nested sections merge key by key: the recipe's selector keeps its name and other parameters
    assert cfg.select.selector.name == base["select"]["selector"]["name"] == "topk"
    assert cfg.select.selector.params() == {"by": base["select"]["selector"]["by"], "ascending": True}
    assert [r.when for r in cfg.select.exclude] == [r["when"] for r in base["select"]["exclude"]]
    # an operator of another name replaces the recipe's whole: no parameter of one leaks into the other
    assert (cfg.embed.name, cfg.embed.params()) == ("static", {})


def test_a_selector_of_another_name_replaces_the_recipes(write_yaml, pool):
    """docs/config.md's example failed: balanced's `stratify: label` leaked into cluster_balanced."""
    path = write_yaml(f"""
recipe: balanced
input: {pool}
select:
  selector: {{name: cluster_balanced, by: "proxy_prob:1", allocation: sqrt}}
""")
    cfg = load_config(path)
    assert cfg.select.selector.name == "cluster_balanced"
    assert cfg.select.selector.params() == {"by": "proxy_prob:1", "allocation": "sqrt"}


def test_recipe_from_a_yaml_file(write_yaml, pool):
    recipe = write_yaml("description: mine\nscorers: [length]\n"
                        "select: {selector: {name: random}, budget: 3}\n", name="mine.yaml")
    cfg = load_config({"recipe": str(recipe), "input": pool})
    assert [s.name for s in cfg.scorers] == ["length"] and cfg.select.budget == 3


def test_unknown_recipe(pool):
    err = error_of({"recipe": "fastest", "input": pool})
    assert err.key == "recipe" and "unknown recipe 'fastest'" in err.problem
    assert "balanced, bandit, clean, diverse, quality, random, target, value" in err.fix


def test_recipe_list_sections_are_replaced_not_merged(pool):
    cfg = load_config({"recipe": "target", "input": pool, "scorers": ["length"]})
    assert [s.name for s in cfg.scorers] == ["length"]


def test_merge_is_deep_for_mappings_only():
    assert merge({"a": {"b": 1, "c": [1, 2]}, "d": 1}, {"a": {"c": [3]}, "e": 2}) == \
        {"a": {"b": 1, "c": [3]}, "d": 1, "e": 2}


def test_config_round_trips_through_the_run_directory(pool, tmp_path):
    """`curata evaluate` rebuilds the pipeline from config.yaml: the dump must load to the same operators."""
    cfg = load_config({"recipe": "balanced", "input": pool, "seed": 4})
    dumped = build_pipeline(cfg).config
    again = load_config(yaml.safe_load(yaml.safe_dump(dumped, sort_keys=False)))
    p1, p2 = build_pipeline(cfg), build_pipeline(again)
    assert [s.fingerprint() for s in p1.scorers] == [s.fingerprint() for s in p2.scorers]
    assert p1.select.fingerprint() == p2.select.fingerprint()
    assert p1.embedder.fingerprint() == p2.embedder.fingerprint()
    assert [s.optional for s in p1.scorers] == [s.optional for s in p2.scorers]
