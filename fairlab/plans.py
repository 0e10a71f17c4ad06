"""What each notebook computes, as stages of independent units for :func:`fairlab.parallel.run`.

A plan lists the records a notebook will ask for, grouped into stages: the units of one stage do
not depend on each other, and a stage starts when the previous one is done. ``fairlab book
--jobs N`` computes a notebook's plan on N workers before executing the notebook, which then
finds every record stored. A record the plan misses is still computed, by the notebook itself:
a plan can only save time, never change a result.
"""

from __future__ import annotations

from fairlab.parallel import Unit
from fairlab.profiles import Profile
from fairlab.results import Registry

Stage = list[Unit]


def _aimfair_entries(notebook: str, profile: Profile) -> dict[str, list]:
    """Setting → the table entries (strategies and Baselines) the notebook reads on it."""
    from fairlab.aimfair import tables

    if notebook == "02_smg_sft":
        entries = {}
        for label in tables.settings_for(profile):
            chosen = list(tables.TABLE3.values())
            for candidates in tables.table4_candidates(profile).values():
                chosen += list(candidates.values())
            chosen += [tables.AimFair("cosine"), tables.AIM]
            entries[label] = chosen
        return entries
    if notebook == "03_ablations":
        main = tables.DEFAULT_SETTINGS[0]
        chosen = [tables.Baseline(), *tables.TABLE3.values()]
        chosen += [tables.S("selective", k=k) for k in tables.TOP_KS]
        chosen += [tables.S("full")] + [tables.S("selective", k=profile.aimfair.top_k, s1=r) for r in tables.S1_RATIOS]
        chosen += list(tables.s2_entries(profile, "{:g}").values()) + list(tables.TABLE8.values()) + list(tables.TABLE9.values())
        chosen += [tables.S("freeze", block=b) for b in tables.BLOCKS]
        return {main: chosen,
                "UTK F/W": [tables.Baseline(), *tables.s2_entries(profile, "{:.1f}").values()],
                "CelebA M/Y": list(tables.TABLE11.values())}
    return {}


def _pretrain_and_masks(profile: Profile, label: str, seed: int, entries: list) -> None:
    """The Baselines of a (setting, seed) and the SMG gradients its entries' masks need."""
    from fairlab.aimfair import smg_sft

    registry = Registry(profile.name)
    for arch in sorted({smg_sft.resolve(profile, e).arch for e in entries}):
        smg_sft.pretrained(profile, registry, label, seed, arch)
    for entry in entries:
        strategy = smg_sft.resolve(profile, entry)
        if isinstance(strategy, smg_sft.Strategy) and strategy.kind == "selective":
            smg_sft.gradients(profile, registry, label, seed, strategy.s1, strategy.s2, strategy.arch)


def _strategy(profile: Profile, label: str, seed: int, strategy) -> None:
    from fairlab.aimfair import smg_sft

    smg_sft.run(profile, Registry(profile.name), label, seed, strategy)


def aimfair_plan(notebook: str, profile: Profile) -> list[Stage]:
    """Stage 1: per (setting, seed), the Baseline and SMG's gradients; stage 2: every strategy run."""
    from fairlab.aimfair import smg_sft

    first, second, seen = [], [], set()
    for label, entries in _aimfair_entries(notebook, profile).items():
        for seed in profile.aimfair.seeds:
            first.append(Unit(f"{label} seed {seed}: Baselines and SMG gradients", _pretrain_and_masks,
                              (profile, label, seed, entries)))
            for entry in entries:
                strategy = smg_sft.resolve(profile, entry)
                if not isinstance(strategy, smg_sft.Strategy) or (label, seed, strategy) in seen:
                    continue
                seen.add((label, seed, strategy))
                second.append(Unit(f"{label} seed {seed}: {strategy.kind} {strategy.as_config()}", _strategy,
                                   (profile, label, seed, strategy)))
    return [stage for stage in (first, second) if stage]


PLANS = {"02_smg_sft": aimfair_plan, "03_ablations": aimfair_plan}

#: notebook → the notebooks whose records it reads: ``fairlab book --jobs N`` starts a notebook once
#: these are done, so the neutralization chapter runs beside AIM-Fair's (both read only 00's data
#: and backbones). A notebook not listed waits for every one before it.
READS = {
    "00_data": set(),
    "01_csdg": {"00_data"},
    "02_smg_sft": {"00_data", "01_csdg"},
    "03_ablations": {"00_data", "01_csdg", "02_smg_sft"},
    "04_weight_importance_neutralization": {"00_data"},
}


def plan(notebook: str, profile: Profile) -> list[Stage]:
    """The stages of ``notebook`` (its file stem); empty for a notebook without a plan (it computes as it runs)."""
    builder = PLANS.get(notebook)
    return builder(notebook, profile) if builder else []


def plan_text(profile: Profile) -> str:
    """The estimate as a plain-text table with a total line (what ``fairlab plan`` and ``fairlab book`` print)."""
    import pandas as pd

    frame = pd.DataFrame(estimate(profile))
    measured_on = frame["measured_on"].iloc[0]
    shown = frame.drop(columns="measured_on").set_index("notebook")
    shown.loc["total"] = shown.sum(numeric_only=True)
    shown = shown.drop(columns="ram_gb").astype({"trainings": int, "images_to_generate": int, "training_images": int})
    lines = [f"plan for profile {profile.name!r} on {profile.compute.device} "
             f"(image store: {profile.data.image_store}, {len(profile.aimfair.seeds)} seeds)",
             shown.round(2).to_string(),
             f"peak RAM about {frame['ram_gb'].max():.1f} GB (4 GB for the process and its models, plus the images "
             f"the {profile.data.image_store} store holds)",
             f"device-hours from the training and generation throughput measured on {measured_on}; training images "
             f"count each image of each epoch (validation passes at a third, ResNet-18 units); generation at the "
             f"miniature model's rate is a lower bound for Stable Diffusion at 512 px; not counted: rendering "
             f"FaceWorld and the neutralization chapter's small heads"]
    return "\n".join(lines)


__all__ = ["plan", "aimfair_plan", "PLANS", "READS", "Stage", "estimate", "plan_text", "measured_throughput"]


# ---------------------------------------------------------------------------------------------
# what a build costs, before it runs


#: bytes of one stored ResNet-18 state (model.pt) and of one stored mean gradient (float32)
RESNET18_BYTES = 11_200_000 * 4
#: a generated 224-px PNG (measured on FaceWorld-style renders: 60–90 kB) and a 32-px one
PNG_BYTES = {224: 80_000, 32: 2_500}


#: training-set size of a strategy trained from the backbone, in units of N_R (repairing and LTGC: real + top-up)
FROM_BACKBONE_SIZE = {"synthetic": 1.0, "supplementation": 2.0, "repairing": 1.8, "ltgc": 1.8}
#: a training image of each backbone in ResNet-18 units (forward FLOPs: 1.8, 4.1 and 2.9 GFLOPs at 224 px)
BACKBONE_COST = {"resnet18": 1.0, "resnet50": 2.3, "densenet121": 1.6}
#: an evaluation pass costs about a third of a training pass per image (no backward)
EVALUATION_WEIGHT = 1 / 3


def _validation_images(profile: Profile) -> int:
    """CelebA's official validation split (19,867 images), or FaceWorld's at the same share."""
    return 19_867 if profile.data.source == "real" else round(profile.faceworld.celeba_n * 19_867 / 202_599)


def _trainings_aimfair_chapter(notebook: str, profile: Profile) -> tuple[int, float]:
    """(trainings, training-image passes, validation passes weighted by :data:`EVALUATION_WEIGHT`) of a chapter's plan."""
    a = profile.aimfair
    n_real, val = profile.data.aimfair_subset_size, _validation_images(profile) * EVALUATION_WEIGHT
    stages = aimfair_plan(notebook, profile)
    baselines = stages[0] if stages else []
    strategies = stages[1] if len(stages) > 1 else []
    seen = len(baselines) * a.epochs * (n_real + val)
    for unit in strategies:
        strategy = unit.args[3]
        if strategy.fine_tunes:
            seen += len(a.finetune_lrs) * a.finetune_epochs * (n_real + val)
        else:
            seen += a.epochs * (FROM_BACKBONE_SIZE[strategy.kind] * n_real + val)
    return len(baselines) + len(strategies), seen


def estimate(profile: Profile, throughput: dict | None = None) -> list[dict]:
    """Per notebook, before anything runs: trainings, images to generate, device-hours, disk and RAM.

    ``throughput``: images per second of ResNet-18 training at the profile's resolution and of
    generation, with the device they were measured on (default: :func:`measured_throughput`).
    """
    if throughput is None:
        try:
            throughput = measured_throughput(profile)
        except FileNotFoundError:
            throughput = {"train_images_per_s": float("nan"), "generate_images_per_s": float("nan"),
                          "device": "not measured (run make bench)"}
    a, c, d, fw = profile.aimfair, profile.csdg, profile.data, profile.faceworld
    size = a.image_size
    image_bytes = 3 * size * size
    rows = []
    renders = fw.celeba_n + fw.utkface_n + fw.lfwa_n + fw.studio_n + 2 * (fw.probe_train + fw.probe_test)
    b = profile.backbones
    backbone_passes = sum(getattr(b, arch).images * getattr(b, arch).epochs * cost
                          for arch, cost in BACKBONE_COST.items()) if b.weights == "faceworld" else 0
    rows.append({"notebook": "00_data", "trainings": 3 + 3 * (b.weights == "faceworld"),
                 "images_to_generate": renders, "training_images": backbone_passes + 2 * fw.probe_epochs * fw.probe_train,
                 "disk_gb": renders * 3 * fw.size * fw.size * 1.25 / 1e9})
    n_real = d.aimfair_subset_size
    pool_images = 4 * c.pool_per_group * 5 + 4 * c.table5_per_group * 3 * 2
    table5 = 4 * 2 * len(a.seeds)
    rows.append({"notebook": "01_csdg", "trainings": table5 + (c.generation.pipeline == "mini"),
                 "images_to_generate": pool_images,
                 "training_images": table5 * a.epochs * (4 * c.table5_per_group + _validation_images(profile) * EVALUATION_WEIGHT),
                 "disk_gb": (pool_images * PNG_BYTES.get(c.generation.out_size, 3 * c.generation.out_size ** 2 // 2)
                             + table5 * RESNET18_BYTES) / 1e9})
    for notebook in ("02_smg_sft", "03_ablations"):
        trainings, seen = _trainings_aimfair_chapter(notebook, profile)
        rows.append({"notebook": notebook, "trainings": trainings, "images_to_generate": 0, "training_images": seen,
                     "disk_gb": trainings * RESNET18_BYTES * 1.1 / 1e9})
    w = profile.win_adult
    heads = w.n_runs * (len(w.lr_grid) * (3 + len(w.alphas)) + len(w.lambdas) * 4 + len(w.mlp_depths) * 3)
    rows.append({"notebook": "04_weight_importance_neutralization", "trainings": heads, "images_to_generate": 0,
                 "training_images": 0, "disk_gb": 0.05})
    for row in rows:
        seconds = row["training_images"] / throughput["train_images_per_s"] + \
            row["images_to_generate"] / throughput["generate_images_per_s"] * (row["notebook"] == "01_csdg")
        row["device_hours"] = seconds / 3600
        # the memory store holds each split decoded; the stream store a few batches
        row["ram_gb"] = (4 + (a.batch_size * image_bytes * 4 * 6 if d.image_store == "stream"
                              else (n_real + 2 * _validation_images(profile)) * 3 * 218 * 178 * 2) / 1e9)
        row["measured_on"] = throughput["device"]
    return rows


def measured_throughput(profile: Profile) -> dict:
    """Training and generation throughput from ``make bench``'s stored results, preferring a GPU measurement.

    Training: the input-path benchmark at the profile's resolution (224 px or 32 px). Generation:
    the generation benchmark (the miniature model; Stable Diffusion at 512 px is far slower per
    image, so the paper profile's generation hours are a lower bound, and the table says so).
    """
    import json

    from fairlab import paths

    folder = paths.project_root() / "benchmarks" / "results"
    found = {p.stem: json.loads(p.read_text()) for p in folder.glob("*.json")} if folder.is_dir() else {}
    size = "224px" if profile.aimfair.image_size >= 128 else "32px"
    train = found.get(f"input_path_{size}_cuda") or found.get(f"input_path_{size}")
    generate = found.get("generation_cuda") or found.get("generation")
    if train is None:
        raise FileNotFoundError(f"no measured throughput in {folder}: run `make bench` (or make bench BENCH_DEVICE=cuda) first")
    per_s = train["details"]["images"] / train["fairlab_seconds"]
    gen = (generate["details"]["images"] / generate["fairlab_seconds"]) if generate else float("nan")
    return {"train_images_per_s": per_s, "generate_images_per_s": gen,
            "device": f"{train['device']} ({train['time_utc'][:10]})"}
