"""The same starting noise for the same (prompt, image) in every process (reference §6.3).

The official test generator seeds image i of a prompt with 1997 + Python's ``hash(prompt)`` + i; string hashing is
salted per process, so its "same noise" pairing of original and debiased images — which CLIP-I and DINO compare —
held only within one process. Here the prompt's part is its CRC32, the same everywhere.
"""

from __future__ import annotations

import zlib

import torch

#: the official code's base seed
BASE_SEED = 1997


def image_seed(prompt: str, index: int, base: int = BASE_SEED) -> int:
    """base + CRC32(prompt) + index, kept within 63 bits."""
    return (base + zlib.crc32(prompt.encode("utf-8")) + index) % (2**63 - 1)


def initial_noise(prompt: str, indices, shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """z_T for each image index of ``prompt`` (one seeded CPU generator per image, so a batch's noise does not depend
    on how images are batched), stacked: len(indices) × shape."""
    out = []
    for index in indices:
        generator = torch.Generator().manual_seed(image_seed(prompt, int(index)))
        out.append(torch.randn(shape, generator=generator, dtype=dtype))
    return torch.stack(out)
