"""MiniLM computed in int8: exported from its sentence-transformers weights, attention fused, quantized, cached.

The packaged ONNX file stores int8 weights but widens them to float32 before every product, so it computes in
float32; its attention is also exported in a form onnxruntime cannot fuse. This module makes the int8 model once
per machine, following onnxruntime's documented path for BERT models:

1. export the float32 weights with PyTorch's TorchScript exporter and the eager attention of `transformers`, which
   gives the graph shape onnxruntime's BERT optimizer recognises;
2. fuse each layer's attention into one `Attention` operator, the embeddings into `EmbedLayerNormalization`, and the
   feed-forward activation into `BiasGelu`; the residual adds stay apart from their LayerNormalization, because
   onnxruntime's fused SkipLayerNormalization runs several times slower on CPU (see onnx_minilm.py);
3. quantize every weight product dynamically with int8 weights and one scale per output channel, so `Attention`
   becomes `QAttention` and the products run as int8 (VNNI on current x86 CPUs).

In the ingestion benchmark (bench/ingest) the model alone embeds about 2.5 times as fast as the float32 one, where
quantizing the packaged graph as it is gave 1.9 times; its vectors keep a mean cosine similarity of 0.995 to
sentence-transformers' own (bench/embedding_fidelity.py). Scales per tensor cost too much fidelity (mean 0.94, an
ad-hoc measurement).

This needs torch, transformers and onnx, which the local extra installs; none of them is in the Lambda layer.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

from llmops.adapters.model_files import ModelFileMissing

logger = logging.getLogger(__name__)

# Part of the cache key: a change to how the model is made must never reuse a file made the old way.
RECIPE = "torchscript-opset17/bert-fusion-no-skip-layernorm/dynamic-qint8-per-channel"
_QUANTIZED_NAME = "all-minilm-l6-v2.int8-fused.{digest}.onnx"
_WEIGHT_FILES = ("config.json", "model.safetensors")
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_TOOLCHAIN = ("torch", "transformers", "onnx", "onnxruntime")  # distributions whose versions key the cache


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "llmops" / "models"


def int8_model(source_dir: Path, cache_dir: Path) -> Path:
    """The int8 ONNX model made from the sentence-transformers folder `source_dir`, made on first use and kept in
    `cache_dir`.

    The file name carries a digest of the weights, of the library versions that make the model and of the recipe,
    so a changed model or toolchain never reuses a stale file. The versions are read from package metadata: finding
    a model made earlier imports none of the toolchain (torch alone takes seconds to import).
    """
    versions = _toolchain_versions()
    missing = [name for name in _WEIGHT_FILES if not (source_dir / name).is_file()]
    if missing:
        raise ModelFileMissing(
            f"{source_dir} is not a sentence-transformers model folder: {', '.join(missing)} missing"
        )
    digest = hashlib.sha256()
    for name in _WEIGHT_FILES:
        digest.update((source_dir / name).read_bytes())
    digest.update(f"{RECIPE}|{versions}".encode())
    target = cache_dir / _QUANTIZED_NAME.format(digest=digest.hexdigest()[:16])
    if not target.is_file():
        _make(source_dir, target, _toolchain())
    return target


class _Toolchain:
    def __init__(self) -> None:
        import onnx
        import torch
        import transformers
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from onnxruntime.transformers import optimizer
        from onnxruntime.transformers.fusion_options import FusionOptions

        self.onnx: Any = onnx
        self.torch: Any = torch
        self.transformers: Any = transformers
        self.optimizer: Any = optimizer
        self.fusion_options: Any = FusionOptions
        self.quantize_dynamic: Any = quantize_dynamic
        self.qint8: Any = QuantType.QInt8


def _missing_toolchain(missing: Exception) -> ModelFileMissing:
    return ModelFileMissing(
        "EMBEDDING_PRECISION=int8 makes its model once on this machine and needs torch, transformers and onnx "
        f"for it ({missing}); install the local extra (pip install 'llmops[local]') or set EMBEDDING_PRECISION=float32"
    )


def _toolchain_versions() -> str:
    try:
        return "|".join(f"{name} {metadata.version(name)}" for name in _TOOLCHAIN)
    except metadata.PackageNotFoundError as missing:
        raise _missing_toolchain(missing) from missing


def _toolchain() -> _Toolchain:
    try:
        return _Toolchain()
    except ImportError as missing:
        raise _missing_toolchain(missing) from missing


def _make(source_dir: Path, target: Path, tools: _Toolchain) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".quantizing-") as scratch:
        exported = Path(scratch) / "exported.onnx"
        fused = Path(scratch) / "fused.onnx"
        quantized = Path(scratch) / "quantized.onnx"
        config = _export(source_dir, exported, tools)
        _fuse(exported, fused, config, tools)
        tools.quantize_dynamic(
            fused,
            quantized,
            op_types_to_quantize=["MatMul", "Attention", "EmbedLayerNormalization"],
            per_channel=True,
            weight_type=tools.qint8,
            # The fused operators are outside the ONNX domain, so shape inference cannot type their outputs.
            extra_options={"DefaultTensorType": tools.onnx.TensorProto.FLOAT},
        )
        os.replace(quantized, target)  # atomic: a concurrent reader sees no file or the whole file


def _export(source_dir: Path, exported: Path, tools: _Toolchain) -> Any:
    torch = tools.torch
    bert = tools.transformers.AutoModel.from_pretrained(str(source_dir), attn_implementation="eager").eval()

    class LastHiddenState(torch.nn.Module):  # type: ignore[name-defined]
        """Positional inputs and one output, as the exporter and the embedder expect."""

        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state

    example = tuple(torch.ones(2, 16, dtype=torch.long) for _ in _INPUTS)
    dynamic = {name: {0: "batch", 1: "sequence"} for name in (*_INPUTS, "last_hidden_state")}
    # The tracer warns about the padding branch of transformers' mask code: constant for an encoder, where the keys
    # are always the queries. The tests check that padded batches and any length give the same vectors.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            LastHiddenState(),
            example,
            str(exported),
            input_names=list(_INPUTS),
            output_names=["last_hidden_state"],
            dynamic_axes=dynamic,
            opset_version=17,
            dynamo=False,  # the TorchScript exporter's graph is the shape the BERT fusion recognises
        )
    return bert.config


def _fuse(exported: Path, fused: Path, config: Any, tools: _Toolchain) -> None:
    options = tools.fusion_options("bert")
    options.enable_skip_layer_norm = False
    model = tools.optimizer.optimize_model(
        str(exported),
        model_type="bert",
        num_heads=config.num_attention_heads,
        hidden_size=config.hidden_size,
        opt_level=0,
        optimization_options=options,
    )
    fused_attention = model.get_fused_operator_statistics().get("Attention", 0)
    if fused_attention != config.num_hidden_layers:
        # Still a correct model, only slower: a changed exporter or optimizer no longer matches the pattern.
        logger.warning(
            "Attention fused in %d of %d layers; the int8 model will be slower than it should",
            fused_attention,
            config.num_hidden_layers,
        )
    model.save_model_to_file(str(fused))
