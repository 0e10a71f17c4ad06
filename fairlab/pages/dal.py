"""Chapter 05, fair text-to-image fine-tuning: Tables 1 and 5 and Figures 1, 3 and 4 from
:mod:`fairlab.dal.experiments`' records, beside the paper's printed numbers (``fairlab/reported/dal_dft.yaml``).

Every number here is read from the evaluation classifier's readings of generated images (``readings.csv`` of a
record): per test prompt, the bias of gender, race and gender × race (:mod:`fairlab.dal.bias`), Freq(old), and the
cue fidelity; a table cell is the mean over the test prompts with their standard deviation, as the paper prints.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fairlab.dal import experiments as ex
from fairlab.dal.bias import NO_FACE, freq_old, mean_and_std, prompt_bias
from fairlab.dal.occupations import RACES, design_table, occupations
from fairlab.reports import THRESHOLD, Claim, Estimate, Sentence, compare
from fairlab.study import Study

PAPER = "dal_dft"
#: the chapter's runs as Table 1 names them (debias target → experiment)
TABLE1_RUNS = {"Gender": "gender", "Race": "race", "G.×R.": "gender × race"}
TABLE5_RUNS = {"Debias G.×R.": "gender × race", "Debias G.×R. & Align Age": "gender × race & age"}
AGE_TARGET = 0.25
#: the issue's claims: the gender bias at least halved; Freq(old) this close to its target; cue fidelity falls by
#: at most this much
HALVED = 0.5
AGE_TOLERANCE = 0.05
CUE_DROP = 0.05


def readings(record) -> pd.DataFrame:
    return pd.read_csv(record.artifact("readings.csv"))


def cue_fidelity(read: pd.DataFrame) -> pd.Series:
    """Per prompt: the share of its images in which the evaluation classifier sees each of the occupation's signature
    cues, averaged over its cues (the stand-in for CLIP-T: does the image still show what the prompt's occupation
    looks like here)."""
    cues = {o.prompt: o.cues for o in occupations()}
    return read.groupby("prompt", sort=True).apply(
        lambda g: float(np.mean([g[c].mean() for c in cues[g.name]])), include_groups=False).rename("cue_fidelity")


def clip_t(read: pd.DataFrame) -> pd.Series:
    """Per prompt: the mean cosine between its images' and its own CLIP embeddings (CLIP-T; Stable Diffusion runs)."""
    return read.groupby("prompt", sort=True)["clip_t"].mean().rename("clip_t")


def miniature(profile) -> bool:
    """Whether the chapter debiases the occupation-biased miniature model (else Stable Diffusion, read by the paper's
    networks)."""
    return profile.dal.pipeline == "mini"


def semantics(profile) -> tuple[str, str]:
    """The column and the name of the prompt-fidelity measure: the cue fidelity in `mini` (the stand-in for CLIP-T),
    CLIP-T itself with Stable Diffusion."""
    return ("cue_fidelity", "cue fidelity") if miniature(profile) else ("clip_t", "CLIP-T")


def per_prompt(read: pd.DataFrame) -> pd.DataFrame:
    """Per prompt: the bias of gender (K = 2), race (K = 4) and gender × race (K = 8), Freq(old), and the cue fidelity
    (readings with cues) or CLIP-T (readings with a ``clip_t`` column)."""
    return pd.concat([prompt_bias(read["gender"], read["prompt"], 2).rename("bias_gender"),
                      prompt_bias(read["race"], read["prompt"], len(RACES)).rename("bias_race"),
                      prompt_bias(ex.joint_label(read), read["prompt"], 2 * len(RACES)).rename("bias_gender_race"),
                      freq_old(read["age"], read["prompt"]).rename("freq_age_old"),
                      clip_t(read) if "clip_t" in read else cue_fidelity(read)], axis=1)


def summary(prompts: pd.DataFrame) -> dict[str, Estimate]:
    """Each column's mean over prompts and their standard deviation (ddof 0, :func:`fairlab.dal.bias.mean_and_std`)."""
    out = {}
    for column in prompts:
        mean, std = mean_and_std(prompts[column])
        out[column] = Estimate(mean, std, int(prompts[column].notna().sum()))
    return out


def test_prompts(read: pd.DataFrame) -> pd.DataFrame:
    return read[read["prompt"].isin(ex.prompts("test"))]


def original_summary(study: Study) -> dict[str, Estimate]:
    return summary(per_prompt(test_prompts(readings(ex.original(study)))))


def run_summary(study: Study, experiment: str) -> dict[str, Estimate]:
    return summary(per_prompt(readings(ex.run(study, experiment))))


def learned_vs_designed(study: Study) -> pd.DataFrame:
    """Per occupation: the designed share (male, WMELH, old; the cue rate) against what the biased model's images show
    to the evaluation classifier."""
    read = readings(ex.original(study))
    design = design_table().reset_index()
    prompts = {o.prompt: o.name for o in occupations()}
    read = read.assign(occupation=read["prompt"].map(prompts))
    learned = read.groupby("occupation").agg(
        male=("gender", "mean"), old=("age", "mean"),
        wmelh=("race", lambda r: float(np.mean(r[r != NO_FACE] == 0)) if (r != NO_FACE).any() else np.nan))
    fidelity = cue_fidelity(read).rename(index=prompts)
    frame = design.set_index("occupation")[["split", "p_male", "p_WMELH", "freq_old", "cues"]].join(learned)
    frame["old read in its renders"] = render_readings(study).groupby("occupation")["age"].mean()
    frame["cue_fidelity"] = fidelity
    frame = frame.rename(columns={"p_male": "male designed", "male": "male learned", "p_WMELH": "WMELH designed",
                                  "wmelh": "WMELH learned", "freq_old": "old designed", "old": "old learned"})
    return frame[["split", "male designed", "male learned", "WMELH designed", "WMELH learned", "old designed",
                  "old read in its renders", "old learned", "cues", "cue_fidelity"]]


def render_readings(study: Study) -> pd.DataFrame:
    """The evaluation classifier's reading of the renders the biased model was fine-tuned on (and each render's drawn
    age, ``drawn_old``)."""
    return pd.read_csv(ex.original(study).artifact("render_readings.csv"))


def floor(study: Study, groups: int = 15) -> pd.DataFrame:
    """The bias a perfectly fair generator would be measured with: the classifier record's held-out balanced renders,
    read by the evaluation classifier, cut into ``groups`` prompts' worth of images, beside the evaluation
    classifier's accuracy on them."""
    record = ex.classifier(study)
    read = pd.DataFrame(record.metrics["evaluation_reading"])
    read["prompt"] = np.arange(len(read)) % groups
    prompts = pd.concat([prompt_bias(read["gender"], read["prompt"], 2).rename("Gender"),
                         prompt_bias(read["race"], read["prompt"], len(RACES)).rename("Race"),
                         prompt_bias(ex.joint_label(read), read["prompt"], 2 * len(RACES)).rename("G.×R.")], axis=1)
    line = {c: "{:.2f} ± {:.2f}".format(*mean_and_std(prompts[c])) for c in prompts}
    accuracy = record.metrics["evaluation_accuracy"]
    return pd.DataFrame([{"images per prompt": len(read) // groups, **line,
                          "evaluation accuracy (gender / race / age)":
                              f"{accuracy['gender']:.3f} / {accuracy['race']:.3f} / {accuracy['age']:.3f}"}],
                        index=["balanced renders (the floor)"])


def classifiers(study: Study) -> pd.DataFrame:
    """The training classifier's and the evaluation classifier's accuracy on held-out balanced renders, and how often
    the two read an image alike."""
    m = ex.classifier(study).metrics
    return pd.DataFrame({"training classifier": m["training_accuracy"], "evaluation classifier":
                         m["evaluation_accuracy"], "agreement": m["agreement"]}).T.round(3)


def table1(study: Study):
    """Table 1's bias columns: the original model and each run on the test prompts, beside every printed row."""
    reproduced = {("—", "Original SD"): original_summary(study)}
    for debias, experiment in TABLE1_RUNS.items():
        reproduced[(debias, "Ours")] = run_summary(study, experiment)
    keep = ("bias_gender", "bias_race", "bias_gender_race")
    reproduced = {k: {m: v for m, v in row.items() if m in keep} for k, row in reproduced.items()}
    return compare(PAPER, "Table 1", reproduced, study.profile, rows="all",
                   notes=["Ours: the occupation-biased miniature model and its text-encoder LoRA runs; the other "
                          "methods are the paper's rows, not rerun here."])


def table5(study: Study):
    reproduced = {"Original SD": original_summary(study)}
    for method, experiment in TABLE5_RUNS.items():
        reproduced[method] = run_summary(study, experiment)
    keep = ("bias_gender", "bias_race", "bias_gender_race", "freq_age_old")
    reproduced = {k: {m: v for m, v in row.items() if m in keep} for k, row in reproduced.items()}
    return compare(PAPER, "Table 5", reproduced, study.profile)





def scale_table(profile) -> pd.DataFrame:
    """This profile's scale beside the paper's protocol."""
    d = profile.dal
    r = d.runs
    lines = [
        ("model", "Stable Diffusion v1.5", "the occupation-biased miniature model" if d.pipeline == "mini" else d.pipeline),
        ("occupations (train / validation / test)", "1,000 / 10 / 50",
         " / ".join(str(len(ex.prompts(s))) for s in ("train", "validation", "test"))),
        ("images per prompt and iteration (N)", "24-40", str(r.images_per_prompt)),
        ("iterations per run", "10k-15k", f"{r.iterations:,}"),
        ("sampler steps (training)", "19-23, DPM-Solver++", f"{d.steps}, DPM-Solver++ ({d.timestep_spacing} spacing)"),
        ("guidance", "7.5", f"{d.guidance}"),
        ("what trains (main runs)", "text-encoder LoRA, rank 50", f"text-encoder LoRA, rank {r.rank}"),
        ("optimiser", "AdamW 5e-5, EMA 0.996", f"AdamW {r.lr:g}, EMA {r.ema_decay}"),
        ("test images per prompt", "60-160", str(d.evaluation.images_per_prompt)),
    ]
    return pd.DataFrame(lines, columns=["", "paper", profile.name]).set_index("")


def learned_sentence(design: pd.DataFrame) -> Sentence:
    """How closely the biased model learned the design, over all occupations."""
    parts = []
    for name, designed, learned in (("share of men", "male designed", "male learned"),
                                    ("share of WMELH faces", "WMELH designed", "WMELH learned"),
                                    ("share of old faces", "old designed", "old learned")):
        gap = float((design[learned] - design[designed]).abs().mean())
        if design[designed].std() > 0 and design[learned].std() > 0:
            r = float(np.corrcoef(design[designed], design[learned])[0, 1])
            parts.append(f"its {name} follows the design with correlation {r:.2f} (mean absolute gap {gap:.2f})")
        else:   # a constant column (e.g. every face read alike) has no correlation
            parts.append(f"its {name} does not vary across occupations (mean absolute gap to the design {gap:.2f})")
    return Sentence(f"Over the {len(design)} occupations, " + "; ".join(parts) + ". The signature cues are seen in "
                    f"{design['cue_fidelity'].mean():.0%} of its images, where the design shows each in 80 %.")


def age_sentence(study: Study) -> Sentence:
    """The original model's Freq(old) on the test occupations against their design and the paper's original SD, and
    how the evaluation classifier reads the same occupations' training renders (the part of the gap that is the
    measurement's, not the model's)."""
    original = original_summary(study)["freq_age_old"].mean
    designed = float(np.mean([o.p_old for o in occupations() if o.split == "test"]))
    renders = render_readings(study)
    test = renders[renders["occupation"].isin([o.name for o in occupations() if o.split == "test"])]
    drawn, read = float(test["drawn_old"].mean()), float(test["age"].mean())
    verdict = "close to" if abs(original - designed) <= AGE_TOLERANCE else ("above" if original > designed else "below")
    reading = ("reads them about as drawn" if abs(read - drawn) <= AGE_TOLERANCE else
               f"reads {read:.0%} of them as old" + (", so part of the gap is the measurement's" if
                                                    (read - drawn) * (original - designed) > 0 else ""))
    return Sentence(f"On the test occupations the biased model draws old faces {original:.0%} of the time, "
                    f"{verdict} the design's {designed:.0%} (the paper's original Stable Diffusion: 20.2 %)"
                    + ("; Table 5's age alignment therefore starts from more old faces than the paper's, not fewer"
                       if original > designed + AGE_TOLERANCE else "")
                    + f". In the renders the model was fine-tuned on, {drawn:.0%} of these occupations' faces were "
                      f"drawn old; the evaluation classifier {reading}.")


def _log_frame(record, **labels) -> pd.DataFrame:
    import json

    log = json.loads(record.artifact("log.json").read_text())
    return pd.DataFrame([{**labels, "iteration": e["iteration"], "loss": e["loss"]} for e in log])


def figure1_frames(study: Study) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The toy runs' losses (gradient, run, iteration, loss) and the per-step gradient scales."""
    from fairlab.dal.dft import GRADIENTS

    losses = pd.concat([_log_frame(ex.gradient_toy(study, g, k), gradient=g, run=k) for g in GRADIENTS
                        for k in range(study.profile.dal.figure1.runs)], ignore_index=True)
    return losses, pd.read_csv(ex.gradient_scale(study).artifact("scales.csv"))


def figure1_note(profile) -> str:
    f = profile.dal.figure1
    return (f"{f.runs} runs per gradient, {f.iterations} iterations of {f.images_per_prompt} images; scales over "
            f"{f.draws} noise draws")


def _loss_drop(losses: pd.DataFrame, gradient: str) -> tuple[float, float]:
    """(the mean loss over the first quarter of the iterations, over the last quarter), over runs."""
    frame = losses[losses["gradient"] == gradient]
    quarter = max(1, frame["iteration"].max() // 4)
    first = frame[frame["iteration"] < quarter]["loss"].mean()
    last = frame[frame["iteration"] > frame["iteration"].max() - quarter]["loss"].mean()
    return float(first), float(last)


def figure1_claims(losses: pd.DataFrame) -> list[Claim]:
    drops = {g: _loss_drop(losses, g) for g in ("exact", "adjusted_no_coefficient", "adjusted")}
    fall = {g: a - b for g, (a, b) in drops.items()}
    return [
        Claim("The adjusted gradient lowers the loss more than the exact gradient does",
              fall["adjusted"] > fall["exact"],
              {"fall, adjusted": fall["adjusted"], "fall, exact": fall["exact"]}, THRESHOLD),
        Claim("The adjusted gradient ends lower than the adjusted gradient without its coefficient",
              drops["adjusted"][1] < drops["adjusted_no_coefficient"][1],
              {"last-quarter loss, adjusted": drops["adjusted"][1],
               "last-quarter loss, no coefficient": drops["adjusted_no_coefficient"][1]}, THRESHOLD),
    ]


def similarity(study: Study, experiment: str) -> pd.DataFrame:
    return pd.read_csv(ex.run(study, experiment).artifact("similarity.csv"))


PRINTED_PRESERVATION = {  # Table 1 / Table 5: CLIP-T of the debiased model, CLIP-I, DINO (original CLIP-T .39)
    "gender": (".39", ".77", ".70"), "race": (".39", ".73", ".67"), "gender × race": (".39", ".67", ".58"),
    "gender × race & age": (".38", ".66", ".58"),
}


def preservation_table(study: Study) -> pd.DataFrame:
    """Per run, beside the paper's: in `mini`, the cue fidelity's change from the original model (the paper: CLIP-T's)
    and the same-noise similarities under the stand-ins for CLIP-I and DINO and the held-out encoder; with Stable
    Diffusion, CLIP-T, CLIP-I and DINO themselves."""
    column, name = semantics(study.profile)
    original = original_summary(study)[column].mean
    lines = []
    for experiment, (printed_clip_t, clip_i, dino) in PRINTED_PRESERVATION.items():
        after = run_summary(study, experiment)[column].mean
        sim = similarity(study, experiment)
        if miniature(study.profile):
            lines.append({"run": experiment, "CLIP-T change (paper)": f"{float(printed_clip_t) - 0.39:+.2f}",
                          "cue fidelity change (ours)": f"{after - original:+.3f}",
                          "CLIP-I (paper)": clip_i, "ResNet-18 stand-in (ours)": _mean_std(sim["clip"]),
                          "DINO (paper)": dino, "DenseNet-121 stand-in (ours)": _mean_std(sim["dino"]),
                          "held-out ResNet-50 (ours)": _mean_std(sim["held_out"])})
        else:
            lines.append({"run": experiment, "CLIP-T (paper)": printed_clip_t, "CLIP-T (ours)": f"{after:.2f}",
                          f"{name} of the original (ours)": f"{original:.2f}",
                          "CLIP-I (paper)": clip_i, "CLIP-I (ours)": _mean_std(sim["clip"]),
                          "DINO (paper)": dino, "DINO (ours)": _mean_std(sim["dino"])})
    return pd.DataFrame(lines).set_index("run")


def _mean_std(values: pd.Series) -> str:
    return "{:.2f} ± {:.2f}".format(*mean_and_std(values))


def figure4_frame(study: Study) -> pd.DataFrame:
    original = per_prompt(test_prompts(readings(ex.original(study))))["freq_age_old"]
    aligned = per_prompt(readings(ex.run(study, "gender × race & age")))["freq_age_old"]
    names = {o.prompt: o.name for o in occupations()}
    frame = pd.DataFrame({"original": original, "debiased G×R & aligned age": aligned}).rename(index=names)
    return frame.sort_values("original", ascending=False)


def figure3_rows(study: Study, occupations_shown: int = 3):
    """Rows of Figure 3: for the test occupations the original model draws most gender-biased, its images and the
    gender × race run's from the same noise, with the evaluation classifier's confidences."""
    import torch

    before = torch.load(ex.original(study).artifact("grid.pt"), weights_only=True)
    after = torch.load(ex.run(study, "gender × race").artifact("grid.pt"), weights_only=True)
    biased = per_prompt(test_prompts(readings(ex.original(study))))["bias_gender"].sort_values(ascending=False)
    names = {o.prompt: o.name for o in occupations()}
    rows, gender, race = {}, {}, {}
    for prompt in biased.index[:occupations_shown]:
        for label, grid in ((f"{names[prompt]}: original", before), (f"{names[prompt]}: debiased", after)):
            rows[label] = grid["images"][prompt].permute(0, 2, 3, 1).numpy()
            gender[label] = grid["confidence"][prompt]["p_male"].numpy()
            race[label] = grid["confidence"][prompt]["race"].numpy()
    return rows, gender, race


TRAINED_RUNS = {"text-encoder LoRA": "gender", "U-Net LoRA": "gender, U-Net LoRA", "soft prefix (5 tokens)":
                "gender, soft prefix"}


def trained_table(study: Study) -> pd.DataFrame:
    """The three things that can be trained, each debiasing gender: the gender bias, the cue fidelity (CLIP-T with
    Stable Diffusion), the same-noise similarities, and how often the training and the evaluation classifier read the
    debiased images' gender alike (the paper's Figure 5 warns that a U-Net run can fit the training classifier rather
    than the face)."""
    column, name = semantics(study.profile)
    original = original_summary(study)
    lines = [{"trained": "— (original)", "gender bias": _estimate_text(original["bias_gender"]),
              name: f"{original[column].mean:.3f}"}]
    for label, experiment in TRAINED_RUNS.items():
        read = readings(ex.run(study, experiment))
        s = summary(per_prompt(read))
        sim = similarity(study, experiment)
        faces = read["gender"] != NO_FACE
        line = {"trained": label, "gender bias": _estimate_text(s["bias_gender"]), name: f"{s[column].mean:.3f}",
                "ResNet-18 stand-in" if miniature(study.profile) else "CLIP-I": _mean_std(sim["clip"])}
        if "held_out" in sim:
            line["held-out ResNet-50"] = _mean_std(sim["held_out"])
        line["classifiers agree on gender"] = f"{float((read['gender'] == read['train_gender'])[faces].mean()):.3f}"
        lines.append(line)
    return pd.DataFrame(lines).set_index("trained").fillna("—")


def _estimate_text(e: Estimate) -> str:
    return f"{e.mean:.2f} ± {e.std:.2f}"


def table1_claims(study: Study) -> list[Claim]:
    original = original_summary(study)
    runs = {e: run_summary(study, e) for e in TABLE1_RUNS.values()}
    g0, g1 = original["bias_gender"].mean, runs["gender"]["bias_gender"].mean
    claims = [
        Claim("Debiasing gender at least halves the test occupations' gender bias", g1 <= HALVED * g0,
              {"original": g0, "debiased": g1, "ratio": g1 / g0 if g0 else float("nan")}, THRESHOLD),
        Claim.compare("Debiasing race lowers the race bias", ("debiased", runs["race"]["bias_race"]), "<",
                      ("original", original["bias_race"]), test=THRESHOLD),
        Claim.compare("Debiasing gender × race lowers the gender × race bias",
                      ("debiased", runs["gender × race"]["bias_gender_race"]), "<",
                      ("original", original["bias_gender_race"]), test=THRESHOLD),
    ]
    column, name = semantics(study.profile)
    for experiment, run in runs.items():
        drop = original[column].mean - run[column].mean
        claims.append(Claim(f"Debiasing {experiment} lowers the {name} by at most {CUE_DROP}",
                            drop <= CUE_DROP, {"original": original[column].mean,
                                               "debiased": run[column].mean, "fall": drop}, THRESHOLD))
    return claims


def table5_claims(study: Study) -> list[Claim]:
    aligned = run_summary(study, "gender × race & age")["freq_age_old"].mean
    return [Claim(f"Aligning age brings Freq(old) within {AGE_TOLERANCE} of its target {AGE_TARGET}",
                  abs(aligned - AGE_TARGET) <= AGE_TOLERANCE, {"Freq(old)": aligned, "target": AGE_TARGET},
                  THRESHOLD)]
