"""Name → operator class, per role. Built-ins are imported lazily; ``register`` adds your own."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from curata.errors import ConfigError

_BUILTIN: dict[str, dict[str, str]] = {
    "scorer": {
        "length": "curata.scorers.length:LengthScorer",
        "mtld": "curata.scorers.mtld:MTLDScorer",
        "nn_sim": "curata.scorers.nn_sim:NearestNeighbourScorer",
        "target_sim": "curata.scorers.target_sim:TargetSimilarityScorer",
        "zipfit": "curata.scorers.zipfit:ZipFitScorer",
        "proxy": "curata.scorers.proxy:ProxyModelScorer",
        "label_issues": "curata.scorers.label_issues:LabelIssueScorer",
        "knn_agreement": "curata.scorers.knn_agreement:KnnAgreementScorer",
        "wrong_events": "curata.scorers.wrong_events:WrongEventsScorer",
        "truth_inference": "curata.scorers.truth_inference:TruthInferenceScorer",
        "knn_shapley": "curata.scorers.knn_shapley:KnnShapleyScorer",
        "ppl": "curata.scorers.ppl:PerplexityScorer",
        "ifd": "curata.scorers.ifd:IFDScorer",
        "judge": "curata.scorers.judge:JudgeScorer",
        "instructmining": "curata.scorers.instructmining:InstructMiningScorer",
        "exact_dup": "curata.dedup.exact:ExactDuplicateScorer",
        "near_dup": "curata.dedup.near:NearDuplicateScorer",
        "semantic_dup": "curata.dedup.near:NearDuplicateScorer",  # the same scorer: one semantic dedup
        "kmeans": "curata.cluster.kmeans:KMeansClusterer",
    },
    "selector": {
        "random": "curata.selectors.random:RandomSelector",
        "topk": "curata.selectors.topk:TopKSelector",
        "stratified": "curata.selectors.stratified:StratifiedSelector",
        "cluster_balanced": "curata.selectors.cluster_balanced:ClusterBalancedSelector",
        "kcenter": "curata.selectors.kcenter:KCenterSelector",
        "facility_location": "curata.selectors.facility_location:FacilityLocationSelector",
        "bandit": "curata.selectors.bandit:ClusterBanditSelector",
    },
    "embedder": {
        "sentence_transformer": "curata.embed.sentence_transformer:SentenceTransformerEmbedder",
        "static": "curata.embed.static:StaticEmbedder",
    },
    "lm": {
        "transformers": "curata.lm.transformers_backend:TransformersLM",
        "llamacpp": "curata.lm.llamacpp_backend:LlamaCppLM",
        "openai": "curata.lm.openai_backend:OpenAILM",
    },
    "trainer": {
        "logreg": "curata.train.logreg:LogRegTrainer",
        "finetune": "curata.train.finetune:FineTuneTrainer",
        "mlp": "curata.train.mlp:MLPTrainer",
        "ido": "curata.train.ido:IDOTrainer",
        "lora_sft": "curata.train.lora_sft:LoRASFTTrainer",
    },
}
_USER: dict[str, dict[str, type]] = {role: {} for role in _BUILTIN}


def register(role: str, name: str) -> Callable[[type], type]:
    """Decorator: make ``cls`` available as ``name`` in configs and on the command line."""

    def deco(cls: type) -> type:
        _USER.setdefault(role, {})[name] = cls
        cls.name = name
        return cls

    return deco


def names(role: str) -> list[str]:
    return sorted(set(_BUILTIN.get(role, {})) | set(_USER.get(role, {})))


def get(role: str, name: str, key: str | None = None) -> type:
    if name in _USER.get(role, {}):
        return _USER[role][name]
    target = _BUILTIN.get(role, {}).get(name)
    if target is None:
        raise ConfigError(key or role, f"unknown {role} {name!r}", f"choose one of: {', '.join(names(role))}")
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)


def build(role: str, name: str, params: dict | None = None, key: str | None = None):
    return get(role, name, key)(**(params or {}))
