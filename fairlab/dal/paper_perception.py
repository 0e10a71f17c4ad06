"""The paper's perception, read from local files when the model to debias is Stable Diffusion (reference §1.3, §2, §5).

Everything the loss and the evaluation read lives in one folder (``dal.perception_dir``), laid out as :data:`LAYOUT`
says; nothing is downloaded. Each network is wrapped in the interfaces the `mini` stand-ins implement
(:mod:`fairlab.dal.perception`), so one run of :func:`fairlab.dal.finetune.finetune` serves both:

- the face detector: insightface's ``buffalo_l`` detection module (SCRFD, 640-pixel detection size), the largest face
  (its area clipped to the image), its box grown to a square half again as large (:class:`InsightFaceDetector`);
- the attribute classifiers: torchvision MobileNetV3-Large with the last layer replaced, reading the face's 224-pixel
  square crop in [−1, 1] with no ImageNet normalisation — one training classifier with eight logits (gender 2,
  race 4, age 2: the head of the official gender × race × age run, which reads every attribute a run debiases; the
  official gender runs read a CelebA classifier instead) and three evaluation classifiers, one per attribute, never
  trained with;
- CLIP ViT-H/14 (laion2B) and DINOv2 ViT-B/14 as transformers folders: the image embedding and the normalised CLS
  token at 224 pixels; CLIP's text tower gives the evaluation's CLIP-T;
- the face network: a ``torch.export`` program from 112-pixel faces aligned to the ArcFace template (pixels in
  [−1, 1]) to 512-d features (the official OpenSphere network, exported), with a bank of real-face embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from fairlab.backbones import HALF_NORM, IMAGENET_NORM
from fairlab.dal.bias import NO_FACE
from fairlab.dal.classifiers import HEADS
from fairlab.dal.perception import FaceEmbedder, Faces, ImageEncoder, expand_to_square, face_crops

#: what ``dal.perception_dir`` holds: path (a trailing slash is a folder) -> what it is
LAYOUT = {
    "training_classifier.pt": "MobileNetV3-Large state dict (torchvision keys), 8 logits: gender 2 | race 4 | age 2",
    "evaluation_gender.pt": "MobileNetV3-Large state dict, 2 logits (female, male)",
    "evaluation_race.pt": "MobileNetV3-Large state dict, 4 logits (WMELH, Black, Indian, Asian)",
    "evaluation_age.pt": "MobileNetV3-Large state dict, 2 logits (young, old)",
    "clip/": "transformers CLIPModel folder (save_pretrained of laion/CLIP-ViT-H-14-laion2B-s32B-b79K, tokenizer "
             "included)",
    "dinov2/": "transformers Dinov2Model folder (save_pretrained of facebook/dinov2-base)",
    "insightface/": "insightface model root holding models/buffalo_l/ (its detection model, det_10g.onnx)",
    "face_network.pt2": "torch.export program (torch.export.save, eval mode, batch dimension dynamic): aligned "
                        "112 x 112 faces in [-1, 1] -> 512-d features",
    "face_bank.pt": "tensor (K, 512): the face network's embeddings of real faces",
}
#: the classifiers' input (the official face crop) and the encoders' input size
FACE_CROP, ENCODER_SIZE, ALIGNED_FACE = 224, 224, 112
#: the official crop: the detector's box grown by half its longer side, to a square
BOX_EXPANSION = 0.5
CLIP_NORM = ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))
#: the evaluation classifier's checkpoint of each attribute
EVALUATION_FILES = {"gender": "evaluation_gender.pt", "race": "evaluation_race.pt", "age": "evaluation_age.pt"}


class PerceptionFilesError(FileNotFoundError):
    """The perception folder is missing or lacks something :data:`LAYOUT` names."""


def missing_files(folder: Path) -> list[str]:
    """The entries of :data:`LAYOUT` not found under ``folder``, each with what it should be."""
    folder = Path(folder).expanduser()
    missing = []
    for name, what in LAYOUT.items():
        path = folder / name
        there = path.is_dir() if name.endswith("/") else path.is_file()
        if name == "insightface/":
            there = (path / "models" / "buffalo_l").is_dir()
        if not there:
            missing.append(f"{path}{'models/buffalo_l/' if name == 'insightface/' else ''}: {what}")
    return missing


def check_folder(folder: str | Path | None) -> Path:
    """``folder`` as a path, or one :class:`PerceptionFilesError` naming the key and every missing entry."""
    if not folder:
        raise PerceptionFilesError("dal.perception_dir is not set: a Stable Diffusion run reads the paper's perception "
                                   "networks from a local folder laid out as fairlab.dal.paper_perception.LAYOUT says")
    missing = missing_files(Path(folder))
    if missing:
        raise PerceptionFilesError(f"dal.perception_dir {folder}: {len(missing)} of {len(LAYOUT)} entries missing:\n  "
                                   + "\n  ".join(missing))
    return Path(folder).expanduser()


class HeadedMobileNet(nn.Module):
    """MobileNetV3-Large whose last layer gives the logits of several heads, read as ``{head: logits}``."""

    def __init__(self, heads: dict[str, int]):
        super().__init__()
        from torchvision.models import mobilenet_v3_large

        self.heads = dict(heads)
        self.network = mobilenet_v3_large(weights=None, num_classes=sum(self.heads.values()))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out, start = {}, 0
        logits = self.network(x)
        for name, k in self.heads.items():
            out[name], start = logits[:, start:start + k], start + k
        return out


def load_mobilenet(path: Path, heads: dict[str, int]) -> HeadedMobileNet:
    """A frozen :class:`HeadedMobileNet` from a torchvision state dict (keys with or without a ``network.`` or
    ``module.`` prefix); a file that does not fit names itself and the head it was expected to have."""
    model = HeadedMobileNet(heads)
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    state = {k.removeprefix("module.").removeprefix("network."): v for k, v in state.items()}
    try:
        model.network.load_state_dict(state)
    except RuntimeError as exc:
        raise PerceptionFilesError(f"{path}: not a MobileNetV3-Large state dict with {sum(heads.values())} logits "
                                   f"({', '.join(f'{h} {k}' for h, k in heads.items())}): "
                                   f"{str(exc).splitlines()[0]}") from exc
    return model.eval().requires_grad_(False)


class _ClipImage(nn.Module):
    def __init__(self, clip):
        super().__init__()
        self.clip = clip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.clip.visual_projection(self.clip.vision_model(pixel_values=x).pooler_output)


class _DinoCls(nn.Module):
    def __init__(self, dino):
        super().__init__()
        self.dino = dino

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dino(pixel_values=x).pooler_output   # the layer-normalised CLS token, as torch.hub's DINOv2 gives


def load_clip(folder: Path):
    """CLIP (both towers) and its tokenizer from a local transformers folder."""
    from transformers import AutoTokenizer, CLIPModel

    return (CLIPModel.from_pretrained(folder, local_files_only=True).eval().requires_grad_(False),
            AutoTokenizer.from_pretrained(folder, local_files_only=True))


def clip_encoder(clip) -> ImageEncoder:
    """CLIP's image embedding at 224 pixels with CLIP's mean and std, L2-normalised."""
    return ImageEncoder(_ClipImage(clip), ENCODER_SIZE, CLIP_NORM)


def dino_encoder(folder: Path) -> ImageEncoder:
    """DINOv2's CLS token at 224 pixels with ImageNet's mean and std, L2-normalised."""
    from transformers import Dinov2Model

    return ImageEncoder(_DinoCls(Dinov2Model.from_pretrained(folder, local_files_only=True)), ENCODER_SIZE,
                        IMAGENET_NORM)


class _Exported(nn.Module):
    """A ``torch.export`` program as a module: it keeps the mode it was exported in (it has no ``train``/``eval``)."""

    def __init__(self, program):
        super().__init__()
        self.program = program

    def train(self, mode: bool = True) -> "_Exported":
        self.training = mode
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.program(x)


def face_embedder(path: Path) -> FaceEmbedder:
    """The exported face network on faces aligned to the ArcFace template (112 pixels, [−1, 1])."""
    try:
        program = torch.export.load(str(path)).module()
    except Exception as exc:   # a file torch.export cannot read: name it and what it should be
        raise PerceptionFilesError(f"{path}: not a torch.export program ({LAYOUT['face_network.pt2']}): "
                                   f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
    return FaceEmbedder(ImageEncoder(_Exported(program), ALIGNED_FACE, HALF_NORM), aligned_size=ALIGNED_FACE)


def load_bank(path: Path) -> torch.Tensor:
    """The bank of real-face embeddings, L2-normalised; a bank that is not a (K, D) matrix names its file."""
    bank = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(bank, torch.Tensor) or bank.ndim != 2 or len(bank) == 0:
        shape = tuple(bank.shape) if isinstance(bank, torch.Tensor) else type(bank).__name__
        raise PerceptionFilesError(f"{path}: expected a tensor (K, D) of face embeddings, got {shape}")
    return nn.functional.normalize(bank.float(), dim=1)


class InsightFaceDetector:
    """The largest face of each image by an insightface ``FaceAnalysis`` app (``app.get`` on a BGR ``uint8`` image
    gives faces with ``bbox`` and ``kps``): its box, grown to the official square crop, and its five landmarks."""

    def __init__(self, app, expansion: float = BOX_EXPANSION):
        self.app, self.expansion = app, expansion

    def __call__(self, images: torch.Tensor) -> Faces:
        n = len(images)
        found, boxes, landmarks = np.zeros(n, dtype=bool), np.full((n, 4), NO_FACE, dtype=np.int64), np.zeros((n, 5, 2))
        for i, image in enumerate(images.cpu().permute(0, 2, 3, 1).numpy()):
            faces = self.app.get(np.ascontiguousarray(image[..., ::-1]))
            if len(faces):
                largest = max(faces, key=lambda f: _clipped_area(f["bbox"], image.shape[0], image.shape[1]))
                found[i], boxes[i] = True, expand_to_square(largest["bbox"], self.expansion)
                landmarks[i] = np.asarray(largest["kps"], dtype=np.float64)
        return Faces(found, boxes, landmarks)


def _clipped_area(box, height: int, width: int) -> float:
    x0, y0, x1, y1 = box
    return max(min(x1, width) - max(x0, 0), 0) * max(min(y1, height) - max(y0, 0), 0)


def load_insightface(root: Path, device: str = "cpu") -> InsightFaceDetector:
    """insightface's ``buffalo_l`` detector from ``root`` (detection module only, 640-pixel detection size)."""
    try:
        from insightface.app import FaceAnalysis
    except ImportError as exc:
        raise PerceptionFilesError("the paper's face detector needs insightface and onnxruntime: pip install "
                                   "insightface onnxruntime-gpu (or onnxruntime on a CPU)") from exc
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device.startswith("cuda") else ["CPUExecutionProvider"]
    app = FaceAnalysis(name="buffalo_l", root=str(root), allowed_modules=["detection"], providers=providers)
    app.prepare(ctx_id=0 if device.startswith("cuda") else -1, det_size=(640, 640))
    return InsightFaceDetector(app)


@dataclass
class FaceReader:
    """The paper's evaluation of generated images: the largest face of each image read by the three evaluation
    classifiers (:data:`fairlab.dal.bias.NO_FACE` where no face was found), and CLIP-T, the cosine between the image's
    and the prompt's CLIP embeddings."""

    detector: object
    classifiers: dict[str, nn.Module]
    clip: nn.Module
    tokenizer: object
    crop_size: int = FACE_CROP

    def __post_init__(self):
        self.image_encoder = clip_encoder(self.clip).to(next(self.clip.parameters()).device)

    def _logits(self, images: torch.Tensor) -> tuple[Faces, dict[str, torch.Tensor]]:
        device = next(self.clip.parameters()).device
        faces = self.detector(images)
        pixels = images.to(device).float() / 127.5 - 1
        with torch.no_grad():
            crops = face_crops(pixels, faces, self.crop_size)
            return faces, {h: self.classifiers[h](crops)[h].float() for h in HEADS}

    def read(self, images: torch.Tensor, prompt: str) -> pd.DataFrame:
        """Per ``uint8`` image: gender, race class and age (NO_FACE without a face) and ``clip_t``."""
        faces, logits = self._logits(images)
        read = {h: np.where(faces.found, logits[h].argmax(1).cpu().numpy(), NO_FACE) for h in HEADS}
        return pd.DataFrame({**read, "clip_t": self.clip_t(images, prompt)})

    def confidences(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        """P(male) and the race classes' probabilities per image (NaN without a face), for Figure 3's bars."""
        faces, logits = self._logits(images)
        p_male = np.where(faces.found, logits["gender"].softmax(1)[:, 1].cpu().numpy(), np.nan)
        race = np.where(faces.found[:, None], logits["race"].softmax(1).cpu().numpy(), np.nan)
        return {"p_male": p_male, "race": race}

    def clip_t(self, images: torch.Tensor, prompt: str) -> np.ndarray:
        device = next(self.clip.parameters()).device
        tokens = self.tokenizer([prompt], padding=True, return_tensors="pt").to(device)
        with torch.no_grad():
            text = self.clip.text_projection(self.clip.text_model(**tokens).pooler_output)
            image = self.image_encoder(images.to(device).float())
        return (image @ nn.functional.normalize(text.float(), dim=1).T)[:, 0].cpu().numpy()


def load(folder: str | Path | None, device: str = "cpu", crop: int | None = None):
    """The loss's :class:`fairlab.dal.finetune.Perception` and the evaluation's :class:`FaceReader` from ``folder``
    (:data:`LAYOUT`), on ``device``; the classifiers read ``crop``-pixel face crops (the official :data:`FACE_CROP`
    unless given)."""
    from fairlab.dal.finetune import Perception

    crop = crop or FACE_CROP
    root = check_folder(folder)
    detector = load_insightface(root / "insightface", device)
    clip, tokenizer = load_clip(root / "clip")
    face = face_embedder(root / "face_network.pt2")
    bank = load_bank(root / "face_bank.pt")
    seen = Perception(load_mobilenet(root / "training_classifier.pt", HEADS), crop, clip_encoder(clip),
                      dino_encoder(root / "dinov2"), face, bank, detector=detector, reads_face_crop=True)
    for module in (seen.classifier, seen.clip, seen.dino, seen.face):
        module.to(device)
    seen.bank = seen.bank.to(device)
    evaluation = {h: load_mobilenet(root / EVALUATION_FILES[h], {h: HEADS[h]}).to(device) for h in HEADS}
    return seen, FaceReader(detector, evaluation, clip.to(device), tokenizer, crop)


__all__ = ["LAYOUT", "FaceReader", "HeadedMobileNet", "InsightFaceDetector", "PerceptionFilesError", "check_folder",
           "load", "missing_files"]
