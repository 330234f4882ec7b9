"""Prompt weighting (compel) and the per-pipeline embedding cache."""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Hashable, Sequence

import torch
from compel import Compel
from transformers import CLIPTextModel, CLIPTokenizer

from generation.constants import COMPEL_WEIGHTS


def weighted_prompt(prompt: str, key_terms: Sequence[str], level: str) -> str:
    """Wrap each key term found in `prompt` as compel's `(term)W`, W = COMPEL_WEIGHTS[level].

    Matching is case-insensitive on whole words, longest term first; occurrences already inside
    parentheses or carrying compel's `+`/`-` weighting are left alone, so nothing is wrapped twice
    and prompts that already use compel syntax keep their meaning.
    """
    try:
        weight = COMPEL_WEIGHTS[level]
    except KeyError:
        raise ValueError(
            f"unknown compel level {level!r}; expected one of {', '.join(COMPEL_WEIGHTS)}"
        ) from None
    terms = sorted({t.strip() for t in key_terms if t.strip()}, key=len, reverse=True)
    if weight == 1.0 or not terms:
        return prompt

    depth = _paren_depths(prompt)
    taken: list[tuple[int, int]] = []
    for term in terms:
        # Hyphens count as word characters ("channel-set" is one term, not "channel" + "set"); a
        # trailing + or - is compel's own weighting, so such an occurrence is already weighted.
        pattern = r"(?<![\w-])" + r"\s+".join(re.escape(w) for w in term.split()) + r"(?![\w+-])"
        for match in re.finditer(pattern, prompt, flags=re.IGNORECASE):
            start, end = match.span()
            if any(depth[i] for i in range(start, end)):
                continue
            if any(start < t_end and t_start < end for t_start, t_end in taken):
                continue
            taken.append((start, end))
    out: list[str] = []
    last = 0
    for start, end in sorted(taken):
        out.append(prompt[last:start])
        out.append(f"({prompt[start:end]}){weight:g}")
        last = end
    out.append(prompt[last:])
    return "".join(out)


def _paren_depths(text: str) -> list[int]:
    """Nesting depth of each character; the parentheses themselves count as inside."""
    depths: list[int] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
            depths.append(depth)
        elif ch == ")":
            depths.append(max(depth, 1))
            depth = max(depth - 1, 0)
        else:
            depths.append(depth)
    return depths


class PromptEncoder:
    """Compel conditioning for one pipeline, cached by (compel text, adapter state).

    The final compel text already folds in the compel level and key terms. Adapter state is part of
    the key because a LoRA on the text encoder changes the embeddings; compel's cached empty-prompt
    embedding depends on it too, so there is one Compel per adapter state.
    """

    def __init__(
        self,
        tokenizer: CLIPTokenizer,
        text_encoder: CLIPTextModel,
        *,
        dtype: torch.dtype,
        max_entries: int = 512,
    ) -> None:
        self.tokenizer = tokenizer
        self.text_encoder = text_encoder
        self.dtype = dtype
        self.max_entries = max_entries
        self._compels: dict[Hashable, Compel] = {}
        self._cache: OrderedDict[tuple[str, Hashable], torch.Tensor] = OrderedDict()

    def _compel(self, adapter_state: Hashable) -> Compel:
        compel = self._compels.get(adapter_state)
        if compel is None:
            dtype = self.dtype
            compel = Compel(
                tokenizer=self.tokenizer,
                text_encoder=self.text_encoder,
                truncate_long_prompts=False,
                dtype_for_device_getter=lambda _device: dtype,
            )
            self._compels[adapter_state] = compel
        return compel

    @torch.no_grad()
    def encode(self, text: str, adapter_state: Hashable) -> torch.Tensor:
        """Conditioning of shape (1, 77*k, dim); the caller must have activated `adapter_state`."""
        key = (text, adapter_state)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        embeds = self._compel(adapter_state).build_conditioning_tensor(text)
        assert isinstance(embeds, torch.Tensor)
        embeds = embeds.to(self.dtype)
        self._cache[key] = embeds
        if len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return embeds

    @torch.no_grad()
    def pair(
        self, prompt: str, negative_prompt: str, adapter_state: Hashable
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Positive and negative conditioning padded to the same length (compel's empty-prompt padding)."""
        positive = self.encode(prompt, adapter_state)
        negative = self.encode(negative_prompt, adapter_state)
        padded = self._compel(adapter_state).pad_conditioning_tensors_to_same_length(
            [positive, negative]
        )
        return padded[0].to(self.dtype), padded[1].to(self.dtype)
