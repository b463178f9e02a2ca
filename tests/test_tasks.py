"""The four task families: scorers checked on embeddings built to be perfect or useless,
retrieval metrics on hand-computed rankings, and the packaged MiniLM on small subsets."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workbench.errors import InvalidInputError, UnknownNameError
from workbench.evaluation.tasks import (
    FAMILY_PROMPTS,
    FAMILY_TASKS,
    evaluate_family,
    family_encoder,
    load_task,
    load_tasks,
    ndcg_mrr_at_k,
)


def test_ndcg_and_mrr_by_hand():
    sims = np.array(
        [
            [0.9, 0.8, 0.1, 0.0],  # relevant doc 1 at rank 2
            [0.1, 0.2, 0.3, 0.9],  # relevant docs {3, 0}: ranks 1 and 4
            [0.5, 0.4, 0.3, 0.2],  # relevant doc 2 at rank 3
        ]
    )
    ndcg, mrr = ndcg_mrr_at_k(sims, [{1}, {3, 0}, {2}], k=10)
    idcg2 = 1 + 1 / math.log2(3)
    expected = [1 / math.log2(3), (1 + 1 / math.log2(5)) / idcg2, 1 / math.log2(4)]
    assert ndcg == pytest.approx(np.mean(expected))
    assert mrr == pytest.approx(np.mean([1 / 2, 1, 1 / 3]))
    ndcg2, mrr2 = ndcg_mrr_at_k(sims, [{1}, {3, 0}, {2}], k=2)
    assert mrr2 == pytest.approx(np.mean([1 / 2, 1, 0]))  # rank 3 is outside @2
    with pytest.raises(InvalidInputError):
        ndcg_mrr_at_k(sims, [{1}, set(), {2}])


def test_unknown_names():
    with pytest.raises(UnknownNameError):
        load_tasks("ranking")
    with pytest.raises(UnknownNameError):
        load_task("classification", "IMDB")


def _labels_onehot(task, labels_of_text, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    k = max(labels_of_text.values()) + 1
    E = np.zeros((len(task.texts), k + 4))
    for i, t in enumerate(task.texts):
        E[i, labels_of_text[t]] = 1.0
    return E + noise * rng.standard_normal(E.shape)


def test_classification_probe_perfect_and_useless(senteval_dir):
    from workbench.datasets import load_classification

    for name in ("SUBJ", "TREC"):
        task = load_task("classification", name, data_dir=senteval_dir, max_n=300, n_folds=5)
        df = load_classification(name, data_dir=senteval_dir, drop_empty=True)
        lab = dict(zip(df["text"], df["label"]))
        assert task.score(_labels_onehot(task, lab, noise=0.01))["score"] > 99
        rnd = np.random.default_rng(0).standard_normal((len(task.texts), 8))
        assert task.score(rnd)["score"] < task.chance + 15
        assert 0 < task.chance < 100


def test_mrpc_features_and_protocols(senteval_dir):
    t = load_task("classification", "MRPC", data_dir=senteval_dir, max_n=200)
    E = np.random.default_rng(0).standard_normal((len(t.texts), 6))
    assert 0 <= t.score(E)["score"] <= 100
    with pytest.raises(InvalidInputError):
        load_task("classification", "MRPC", data_dir=senteval_dir, mrpc_features="odd")
    with pytest.raises(InvalidInputError):
        load_task("classification", "MR", data_dir=senteval_dir, protocol="odd")
    # SentEval's protocol also embeds SST2's dev split (C is chosen there)
    fast = load_task("classification", "SST2", data_dir=senteval_dir, max_n=50)
    full = load_task("classification", "SST2", data_dir=senteval_dir, max_n=50, protocol="senteval")
    assert len(full.texts) > len(fast.texts)
    assert 0 <= full.score(np.random.default_rng(0).random((len(full.texts), 4)))["score"] <= 100


def test_clustering_perfect_and_useless(senteval_dir):
    from workbench.datasets import load_classification

    task = load_task("clustering", "TREC", data_dir=senteval_dir, max_n=400)
    df = load_classification("TREC", data_dir=senteval_dir)
    lab = dict(zip(df["text"], df["label"]))
    assert task.score(_labels_onehot(task, lab, noise=0.01))["score"] > 99
    rnd = np.random.default_rng(0).standard_normal((len(task.texts), 8))
    assert task.score(rnd)["score"] < 10
    assert task.info["n_clusters"] == 6


def test_retrieval_partner_embeddings_are_perfect(senteval_dir):
    task = load_task("retrieval", "SNLI", data_dir=senteval_dir, max_n=300)
    from workbench.datasets import load_pairs

    df = load_pairs("SNLI", "test", data_dir=senteval_dir)
    df = df[df["label_name"] == "entailment"]
    # embed each hypothesis as its premise's one-hot vector: partners coincide
    premise_id = {p: i for i, p in enumerate(dict.fromkeys(df["sentence1"]))}
    vec = {
        **{p: premise_id[p] for p in df["sentence1"]},
        **{h: premise_id[p] for p, h in zip(df["sentence1"], df["sentence2"])},
    }
    ids = np.array([vec[t] for t in task.texts])
    uniq = {v: j for j, v in enumerate(np.unique(ids))}
    E = np.zeros((len(task.texts), len(uniq)))
    E[np.arange(len(ids)), [uniq[v] for v in ids]] = 1.0
    res = task.score(E)
    # near-perfect: a few hypotheses are shared by several premises (one vector each)
    assert res["score"] > 95 and res["mrr@10"] > 95
    rnd = task.score(np.random.default_rng(0).standard_normal((len(task.texts), 16)))
    assert rnd["score"] < 10
    with pytest.raises(InvalidInputError, match="aligned"):
        task.score(E[:-1])


@pytest.fixture(scope="module")
def minilm():
    from workbench import list_encoders, load_encoder

    if not any(r["name"] == "all-MiniLM-L6-v2" and r["installed"] for r in list_encoders()):
        pytest.skip("the packaged all-MiniLM-L6-v2 is not installed")
    return load_encoder("all-MiniLM-L6-v2")


def test_sts_family_agrees_with_evaluate_sts(minilm, senteval_dir):
    from workbench import evaluate_sts, load_pairs
    from workbench.evaluation.tasks import _pick

    task = load_task("sts", "STSBenchmark", data_dir=senteval_dir, max_n=300, seed=3)
    ours = task.score(minilm.encode(task.texts))["score"]
    pairs = load_pairs("STSBenchmark", data_dir=senteval_dir)
    pairs = pairs.iloc[_pick(len(pairs), 300, 3)].reset_index(drop=True)  # the same 300 pairs
    ref = evaluate_sts(minilm, pairs=pairs, n_boot=0, aggregation="all")["spearman"].iloc[0]
    assert ours == pytest.approx(ref, abs=1e-6)


# two tasks per family keep this test fast; every task is loaded (not embedded) above
SMALL = {
    "sts": ["STSBenchmark", "SICKRelatedness"],
    "classification": ["SUBJ", "TREC"],
    "clustering": ["TREC", "STS-genre"],
    "retrieval": ["STSB", "MRPC"],
}


def test_every_family_on_minilm(minilm, senteval_dir):
    for family, names in SMALL.items():
        assert len(load_tasks(family, data_dir=senteval_dir, max_n=20)) == len(FAMILY_TASKS[family])
        df = evaluate_family(
            minilm, family, tasks=names, data_dir=senteval_dir, max_n=80, n_folds=3
        )
        assert list(df["task"]) == names
        assert df["score"].between(0, 100).all()
        # a real sentence encoder is far above chance on every task
        assert (df["score"] > df["chance"] + 5).all(), df


def test_family_prompts_only_for_decoders(minilm):
    assert family_encoder(minilm, "classification") is minilm
    assert set(FAMILY_PROMPTS) == set(FAMILY_TASKS)
    for template in FAMILY_PROMPTS.values():
        assert "{text}" in template


def test_sts_constant_predictions_score_zero(senteval_dir):
    task = load_task("sts", "STSBenchmark", data_dir=senteval_dir, max_n=50)
    same_side = np.abs(np.random.default_rng(0).standard_normal((len(task.texts), 1))) + 1
    assert task.score(same_side) == {"score": 0.0, "pearson": 0.0}  # every cosine is 1
    rnd = task.score(np.random.default_rng(0).standard_normal((len(task.texts), 16)))
    assert abs(rnd["score"]) < 40
