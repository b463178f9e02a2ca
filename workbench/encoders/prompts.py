"""Prompt templates for prompt-based sentence embeddings from decoder LLMs.

A template contains ``{text}`` where the sentence goes; the embedding is usually the last
token's state (``pooling="last-token"``), so the template ends just before the word the model
is asked to produce.
"""

from __future__ import annotations

from ..errors import InvalidInputError

PROMPTS: dict[str, str] = {
    # Jiang et al. 2023, "Scaling Sentence Embeddings with Large Language Models" (PromptEOL)
    "prompteol": 'This sentence : "{text}" means in one word:"',
    # Zhang et al. 2024, "Simple Techniques for Enhancing Sentence Embeddings in Generative
    # Language Models": Pretended Chain of Thought and Knowledge Enhancement
    "pretended-cot": 'After thinking step by step , this sentence : "{text}" means in one word:"',
    "knowledge": (
        "The essence of a sentence is often captured by its main subjects and actions, while "
        "descriptive terms provide additional but less central details. With this in mind , "
        'this sentence : "{text}" means in one word:"'
    ),
}


def resolve_prompt(prompt: str | None) -> tuple[str | None, str | None]:
    """(registered name or None, template or None) for a name, a template or None/"none"."""
    if prompt is None or str(prompt).strip().lower() in ("", "none"):
        return None, None
    key = str(prompt).strip().lower()
    if key in PROMPTS:
        return key, PROMPTS[key]
    if "{text}" not in prompt:
        raise InvalidInputError(
            f"prompt {prompt!r} is neither a registered name ({', '.join(PROMPTS)}) nor a "
            "template containing {text}"
        )
    return None, prompt
