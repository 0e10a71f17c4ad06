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
from fairlab.study import Study

Stage = list[Unit]


def _aimfair_entries(notebook: str, profile: Profile) -> dict[str, list]:
    """Setting → the table entries (strategies and Baselines) the notebook reads on it."""
    from fairlab.aimfair import smg_sft, tables

    if notebook == "02_smg_sft":
        entries = {}
        for label in tables.settings_for(profile):
            chosen = list(tables.TABLE3.values())
            for candidates in tables.table4_candidates(profile).values():
                chosen += list(candidates.values())
            chosen += [tables.AimFair("cosine"), tables.AIM]
            entries[label] = chosen
        from fairlab.aimfair.comparison import TABLE1_SETTINGS, TABLE2_SETTINGS

        for label in (*TABLE1_SETTINGS, *TABLE2_SETTINGS):  # Tables 1 and 2's ERM and AIM-Fair rows
            entries.setdefault(label, [])
            entries[label] += [e for e in (tables.Baseline(), tables.AIM) if e not in entries[label]]
        return entries
    if notebook == "03_ablations":
        main = tables.DEFAULT_SETTINGS[0]
        chosen = [tables.Baseline(), *tables.TABLE3.values()]
        chosen += [tables.S("selective", k=k, s1=smg_sft.aim_s1(profile)) for k in tables.TOP_KS]
        chosen += [tables.S("full")] + [tables.S("selective", k=profile.aimfair.top_k, s1=r) for r in tables.S1_RATIOS]
        chosen += list(tables.s2_entries(profile, "{:g}").values()) + list(tables.TABLE8.values()) + list(tables.TABLE9.values())
        chosen += [tables.S("freeze", block=b) for b in tables.BLOCKS]
        entries = {main: chosen,
                   "UTK F/W": [tables.Baseline(), *tables.s2_entries(profile, "{:.1f}").values()],
                   "CelebA M/Y": list(tables.TABLE11.values())}
        for label in tables.TABLE8_SETTINGS:
            entries.setdefault(label, []).extend(e for e in tables.TABLE8.values() if e not in entries.get(label, []))
        return entries
    return {}


def _pretrain_and_masks(profile: Profile, label: str, seed: int, entries: list) -> None:
    """The Baselines of a (setting, seed) and the SMG gradients its entries' masks need."""
    from fairlab.aimfair import smg_sft

    study = Study.of(profile)
    for arch in sorted({smg_sft.resolve(profile, e).arch for e in entries}):
        smg_sft.pretrained(study, label, seed, arch)
    for entry in entries:
        strategy = smg_sft.resolve(profile, entry)
        if isinstance(strategy, smg_sft.Strategy) and strategy.kind == "selective":
            smg_sft.gradients(study, label, seed, strategy.s1, strategy.s2, strategy.arch)


def _strategy(profile: Profile, label: str, seed: int, strategy) -> None:
    from fairlab.aimfair import smg_sft

    smg_sft.run(Study.of(profile), label, seed, strategy)


def _competitor(profile: Profile, label: str, seed: int, competitor) -> None:
    from fairlab.aimfair import comparison

    comparison.run(Study.of(profile), label, seed, competitor)


def _chosen_competitor(profile: Profile, label: str, name: str) -> None:
    from fairlab.aimfair import comparison

    comparison.chosen(Study.of(profile), label, name)


def aimfair_plan(notebook: str, profile: Profile) -> list[Stage]:
    """Stage 1: per (setting, seed), the Baseline and SMG's gradients; stage 2: every strategy run (and, for chapter
    02, Tables 1 and 2's other debiasing methods; with ``competitor_search: grid``, their grids on the first seed);
    stage 3: each grid's chosen point on the other seeds."""
    from fairlab.aimfair import comparison, smg_sft

    first, second, third, seen = [], [], [], set()
    if notebook == "02_smg_sft":
        methods = {label: [*comparison.COMPETITORS, *comparison.ORACLE] for label in comparison.TABLE1_SETTINGS}
        methods.update({label: list(comparison.COMPETITORS) for label in comparison.TABLE2_SETTINGS})
        first_seed = profile.aimfair.seeds[0]
        for label, names in methods.items():
            for name in names:
                points = comparison.candidates(profile, name)
                if len(points) == 1:  # the published point: every seed at once
                    second += [Unit(f"{label} seed {seed}: {name}", _competitor, (profile, label, seed, points[0]))
                               for seed in profile.aimfair.seeds]
                else:  # the grid on the first seed, then the chosen point on the other seeds
                    second += [Unit(f"{label} seed {first_seed}: {name} {point}", _competitor, (profile, label, first_seed, point))
                                for point in points]
                    third.append(Unit(f"{label}: {name}, the chosen point on every seed", _chosen_competitor,
                                      (profile, label, name)))
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
    return [stage for stage in (first, second, third) if stage]


# ---------------------------------------------------------------------------------------------
# chapter 00: FaceWorld's datasets and its attribute probe, then the stand-in backbones


def _faceworld_dataset(profile: Profile, fmt: str) -> None:
    from fairlab.faceworld import datasets

    datasets.dataset(Study.of(profile), fmt)


def _attribute_probe(profile: Profile) -> None:
    from fairlab.faceworld import datasets

    datasets.attribute_probe(Study.of(profile))


def _backbone(profile: Profile, arch: str) -> None:
    from fairlab import backbones

    backbones.backbone(Study.of(profile), arch)


def _baseline(profile: Profile, label: str, seed: int) -> None:
    from fairlab.aimfair import smg_sft

    smg_sft.pretrained(Study.of(profile), label, seed)


def data_plan(notebook: str, profile: Profile) -> list[Stage]:
    """Stage 1: every FaceWorld dataset (where the profile renders them) and the attribute probe; stage 2: the
    FaceWorld-pretrained backbones (where the profile uses them); stage 3: the calibration gate's Baselines (the
    records the AIM-Fair chapters read)."""
    from fairlab import backbones
    from fairlab.aimfair.tables import GATE_BASELINES

    first = [Unit(f"FaceWorld {fmt}", _faceworld_dataset, (profile, fmt))
             for fmt in ("celeba", "utkface", "lfwa") if profile.data.source == "faceworld"]
    first.append(Unit("the attribute probe", _attribute_probe, (profile,)))
    second = [Unit(f"backbone {arch}", _backbone, (profile, arch)) for arch in backbones.ARCHITECTURES
              if profile.backbones.weights == "faceworld"]
    third = [Unit(f"{label} seed {seed}: the Baseline", _baseline, (profile, label, seed))
             for label in GATE_BASELINES for seed in profile.aimfair.seeds]
    return [stage for stage in (first, second, third) if stage]


# ---------------------------------------------------------------------------------------------
# chapter 01: the miniature model, then every pool, then every Table 5 run


def _t2i(profile: Profile) -> None:
    from fairlab.aimfair import csdg

    csdg.mini_t2i(Study.of(profile))


def _pool(profile: Profile, label: str, family: str | None) -> None:
    """A setting's contextual pool (``family=None``), a Table 5 pool, or (``family="reference"``) FaceWorld's diversity."""
    from fairlab.aimfair import csdg

    study = Study.of(profile)
    if family is None:
        csdg.contextual_pool(study, label)
    elif family == "reference":
        csdg.reference_diversity(study, label)
    else:
        csdg.table5_pool(study, label, family)


def _table5_run(profile: Profile, label: str, family: str, seed: int) -> None:
    from fairlab.aimfair import csdg

    csdg.table5_run(Study.of(profile), label, family, seed)


def _synthetic_sets(profile: Profile, label: str) -> None:
    from fairlab.aimfair import csdg

    csdg.synthetic_sets(Study.of(profile), label)


def csdg_plan(notebook: str, profile: Profile) -> list[Stage]:
    """Stage 1: the miniature model (where it generates); stage 2: every pool; stage 3: Table 5's runs and the
    synthetic sets of the next chapter."""
    from fairlab.aimfair import csdg
    from fairlab.aimfair.settings import SETTINGS
    from fairlab.aimfair.tables import TABLE5_FAMILIES

    first = [Unit("the miniature text-to-image model", _t2i, (profile,))] if profile.csdg.generation.pipeline == "mini" else []
    pools = [Unit(f"{label}: contextual pool", _pool, (profile, label, None)) for label in SETTINGS]
    pools += [Unit(f"{label}: Table 5 pool {family}", _pool, (profile, label, family))
              for label in csdg.TABLE5_SETTINGS for family in TABLE5_FAMILIES]
    if csdg.has_judge(profile):
        pools += [Unit(f"{label}: FaceWorld's own diversity", _pool, (profile, label, "reference")) for label in csdg.TABLE5_SETTINGS]
    third = [Unit(f"{label}: Table 5 {family} seed {seed}", _table5_run, (profile, label, family, seed))
             for label in csdg.TABLE5_SETTINGS for family in TABLE5_FAMILIES for seed in profile.aimfair.seeds]
    third += [Unit(f"{label}: synthetic sets S1, S2", _synthetic_sets, (profile, label)) for label in SETTINGS]
    return [stage for stage in (first, pools, third) if stage]


# ---------------------------------------------------------------------------------------------
# chapter 04: every pre-trained model, then every fine-tuning and retraining run over the lr grid


def _win_pretrain(profile: Profile, constraint: str | None, depth: int) -> None:
    from fairlab.win import adult

    task = adult.open_task(Study.of(profile))
    lambdas = tuple(task.cfg.lambdas) if constraint else (0.0,)
    adult.pretrain(task, constraint=constraint, lambdas=lambdas, depth=depth)


def _win_image_features(profile: Profile, dataset: str, arch: str) -> None:
    from fairlab import backbones
    from fairlab.win import images

    study = Study.of(profile)
    task = images.open_task(dataset, study)
    images.features(task, backbones.backbone(study, arch))


def _win_head(profile: Profile, source: tuple, method: str, lr: float) -> None:
    """A head fine-tuned from the pre-trained model ``source`` = (constraint, depth) as the page asks for it."""
    from fairlab.win import adult

    task = adult.open_task(Study.of(profile))
    constraint, depth = source
    lambdas = tuple(task.cfg.lambdas) if constraint else (0.0,)
    record = adult.pretrain(task, constraint=constraint, lambdas=lambdas, depth=depth)
    if constraint:  # Table 2: every λ's replica
        adult.finetune_head(task, lr=lr, pretrained=record, method=method, replicas=tuple(range(len(lambdas))))
    else:
        adult.finetune_head(task, lr=lr, pretrained=record, method=method)


def _win_retrain(profile: Profile, constraint: str, lr: float) -> None:
    from fairlab.win import adult

    task = adult.open_task(Study.of(profile))
    adult.retrain(task, lr=lr, pretrained=adult.pretrain(task), constraint=constraint, lambdas=tuple(task.cfg.lambdas),
                  replica=0)


def _win_image_head(profile: Profile, dataset: str, arch: str, method: str, lr: float) -> None:
    from fairlab import backbones
    from fairlab.win import images

    study = Study.of(profile)
    task = images.open_task(dataset, study)
    images.finetune(task, images.features(task, backbones.backbone(study, arch)), method, lr)


def win_plan(notebook: str, profile: Profile) -> list[Stage]:
    """Stage 1: the pre-trained models and the image features; stage 2: every head and retraining run over the
    learning-rate grid (the α sweep, at the rate chosen on validation, is left to the notebook)."""
    w, wi = profile.win_adult, profile.win_images
    sources = [(None, 2), ("eo", 2), ("dp", 2)] + [(None, d) for d in w.mlp_depths if d != 2]
    archs = {"resnet18": ("tl", "svd", "win"), "resnet50": ("win",), "densenet121": ("win",)}
    first = [Unit(f"Adult: pre-training {c or 'unfair'}, MLP-{d}", _win_pretrain, (profile, c, d)) for c, d in sources]
    first += [Unit(f"{dataset}: {arch} features", _win_image_features, (profile, dataset, arch))
              for dataset in ("celeba", "lfwa") for arch in archs]
    second = []
    for lr in w.lr_grid:
        second += [Unit(f"Adult: {m} head, lr {lr:g}", _win_head, (profile, (None, 2), m, lr)) for m in ("tl", "svd", "win")]
        second += [Unit(f"Adult: TL head from the {c} model, lr {lr:g}", _win_head, (profile, (c, 2), "tl", lr)) for c in ("eo", "dp")]
        second += [Unit(f"Adult: WIN head on MLP-{d}, lr {lr:g}", _win_head, (profile, (None, d), "win", lr))
                   for d in w.mlp_depths if d != 2]
        second += [Unit(f"Adult: Retrain+{c.upper()}, lr {lr:g}", _win_retrain, (profile, c, lr)) for c in ("eo", "dp")]
    second += [Unit(f"{dataset}: {arch} {m} head, lr {lr:g}", _win_image_head, (profile, dataset, arch, m, lr))
               for dataset in ("celeba", "lfwa") for arch, methods in archs.items() for m in methods for lr in wi.lr_grid]
    return [first, second]


# ---------------------------------------------------------------------------------------------
# chapter 05: the biased model and the classifier, then every run, the toy runs and the original model's images


def _dal(profile: Profile, what: str, *args) -> None:
    from fairlab.dal import base_model, experiments

    study = Study.of(profile)
    {"base": lambda: base_model.base_model(study), "classifier": lambda: experiments.classifier(study),
     "original": lambda: experiments.original(study), "run": lambda: experiments.run(study, *args),
     "toy": lambda: experiments.gradient_toy(study, *args), "scale": lambda: experiments.gradient_scale(study)}[what]()


def dal_plan(notebook: str, profile: Profile) -> list[Stage]:
    """Stage 1: the occupation-biased model (mini) and the training classifier; stage 2: the original model's images,
    every debiasing run, Figure 1's toy runs and gradient scales."""
    from fairlab.dal import experiments
    from fairlab.dal.dft import GRADIENTS

    first = [Unit("the training classifier", _dal, (profile, "classifier"))] if profile.dal.classifier else []
    if profile.dal.pipeline == "mini":
        first.insert(0, Unit("the occupation-biased miniature model", _dal, (profile, "base")))
    second = [Unit("the original model's images", _dal, (profile, "original"))]
    second += [Unit(f"debiasing {name}", _dal, (profile, "run", name)) for name in experiments.EXPERIMENTS]
    second += [Unit(f"Figure 1: {g}, run {k}", _dal, (profile, "toy", g, k)) for g in GRADIENTS
               for k in range(profile.dal.figure1.runs)]
    second.append(Unit("Figure 1: gradient scales", _dal, (profile, "scale")))
    return [stage for stage in (first, second) if stage]


PLANS = {"00_data": data_plan, "01_csdg": csdg_plan, "02_smg_sft": aimfair_plan, "03_ablations": aimfair_plan,
         "04_weight_importance_neutralization": win_plan, "05_dal_adjusted_dft": dal_plan}

#: notebook → the notebooks whose records it reads: ``fairlab book --jobs N`` starts a notebook once
#: these are done, so the neutralization chapter runs beside AIM-Fair's (both read only 00's data
#: and backbones). A notebook not listed waits for every one before it.
READS = {
    "00_data": set(),
    "01_csdg": {"00_data"},
    "02_smg_sft": {"00_data", "01_csdg"},
    "03_ablations": {"00_data", "01_csdg", "02_smg_sft"},
    "04_weight_importance_neutralization": {"00_data"},
    "05_dal_adjusted_dft": {"00_data", "01_csdg"},
    "06_your_own_model": {"02_smg_sft", "04_weight_importance_neutralization"},
}


def plan(notebook: str, profile: Profile) -> list[Stage]:
    """The stages of ``notebook`` (its file stem); empty for a notebook without a plan (it computes as it runs)."""
    builder = PLANS.get(notebook)
    return builder(notebook, profile) if builder else []


def plan_text(profile: Profile, notebook: str | None = None) -> str:
    """The estimate as a plain-text table with a total line (what ``fairlab plan`` and ``fairlab book`` print), or
    ``notebook``'s line alone (what ``fairlab run`` prints before it starts; empty for a notebook without one)."""
    import pandas as pd

    frame = pd.DataFrame(estimate(profile))
    if notebook is not None:
        frame = frame[frame["notebook"] == notebook]
        if frame.empty:
            return ""
    measured_on = frame["measured_on"].iloc[0]
    shown = frame.drop(columns="measured_on").set_index("notebook")
    if notebook is None:
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


__all__ = ["plan", "aimfair_plan", "data_plan", "csdg_plan", "win_plan", "dal_plan", "PLANS", "READS", "Stage", "estimate", "plan_text", "measured_throughput"]


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
    from fairlab.aimfair import comparison
    from fairlab.aimfair.settings import setting
    from fairlab.aimfair.tables import GATE_BASELINES

    a = profile.aimfair
    n_real, val = profile.data.aimfair_subset_size, _validation_images(profile) * EVALUATION_WEIGHT
    stages = aimfair_plan(notebook, profile)
    baselines = stages[0] if stages else []
    strategies = stages[1] if len(stages) > 1 else []
    chosen = stages[2] if len(stages) > 2 else []  # a grid's chosen point on every seed but the first

    def real(unit: Unit) -> float:  # the unit's real training set (Table 2's settings train on a share of it)
        return setting(unit.args[1]).real_share * n_real

    # the gate's Baselines are the data chapter's (:func:`data_plan`); a chapter trains only the others
    own = [u for u in baselines if u.args[1] not in GATE_BASELINES]
    seen = sum(a.epochs * (real(u) + val) for u in own)
    #: relative cost of one competitor run against one training from the backbone (LfF trains two models; JTT adds a
    #: one-epoch identification model and λ_up-fold copies of its error set, taken as doubling the data)
    competitor_cost = {"cvar": 1.0, "eiil": 1.0, "groupdro": 1.0, "lff": 2.0, "jtt": 2.0}
    for unit in strategies:
        strategy = unit.args[3]
        if not hasattr(strategy, "fine_tunes"):  # one of Tables 1 and 2's other debiasing methods
            seen += competitor_cost[strategy.kind] * a.epochs * (real(unit) + val)
        elif strategy.fine_tunes:  # on S2: N_R / 4 per group of the full setting
            seen += len(a.finetune_lrs) * a.finetune_epochs * (n_real + val)
        else:
            seen += a.epochs * (FROM_BACKBONE_SIZE[strategy.kind] * real(unit) + val)
    for unit in chosen:
        point = comparison.candidates(profile, unit.args[2])[0]
        seen += (len(a.seeds) - 1) * competitor_cost[point.kind] * a.epochs * (real(unit) + val)
    return len(own) + len(strategies) + (len(a.seeds) - 1) * len(chosen), seen


#: the chapters whose images to generate count toward their device-hours
GENERATING = ("01_csdg", "05_dal_adjusted_dft")
#: a debiasing iteration in sampling passes of N images: two without a graph, and one with it at about three
#: times a pass's cost (forward, backward through every step)
DFT_PASSES = 2 + 3


def _dal_estimate(profile: Profile) -> dict:
    """Chapter 05 in generated images: each iteration's three sampling passes (:data:`DFT_PASSES`), the test images
    of each run and of the original model (twice for the original's same-noise images), Figure 1's runs and draws."""
    from fairlab.dal import experiments
    from fairlab.dal.dft import GRADIENTS
    from fairlab.dal.occupations import occupations

    d = profile.dal
    runs = len(experiments.EXPERIMENTS)
    training = runs * d.runs.iterations * d.runs.images_per_prompt * DFT_PASSES
    toys = len(GRADIENTS) * d.figure1.images_per_prompt * (d.figure1.runs * d.figure1.iterations + d.figure1.draws) * DFT_PASSES
    test = len(experiments.prompts("test")) * d.evaluation.images_per_prompt
    evaluation = runs * 2 * test + len(occupations()) * d.evaluation.images_per_prompt
    return {"notebook": "05_dal_adjusted_dft", "trainings": runs + len(GRADIENTS) * d.figure1.runs + 2,
            "images_to_generate": training + toys + evaluation, "training_images": 0, "disk_gb": 0.05 * runs}


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
    # the FaceWorld sets are rendered only where the profile uses them; the attribute probe's renders always
    renders = 2 * (fw.probe_train + fw.probe_test)
    if d.source == "faceworld":
        renders += fw.celeba_n + fw.utkface_n + fw.lfwa_n + fw.studio_n
    b = profile.backbones
    backbone_passes = sum(getattr(b, arch).images * getattr(b, arch).epochs * cost
                          for arch, cost in BACKBONE_COST.items()) if b.weights == "faceworld" else 0
    n_real = d.aimfair_subset_size
    gate = data_plan("00_data", profile)[-1]  # the calibration gate's Baselines
    gate_passes = sum(a.epochs * ((d.utk_train_size if u.args[1].startswith("UTK") else n_real)
                                  + _validation_images(profile) * EVALUATION_WEIGHT) for u in gate)
    rows.append({"notebook": "00_data", "trainings": 3 + 3 * (b.weights == "faceworld") + len(gate),
                 "images_to_generate": renders,
                 "training_images": backbone_passes + 2 * fw.probe_epochs * fw.probe_train + gate_passes,
                 "disk_gb": renders * 3 * fw.size * fw.size * 1.25 / 1e9 + len(gate) * RESNET18_BYTES / 1e9})
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
    rows.append(_dal_estimate(profile))
    # one pass of mean gradients over R, S1 and S2 (selective_mask on chapter 02's model); nothing stored
    rows.append({"notebook": "06_your_own_model", "trainings": 0, "images_to_generate": 0,
                 "training_images": n_real + (c.s1_size or n_real) + n_real, "disk_gb": 0.0})
    for row in rows:
        seconds = row["training_images"] / throughput["train_images_per_s"] + \
            row["images_to_generate"] / throughput["generate_images_per_s"] * (row["notebook"] in GENERATING)
        row["device_hours"] = seconds / 3600
        # the memory store holds each split decoded; the stream store a few batches
        row["ram_gb"] = (4 + (a.batch_size * image_bytes * 4 * 6 if d.image_store == "stream"
                              else (n_real + 2 * _validation_images(profile)) * 3 * 218 * 178 * 2) / 1e9)
        row["measured_on"] = throughput["device"]
    return rows


def measured_throughput(profile: Profile) -> dict:
    """Training and generation throughput from ``make bench``'s stored results, preferring a GPU measurement.

    Training: the input-path benchmark at the nearer measured resolution (224 px or 32 px), scaled by pixel count. Generation:
    the generation benchmark (the miniature model; Stable Diffusion at 512 px is far slower per
    image, so the paper profile's generation hours are a lower bound, and the table says so).
    """
    import json

    from fairlab import paths

    folder = paths.project_root() / "benchmarks" / "results"
    found = {p.stem: json.loads(p.read_text()) for p in folder.glob("*.json")} if folder.is_dir() else {}
    measured = 224 if profile.aimfair.image_size >= 128 else 32
    train = found.get(f"input_path_{measured}px_cuda") or found.get(f"input_path_{measured}px")
    generate = found.get("generation_cuda") or found.get("generation")
    if train is None:
        raise FileNotFoundError(f"no measured throughput in {folder}: run `make bench` (or make bench BENCH_DEVICE=cuda) first")
    # between the two measured sizes, a step's convolutions cost about its pixel count; its fixed overheads do not,
    # so the estimate errs high (measured at batch 32: a 64-px epoch 1.4-1.8x a 32-px one, not 4x)
    scale = (measured / profile.aimfair.image_size) ** 2
    per_s = train["details"]["images"] / train["fairlab_seconds"] * scale
    gen = (generate["details"]["images"] / generate["fairlab_seconds"]) if generate else float("nan")
    scaled = f", scaled from {measured} px by pixel count" if scale != 1 else ""
    return {"train_images_per_s": per_s, "generate_images_per_s": gen,
            "device": f"{train['device']} ({train['time_utc'][:10]}{scaled})"}
