"""Encoders: load by name, folder, file or hub id; pool any layer; prompt decoder LLMs."""

from .base import Encoder
from .pooling import POOLINGS, resolve_pooling
from .prompts import PRESETS, PROMPTS, PromptPreset, TokenPrepending
from .registry import REGISTRY, gguf_to_hf, list_encoders, load_encoder

__all__ = [
    "Encoder",
    "POOLINGS",
    "PRESETS",
    "PROMPTS",
    "PromptPreset",
    "REGISTRY",
    "TokenPrepending",
    "gguf_to_hf",
    "list_encoders",
    "load_encoder",
    "resolve_pooling",
]
