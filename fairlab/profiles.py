"""Profiles: ``smoke``, ``mini`` and ``paper``, one YAML file each in ``profiles/``.

A profile changes sizes, seeds and data sources, never code paths: every notebook calls the
same functions whatever the profile.  Profiles are validated when loaded; an unknown key or a
value of the wrong type is a :class:`ProfileError` that names the file, the key and what was
expected (for an unknown key, the valid keys at that level).
"""

from __future__ import annotations

import functools
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, ValidationError, model_validator

from fairlab import paths

PROFILE_NAMES = ("smoke", "mini", "paper")
DEFAULT_PROFILE = "mini"
#: what a profile is, set in its file only: an override of these would file a run's records under another name
#: (``name`` picks the results folder) or present smoke numbers as results (``reportable``)
IDENTITY_KEYS = ("name", "description", "reportable")
#: ResNet-18's named parameter tensors, the most SMG's k can select
RESNET18_TENSORS = 62


class ProfileError(ValueError):
    """A profile file, key or override value is missing or invalid."""


class _Strict(BaseModel):
    # strict: a boolean is not an integer and a string is not a number; no infinity or NaN anywhere
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class TrainRecipe(_Strict):
    """An optimiser, its learning rate, the batch size and the number of epochs."""

    optimizer: Literal["adam", "sgd"] = "adam"
    lr: PositiveFloat
    batch_size: PositiveInt
    epochs: PositiveInt


class WinAdultSection(_Strict):
    """Notebook 04 on UCI Adult (weight importance neutralization, arXiv 2403.00625)."""

    n_runs: int = Field(ge=2, description="runs per configuration (the paper: 10), seeds 0..n_runs-1; at least 2, "
                                          "as every table reports the spread over runs")
    pretrain: TrainRecipe = Field(description="recipe of every pre-training (unfair, fair, MLP-3/4/5)")
    finetune_epochs: PositiveInt = Field(description="most fine-tuning epochs; the best epoch is chosen on validation")
    finetune_patience: PositiveInt = Field(description="a run stops after this many epochs without a better validation score")
    finetune_batch_size: PositiveInt
    finetune_optimizer: Literal["adam", "sgd"] = "adam"
    lr_grid: list[PositiveFloat] = Field(min_length=1, description="learning rates tried; chosen on validation")
    rank: PositiveInt = Field(2, description="rank r of the factorised head (46 parameters need r = 2)")
    alphas: list[Annotated[float, Field(ge=0.5, lt=1)]] = Field(min_length=1, description="Figure 5 group weights "
                                                                                              "alpha in [1/2, 1)")
    lambdas: list[PositiveFloat] = Field(min_length=1, description="regulariser intensities of Tables 2 and 3")
    regularizer: Literal["soft_rate", "zafar"] = Field("soft_rate", description="form of the EO/DP regulariser")
    mlp_depths: list[Annotated[int, Field(ge=2)]] = Field(min_length=1, description="numbers of linear layers for "
                                                                                       "Table 4 (an MLP has at least 2)")
    hidden: PositiveInt = 20
    fisher_eps_rel: PositiveFloat = 1e-6
    pca_points: PositiveInt = Field(description="points per group drawn in Figure 1")


class FaceWorldSection(_Strict):
    """The procedural face world: how many images of each format, at which width."""

    size: PositiveInt = Field(32, description="image width in pixels (CelebA format: height = width x 218/178)")
    seed: int = 0
    celeba_n: PositiveInt = Field(description="FaceWorld images in CelebA format (photo domain)")
    utkface_n: PositiveInt = Field(description="FaceWorld images in UTKFace format (photo domain)")
    lfwa_n: PositiveInt = Field(description="FaceWorld images in LFW+a format (photo domain); the real LFW+a has 13,143")
    studio_n: PositiveInt = Field(description="studio-domain renders for the grids and the domain gap")
    probe_train: PositiveInt = Field(description="renders the attribute network learns from (visibility check)")
    probe_test: PositiveInt = Field(description="held-out renders it is tested on")
    probe_epochs: PositiveInt


class DataSection(_Strict):
    """Where the face datasets come from and the papers' subset sizes."""

    source: Literal["faceworld", "real"] = Field(description="faceworld (generated) or real (under data_root)")
    image_store: Literal["memory", "stream"] = Field(
        "memory", description="memory: each image set decoded once into a uint8 tensor (cached on disk); stream: "
                              "decoded from its files batch by batch, never held whole (the paper profile's sets)")
    aimfair_subset_size: PositiveInt = Field(description="AIM-Fair's biased CelebA training subset (the paper: 20,000)")
    utk_train_size: PositiveInt = Field(description="UTKFace biased training set (the paper: 10,000)")
    utk_test_per_group: PositiveInt = Field(description="UTKFace balanced test set per group (the paper: 800)")
    utk_val_share: float = Field(0.1, gt=0, lt=1, description="validation share of what is left of UTKFace")


class BackboneRecipe(_Strict):
    images: PositiveInt
    epochs: PositiveInt


class BackboneSection(_Strict):
    """Frozen feature extractors: FaceWorld-pretrained stand-ins, or ImageNet weights from local files."""

    weights: Literal["faceworld", "imagenet"] = Field(description="faceworld: pretrained here on another FaceWorld task")
    weights_dir: str | None = Field(None, description="folder with torchvision's ImageNet weight files (imagenet)")
    image_size: PositiveInt = Field(description="input resolution of the extractors")
    task: Literal["untargeted", "drawn_on_everyone", "no_label_proxies"] = Field(
        "untargeted", description="the stand-ins' pretraining attributes: every one no experiment predicts or protects "
                                  "(untargeted), or only those FaceWorld draws on every face (drawn_on_everyone: no "
                                  "beards, drawn on men alone, and no open mouth, drawn on non-smiling faces alone), "
                                  "or of those only the ones that are no near-proxy of a predicted or protected label "
                                  "(no_label_proxies: |phi| < 0.3 on real CelebA)")
    batch_size: PositiveInt = 128
    lr: PositiveFloat = 0.05
    resnet18: BackboneRecipe
    resnet50: BackboneRecipe
    densenet121: BackboneRecipe


class WinImagesSection(_Strict):
    """The neutralization paper's image rows: CelebA Wavy_Hair/Male and LFW+a Male/Heavy_Makeup."""

    n_runs: int = Field(ge=2, description="runs per method and rate; at least 2, as the tables report the spread")
    celeba_val: PositiveInt = Field(description="the paper: 4,000")
    celeba_test: PositiveInt = Field(description="the paper: 8,000")
    lfwa_val: PositiveInt = Field(description="the paper: 1,000")
    lfwa_test_share: float = Field(0.4, gt=0, lt=1, description="the paper: 40 % (5,258 of 13,143)")
    finetune_epochs: PositiveInt
    finetune_patience: PositiveInt
    finetune_batch_size: PositiveInt
    lr_grid: list[PositiveFloat] = Field(min_length=1)
    finetune_optimizer: Literal["adam", "sgd"] = Field("adam", description="the paper's is unstated; at full rank under "
                                                                           "SGD, WIN equals SVD (see the chapter)")
    rank: int = Field(2, ge=1, le=2, description="rank of the factorised head; two classes allow 1 or 2")
    alpha: float = Field(0.5, ge=0, le=1, description="WIN's group weight: Î = α Î_privileged + (1 − α) Î_other")


class MiniT2ISection(_Strict):
    """The miniature text-to-image model, trained here on FaceWorld studio renders (mini and smoke)."""

    images: PositiveInt = Field(description="captioned studio renders it learns from")
    celeba_share: float = Field(0.7, ge=0, le=1, description="share of CelebA-style captions (the rest UTKFace-style)")
    vae_steps: PositiveInt
    vae_batch_size: PositiveInt
    unet_steps: PositiveInt
    unet_batch_size: PositiveInt
    lr: PositiveFloat = 1e-3
    detail_dropout: float = Field(0.3, ge=0, lt=1, description="each attribute phrase of a caption is left out with this probability")
    caption_dropout: float = Field(0.1, ge=0, lt=1, description="empty captions, for classifier-free guidance")
    prediction: Literal["epsilon", "v_prediction"] = Field(
        "epsilon", description="what the U-Net predicts: the noise, or the velocity with a zero-terminal-SNR schedule")
    seed: int = 0


class GenerationSection(_Strict):
    """How synthetic images are drawn (the paper: SD 2.1-base, DDIM 50 steps, eta 0, guidance 9, 512 px -> 224 px PNG)."""

    pipeline: str = Field(description="'mini' (the miniature model trained here) or a local folder / cached hub id of a "
                                      "StableDiffusionPipeline, e.g. stabilityai/stable-diffusion-2-1-base")
    sampler: Literal["ddim", "native"] = Field(description="ddim: the paper's sampler; native: the pipeline's own")
    steps: PositiveInt
    guidance: PositiveFloat
    eta: float = 0.0
    size: PositiveInt = Field(description="generated height and width in pixels")
    out_size: PositiveInt = Field(description="saved PNG size (the paper: 224)")
    batch_size: PositiveInt
    seed: int = 42


class CsdgSection(_Strict):
    """Notebook 01: contextual prompts, the synthetic pools, Table 5."""

    backend: Literal["composer", "chat-completions", "transformers"] = Field(
        description="who writes the prompts: composer (offline stand-in), chat-completions (an OpenAI-compatible "
                    "endpoint from $FAIRLAB_LLM_BASE_URL / $FAIRLAB_LLM_MODEL), transformers (a local model)")
    llm_model: str | None = Field(None, description="the transformers backend's model folder or id")
    prompt_seed: int = 0
    t2i: MiniT2ISection | None = Field(None, description="required when generation.pipeline is 'mini'")
    generation: GenerationSection
    pool_per_group: PositiveInt = Field(description="contextual images per group and setting (the paper: 10,500)")
    table5_per_group: PositiveInt = Field(description="synthetic training images per group in Table 5 (the paper: 5,000)")
    s1_size: PositiveInt | None = Field(None, description="images in the biased synthetic set S1; none = N_R, the real "
                                                          "subset's size, as in the paper (S1 only feeds the mask's gradients)")

    @model_validator(mode="after")
    def _keys_that_need_each_other(self) -> "CsdgSection":
        if self.backend == "transformers" and not self.llm_model:
            raise ValueError("backend is 'transformers' but llm_model is not set; expected a model folder or id")
        if self.generation.pipeline == "mini" and self.t2i is None:
            raise ValueError("generation.pipeline is 'mini' but there is no t2i section (the miniature model's recipe)")
        return self


class AimfairSection(_Strict):
    """AIM-Fair's ResNet-18 recipe (Table 5 here, the selective fine-tuning chapter later)."""

    seeds: list[int] = Field(min_length=1, description="the paper: 100, 200, ..., 1000")
    image_size: PositiveInt = Field(description="classifier input (the paper: 224)")
    epochs: PositiveInt = Field(15, description="pre-training epochs (the paper: 15)")
    decay_epoch: PositiveInt = Field(10, description="learning rate x0.1 after this epoch (the paper: 10)")
    lr: PositiveFloat = 0.01
    batch_size: PositiveInt = 128
    finetune_epochs: PositiveInt = Field(10, description="fine-tuning epochs on S2 at a constant rate (the paper: 10)")
    finetune_lrs: list[PositiveFloat] = Field([0.06], min_length=1,
                                              description="fine-tuning rates; with several, the best on validation is kept "
                                                          "(the official launcher: 0.06; the paper's text: 'searched from "
                                                          "{0.4, 0.5, 0.6}', likely meaning {0.04, 0.05, 0.06})")
    s1_ratio: Literal["true", "estimated"] = Field("true", description="S1's bias ratio: the real subset's true 1 : 9, "
                                                                       "or estimated from the Baseline's error set on "
                                                                       "the real training data (the paper, after JTT)")
    competitor_search: Literal["published", "grid"] = Field(
        "published", description="Tables 1 and 2's other methods: each at its paper's published hyper-parameters, or "
                                 "the best of a grid around them on validation accuracy (target labels only)")
    top_k: int = Field(55, ge=1, le=RESNET18_TENSORS,
                       description="SMG's k: tensors in each of the two rankings (the paper: 55 of ResNet-18's 62)")


class DalBaseSection(_Strict):
    """The third paper's biased model in mini and smoke: the miniature text-to-image model fine-tuned on the occupation
    world's renders (:mod:`fairlab.dal.base_model`)."""

    images_per_occupation: PositiveInt = Field(description="studio renders per occupation, captioned with its prompt")
    original_images: PositiveInt = Field(description="renders with their original attribute captions, mixed in so "
                                                     "that attribute words keep working")
    steps: PositiveInt
    batch_size: PositiveInt
    lr: PositiveFloat
    seed: int = 0


class DalClassifierSection(_Strict):
    """The training classifier the loss reads, learned here on balanced occupation-world renders (mini and smoke)."""

    images: PositiveInt
    test_images: PositiveInt = Field(description="held-out balanced renders: both classifiers' accuracy and the floor")
    epochs: PositiveInt
    bank: PositiveInt = Field(description="balanced renders whose face embeddings stand in for the bank of real faces")
    seed: int = 0


class DalRunsSection(_Strict):
    """Every debiasing run (reference §4.1; the paper: N = 24-40, AdamW 5e-5, rank 50, EMA 0.996, 10k-15k iterations)."""

    images_per_prompt: PositiveInt = Field(description="N, the images of one iteration's prompt")
    iterations: PositiveInt = Field(description="training iterations of a run, one prompt each (the paper: 10k-15k)")
    lr: PositiveFloat = 5e-5
    weight_decay: float = Field(1e-2, ge=0)
    ema_decay: float = Field(0.996, gt=0, lt=1)
    rank: PositiveInt = 50
    seed: int = 5991


class DalFigure1Section(_Strict):
    """Figure 1: the toy objective under the three gradients (the paper: 3 runs each, ~1,100 iterations) and the
    gradient scale per step (the paper: 20 draws)."""

    runs: PositiveInt = 3
    iterations: PositiveInt
    images_per_prompt: PositiveInt
    draws: PositiveInt = 20


class DalEvaluationSection(_Strict):
    images_per_prompt: PositiveInt = Field(description="test images per prompt (the paper: 60 gender, 80 race, 160 G x R)")


class DalSection(_Strict):
    """Notebook 05: the distributional alignment loss and adjusted direct fine-tuning (Shen et al., ICLR 2024)."""

    pipeline: str = Field(description="'mini' (the occupation-biased miniature model trained here) or a local folder / "
                                      "cached hub id of Stable Diffusion v1.5, e.g. runwayml/stable-diffusion-v1-5")
    base: DalBaseSection | None = Field(None, description="required when pipeline is 'mini'")
    timestep_spacing: Literal["linspace", "leading"] = Field(
        "linspace", description="the sampler's timesteps: linspace (the official code) or leading (the miniature "
                                "model, whose cosine schedule leaves no signal at t = 999)")
    prompt_padding: Literal["longest", "max_length"] = Field(
        "longest", description="longest with the attention mask (the official code) or max_length (the stock "
                               "pipeline, as the miniature model was trained)")
    steps: PositiveInt = Field(description="sampler steps (the paper: 19-23 drawn per training iteration, 30 at test)")
    guidance: PositiveFloat = Field(7.5, description="classifier-free guidance (the paper: 7.5)")
    classifier: DalClassifierSection | None = Field(None, description="required when pipeline is 'mini'")
    perception_dir: str | None = Field(
        None, description="Stable Diffusion runs: the folder holding the paper's perception networks (attribute "
                          "classifiers, CLIP, DINOv2, face detector and face network), laid out as "
                          "fairlab.dal.paper_perception.LAYOUT says")
    runs: DalRunsSection
    evaluation: DalEvaluationSection
    figure1: DalFigure1Section

    @model_validator(mode="after")
    def _keys_that_need_each_other(self) -> "DalSection":
        if self.pipeline == "mini" and (self.base is None or self.classifier is None):
            raise ValueError("pipeline is 'mini' but the base or classifier section is missing (the occupation "
                             "fine-tune's and the training classifier's recipes)")
        return self


class ComputeSection(_Strict):
    """Where every network of the book trains, evaluates and samples (:mod:`fairlab.device`)."""

    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:[0-9]+)?)$",
                        description="auto (CUDA when present, else the CPU), cpu, cuda or cuda:N")
    precision: Literal["auto", "float32", "bf16"] = Field(
        "auto", description="auto: bf16 autocast on CUDA, float32 on the CPU (bf16 measured 26x slower there)")
    deterministic: bool = Field(False, description="CUDA: deterministic cuDNN kernels, no autotuner and no TF32 "
                                                   "(bit-reproducible on one GPU; slower)")
    threads: PositiveInt | None = Field(None, description="CPU threads of every computation; the numbers depend on it "
                                                         "(float sums split by thread), so a fixed count gives the same "
                                                         "numbers sequential or parallel and on any machine with that "
                                                         "many cores; none: every core")


class Profile(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$",
                      description="names the results and build folders: letters, digits, '_' and '-'")
    description: str
    reportable: bool = Field(description="false for smoke: its numbers are never presented as results")
    data_root: str | None = Field(None, description="root of the real datasets (paper profile)")
    compute: ComputeSection = ComputeSection()
    win_adult: WinAdultSection
    faceworld: FaceWorldSection
    data: DataSection
    backbones: BackboneSection
    win_images: WinImagesSection
    csdg: CsdgSection
    aimfair: AimfairSection
    dal: DalSection

    @model_validator(mode="after")
    def _miniature_model_for_dal(self) -> "Profile":
        if self.dal.pipeline == "mini" and self.csdg.t2i is None:
            raise ValueError("dal.pipeline is 'mini' but csdg has no t2i section: the occupation-biased model starts "
                             "from the miniature text-to-image model trained there")
        return self


def profile_path(name: str) -> Path:
    """The YAML file of a named profile, or ``name`` itself when it is a path to a file."""
    candidate = Path(name)
    if candidate.suffix in {".yml", ".yaml"}:
        return candidate
    return paths.profiles_dir() / f"{name}.yml"


def resolve_profile(profile: str) -> str:
    """A profile argument as kernels and workers get it: a shipped name as it is, a profile file as its absolute path
    (a relative path means nothing in a kernel started elsewhere)."""
    candidate = Path(profile).expanduser()
    if candidate.suffix in {".yml", ".yaml"}:
        if not candidate.is_file():
            raise ProfileError(f"{candidate}: profile file not found")
        return str(candidate.resolve())
    return profile


def profile_name(profile: str) -> str:
    """The validated name of a profile given by name or by path: what its results and build folders are called
    (never the path itself). Read and validated once per file version: a build asks for it many times."""
    path = profile_path(profile).expanduser().resolve()
    try:
        version = path.stat().st_mtime_ns
    except OSError:
        version = None  # load_profile says the file is missing
    return _validated_name(str(path), version)


@functools.lru_cache(maxsize=32)
def _validated_name(path: str, version: int | None) -> str:
    return load_profile(path).name


def parse_override(text: str) -> tuple[str, Any]:
    """``"win_adult.n_runs=3"`` -> ``("win_adult.n_runs", 3)``; the value is read as YAML."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ProfileError(f"override {text!r}: expected KEY=VALUE, e.g. win_adult.n_runs=3")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ProfileError(f"override {text!r}: the value is not valid YAML ({exc})") from None
    return key, value


def load_profile(name: str = DEFAULT_PROFILE, overrides: dict[str, Any] | None = None) -> Profile:
    """Read, override and validate a profile.

    ``overrides`` maps dotted keys (``"win_adult.n_runs"``) to values.
    """
    path = profile_path(name)
    if not path.is_file():
        available = sorted(p.stem for p in paths.profiles_dir().glob("*.yml"))
        raise ProfileError(f"{path}: profile file not found; available profiles: {', '.join(available)}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise ProfileError(f"{path}: expected a mapping of profile keys, got {type(raw).__name__}")
    for key, value in (overrides or {}).items():
        if key in IDENTITY_KEYS:
            raise ProfileError(f"override {key!r} ({path.name}): {key!r} is part of what the profile is and is set in "
                               f"its file; write a profile file of your own to change it")
        _set_dotted(raw, key, value, source=path)
    try:
        return Profile.model_validate(raw)
    except ValidationError as exc:
        raise ProfileError(_describe(exc, path)) from None


def valid_keys(model: type[BaseModel] = Profile, prefix: str = "") -> list[str]:
    """Every dotted key a profile accepts, e.g. ``win_adult.pretrain.lr``."""
    keys = []
    for name, field in model.model_fields.items():
        dotted = f"{prefix}{name}"
        sub = _submodel(field.annotation)
        keys.extend(valid_keys(sub, dotted + ".") if sub else [dotted])
    return keys


def _submodel(annotation: Any) -> type[BaseModel] | None:
    """The section model of a field (``Section`` or an optional ``Section | None``), else ``None``."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _model_at(parts: list[str]) -> type[BaseModel]:
    model: type[BaseModel] = Profile
    for part in parts:
        model = _submodel(model.model_fields[part].annotation)  # type: ignore[assignment]
    return model


def _set_dotted(raw: dict, key: str, value: Any, source: Path) -> None:
    parts = key.split(".")
    model: type[BaseModel] = Profile
    node = raw
    for depth, part in enumerate(parts):
        if part not in model.model_fields:
            where = ".".join(parts[:depth]) or "the top level"
            options = ", ".join(model.model_fields)
            raise ProfileError(f"override {key!r} ({source.name}): unknown key {part!r} in {where}; valid keys: {options}")
        field_model = _submodel(model.model_fields[part].annotation)
        if depth == len(parts) - 1:
            if field_model is not None:
                raise ProfileError(
                    f"override {key!r} ({source.name}): {key!r} is a section; set one of its keys: "
                    + ", ".join(f"{key}.{k}" for k in field_model.model_fields)
                )
            node[part] = value
        elif field_model is None:
            raise ProfileError(f"override {key!r} ({source.name}): {'.'.join(parts[:depth + 1])!r} is a value, not a "
                               f"section, so it has no key {parts[depth + 1]!r}; set it as "
                               f"{'.'.join(parts[:depth + 1])}=VALUE")
        else:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ProfileError(f"{source}: {'.'.join(parts[: depth + 1])} must be a mapping")
        model = field_model


def _describe(exc: ValidationError, path: Path) -> str:
    lines = [f"{path}: invalid profile"]
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        key = ".".join(loc)
        if err["type"] == "extra_forbidden":
            parent = _model_at([p for p in loc[:-1] if not p.isdigit()])
            lines.append(f"  unknown key {key!r}; valid keys here: {', '.join(parent.model_fields)}")
        elif err["type"] == "missing":
            lines.append(f"  missing key {key!r}")
        elif isinstance(err.get("input"), dict):  # a check across keys of a section: the message names them
            lines.append(f"  {key}: {err['msg'].removeprefix('Value error, ')}")
        else:
            lines.append(f"  {key}: {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)
