"""ONNX Runtime backend for Hugging Face encoders (encoder-only models).

``load_encoder(name, backend="onnx")`` exports the transformer once to ONNX, keeps the file
in the workbench cache (``<cache>/onnx/``, keyed by the full-content fingerprint of the
model's weights and the export settings, so every pooling shares one export) and runs it with
ONNX Runtime: the CUDA provider when the installed onnxruntime has one and the device allows
it, else the CPU provider. Tokenisation, padding, batching and pooling stay the workbench's
own (:class:`~workbench.encoders.hf.HFEncoder`), so every pooling works; the graph returns
the hidden states the poolings need (the last layer, the first transformer layer for
``first-last-avg``, and BERT's pooler output where the model has one).

Backends:

- ``onnx``: float32, the same numbers as the torch path up to float32 rounding (another
  order of the same additions).
- ``onnx-int8``: the float32 graph through ONNX Runtime's dynamic quantisation
  (``quantize_dynamic``, int8 weights, activations quantised per batch at run time). An
  approximation, chosen by name; its STS change is measured by
  ``benchmarks/encode_throughput.py``.

Both put the backend into :meth:`config`, so their vectors never share a cache entry with the
torch path's (or with each other's).

The exporter is ``torch.onnx.export(..., dynamo=True)`` (``torch.export`` plus onnxscript):
the older TorchScript tracer records transformers' Python-side attention-mask logic for the
example's shape and gave wrong states for other batch shapes (differences of 2.6 on a tiny
BERT). Optimum's exporter is not used because ``optimum-onnx`` 0.1.0 requires
``transformers<4.58`` and does not import with transformers 5.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from .. import config
from ..errors import InvalidInputError, WorkbenchError
from .hf import HFEncoder
from .pooling import TOKEN_POOLERS, first_last_avg

log = logging.getLogger(__name__)

BACKENDS = ("torch", "onnx", "onnx-int8")
#: bump when the exported graph changes for an unchanged model (new outputs, exporter fix)
EXPORT_VERSION = 1
OPSET = 18
#: onnxruntime.quantization.quantize_dynamic settings of ``onnx-int8``
INT8_SETTINGS = {"weight_type": "QInt8", "per_channel": False, "reduce_range": False}
TMP_PREFIX = ".tmp-onnx-"
#: an export folder untouched this long was left by a killed process (an export of a model
#: the size of MiniLM takes well under a minute)
TMP_AGE = 3600.0
MODEL_FILE = "model.onnx"
META_FILE = "export.json"
INSTALL_HINT = "pip install 'workbench[onnx]' (onnxruntime, onnx, onnxscript)"


def resolve_backend(name: str | None) -> str:
    """Canonical backend name (``torch``, ``onnx``, ``onnx-int8``)."""
    key = "torch" if name is None else str(name).strip().lower().replace("_", "-")
    key = {"onnx-fp32": "onnx", "int8": "onnx-int8", "onnx-qint8": "onnx-int8"}.get(key, key)
    if key not in BACKENDS:
        raise InvalidInputError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    return key


def _import_ort():
    try:
        import onnxruntime
    except ImportError:
        raise WorkbenchError(f"the ONNX backend needs onnxruntime: {INSTALL_HINT}") from None
    return onnxruntime


def _graph_module(model, with_pooler: bool):
    """What the exported graph computes: the hidden states the poolings need."""
    import torch

    class Graph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            out = self.model(
                input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True
            )
            states = (out.last_hidden_state, out.hidden_states[1])
            return (*states, out.pooler_output) if with_pooler else states

    return Graph()


def _export_fp32(enc: HFEncoder, path: Path) -> list[str]:
    """Export ``enc.model`` (float32, CPU) to ``path``; returns the output names."""
    import torch

    pooler = getattr(enc.model, "pooler", None) is not None
    outputs = ["last_hidden_state", "first_hidden_state"] + (["pooler_output"] if pooler else [])
    graph = _graph_module(enc.model, pooler).eval()
    # an example of 2 rows of 8 tokens, one padded: neither size is 0 or 1, which torch.export
    # would specialise on
    ids = torch.full((2, 8), enc.tokenizer.pad_token_id or 0, dtype=torch.long)
    ids[:, 0] = enc.tokenizer.cls_token_id or 0
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence")
    n_bytes = sum(p.numel() * p.element_size() for p in enc.model.parameters())
    quiet = io.StringIO()
    # the exporter logs a warning per torchvision operator it cannot register
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    registration.setLevel(logging.ERROR)
    with (
        torch.inference_mode(False),
        torch.no_grad(),
        contextlib.redirect_stdout(quiet),
        warnings.catch_warnings(),
    ):
        # torch.export's own deprecation notices and a note that the two inputs share their
        # axes (they do): nothing a user can act on
        warnings.filterwarnings("ignore", message=".*LeafSpec", category=FutureWarning)
        warnings.filterwarnings("ignore", message="# The axis name", category=UserWarning)
        torch.onnx.export(
            graph,
            (ids, mask),
            str(path),
            dynamo=True,
            input_names=["input_ids", "attention_mask"],
            output_names=outputs,
            dynamic_shapes={"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}},
            opset_version=OPSET,
            # protobuf's 2 GB limit: larger models keep their weights in a side file
            external_data=n_bytes > 1_500_000_000,
            verbose=False,
        )
    registration.setLevel(level)
    return outputs


def _quantize_int8(src: Path, dst: Path) -> None:
    _import_ort()  # a clear message when the [onnx] extra is missing
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:  # pragma: no cover - onnxruntime without its quantization tools
        raise WorkbenchError(f"int8 quantisation needs onnxruntime: {INSTALL_HINT}") from None

    external = any(p.suffix == ".data" for p in src.parent.iterdir())
    # quantize_dynamic logs a root-logger warning suggesting shape-inference pre-processing;
    # the exported graph already carries its shapes, and the advice is noise to a user
    root = logging.getLogger()
    hush = _DropMessage("pre-processing before quantization")
    root.addFilter(hush)
    try:
        quantize_dynamic(
            src,
            dst,
            weight_type=getattr(QuantType, INT8_SETTINGS["weight_type"]),
            per_channel=INT8_SETTINGS["per_channel"],
            reduce_range=INT8_SETTINGS["reduce_range"],
            use_external_data_format=external,
        )
    finally:
        root.removeFilter(hush)


class _DropMessage(logging.Filter):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


def export_key(identity: str, backend: str) -> str:
    """Cache key of one export: the model's full-content identity and the export settings."""
    spec = {"identity": identity, "export": EXPORT_VERSION, "opset": OPSET, "backend": backend}
    if backend == "onnx-int8":
        spec["int8"] = INT8_SETTINGS
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:24]


def exported_model(
    enc: HFEncoder, backend: str, cache: str | os.PathLike | None = None
) -> tuple[Path, dict[str, Any]]:
    """The ONNX file of ``enc``'s model for ``backend``, exported (and quantised) at most once.

    The folder is built under a temporary name and renamed into place, so a killed export
    never leaves a half-written model and concurrent exports do not clash; folders of killed
    exports older than an hour are removed by the next export. Returns (file, metadata).
    """
    safe = re.sub(r"[^\w.\-]+", "_", enc.name)[:60]
    root = config.cache_dir(cache) / "onnx"
    target = root / f"{safe}-{backend}-{export_key(enc._identity, backend)}"
    meta_file = target / META_FILE
    if (target / MODEL_FILE).is_file() and meta_file.is_file():
        return target / MODEL_FILE, json.loads(meta_file.read_text())
    from ..cache import remove_orphans

    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WorkbenchError(
            f"cannot create the ONNX export folder {root} ({e.strerror}); pass cache= or set "
            "WORKBENCH_CACHE_DIR to a writable folder"
        ) from None
    remove_orphans(root, TMP_AGE, prefix=TMP_PREFIX, suffix="", folders=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=TMP_PREFIX))
    try:
        if backend == "onnx":
            log.info("exporting %s to ONNX in %s (once)", enc.name, target)
            outputs = _export_fp32(enc, tmp / MODEL_FILE)
        else:
            src, src_meta = exported_model(enc, "onnx", cache)
            log.info("quantising the ONNX export of %s to int8 in %s (once)", enc.name, target)
            _quantize_int8(src, tmp / MODEL_FILE)
            outputs = src_meta["outputs"]
        onnxruntime = _import_ort()
        import torch

        meta = {
            "backend": backend,
            "identity": enc._identity,
            "source": enc.source,
            "outputs": outputs,
            "opset": OPSET,
            "export_version": EXPORT_VERSION,
            "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__,
            **({"int8": INT8_SETTINGS} if backend == "onnx-int8" else {}),
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1))
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished first
            if not meta_file.is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target / MODEL_FILE, json.loads(meta_file.read_text())


class ONNXEncoder(HFEncoder):
    """An :class:`~workbench.encoders.hf.HFEncoder` whose transformer runs in ONNX Runtime.

    Parameters are those of ``HFEncoder`` plus ``backend`` (``onnx`` or ``onnx-int8``) and
    ``cache`` (the workbench cache folder holding the export). Only encoder-only models, at
    their last layer, float32: decoder LLMs (prompts read at a middle layer, Token
    Prepending's hooks) and ``layer=`` stay on the torch backend.
    """

    def __init__(
        self,
        model: str | os.PathLike,
        *,
        backend: str = "onnx",
        cache: str | os.PathLike | None = None,
        device: str | None = "auto",
        dtype: str | None = "auto",
        **kwargs: Any,
    ) -> None:
        backend = resolve_backend(backend)
        if backend == "torch":
            raise InvalidInputError("ONNXEncoder runs backend='onnx' or 'onnx-int8'")
        ort = _import_ort()
        if dtype not in (None, "auto", "float32", "fp32"):
            raise InvalidInputError(
                f"backend={backend!r} runs float32 (int8 is backend='onnx-int8'); "
                f"drop dtype={dtype!r} or use backend='torch'"
            )
        if kwargs.get("token_prepending"):
            raise InvalidInputError(
                f"token_prepending is not available with backend={backend!r}; use backend='torch'"
            )
        providers = ort.get_available_providers()
        want = "auto" if device is None else str(device)
        if want == "auto":
            want = "cuda" if "CUDAExecutionProvider" in providers else "cpu"
        if want.startswith("cuda"):
            if "CUDAExecutionProvider" not in providers:
                raise InvalidInputError(
                    f"device {device!r} asked for, but this onnxruntime has no CUDA provider "
                    f"({', '.join(providers)}); install onnxruntime-gpu or use device='cpu'"
                )
            index = int(want.split(":")[1]) if ":" in want else 0
            self.providers: list[Any] = [
                ("CUDAExecutionProvider", {"device_id": index}),
                "CPUExecutionProvider",
            ]
        elif want == "cpu":
            self.providers = ["CPUExecutionProvider"]
        else:
            raise InvalidInputError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N")
        # the torch model is only exported (and reads the config): float32 on the CPU
        super().__init__(model, device="cpu", dtype="float32", **kwargs)
        if self.is_decoder:
            raise InvalidInputError(
                f"backend={backend!r} supports encoder-only models; {self.name} is a decoder "
                "LLM: use backend='torch'"
            )
        if self.layer is not None:
            raise InvalidInputError(
                f"backend={backend!r} reads the last layer only; drop layer={self.layer} or "
                "use backend='torch'"
            )
        self.backend = backend
        self.onnx_path, self.export_meta = exported_model(self, backend, cache)
        if self.pooling == "pooler" and "pooler_output" not in self.export_meta["outputs"]:
            raise WorkbenchError(f"{self.name} has no pooler output; use pooling='cls' or 'mean'")
        options = ort.SessionOptions()
        import torch

        # the same number of threads as the torch path, so the two compare like for like
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        if os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE":
            # as OpenMP's passive policy: on a shared CPU, spinning threads slow everyone
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            str(self.onnx_path), sess_options=options, providers=self.providers
        )
        self.ort_provider = self.session.get_providers()[0]

    def config(self) -> dict[str, Any]:
        out = super().config()
        out["backend"] = self.backend
        if self.backend == "onnx-int8":
            out["int8"] = INT8_SETTINGS
        return out

    def describe(self) -> str:
        return f"{super().describe()} backend={self.backend}"

    def forward_pooled(self, input_ids, mask):
        """Pooled vectors of one padded batch, the transformer run by ONNX Runtime."""
        torch = self._torch
        if self.pooling == "pooler":
            names = ["pooler_output"]
        elif self.pooling == "first-last-avg":
            names = ["first_hidden_state", "last_hidden_state"]
        else:
            names = ["last_hidden_state"]
        feeds = {"input_ids": input_ids.cpu().numpy(), "attention_mask": mask.cpu().numpy()}
        outs = [torch.from_numpy(x) for x in self.session.run(names, feeds)]
        mask = mask.cpu()
        if self.pooling == "pooler":
            return outs[0]
        if self.pooling == "first-last-avg":
            # first_last_avg reads hidden_states[1] and hidden_states[-1]
            return first_last_avg((None, outs[0], outs[1]), mask)
        return TOKEN_POOLERS[self.pooling](outs[0], mask)
