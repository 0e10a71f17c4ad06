"""What the loss sees in an image besides the attribute classifiers (reference §2 and §10): the face box, the two
whole-image encoders of the semantic-preservation terms (CLIP and DINO in the paper) and the face embedding with its
bank of real faces.

In `mini` every generated image shows one studio face, where the renderer draws it: :data:`FACE_BOX` stands in for
the face detector (the paper's largest detected face), and the FaceWorld-pretrained backbones of the data chapter
stand in for the encoders (:func:`fairlab.backbones.backbone`), each frozen, differentiable in the pixels and
L2-normalised as CLIP's and DINO's features are.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

#: the renderer's face (forehead to chin, ear to ear, not the neck) in a studio render squashed to a square, as
#: fractions (x0, y0, x1, y1) of its width and height; measured where a change of skin tone changes pixels
FACE_BOX = (7 / 32, 9 / 32, 26 / 32, 25 / 32)


def face_boxes(n: int, height: int, width: int, box: tuple[float, ...] = FACE_BOX) -> np.ndarray:
    """``n`` copies of ``box`` in pixels (x0, y0, x1, y1, end exclusive) of a ``height`` × ``width`` image."""
    x0, y0, x1, y1 = box
    pixels = np.array([round(x0 * width), round(y0 * height), round(x1 * width), round(y1 * height)], dtype=np.int64)
    return np.tile(pixels, (n, 1))


class ImageEncoder(nn.Module):
    """A frozen image network as the preservation terms read it: pixels in [0, 255] (float, with their gradient) resized
    to ``image_size`` square, normalised with ``normalization`` (mean, std), through the network, L2-normalised."""

    def __init__(self, network: nn.Module, image_size: int, normalization: tuple):
        super().__init__()
        self.network = network.eval().requires_grad_(False)
        self.image_size = image_size
        mean, std = (torch.tensor(v, dtype=torch.float32).view(1, 3, 1, 1) for v in normalization)
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = pixels
        if x.shape[-2:] != (self.image_size, self.image_size):
            x = nn.functional.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear",
                                          align_corners=False, antialias=True)
        features = self.network(((x / 255 - self.mean) / self.std).contiguous(memory_format=torch.channels_last))
        return nn.functional.normalize(features.flatten(1).float(), dim=1)


class FaceEmbedder(nn.Module):
    """The face embedding of the face-realism term: the face box cropped and resized to the encoder, the features of
    the face and of its mirror image summed, L2-normalised (the official code: an OpenSphere network on the aligned
    112-pixel face)."""

    def __init__(self, encoder: ImageEncoder, box: tuple[float, ...] = FACE_BOX):
        super().__init__()
        self.encoder, self.box = encoder, box

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x0, y0, x1, y1 = face_boxes(1, pixels.shape[-2], pixels.shape[-1], self.box)[0]
        face = pixels[..., y0:y1, x0:x1]
        return nn.functional.normalize(self.encoder(face) + self.encoder(face.flip(-1)), dim=1)


def cosine_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """1 − cos(a, b) per row of two L2-normalised feature matrices."""
    return 1.0 - (a * b).sum(dim=1)


def nearest_in_bank(embeddings: torch.Tensor, bank: torch.Tensor) -> torch.Tensor:
    """Each embedding's nearest bank row by dot product (the official top-1 neighbour in a bank of real faces)."""
    return bank[(embeddings @ bank.T).argmax(dim=1)]
