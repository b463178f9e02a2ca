"""Parity of the training losses and of I(W) with their reference implementations.

- 2D Matryoshka: sentence-transformers' ``Matryoshka2dLoss`` (the installed 6.2.0 from PyPI;
  its ``adaptive_layer.py`` and ``matryoshka_2d.py`` are identical to
  huggingface/sentence-transformers commit cad211983f36ce458e9b3360f3e11b29fc54cbd8) runs
  live on a tiny random BERT, against ours on the same model's hidden states.
- AnglE: values produced by running SeanLee97/AnglE's own code on the inputs below: the
  angle-emb 0.6.1 wheel from PyPI (commit 5155458cfa6f7fbc7a8a19a66960cd86eadfd534;
  ``AngleDataCollator`` then ``AngleLoss(dataset_format="A")`` and the functions of
  ``angle_emb/loss.py``) and tag v0.1.6 (commit cf51cdf011db47c3be6f75b7253c33e11cb3dc81;
  ``AngleDataTokenizer``, ``AngleDataCollator``, ``AngleLoss`` of ``angle_emb/angle.py``).
  A stand-in tokenizer mapped text ``tK`` to ids ``[101, 1000 + K, 102]``; the embeddings
  were looked up by those ids. sentence-transformers' ``AnglELoss`` and ``CoSENTLoss`` are
  compared live.
- I(W): values of ``isotropy()`` in Sara-Rajaee/clusterbased_isotropy_enhancement (commit
  8b74a0112354f22ac75c6c9fac712de13e3b3004, ``src/Clusterbased_isotropy_enhancement.ipynb``,
  Rajaee & Pilehvar 2021) run with numpy 2.4 (its OpenBLAS) on the matrices below.

Everything runs in float64, so agreement is to ~1e-12 relative: the computations differ only
in the order of floating-point operations (a few hundred of them, each rounding at 1.1e-16),
not in what they compute. A loss the wrong definition (un-normalised KL input, one sign of
I(W) against two) moves the value by far more than that, which the tests check too.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from workbench.geometry.isotropy import partition_isotropy
from workbench.training.losses import AnglELoss, CoSENTLoss, Matryoshka2dLoss, angle_similarity
from workbench.training.losses.base import ranking_loss

REL = 1e-10  # float64 with reordered operations (see the module docstring)

# ------------------------------------------------------------------------- 2D Matryoshka

S1 = ["a man plays guitar", "a dog runs in the snow", "the red car", "a woman plays piano", "a cat"]
S2 = ["a man plays piano", "a dog runs", "the blue car in the park", "a woman plays", "a red cat"]
WORDS = sorted({w for s in S1 + S2 for w in s.split()})
GOLD = torch.tensor([0.8, 0.6, 0.3, 0.7, 0.1], dtype=torch.float64)
HIDDEN, LAYERS = 16, 3


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    """A 3-layer, 16-d random BERT without dropout and a tokenizer for these sentences."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny_bert")
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    (folder / "vocab.txt").write_text("\n".join(specials + WORDS) + "\n")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=len(specials) + len(WORDS),
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    BertModel(cfg).save_pretrained(folder)
    return folder


def _st_model(folder: Path, normalize: bool):
    pytest.importorskip("sentence_transformers", minversion="6.2")
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling

    modules = [Transformer(str(folder)), Pooling(HIDDEN, "mean")]
    model = SentenceTransformer(modules=modules + ([Normalize()] if normalize else []))
    return model.double().eval()


def _ours(model, loss: Matryoshka2dLoss, plan) -> torch.Tensor:
    """Our loss on the model's hidden states, pooled as the training loop pools them."""
    from workbench.encoders.pooling import TOKEN_POOLERS

    pool = TOKEN_POOLERS["mean"]
    final, prior = [], {layer: [] for layer in plan.layers}
    for texts in (S1, S2):
        f = model.preprocess(texts)
        out = model[0].auto_model(
            input_ids=f["input_ids"],
            attention_mask=f["attention_mask"],
            token_type_ids=f.get("token_type_ids"),
            output_hidden_states=True,
        )
        final.append(pool(out.last_hidden_state, f["attention_mask"]))
        for layer in plan.layers:
            prior[layer].append(pool(out.hidden_states[layer], f["attention_mask"]))
    return loss(final, GOLD, prior_layers=prior, plan=plan)


def _reference(model, **kwargs) -> torch.Tensor:
    from sentence_transformers.sentence_transformer import losses as st

    ref = st.Matryoshka2dLoss(model, st.CoSENTLoss(model), [16, 8, 4], **kwargs)
    return ref([model.preprocess(S1), model.preprocess(S2)], GOLD)


def _grads(model) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


SETTINGS = [
    {},  # the defaults (then every layer and dim, to be deterministic)
    {
        "layer_weighting": "linear",
        "kl_temperature": 0.5,
        "kl_div_weight": 0.7,
        "last_layer_weight": 1.5,
        "prior_layers_weight": 0.6,
        "matryoshka_weights": [1.0, 0.5, 2.0],
    },
]


@pytest.mark.parametrize("normalize", [True, False], ids=["normalize", "no-normalize"])
@pytest.mark.parametrize("setting", SETTINGS, ids=["defaults", "weights"])
def test_matryoshka2d_equals_sentence_transformers_every_layer_and_dim(
    tiny_bert, normalize, setting
):
    model = _st_model(tiny_bert, normalize)
    kw = {**setting, "n_layers_per_step": -1, "n_dims_per_step": -1}
    model.zero_grad()
    ref = _reference(model, **kw)
    ref.backward()
    ref_grads = _grads(model)

    ours_kw = {
        "weights": kw.pop("matryoshka_weights", None),
        "kl_weight": kw.pop("kl_div_weight", 1.0),
        **kw,
    }
    loss = Matryoshka2dLoss(CoSENTLoss(), [16, 8, 4], normalize=normalize, **ours_kw)
    plan = loss.plan_for_step(0, LAYERS)
    assert plan.layers == (0, 1, 2)  # hidden states 0 (embeddings) .. L-1, as ST's range
    model.zero_grad()
    got = _ours(model, loss, plan)
    got.backward()
    assert float(got.detach()) == pytest.approx(float(ref.detach()), rel=REL)
    grads = _grads(model)
    assert grads.keys() == ref_grads.keys()
    for name, g in grads.items():
        torch.testing.assert_close(g, ref_grads[name], rtol=1e-8, atol=1e-12, msg=name)

    # the KL term compares the vectors the model outputs: normalised only after Normalize
    other = Matryoshka2dLoss(CoSENTLoss(), [16, 8, 4], normalize=not normalize, **ours_kw)
    with torch.no_grad():
        wrong = _ours(model, other, plan)
    assert abs(float(wrong) - float(ref)) > 1e3 * REL * abs(float(ref))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_matryoshka2d_sampling_draws_what_sentence_transformers_draws(tiny_bert, seed):
    """With the defaults (one layer, one dim per call), ST draws from the global ``random``;
    a ``random.Random`` in the same state gives our plan the same draws, in the same order."""
    model = _st_model(tiny_bert, normalize=True)
    draws: list[list[int]] = []
    sample = random.sample

    def recording(population, k, *args, **kwargs):
        out = sample(population, k, *args, **kwargs)
        draws.append(list(out))
        return out

    state = random.getstate()
    random.seed(seed)
    random.sample = recording
    try:
        with torch.no_grad():
            ref = _reference(model)
    finally:
        random.sample = sample
        random.setstate(state)

    loss = Matryoshka2dLoss(CoSENTLoss(), [16, 8, 4], normalize=True)
    plan = loss.draw_plan(random.Random(seed), LAYERS)
    dims = loss.dims
    # ST's order: dims at the last layer, the layers, dims at each layer
    assert draws[0] == [dims.index(d) for d in plan.last_dims]
    assert draws[1] == list(plan.layers)
    assert draws[2:] == [[dims.index(d) for d in ds] for ds in plan.layer_dims]
    with torch.no_grad():
        got = _ours(model, loss, plan)
    assert float(got.detach()) == pytest.approx(float(ref.detach()), rel=REL)


def test_matryoshka2d_plan_depends_only_on_seed_and_step():
    loss = Matryoshka2dLoss(CoSENTLoss(), [16, 8, 4], seed=42)
    plans = [loss.plan_for_step(s, 6) for s in range(200)]
    assert plans == [loss.plan_for_step(s, 6) for s in range(200)]  # any process, any resume
    assert all(len(p.layers) == 1 and 0 <= p.layers[0] <= 5 for p in plans)
    assert {p.layers[0] for p in plans} == set(range(6))  # the embedding output (0) included
    assert {p.last_dims for p in plans} == {(16,), (8,), (4,)}
    assert loss.layers_for_step(7, 6) == list(plans[7].layers)
    other = Matryoshka2dLoss(CoSENTLoss(), [16, 8, 4], seed=43)
    assert [other.plan_for_step(s, 6) for s in range(200)] != plans


# ----------------------------------------------------------------------------------- AnglE

# 13 texts (t0..t12) as 8-d vectors; a pair's two texts and its STS-style 0-5 score. Row 2
# repeats t1, row 4 is t7 twice, row 6 repeats t4 (first seen in the dropped row 2).
TEXT_VECTORS = [
    [-0.74, -0.21, -1.01, 1.26, 0.00, 0.73, -1.44, -0.97],
    [1.17, -0.18, -1.94, -0.12, 0.49, 0.26, -0.43, -0.47],
    [0.31, -1.03, 0.31, -1.09, -1.82, -0.35, -1.09, -1.08],
    [0.91, 0.60, 1.54, 0.60, -0.81, 1.18, 0.87, 0.84],
    [-1.87, 0.11, 1.34, -1.18, 1.99, 0.57, -0.16, 0.10],
    [1.36, 0.30, -0.57, 1.01, -0.81, -1.03, 0.58, -0.74],
    [-1.16, -0.90, -0.32, -0.60, -2.06, -0.62, -1.62, -0.28],
    [0.00, -0.99, -0.95, -0.83, 0.03, 0.81, 0.78, -0.89],
    [-0.90, 0.42, -1.79, 0.33, -0.90, -1.24, -2.64, 1.14],
    [-0.53, 0.41, 1.45, 0.38, -0.06, 0.73, 0.58, -1.97],
    [1.57, 0.38, -1.85, 0.19, 0.80, -0.15, -1.66, -0.24],
    [-0.14, 0.51, -1.19, 0.03, 1.15, 1.15, -1.26, -1.17],
    [-1.43, 0.57, -0.47, 1.24, 1.14, 0.35, 0.27, 0.70],
]
PAIRS = [
    (0, 1, 4.6),
    (2, 3, 3.0),
    (4, 1, 0.4),
    (5, 6, 1.2),
    (7, 7, 3.0),
    (8, 9, 5.0),
    (10, 4, 2.4),
    (11, 12, 4.0),
]
# angle-emb 0.6.1: AngleDataCollator() (duplicate rows 2, 4, 6 filtered), AngleLoss(
# dataset_format="A") with its defaults, on scores 0-5
ANGLE_0_6_1_TOTAL = 15.500141146947326
# angle-emb 0.6.1 functions on all 8 rows, scores 0-5, no filtering
ANGLE_0_6_1_COSINE_TAU20 = 32.235753463613
ANGLE_0_6_1_IBN_TAU20 = 14.339590621732267
ANGLE_0_6_1_ANGLE_TAU20 = 21.374031866468908
ANGLE_0_6_1_ANGLE_TAU1 = 3.340769583632409
# v0.1.6: AngleDataTokenizer (int scores), AngleDataCollator (similar_matrix), AngleLoss()
ANGLE_0_1_6_TOTAL = 49.910054761413285
ANGLE_0_1_6_TOTAL_NO_SIMILAR_MATRIX = 49.9012672346358


def _angle_batch():
    vec = torch.tensor(TEXT_VECTORS, dtype=torch.float64)
    ids = torch.tensor([[a, b] for a, b, _ in PAIRS])
    gold = torch.tensor([s for *_, s in PAIRS], dtype=torch.float64) / 5  # [0, 1] as ours
    return vec[ids[:, 0]], vec[ids[:, 1]], gold, ids


def test_angle_presets_equal_the_reference_code():
    u, v, y, ids = _angle_batch()
    current = AnglELoss("current")([u, v], y, text_ids=ids)
    assert float(current) == pytest.approx(ANGLE_0_6_1_TOTAL, rel=REL)
    old = AnglELoss("2023")([u, v], y, text_ids=ids)
    assert float(old) == pytest.approx(ANGLE_0_1_6_TOTAL, rel=REL)
    no_sim = AnglELoss("2023", duplicates="keep")([u, v], y, text_ids=ids)
    assert float(no_sim) == pytest.approx(ANGLE_0_1_6_TOTAL_NO_SIMILAR_MATRIX, rel=REL)
    # duplicates matter here: without the ids nothing is filtered, and the value differs
    assert abs(float(AnglELoss("current")([u, v], y)) - ANGLE_0_6_1_TOTAL) > 0.1


@pytest.mark.parametrize(
    "term, tau, expected",
    [
        ("cosine_weight", 20.0, ANGLE_0_6_1_COSINE_TAU20),
        ("ibn_weight", 20.0, ANGLE_0_6_1_IBN_TAU20),
        ("angle_weight", 20.0, ANGLE_0_6_1_ANGLE_TAU20),
        ("angle_weight", 1.0, ANGLE_0_6_1_ANGLE_TAU1),
    ],
)
def test_angle_terms_equal_the_reference_functions(term, tau, expected):
    u, v, y, ids = _angle_batch()
    weights = {"cosine_weight": 0.0, "ibn_weight": 0.0, "angle_weight": 0.0, term: 1.0}
    taus = {"cosine_tau": tau, "ibn_tau": tau, "angle_tau": tau}
    loss = AnglELoss("current", duplicates="keep", **weights, **taus)
    assert float(loss([u, v], y, text_ids=ids)) == pytest.approx(expected, rel=REL)


def test_angle_terms_equal_sentence_transformers():
    """ST's AnglELoss is the angle term at temperature 20, its CoSENTLoss the cosine term."""
    pytest.importorskip("sentence_transformers", minversion="6.2")
    from sentence_transformers.sentence_transformer import losses as st

    u, v, y, _ = _angle_batch()
    st_angle = st.AnglELoss(model=None).compute_loss_from_embeddings([u, v], y)
    st_cosent = st.CoSENTLoss(model=None).compute_loss_from_embeddings([u, v], y)
    keep = {"duplicates": "keep", "cosine_weight": 0.0, "ibn_weight": 0.0, "angle_weight": 0.0}
    ours_angle = AnglELoss(**{**keep, "angle_weight": 1.0, "angle_tau": 20.0})([u, v], y)
    ours_cos = AnglELoss(**{**keep, "cosine_weight": 1.0, "cosine_tau": 20.0})([u, v], y)
    assert float(ours_angle) == pytest.approx(float(st_angle), rel=REL)
    assert float(ours_cos) == pytest.approx(float(st_cosent), rel=REL)
    assert float(ranking_loss(angle_similarity(u, v), y, 20.0)) == pytest.approx(
        float(st_angle), rel=REL
    )


# ------------------------------------------------------------------------------------ I(W)

# W^T W is diagonal here, so every LAPACK returns the identity as its eigenvectors: the
# reference value cannot depend on the library's sign convention
W_DIAGONAL_GRAM = [
    [1.5, 0.0, 0.0],
    [-0.5, 0.0, 0.0],
    [0.0, 0.3, 0.0],
    [0.0, 0.9, 0.0],
    [0.0, 0.0, -1.2],
    [0.0, 0.0, -0.8],
]
W_GENERAL = [
    [0.9, -0.4, 1.3],
    [0.2, 1.1, -0.7],
    [-1.5, 0.6, 0.4],
    [0.8, 0.8, 0.5],
    [-0.3, -1.2, 1.0],
    [1.4, 0.1, -0.6],
]
RAJAEE_DIAGONAL_GRAM = 0.5227121831486488
RAJAEE_GENERAL = 0.8536486800979097
# numpy 2.4's eig returned W_GENERAL's eigenvectors with their largest-magnitude component
# positive when this was pinned: the orientation partition_isotropy fixes, so the same c


def test_partition_isotropy_equals_mu_viswanath_reference():
    W = np.array(W_DIAGONAL_GRAM)
    assert partition_isotropy(W) == pytest.approx(RAJAEE_DIAGONAL_GRAM, rel=1e-12)
    # both signs: Z(-e_i) too, which here is the minimum, so the value is lower
    z = np.exp(np.vstack([W, -W])).reshape(2, 6, 3).sum(axis=1).ravel()
    assert partition_isotropy(W, "both-signs") == pytest.approx(z.min() / z.max(), rel=1e-12)
    assert partition_isotropy(W, "both-signs") < RAJAEE_DIAGONAL_GRAM - 0.02

    G = np.array(W_GENERAL)
    assert partition_isotropy(G) == pytest.approx(RAJAEE_GENERAL, rel=1e-12)
    assert partition_isotropy(G, "both-signs") < RAJAEE_GENERAL - 0.1
