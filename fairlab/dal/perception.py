"""What the loss sees in an image besides the attribute classifiers (reference §2 and §10): the face box, the two
whole-image encoders of the semantic-preservation terms (CLIP and DINO in the paper) and the face embedding with its
bank of real faces.

In `mini` every generated image shows one studio face, where the renderer draws it: :data:`FACE_BOX` stands in for
the face detector (the paper's largest detected face), and the FaceWorld-pretrained backbones of the data chapter
stand in for the encoders (:func:`fairlab.backbones.backbone`), each frozen, differentiable in the pixels and
L2-normalised as CLIP's and DINO's features are.

With Stable Diffusion the same interfaces hold the paper's networks (:mod:`fairlab.dal.paper_perception`): a detector
returns each image's largest face as :class:`Faces` (box and five landmarks), the classifiers read the face's square
crop (:func:`crop_squares`) and the face network the face aligned to the ArcFace template (:func:`align_faces`).
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class Faces:
    """One face per image, as the loss and the evaluation read it: whether a face was found, its box (x0, y0, x1, y1
    in pixels, end exclusive; it may reach outside the image; −1 where none was found) and, from a detector that gives
    them, its five landmarks (eyes, nose, mouth corners; x, y in pixels)."""

    found: np.ndarray
    boxes: np.ndarray
    landmarks: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.found)

    def subset(self, keep: np.ndarray) -> "Faces":
        return Faces(self.found[keep], self.boxes[keep], None if self.landmarks is None else self.landmarks[keep])


class FixedFaceBox:
    """The `mini` face detector: every render shows its face at :data:`FACE_BOX`."""

    def __init__(self, box: tuple[float, ...] = FACE_BOX):
        self.box = box

    def __call__(self, images: torch.Tensor) -> Faces:
        n, _, height, width = images.shape
        return Faces(np.ones(n, dtype=bool), face_boxes(n, height, width, self.box))


def expand_to_square(box, expand: float) -> np.ndarray:
    """A detector's box grown to a square about its centre, the longer side times (1 + ``expand``) (the official crop:
    0.5 for insightface's boxes), its ends rounded to pixels."""
    x0, y0, x1, y1 = (float(v) for v in box)
    side = max(x1 - x0, y1 - y0) * (1 + expand)
    grow_x, grow_y = side - (x1 - x0), side - (y1 - y0)
    return np.array([round(x0 - grow_x / 2), round(y0 - grow_y / 2), round(x1 + grow_x / 2), round(y1 + grow_y / 2)],
                    dtype=np.int64)


def crop_squares(pixels: torch.Tensor, boxes: np.ndarray, size: int, fill: float = -1.0) -> torch.Tensor:
    """Each image's box cut out (``fill`` where the box reaches outside the image) and resized to ``size`` square,
    differentiably in the pixels: what the paper's attribute classifiers read (pixels in [−1, 1], ``fill`` −1)."""
    height, width = pixels.shape[-2:]
    crops = []
    for image, (x0, y0, x1, y1) in zip(pixels, np.asarray(boxes, dtype=np.int64)):
        inside = image[:, max(y0, 0):min(y1, height), max(x0, 0):min(x1, width)]
        padding = (max(-x0, 0), max(x1 - width, 0), max(-y0, 0), max(y1 - height, 0))
        face = nn.functional.pad(inside, padding, value=fill) if any(padding) else inside
        crops.append(nn.functional.interpolate(face[None], size=(size, size), mode="bilinear", align_corners=False,
                                               antialias=True))
    return torch.cat(crops)


def face_crops(pixels: torch.Tensor, faces: Faces, size: int) -> torch.Tensor:
    """What the paper's attribute classifiers read: each face's square crop at ``size`` pixels (pixels in [−1, 1], −1
    outside the image); an image without a face is read whole (its reading is never used)."""
    height, width = pixels.shape[-2:]
    boxes = np.where(faces.found[:, None], faces.boxes, [0, 0, width, height])
    return crop_squares(pixels.clamp(-1, 1), boxes, size)


#: the ArcFace template: where the five landmarks sit in a 112-pixel aligned face (x, y)
ARCFACE_TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655],
                             [70.7299, 92.2041]])


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2 × 3 rotation-scale-translation [[a, −b, tx], [b, a, ty]] that maps ``source`` points onto ``target`` with
    the least squared error (no reflection; the estimate the official code takes from scikit-image)."""
    x, y = source[:, 0], source[:, 1]
    ones, zeros = np.ones_like(x), np.zeros_like(x)
    design = np.concatenate([np.stack([x, -y, ones, zeros], 1), np.stack([y, x, zeros, ones], 1)])
    a, b, tx, ty = np.linalg.lstsq(design, np.concatenate([target[:, 0], target[:, 1]]), rcond=None)[0]
    return np.array([[a, -b, tx], [b, a, ty]])


def align_faces(pixels: torch.Tensor, landmarks: np.ndarray, size: int = 112,
                template: np.ndarray = ARCFACE_TEMPLATE) -> torch.Tensor:
    """Each face warped so that its five landmarks land on ``template`` (a ``size``-pixel square; bilinear, zeros
    outside), differentiably in the pixels: what the face-recognition network reads."""
    n, _, height, width = pixels.shape
    grids = []
    for points in np.asarray(landmarks, dtype=np.float64):
        forward = np.vstack([similarity_transform(points, template * size / 112), [0, 0, 1]])
        inverse = np.linalg.inv(forward)   # output pixel -> source pixel
        # in align_corners=False coordinates: pixel x <-> (2x + 1) / W - 1, so source = N_src · inverse · N_out⁻¹
        to_out = np.array([[size / 2, 0, size / 2 - 0.5], [0, size / 2, size / 2 - 0.5], [0, 0, 1]])
        to_normal = np.array([[2 / width, 0, 1 / width - 1], [0, 2 / height, 1 / height - 1], [0, 0, 1]])
        grids.append((to_normal @ inverse @ to_out)[:2])
    theta = torch.as_tensor(np.stack(grids), dtype=pixels.dtype, device=pixels.device)
    grid = nn.functional.affine_grid(theta, [n, pixels.shape[1], size, size], align_corners=False)
    return nn.functional.grid_sample(pixels, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


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
    """The face embedding of the face-realism term, on pixels in [0, 255]: the face's box (`mini`) or the face aligned
    by its landmarks (:func:`align_faces`, the official code) through the face network, the features of the face and
    of its mirror image summed, L2-normalised. ``encoder`` takes pixels in [0, 255] (an :class:`ImageEncoder`)."""

    def __init__(self, encoder: nn.Module, aligned_size: int | None = None):
        super().__init__()
        self.encoder, self.aligned_size = encoder, aligned_size

    def forward(self, pixels: torch.Tensor, faces: Faces) -> torch.Tensor:
        if self.aligned_size is not None:
            face = align_faces(pixels, faces.landmarks, self.aligned_size)
        else:
            boxes = np.unique(np.asarray(faces.boxes), axis=0)
            if len(boxes) != 1:
                raise ValueError(f"a face embedder without landmarks crops one box for the whole batch (the "
                                 f"renderer's face), got {len(boxes)} different boxes")
            x0, y0, x1, y1 = boxes[0]
            face = pixels[..., y0:y1, x0:x1]
        return nn.functional.normalize(self.encoder(face) + self.encoder(face.flip(-1)), dim=1)


def cosine_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """1 − cos(a, b) per row of two L2-normalised feature matrices."""
    return 1.0 - (a * b).sum(dim=1)


def nearest_in_bank(embeddings: torch.Tensor, bank: torch.Tensor) -> torch.Tensor:
    """Each embedding's nearest bank row by dot product (the official top-1 neighbour in a bank of real faces)."""
    return bank[(embeddings @ bank.T).argmax(dim=1)]
