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
    from fairlab.studies import smg_sft as T

    if notebook == "02_smg_sft":
        entries = {}
        for label in T.settings_for(profile):
            chosen = list(T.TABLE3.values())
            for candidates in T.table4_candidates(profile).values():
                chosen += list(candidates.values())
            chosen += [T.AimFair("cosine"), T.AIM]
            entries[label] = chosen
        return entries
    if notebook == "05_ablations":
        main = T.DEFAULT_SETTINGS[0]
        chosen = [T.Baseline(), *T.TABLE3.values()]
        chosen += [T.S("selective", k=k) for k in T.TOP_KS]
        chosen += [T.S("full")] + [T.S("selective", k=profile.aimfair.top_k, s1=r) for r in T.S1_RATIOS]
        chosen += list(T.s2_entries(profile, "{:g}").values()) + list(T.TABLE8.values()) + list(T.TABLE9.values())
        chosen += [T.S("freeze", block=b) for b in T.BLOCKS]
        return {main: chosen,
                "UTK F/W": [T.Baseline(), *T.s2_entries(profile, "{:.1f}").values()],
                "CelebA M/Y": list(T.TABLE11.values())}
    return {}


def _pretrain_and_masks(profile: Profile, label: str, seed: int, entries: list) -> None:
    """The Baselines of a (setting, seed) and the SMG gradients its entries' masks need."""
    from fairlab.experiments import smg_sft
    from fairlab.studies import smg_sft as T

    registry = Registry(profile.name)
    for arch in sorted({T.resolve(profile, e).arch for e in entries}):
        smg_sft.pretrained(profile, registry, label, seed, arch)
    for entry in entries:
        strategy = T.resolve(profile, entry)
        if isinstance(strategy, smg_sft.Strategy) and strategy.kind == "selective":
            smg_sft.gradients(profile, registry, label, seed, strategy.s1, strategy.s2, strategy.arch)


def _strategy(profile: Profile, label: str, seed: int, strategy) -> None:
    from fairlab.experiments import smg_sft

    smg_sft.run(profile, Registry(profile.name), label, seed, strategy)


def aimfair_plan(notebook: str, profile: Profile) -> list[Stage]:
    """Stage 1: per (setting, seed), the Baseline and SMG's gradients; stage 2: every strategy run."""
    from fairlab.experiments import smg_sft
    from fairlab.studies import smg_sft as T

    first, second, seen = [], [], set()
    for label, entries in _aimfair_entries(notebook, profile).items():
        for seed in profile.aimfair.seeds:
            first.append(Unit(f"{label} seed {seed}: Baselines and SMG gradients", _pretrain_and_masks,
                              (profile, label, seed, entries)))
            for entry in entries:
                strategy = T.resolve(profile, entry)
                if not isinstance(strategy, smg_sft.Strategy) or (label, seed, strategy) in seen:
                    continue
                seen.add((label, seed, strategy))
                second.append(Unit(f"{label} seed {seed}: {strategy.kind} {strategy.as_config()}", _strategy,
                                   (profile, label, seed, strategy)))
    return [stage for stage in (first, second) if stage]


PLANS = {"02_smg_sft": aimfair_plan, "05_ablations": aimfair_plan}


def plan(notebook: str, profile: Profile) -> list[Stage]:
    """The stages of ``notebook`` (its file stem); empty for a notebook without a plan (it computes as it runs)."""
    builder = PLANS.get(notebook)
    return builder(notebook, profile) if builder else []


__all__ = ["plan", "aimfair_plan", "PLANS", "Stage"]
