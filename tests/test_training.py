"""Training: each loss against a straightforward independent formula, data, export/load
round trip, resume, and clear errors. Tiny randomly initialised models only (seconds)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr
from test_distributed import SENTS, make_tiny_bert, write_data

from workbench.errors import DataNotFoundError, InvalidInputError, UnknownNameError, WorkbenchError
from workbench.training import (
    StopTraining,
    TrainingData,
    build_loss,
    load_training_data,
    read_training_info,
    resolve_recipe,
    train,
)
from workbench.training.data import batch_order
from workbench.training.losses import (
    AnglELoss,
    CoSENTLoss,
    Matryoshka2dLoss,
    Matryoshka2dPlan,
    MatryoshkaLoss,
    PccLoss,
    SimCSELoss,
    angle_similarity,
)

# ------------------------------------------------------------------ losses vs plain formulas


def _rand(n=7, d=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(n, d, generator=g, dtype=torch.float64)
    v = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.rand(n, generator=g, dtype=torch.float64)
    y[2] = y[4]  # a tie: tied pairs must not be ranked
    return u, v, y


def _cos(a, b):
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def _ranking_reference(s, y, scale=20.0):
    terms = [
        math.exp(scale * (s[j] - s[i])) for i in range(len(s)) for j in range(len(s)) if y[i] > y[j]
    ]
    return math.log(1 + sum(terms))


def test_simcse_matches_loop():
    u, v, _ = _rand()
    w = torch.randn(7, 10, dtype=torch.float64)
    for cols in ([u, v], [u, v, w]):
        a, cands = cols[0].numpy(), np.concatenate([c.numpy() for c in cols[1:]])
        ref = 0.0
        for i in range(len(a)):
            logits = np.array([_cos(a[i], c) / 0.05 for c in cands])
            ref += -(logits[i] - np.log(np.exp(logits).sum()))
        ref /= len(a)
        assert float(SimCSELoss(0.05)(cols)) == pytest.approx(ref, rel=1e-9)


def test_cosent_matches_loop():
    u, v, y = _rand()
    s = [_cos(a, b) for a, b in zip(u.numpy(), v.numpy())]
    ref = _ranking_reference(s, y.numpy())
    assert float(CoSENTLoss()([u, v], y)) == pytest.approx(ref, rel=1e-9)


def test_angle_matches_complex_division():
    u, v, y = _rand(d=10)
    sims = []
    for a, b in zip(u.numpy(), v.numpy()):
        z = a[:5] + 1j * a[5:]
        w = b[:5] + 1j * b[5:]
        # AnglE's "division" z / w: z * conj(w) / |w|^2 with |w| the norm of the whole
        # vector, then divided by |z| / |w|
        q = z * np.conj(w) / np.linalg.norm(b) ** 2 / (np.linalg.norm(a) / np.linalg.norm(b))
        sims.append(abs(q.real.sum() + q.imag.sum()))
    got = angle_similarity(u, v).numpy()
    np.testing.assert_allclose(got, sims, rtol=1e-9)
    # the same quantity written as |cos + sin| after L2 normalisation
    x = torch.nn.functional.normalize(u, dim=1)
    z = torch.nn.functional.normalize(v, dim=1)
    alt = ((x * z).sum(1) + (x[:, 5:] * z[:, :5] - x[:, :5] * z[:, 5:]).sum(1)).abs()
    np.testing.assert_allclose(got, alt.numpy(), rtol=1e-9)
    # only the angle term (sentence-transformers' AnglELoss)
    only_angle = AnglELoss(cosine_weight=0.0, ibn_weight=0.0, angle_weight=1.0)([u, v], y)
    assert float(only_angle) == pytest.approx(_ranking_reference(sims, y.numpy()), rel=1e-9)


def _ibn_reference(rows, scores, tau):
    """AnglE's in-batch term written as loops: row j is a positive of row i when
    ``j * y_j == partner(i) * y_i`` with both integer scores non-zero."""
    n, total = len(rows), 0.0
    for i in range(n):
        logits = [tau * _cos(rows[i], rows[j]) if j != i else -math.inf for j in range(n)]
        lse = math.log(sum(math.exp(x) for x in logits))
        partner = i + 1 if i % 2 == 0 else i - 1
        for j in range(n):
            if scores[i] and scores[j] and j * scores[j] == partner * scores[i]:
                total -= logits[j] - lse
    return total / n


def test_angle_presets_match_loops():
    u, v, y = _rand(d=10)
    y = torch.tensor([0.9, 0.2, 0.6, 0.05, 0.6, 1.0, 0.4], dtype=torch.float64)
    a, b = u.numpy(), v.numpy()
    rows = np.stack([a, b], axis=1).reshape(-1, a.shape[1])  # u0, v0, u1, v1, ...
    cos = [_cos(p, q) for p, q in zip(a, b)]
    ang = angle_similarity(u, v).numpy()
    raw = np.round(y.numpy() * 5, 6)  # the 0-5 scale the reference saw
    per_row = np.repeat(np.trunc(raw).astype(int), 2)
    # angle-emb 0.6.1 defaults: ibn (tau 20) + 0.02 * angle (tau 20), float scores
    ref = _ibn_reference(rows, per_row, 20.0) + 0.02 * _ranking_reference(ang, raw, 20.0)
    assert float(AnglELoss("current")([u, v], y)) == pytest.approx(ref, rel=1e-9)
    # 2023: cosine (20) + ibn (20) + angle (tau 1), every term on int scores (ties dropped)
    ints = np.trunc(raw)
    ref = (
        _ranking_reference(cos, ints, 20.0)
        + _ibn_reference(rows, per_row, 20.0)
        + _ranking_reference(ang, ints, 1.0)
    )
    assert float(AnglELoss("2023")([u, v], y)) == pytest.approx(ref, rel=1e-9)
    with pytest.raises(UnknownNameError, match="2023"):
        AnglELoss("2022")


def test_angle_duplicates():
    from workbench.training.losses.angle import first_occurrence_rows

    # row 1 repeats text 1; row 2's first text (5) counts as seen although row 2 goes,
    # so row 3 goes too; row 4 is one text twice
    ids = np.array([[0, 1], [2, 1], [5, 2], [6, 5], [7, 7], [8, 9]])
    np.testing.assert_array_equal(
        first_occurrence_rows(ids), [True, False, False, False, False, True]
    )
    u, v, _ = _rand(n=6, d=10)
    y = torch.tensor([0.9, 0.2, 0.6, 0.4, 0.6, 1.0], dtype=torch.float64)
    keep = [0, 5]
    dropped = AnglELoss("current")([u, v], y, text_ids=ids)
    assert float(dropped) == pytest.approx(float(AnglELoss("current")([u[keep], v[keep]], y[keep])))
    # 2023: equal texts are extra positives of each other; "keep" ignores them
    assert float(AnglELoss("2023")([u, v], y, text_ids=ids)) != pytest.approx(
        float(AnglELoss("2023", duplicates="keep")([u, v], y, text_ids=ids))
    )
    with pytest.raises(InvalidInputError, match="text_ids"):
        AnglELoss()([u, v], y, text_ids=ids[:3])


def test_pcc_matches_scipy():
    u, v, y = _rand()
    s = [_cos(a, b) for a, b in zip(u.numpy(), v.numpy())]
    ref = 1 - pearsonr(s, y.numpy()).statistic
    assert float(PccLoss()([u, v], y)) == pytest.approx(ref, rel=1e-7)
    # invariant to an affine change of the gold scale (STS-B 0-5 vs [0, 1])
    assert float(PccLoss()([u, v], 5 * y + 1)) == pytest.approx(ref, rel=1e-7)


def test_matryoshka_sums_truncated_losses():
    u, v, y = _rand(d=12)
    ref = sum(
        w * _ranking_reference([_cos(a[:d], b[:d]) for a, b in zip(u.numpy(), v.numpy())], y)
        for d, w in [(12, 1.0), (6, 0.5), (3, 2.0)]
    )
    loss = MatryoshkaLoss(CoSENTLoss(), dims=[12, 6, 3], weights=[1.0, 0.5, 2.0])
    assert float(loss([u, v], y)) == pytest.approx(ref, rel=1e-9)
    with pytest.raises(InvalidInputError, match="exceed"):
        MatryoshkaLoss(CoSENTLoss(), dims=[24])([u, v], y)


def test_matryoshka2d_formula_and_layer_sampling():
    u, v, y = _rand(d=8)
    lu, lv, _ = _rand(d=8, seed=1)
    mu, mv, _ = _rand(d=8, seed=2)
    T = 0.5
    loss = Matryoshka2dLoss(
        PccLoss(),
        dims=[4, 8],
        n_dims_per_step=-1,
        kl_temperature=T,
        kl_weight=0.7,
        layer_weighting="linear",
        prior_layers_weight=0.6,
        normalize=True,
    )
    assert loss.dims == [8, 4]  # largest first, as sentence-transformers sorts them

    def m(a, b):
        return sum(float(PccLoss()([a[:, :d], b[:, :d]], y)) for d in (8, 4))

    def softmax(x):
        x = x / np.linalg.norm(x, axis=1, keepdims=True) / T  # normalize=True: unit vectors
        return np.exp(x) / np.exp(x).sum(1, keepdims=True)

    p = softmax(torch.cat([u, v]).numpy())

    def kl(a, b):
        q = softmax(torch.cat([a, b]).numpy())
        return float((p * np.log(p / q)).sum() / len(p))  # batchmean

    # layers 0 (embeddings) and 2: weights 1/(1+l), averaged over the two, KL x T x weight
    ref = m(u, v)
    for layer, (a, b) in ((0, (lu, lv)), (2, (mu, mv))):
        ref += m(a, b) / (1 + layer) / 2 * 0.6 + kl(a, b) * T * 0.7
    got = loss([u, v], y, prior_layers={0: [lu, lv], 2: [mu, mv]})
    assert float(got) == pytest.approx(ref, rel=1e-7)

    # a plan restricts the dims per layer
    plan = Matryoshka2dPlan(last_dims=(4,), layers=(2,), layer_dims=((8,),))
    got = loss([u, v], y, prior_layers={2: [mu, mv]}, plan=plan)
    ref = float(PccLoss()([u[:, :4], v[:, :4]], y)) + (
        float(PccLoss()([mu, mv], y)) / 3 * 0.6 + kl(mu, mv) * T * 0.7
    )
    assert float(got) == pytest.approx(ref, rel=1e-7)
    with pytest.raises(InvalidInputError, match="plan"):
        loss([u, v], y, prior_layers={1: [lu, lv]}, plan=plan)
    with pytest.raises(InvalidInputError, match="plan"):  # sampled dims need the step's plan
        Matryoshka2dLoss(PccLoss(), dims=[8, 4])([u, v], y, prior_layers={2: [mu, mv]})

    # sampled layers depend only on (seed, step): same on every process and after resume
    sampled = Matryoshka2dLoss(PccLoss(), dims=[8, 4], seed=3)
    assert sampled.plan_for_step(5, 6) == sampled.plan_for_step(5, 6)
    assert {x for s in range(50) for x in sampled.layers_for_step(s, 6)} == set(range(6))
    assert len({sampled.plan_for_step(s, 6) for s in range(20)}) > 1


def test_losses_have_gradients_and_reject_bad_input():
    u, v, y = _rand()
    u.requires_grad_(True)
    for loss in (SimCSELoss(), CoSENTLoss(), AnglELoss(), PccLoss()):
        u.grad = None
        loss([u, v], None if isinstance(loss, SimCSELoss) else y).backward()
        assert torch.isfinite(u.grad).all() and u.grad.abs().sum() > 0
    with pytest.raises(InvalidInputError, match="gold scores"):
        CoSENTLoss()([u, v], None)
    with pytest.raises(InvalidInputError):
        SimCSELoss(temperature=0)


def test_recipes_resolve():
    assert resolve_recipe("matryoshka:pcc") == ("matryoshka", "pcc")
    assert resolve_recipe("matryoshka2d-angle") == ("matryoshka2d", "angle")
    assert resolve_recipe("matryoshka") == ("matryoshka", "cosent")
    assert resolve_recipe("SimCSE_unsup") == ("simcse-unsup", None)
    assert build_loss("matryoshka", "cosent", 384).dims == [384, 192, 96, 48]
    assert resolve_recipe("matryoshka2d-angle-2023") == ("matryoshka2d", "angle-2023")
    assert build_loss("angle-2023", None, 8).preset == "2023"
    m2d = build_loss("matryoshka2d", "angle", 8, dims=[8, 4], normalize=True)
    assert m2d.matryoshka.inner.preset == "current" and m2d.uses_text_ids and m2d.normalize
    with pytest.raises(InvalidInputError, match="scale"):  # AnglE's temperatures are its own
        build_loss("angle", None, 8, scale=30.0)
    with pytest.raises(UnknownNameError, match="cosent"):
        resolve_recipe("triplet-magic")


# ---------------------------------------------------------------------------------- data


def test_batch_order_is_deterministic_and_complete():
    a = batch_order(103, 10, epoch=2, seed=7)
    assert a.shape == (10, 10) and len(set(a.ravel())) == 100
    np.testing.assert_array_equal(a, batch_order(103, 10, epoch=2, seed=7))
    assert not np.array_equal(a, batch_order(103, 10, epoch=3, seed=7))
    lengths = np.random.default_rng(0).integers(3, 60, 103)
    b = batch_order(103, 10, 2, 7, lengths=lengths, bucket_batches=5)
    assert b.shape == (10, 10) and len(set(b.ravel())) == 100
    spread = np.mean([np.ptp(lengths[r]) for r in b])
    assert spread < np.mean([np.ptp(lengths[r]) for r in a])  # buckets pad less


def test_files_and_frames(tmp_path):
    write_data(tmp_path)
    g = load_training_data(tmp_path / "graded.tsv")
    assert g.kind == "graded" and len(g) == len(SENTS) and g.labels.max() <= 1
    t = load_training_data(tmp_path / "triplets.tsv")
    assert t.kind == "triplets"
    (tmp_path / "s.txt").write_text("one\ntwo\none\n\n")
    s = load_training_data(tmp_path / "s.txt")
    assert s.kind == "sentences" and s.columns == [["one", "two"]]
    assert g.as_sentences().kind == "sentences"
    assert len(g.as_sentences()) == len(set(g.columns[0] + g.columns[1]))
    df = g.frame()
    assert load_training_data(df).kind == "graded"
    (tmp_path / "bad.tsv").write_text("a\tb\t3.5\n")
    with pytest.raises(InvalidInputError, match=r"\[0, 1\]"):
        load_training_data(tmp_path / "bad.tsv")
    with pytest.raises(DataNotFoundError):
        load_training_data(tmp_path / "missing.tsv")
    with pytest.raises(UnknownNameError, match="stsb-train"):
        load_training_data("no-such-data")
    with pytest.raises(InvalidInputError):
        TrainingData("x", "graded", [["a"], ["b"]], None)


def test_named_datasets(senteval_dir):
    sts = load_training_data("stsb-train")
    assert sts.kind == "graded" and len(sts) == 5749
    assert sts.labels.min() == 0 and sts.labels.max() == 1
    snli = load_training_data("snli-dev")
    assert snli.kind == "triplets" and len(snli) > 3000
    a, p, n = (c[0] for c in snli.columns)
    assert len({a, p, n}) == 3
    sick = load_training_data("sick-train", limit=10)
    assert len(sick) == 10 and sick.labels.min() >= 0 and sick.labels.max() <= 1


# ------------------------------------------------------------------- runs on a tiny model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    make_tiny_bert(folder / "model")
    write_data(folder)
    (folder / "dev.tsv").write_text((folder / "graded.tsv").read_text())
    return folder


def _run(tiny, out, **kw):
    opts = dict(
        base=str(tiny / "model"),
        data=str(tiny / "graded.tsv"),
        out=out,
        batch_size=4,
        lr=1e-3,
        max_len=16,
        eval_data=str(tiny / "dev.tsv"),
        eval_every=2,
        show_progress=False,
        device="cpu",
        keep_last=1,
    )
    opts.update(kw)
    return train(kw.pop("recipe", "cosent"), **{k: v for k, v in opts.items() if k != "recipe"})


def test_export_round_trip(tiny, tmp_path):
    pytest.importorskip("sentence_transformers")
    from sentence_transformers import SentenceTransformer

    import workbench as wb

    res = _run(tiny, tmp_path / "run", steps=4, pooling="cls", seed=3)
    info = read_training_info(res.out)
    assert info["recipe"] == "cosent" and info["seed"] == 3 and info["complete"]
    assert info["evaluate_with"]["pooling"] == "cls"
    assert {"torch", "transformers", "workbench"} <= set(info["versions"])
    assert [r["step"] for r in info["curve"]["train"]] == [1, 2, 3, 4]
    assert [r["step"] for r in info["curve"]["eval"]] == [0, 2, 4]
    assert info["best_step"] in (2, 4)
    assert info["best_dev_score"] == max(r["score"] for r in info["curve"]["eval"][1:])
    pool = json.loads((res.out / "1_Pooling" / "config.json").read_text())
    assert pool["pooling_mode_cls_token"] and not pool["pooling_mode_mean_tokens"]

    enc = wb.load_encoder(res.out)
    assert enc.pooling == "cls"
    st = SentenceTransformer(str(res.out), device="cpu")
    ours = enc.encode(SENTS, cache=False)
    theirs = st.encode(SENTS, convert_to_numpy=True)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    # the exported weights are those of the best checkpoint, not simply the last step
    best = torch.load(
        res.out / "checkpoints" / f"step-{info['best_step']:08d}" / "model.pt", weights_only=True
    )
    for k, v in enc.model.state_dict().items():
        torch.testing.assert_close(v, best[k])
    # a finished run is not silently overwritten; with reuse=True the same config is reused
    with pytest.raises(WorkbenchError, match="overwrite"):
        _run(tiny, tmp_path / "run", steps=4, pooling="cls", seed=3)

    def no_training(step, info):
        raise AssertionError("reuse=True trained again")

    again = _run(
        tiny, tmp_path / "run", steps=4, pooling="cls", seed=3, reuse=True, callback=no_training
    )
    assert again.best_step == info["best_step"] and again.out == res.out
    with pytest.raises(WorkbenchError, match="overwrite"):  # another config is not reused
        _run(tiny, tmp_path / "run", steps=4, pooling="cls", seed=4, reuse=True)


def test_resume_matches_uninterrupted(tiny, tmp_path):
    kw = dict(steps=6, recipe="matryoshka2d", dims=[32, 16], dropout=0.1, seed=11)
    full = _run(tiny, tmp_path / "full", **kw)

    def kill_after_4(step, info):
        if step == 4:
            raise StopTraining

    with pytest.raises(StopTraining):
        _run(tiny, tmp_path / "cut", callback=kill_after_4, **kw)
    assert not (tmp_path / "cut" / "workbench_training.json").exists()
    resumed = _run(tiny, tmp_path / "cut", **kw)

    a = read_training_info(full.out)
    b = read_training_info(resumed.out)
    assert a["curve"] == b["curve"]
    assert a["best_step"] == b["best_step"]
    from safetensors.torch import load_file

    wa, wb_ = (
        load_file(full.out / "model.safetensors"),
        load_file(resumed.out / "model.safetensors"),
    )
    assert wa.keys() == wb_.keys()
    for k in wa:
        assert torch.equal(wa[k], wb_[k]), k
    # dropout was on, so a different seed gives different weights: the test can fail
    other = _run(tiny, tmp_path / "other", **{**kw, "seed": 12})
    wo = load_file(other.out / "model.safetensors")
    assert any(not torch.equal(wa[k], wo[k]) for k in wa)


def test_resume_refuses_other_config(tiny, tmp_path):
    def stop(step, info):
        if step == 2:
            raise StopTraining

    with pytest.raises(StopTraining):
        _run(tiny, tmp_path / "r", steps=4, callback=stop)
    with pytest.raises(WorkbenchError, match="different configuration"):
        _run(tiny, tmp_path / "r", steps=4, lr=5e-4)
    with pytest.raises(WorkbenchError, match="unfinished"):
        _run(tiny, tmp_path / "r", steps=4, resume=False)


def test_bad_inputs_fail_clearly(tiny, tmp_path, monkeypatch):
    with pytest.raises(UnknownNameError, match="recipe"):
        _run(tiny, tmp_path / "a", recipe="nope", steps=1)
    with pytest.raises(InvalidInputError, match="graded"):
        _run(tiny, tmp_path / "b", data=str(tiny / "triplets.tsv"), steps=1)
    with pytest.raises(DataNotFoundError):
        _run(tiny, tmp_path / "c", data=str(tmp_path / "nothing.tsv"), steps=1)
    with pytest.raises(InvalidInputError, match="batch"):
        _run(tiny, tmp_path / "d", batch_size=64, steps=1)
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "precious.txt").write_text("keep me")
    with pytest.raises(WorkbenchError, match="not a workbench training run"):
        _run(tiny, tmp_path / "e", steps=1, overwrite=True)
    assert (tmp_path / "e" / "precious.txt").exists()

    from workbench.training.loop import Trainer

    def oom(self, *a, **k):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(Trainer, "embed", oom)
    with pytest.raises(WorkbenchError, match="smaller --batch-size or --max-len"):
        _run(tiny, tmp_path / "f", steps=1, eval_data=None)


def test_cli(tiny, tmp_path, capsys):
    from workbench.cli import main

    rc = main(["train", "--recipe", "bogus", "--base", str(tiny / "model"), "--out", "x"])
    err = capsys.readouterr().err
    assert rc == 2 and "unknown recipe 'bogus'" in err and len(err.strip().splitlines()) == 1
    rc = main(
        [
            "train",
            "--recipe",
            "simcse-sup",
            "--base",
            str(tiny / "model"),
            "--data",
            str(tiny / "triplets.tsv"),
            "--out",
            str(tmp_path / "cli"),
            "--steps",
            "2",
            "--batch-size",
            "4",
            "--max-len",
            "16",
            "--eval-data",
            "none",
            "--device",
            "cpu",
            "--json",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    summary = json.loads(out)
    assert summary["steps"] == 2 and summary["recipe"] == "simcse-sup"
    assert summary["data"]["kind"] == "triplets"
    assert (tmp_path / "cli" / "modules.json").is_file()


def test_figures():
    pytest.importorskip("plotly")
    import pandas as pd

    from workbench.plotting import training as tp

    info = {
        "recipe": "cosent",
        "curve": {
            "train": [{"step": s, "loss": 5.0 - 0.1 * s, "lr": 1e-5} for s in range(1, 11)],
            "eval": [{"step": 0, "score": 80.0}, {"step": 10, "score": 82.5}],
        },
    }
    fig = tp.training_curve(info, smooth=3)
    assert [t.name for t in fig.data] == ["loss", "loss (mean of 3)", "dev Spearman"]
    assert list(fig.data[2].y) == [80.0, 82.5]
    scores = pd.DataFrame(
        {"encoder": ["base", "tuned"], "task": ["STSBenchmark"] * 2, "spearman": [82.0, 85.1]}
    )
    assert len(tp.before_after_bars(scores).data) == 2
    curves = pd.DataFrame(
        {"encoder": ["a"] * 3 + ["b"] * 3, "dim": [16, 48, 384] * 2, "spearman": range(6)}
    )
    fig = tp.truncation_comparison(curves, mark=48)
    assert list(fig.data[1].y) == [3, 4, 5]
    grid = pd.DataFrame(
        [
            {"encoder": e, "layer": ly, "dim": d, "spearman": 10 * ly + d / 100}
            for e in ("base", "2d")
            for ly in (1, 2)
            for d in (16, 32)
        ]
    )
    fig = tp.layer_dim_grids(grid)
    assert len(fig.data) == 2 and fig.data[0].z.shape == (2, 2)
    assert fig.data[1].z[1][0] == pytest.approx(20.16)
    with pytest.raises(InvalidInputError, match="needs columns"):
        tp.truncation_comparison(scores)


def test_train_last_layers_freezes_the_rest(tiny, tmp_path):
    from transformers import AutoModel

    res = _run(tiny, tmp_path / "frozen", steps=2, train_last_layers=1, eval_data=None)
    before = AutoModel.from_pretrained(tiny / "model").state_dict()
    after = AutoModel.from_pretrained(res.out).state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("encoder.layer.2.") for k in changed), sorted(changed)
    assert 0 < res.info["trainable_parameters"] < sum(v.numel() for v in before.values())
