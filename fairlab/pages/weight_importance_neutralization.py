"""Chapter 04, weight importance neutralization: what its page computes from :mod:`fairlab.win`'s records and shows.

- On UCI Adult (Tables 1–3, Figures 1 and 5): ask :mod:`fairlab.win.adult` for the runs each table
  and figure needs, choose learning rates on validation, turn the runs into rows, figures' data
  and claim checks.
- On images, CelebA (Wavy_Hair / Male) and LFW+a (Male / Heavy_Makeup): Figure 4's image panels
  (TL, SVD, OURS on a ResNet-18), Table 4's image rows (OURS on ResNet-50 and DenseNet-121) and
  Table 1's CelebA and LFW+a columns, learning rates chosen on validation per method, dataset and
  backbone, as on Adult (:mod:`fairlab.win.images`).

Nothing here is stored, so editing it never invalidates a result.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from fairlab import backbones, metrics
from fairlab.metrics.intervals import mean_difference
from fairlab.metrics.representation import decodability
from fairlab.models import replicate
from fairlab.profiles import Profile
from fairlab.reports import MEANS, STEPS, THRESHOLD, TREND, WELCH, Claim, Estimate, Row, describe_difference
from fairlab.results import Record
from fairlab.study import Study
from fairlab.train import ReplicaBatches, fit, make_optimizer
from fairlab.win import images as win_images
from fairlab.win.adult import (  # open_task and pretrain are re-exported for the notebook
    AdultTask,
    finetune_head,
    load_head,
    load_pretrained,
    load_retrained,
    open_task,  # noqa: F401
    penalised_loss,
    pretrain,
    retrain,
)
from fairlab.win.images import DATASET_LABELS, ImageTask, features, finetune
from fairlab.win.neutralize import trainable_parameters


def runs_frame(records: dict[float, Record], split: str = "test") -> pd.DataFrame:
    """One line per (learning rate, run) with the run's keys and scalar metrics on ``split``."""
    lines = []
    for lr, record in records.items():
        for run in record.metrics["runs"]:
            keys = {k: v for k, v in run.items() if k not in ("test", "val")}
            report = run[split]
            lines.append({"lr": lr, **keys, **{m: report[m] for m in metrics.SCALAR_METRICS}})
    return pd.DataFrame(lines)


def select_lr(records: dict[float, Record], by: list[str] | None = None) -> pd.DataFrame:
    """Mean validation error per (group ``by``, lr) and the chosen lr (lowest mean validation Err) per group.

    Without ``by`` every run belongs to one group.
    """
    by = list(by or [])
    val = runs_frame(records, "val").assign(_all=0)
    keys = by or ["_all"]
    table = val.groupby(keys + ["lr"])["err_f1"].mean().rename("val_err").reset_index()
    best = table.loc[table.groupby(keys)["val_err"].idxmin()].assign(chosen=True)
    out = table.merge(best[keys + ["lr", "chosen"]], on=keys + ["lr"], how="left").fillna({"chosen": False})
    return out.drop(columns="_all", errors="ignore")


def chosen_runs(records: dict[float, Record], by: list[str] | None = None) -> pd.DataFrame:
    """Test metrics of every run at the learning rate chosen on validation for its group."""
    by = list(by or [])
    choice = select_lr(records, by)
    chosen = choice[choice["chosen"].astype(bool)][by + ["lr"]]
    return runs_frame(records, "test").merge(chosen, on=by + ["lr"])


def over_lr_grid(task: AdultTask, run, **kwargs) -> dict[float, Record]:
    """``run(task, ..., lr=lr, **kwargs)`` for every learning rate of the grid."""
    return {lr: run(task, lr=lr, **kwargs) for lr in task.cfg.lr_grid}


# --------------------------------------------------------------------------- the notebook's studies

def table1_notes(profile: Profile) -> list[str]:
    """What Table 1's image columns are in this profile."""
    if profile.data.source != "faceworld":
        return []
    return ["CelebA and LFW+a are FaceWorld in this profile; FaceWorld's CelebA has fewer images than the real one, "
            "so only its validation and test sizes can match."]


def table4_notes(profile: Profile) -> list[str]:
    """What Table 4's image rows are in this profile."""
    if profile.data.source != "faceworld":
        return []
    return ["Image rows in this profile: FaceWorld images and FaceWorld-pretrained stand-in backbones."]


def table1_sizes(task: AdultTask) -> dict:
    """Reproduced Table 1 (Adult column): split sizes of the new task."""
    sizes = task.splits.sizes()
    return {"# Training": {"adult": sizes["train"]}, "# Validation": {"adult": sizes["val"]}, "# Test": {"adult": sizes["test"]}}


def report_estimates(runs: pd.DataFrame, columns=("err_f1", "eo_sum", "dp")) -> Row:
    """A table row over a frame of runs (:meth:`fairlab.reports.Row.from_runs`)."""
    return Row.from_runs(runs, columns)


def head_comparison(task: AdultTask, pretrained: Record) -> pd.DataFrame:
    """TL, SVD and WIN (α = ½) fine-tuned from ``pretrained``: test metrics of every run at the chosen lr.

    The frame also carries a ``method`` column; :func:`head_selection` shows the validation choice.
    """
    frames = []
    for method in ("tl", "svd", "win"):
        records = over_lr_grid(task, finetune_head, pretrained=pretrained, method=method)
        frames.append(chosen_runs(records, ["pretrain_replica", "alpha"]).assign(method=method))
    return pd.concat(frames, ignore_index=True)


#: pre-training lengths the recipe sensitivity tries beside the profile's (the paper states no recipe)
PRETRAIN_EPOCHS = (1, 3, 10)


def pretrain_sensitivity(task: AdultTask) -> pd.DataFrame:
    """The unfair pre-trained model on the new task's test split for a few pre-training lengths and the profile's
    (the paper does not state its recipe, and the Baseline moves with it), beside the paper's §4.4 numbers."""
    from fairlab import reported

    cells = reported.table("win", "Section 4.4").frame().set_index("metric")["value"]
    lines = [{"pre-training": "the paper (recipe not stated)", "Err (%)": cells["err_f1"], "ΔEO": cells["eo_sum"],
              "ΔDP": cells["dp"]}]
    for epochs in sorted({*PRETRAIN_EPOCHS, task.cfg.pretrain.epochs}):
        test = pretrain(task, epochs=epochs).metrics["replicas"][0]["test"]
        mark = " (this profile's)" if epochs == task.cfg.pretrain.epochs else ""
        lines.append({"pre-training": f"{epochs} epochs{mark}", "Err (%)": test["err_f1"], "ΔEO": test["eo_sum"],
                      "ΔDP": test["dp"]})
    return pd.DataFrame(lines).set_index("pre-training")


def pretrain_sentence(sensitivity: pd.DataFrame) -> str:
    """How far the recipe moves the unfair model, and which length lands closest to the paper, read from the table."""
    paper, ours = sensitivity.iloc[0], sensitivity.iloc[1:]
    distance = ((ours["Err (%)"] - paper["Err (%)"]) / 1.0).abs() + ((ours["ΔEO"] - paper["ΔEO"]) / 0.03).abs()
    closest = distance.idxmin()
    return (f"Over these pre-training lengths the unfair model's Err ranges {ours['Err (%)'].min():.2f}–"
            f"{ours['Err (%)'].max():.2f} and its ΔEO {ours['ΔEO'].min():.3f}–{ours['ΔEO'].max():.3f} (the paper: "
            f"{paper['Err (%)']:.3f}, {paper['ΔEO']:.3f}); closest to the paper, in units of the tables' tolerances "
            f"(1 point of Err, 0.03 of ΔEO), is {closest}. `-p win_adult.pretrain.epochs=N` rebuilds the chapter on "
            f"another pre-trained model.")


def rank_comparison(task: AdultTask, pretrained: Record) -> pd.DataFrame:
    """SVD and WIN (α = ½) heads at rank 1 and at rank 2 (= the number of classes) on Adult: mean ± sd over runs of the
    test metrics, each at the learning rate chosen on validation. At rank 2 these are Figure 4's runs."""
    lines = []
    d = pretrained.config["hidden"]
    for rank in (1, 2):
        for method in ("svd", "win"):
            records = over_lr_grid(task, finetune_head, pretrained=pretrained, method=method, rank=rank)
            runs = chosen_runs(records, ["pretrain_replica", "alpha"])
            line = {"rank r": rank, "method": method, "trainable parameters": trainable_parameters(method, d, rank=rank),
                    "lr": float(runs["lr"].iloc[0])}
            for column, metric in (("Err", "err_f1"), ("ΔDP", "dp"), ("ΔEO", "eo_sum")):
                line[column] = float(runs[metric].mean())
                line[f"{column} sd"] = float(runs[metric].std(ddof=1)) if len(runs) > 1 else 0.0
            lines.append(line)
    return pd.DataFrame(lines)


def rank_sentence(ranks: pd.DataFrame) -> str:
    """How far WIN moves from SVD at each rank, read from :func:`rank_comparison`."""
    parts = []
    for rank, part in ranks.groupby("rank r"):
        svd, win = (part.set_index("method").loc[m] for m in ("svd", "win"))
        parts.append(f"at rank {rank} WIN − SVD is {win['Err'] - svd['Err']:+.2f} in Err, {win['ΔDP'] - svd['ΔDP']:+.3f} "
                     f"in ΔDP and {win['ΔEO'] - svd['ΔEO']:+.3f} in ΔEO (run spreads: Err sd {max(win['Err sd'], svd['Err sd']):.2f})")
    return "On Adult, " + "; ".join(parts) + "."


def head_selection(task: AdultTask, pretrained: Record) -> pd.DataFrame:
    """Mean validation Err of TL, SVD and WIN for every learning rate, and which one was chosen."""
    frames = []
    for method in ("tl", "svd", "win"):
        records = over_lr_grid(task, finetune_head, pretrained=pretrained, method=method)
        frames.append(select_lr(records, ["pretrain_replica", "alpha"]).assign(method=method))
    return pd.concat(frames, ignore_index=True)[["method", "lr", "val_err", "chosen"]]


def retrain_runs(task: AdultTask, pretrained: Record, constraint: str | None, lambdas=None, replica: int = 0) -> pd.DataFrame:
    """Retrain (all parameters) with the constraint at each λ: test metrics at the lr chosen per λ."""
    lambdas = tuple(task.cfg.lambdas) if lambdas is None and constraint else (lambdas or (0.0,))
    records = over_lr_grid(task, retrain, pretrained=pretrained, constraint=constraint, lambdas=lambdas, replica=replica)
    return chosen_runs(records, ["lambda"])


def fair_pretraining(task: AdultTask) -> dict[str, Record]:
    """The EO- and DP-regularised pre-trained models of Table 2, one replica per λ."""
    return {c: pretrain(task, constraint=c, lambdas=tuple(task.cfg.lambdas)) for c in ("eo", "dp")}


def table2_runs(task: AdultTask, fair: dict[str, Record], method: str = "tl") -> pd.DataFrame:
    """Fine-tune every fair pre-trained model with ``method``; test metrics per run at the lr chosen per row."""
    frames = []
    for constraint, record in fair.items():
        replicas = tuple(range(len(record.config["lambdas"])))
        records = over_lr_grid(task, finetune_head, pretrained=record, method=method, replicas=replicas)
        runs = chosen_runs(records, ["pretrain_replica", "alpha"])
        runs["constraint"] = constraint
        runs["lambda"] = [record.config["lambdas"][p] for p in runs["pretrain_replica"]]
        frames.append(runs)
    return pd.concat(frames, ignore_index=True)


def table2_reproduced(fair: dict[str, Record], runs: pd.DataFrame) -> dict:
    """Table 2 rows: Err and bias (ΔEO for EO rows, ΔDP for DP rows) before and after fine-tuning."""
    from fairlab.win.regularisers import CONSTRAINT_LABELS

    out = {}
    for constraint, record in fair.items():
        bias = "eo_sum" if constraint == "eo" else "dp"
        for index, replica in enumerate(record.metrics["replicas"]):
            lam = record.config["lambdas"][index]
            mine = runs[(runs["constraint"] == constraint) & (runs["pretrain_replica"] == index)]
            out[(CONSTRAINT_LABELS[constraint], f"{lam:g}")] = {
                "err_pretrain": replica["test"]["err_f1"], "bias_pretrain": replica["test"][bias],
                "err_finetune": Estimate.of(mine["err_f1"]), "bias_finetune": Estimate.of(mine[bias]),
            }
    return out


def depth_ablation(task: AdultTask) -> pd.DataFrame:
    """WIN on MLP-3/4/5 pre-trained models: test metrics per run at the chosen lr (Table 4, Adult rows)."""
    frames = []
    for depth in task.cfg.mlp_depths:
        record = pretrain(task, depth=depth)
        records = over_lr_grid(task, finetune_head, pretrained=record, method="win")
        frames.append(chosen_runs(records, ["pretrain_replica", "alpha"]).assign(model=f"MLP-{depth}"))
    return pd.concat(frames, ignore_index=True)


#: the two readings of which group α weighs: the paper's metrics section makes s = 1 the privileged group (Male, ours);
#: its Figure 3 caption calls s = 1 "Female"
ALPHA_READINGS = {"male": "α weighs the privileged group (Male): the metrics section's s = 1, ours",
                  "female": "α weighs Female: the Figure 3 caption's s = 1"}


def alpha_sweep(task: AdultTask, pretrained: Record, lr: float, weighed: str = "male") -> pd.DataFrame:
    """WIN with Î = α Î_weighed + (1 − α) Î_other for every α of the profile, at learning rate ``lr``.

    ``weighed="male"`` is the method as this chapter reads it; ``"female"`` the Figure 3 caption's reading, run as
    α' = 1 − α on the male group (the same formula). The ``alpha`` column is always the weighed group's α."""
    if weighed not in ALPHA_READINGS:
        raise ValueError(f"weighed must be one of {list(ALPHA_READINGS)}, got {weighed!r}")
    alphas = tuple(task.cfg.alphas) if weighed == "male" else tuple(1.0 - a for a in task.cfg.alphas)
    runs = runs_frame({lr: finetune_head(task, pretrained, "win", lr, alphas=alphas)})
    if weighed == "female":
        runs["alpha"] = 1.0 - runs["alpha"]
    return runs.assign(weighed=weighed)


def chosen_lr(runs: pd.DataFrame, method: str) -> float:
    values = runs.loc[runs["method"] == method, "lr"].unique()
    return float(values[0])


def fisher_weighting_check(task: AdultTask, pretrained: Record, steps: int = 300, lr: float = 0.01) -> pd.DataFrame:
    """Does the Fisher weighting change the trained head?  Max |W − W_SVD| after ``steps`` full-batch steps.

    Heads (in float64) start from the SVD factorisation (Î = I) and from three weightings —
    the neutralized one (α = ½), the male group's only (α = 1) and α = 0.9 — and are trained with
    SGD or Adam at rank 2 (= k, full rank) or 1.  By the argument of the reference (§2.6), at full
    rank plain SGD gives the same ``W(t) = A(t) B(t)`` for every weighting; Adam or r < k need not.
    A numerical check in float64, on the CPU whatever the profile's device (it is not a result).
    """
    extractor = load_pretrained(pretrained)
    x, y, s = task.tensors["train"]
    with torch.no_grad():
        h = extractor.features(x.expand(1, -1, -1))[0].double()
    weight, bias = extractor.head.weight.detach()[0].double(), extractor.head.bias.detach()[0].double()
    from fairlab.win.neutralize import factorised_head, fisher_weighted_svd, neutralized_importance, row_importance

    importance = row_importance(h, y, s, weight, bias)
    weightings = {"SVD (Î = I)": None, "neutralized (α = ½)": 0.5, "male only (α = 1)": 1.0, "α = 0.9": 0.9}
    lines = []
    for optimizer in ("sgd", "adam"):
        for rank in (2, 1):
            factors = [
                fisher_weighted_svd(weight, None if a is None else neutralized_importance(importance, a, task.cfg.fisher_eps_rel), rank)
                for a in weightings.values()
            ]
            head = factorised_head(factors, bias, dtype=torch.float64)
            fit(head, make_optimizer(optimizer, head.parameters(), lr),
                ReplicaBatches((h, y, s), len(y), seeds=[0] * len(factors)),
                lambda m, b: penalised_loss(m(b[0]), b[1], b[2], None, None, ""), steps, progress=False)
            w = head.effective_weight().detach()
            line = {"optimizer": optimizer, "rank r": rank}
            for name, trained in zip(list(weightings)[1:], w[1:]):
                line[name] = float((trained - w[0]).abs().max())
            lines.append(line)
    return pd.DataFrame(lines).set_index(["optimizer", "rank r"])


def row_importance_frame(task: AdultTask, pretrained: Record) -> pd.DataFrame:
    """Figure 3: the row importances I_s[a] of the pre-trained last layer for each group (Female, Male)."""
    from fairlab.win.neutralize import row_importance

    extractor = load_pretrained(pretrained)
    x, y, s = task.tensors["train"]
    with torch.no_grad():
        h = extractor.features(x.expand(1, -1, -1))[0]
    imp = row_importance(h, y, s, extractor.head.weight.detach()[0], extractor.head.bias.detach()[0])
    lines = [{"unit": a + 1, "group": "Female" if g == 0 else "Male", "importance": float(v)}
             for g, vec in imp.items() for a, v in enumerate(vec)]
    return pd.DataFrame(lines)


def positive_representations(task: AdultTask, pretrained: Record, replica: int, mode: str, seed: int = 0) -> pd.DataFrame:
    """Figure 1: test-set representations (the last layer's input) of the samples predicted positive after fine-tuning.

    ``mode="head"``: TL fine-tuning of the head only (the representation is the pre-trained
    one; the fine-tuned head decides which samples are positive).  ``mode="full"``: every
    parameter fine-tuned with cross-entropy (the representation itself changes).  The run with
    ``seed`` at the learning rate chosen on validation is used.
    """
    if mode == "head":
        replicas = tuple(range(len(pretrained.config["lambdas"])))
        records = over_lr_grid(task, finetune_head, pretrained=pretrained, method="tl", replicas=replicas)
        choice = select_lr(records, ["pretrain_replica", "alpha"])
        lr = float(choice[choice["chosen"].astype(bool) & (choice["pretrain_replica"] == replica)]["lr"].iloc[0])
        runs = records[lr].metrics["runs"]
        index = next(i for i, r in enumerate(runs) if r["seed"] == seed and r["pretrain_replica"] == replica)
        extractor = replicate(load_pretrained(pretrained), [replica])
        head = replicate(load_head(records[lr]), [index])
    elif mode == "full":
        records = over_lr_grid(task, retrain, pretrained=pretrained, constraint=None, replica=replica)
        choice = select_lr(records, ["lambda"])
        lr = float(choice[choice["chosen"].astype(bool)]["lr"].iloc[0])
        index = next(i for i, r in enumerate(records[lr].metrics["runs"]) if r["seed"] == seed)
        extractor = replicate(load_retrained(records[lr]), [index])
        head = extractor.head
    else:
        raise ValueError(f"mode must be 'head' or 'full', got {mode!r}")
    x, _, s = task.tensors["test"]
    with torch.no_grad():
        h = extractor.features(x.expand(1, -1, -1))
        positive = (head(h)[0].argmax(-1) == 1).numpy()
    frame = pd.DataFrame(h[0].numpy()[positive], columns=[f"h{a + 1}" for a in range(h.shape[-1])])
    frame["group"] = np.where(s.numpy()[positive] == 1, "Male", "Female")
    return frame


def group_separability(frame: pd.DataFrame) -> float:
    """How well the group (Male or not) is read from a representation panel's features (the ``h*`` columns):
    :func:`fairlab.metrics.representation.decodability`."""
    return decodability(frame.filter(like="h").to_numpy(), (frame["group"] == "Male").to_numpy().astype(int))


# --------------------------------------------------------------------------- the paper's claims, checked

_BIASES = (("err_f1", "prediction error (Err)"), ("dp", "ΔDP"), ("eo_sum", "ΔEO"))


def table3_claims(retrain_eo: pd.DataFrame, retrain_dp: pd.DataFrame, ours: pd.DataFrame, pretrained: dict) -> list[Claim]:
    """§4.4's claims about Table 3 (means over runs)."""
    eo_rows = retrain_eo.groupby("lambda")[["err_f1", "eo_sum", "dp"]].mean()
    dp_rows = retrain_dp.groupby("lambda")[["err_f1", "eo_sum", "dp"]].mean()
    mine = ours[["err_f1", "eo_sum", "dp"]].mean()
    claims = [
        Claim("OURS has a lower ΔDP than Retrain+EO (every λ)", bool((mine["dp"] < eo_rows["dp"]).all()),
              {"OURS ΔDP": mine["dp"], "Retrain+EO ΔDP": list(eo_rows["dp"])}, MEANS,
              f"OURS {mine['dp']:.3f} vs Retrain+EO {', '.join(f'{v:.3f}' for v in eo_rows['dp'])}"),
        Claim("OURS has a lower ΔEO than Retrain+DP (every λ)", bool((mine["eo_sum"] < dp_rows["eo_sum"]).all()),
              {"OURS ΔEO": mine["eo_sum"], "Retrain+DP ΔEO": list(dp_rows["eo_sum"])}, MEANS,
              f"OURS {mine['eo_sum']:.3f} vs Retrain+DP {', '.join(f'{v:.3f}' for v in dp_rows['eo_sum'])}"),
        Claim("OURS lowers the error and both biases of the pre-trained model",
              bool(mine["err_f1"] < pretrained["err_f1"] and mine["eo_sum"] < pretrained["eo_sum"] and mine["dp"] < pretrained["dp"]),
              {f"{k} {who}": v for k in ("err_f1", "eo_sum", "dp") for who, v in (("pre-trained", pretrained[k]), ("OURS", mine[k]))},
              MEANS, f"Err {pretrained['err_f1']:.3f} → {mine['err_f1']:.3f}, ΔEO {pretrained['eo_sum']:.3f} → {mine['eo_sum']:.3f}, "
              f"ΔDP {pretrained['dp']:.3f} → {mine['dp']:.3f}"),
    ]
    for label, rows, bias in (("Retrain+EO", eo_rows, "eo_sum"), ("Retrain+DP", dp_rows, "dp")):
        rising = bool(np.all(np.diff(rows["err_f1"].to_numpy()) > 0))
        falling = bool(np.all(np.diff(rows[bias].to_numpy()) < 0))
        claims.append(Claim(f"{label}: a stronger regulariser raises the error and lowers the bias", rising and falling,
                            {"λ": list(rows.index), "Err": list(rows["err_f1"]), "bias": list(rows[bias])}, STEPS,
                            f"λ = {', '.join(f'{v:g}' for v in rows.index)}: Err {', '.join(f'{v:.2f}' for v in rows['err_f1'])}; "
                            f"bias {', '.join(f'{v:.3f}' for v in rows[bias])}"))
    return claims


def table2_claims(reproduced: dict) -> list[Claim]:
    """§4.3's claims about Table 2 (on :func:`table2_reproduced`)."""
    raised = {key: row["bias_finetune"].mean - row["bias_pretrain"] for key, row in reproduced.items()}
    claims = [Claim("Fine-tuning raises the bias of every fair pre-trained model", all(v > 0 for v in raised.values()),
                    {f"{c} λ={lam}": v for (c, lam), v in raised.items()}, MEANS,
                    "; ".join(f"{c[:2]} λ={lam}: {v:+.3f}" for (c, lam), v in raised.items()))]
    for constraint in dict.fromkeys(c for c, _ in reproduced):
        rows = sorted((float(lam), row) for (c, lam), row in reproduced.items() if c == constraint)
        err = [r["err_pretrain"] for _, r in rows]
        bias = [r["bias_pretrain"] for _, r in rows]
        holds = bool(np.all(np.diff(err) > 0) and np.all(np.diff(bias) < 0))
        claims.append(Claim(f"{constraint}: a stronger regulariser lowers the pre-trained bias and raises its error", holds,
                            {"Err": err, "bias": bias}, STEPS,
                            f"Err {', '.join(f'{v:.2f}' for v in err)}; bias {', '.join(f'{v:.3f}' for v in bias)}"))
    return claims


def figure5_claims(sweep: pd.DataFrame) -> list[Claim]:
    """§4.5's claims about Figure 5: as α grows the error falls slightly and both biases rise; checked under each
    reading of which group α weighs that ``sweep`` holds (its ``weighed`` column, :data:`ALPHA_READINGS`)."""
    from scipy import stats

    claims = []
    parts = sweep.groupby("weighed", sort=False) if "weighed" in sweep else [("male", sweep)]
    for weighed, part in parts:
        prefix = "" if weighed == "male" else "Figure 3 caption's reading (α weighs Female): "
        for column, name, sign in (("err_f1", "the error decreases", -1), ("dp", "ΔDP increases", 1), ("eo_sum", "ΔEO increases", 1)):
            fit_ = stats.linregress(part["alpha"], part[column])
            holds = bool(np.sign(fit_.slope) == sign and fit_.pvalue < 0.05)
            claims.append(Claim(f"{prefix}as α grows, {name}", holds, {"slope": fit_.slope, "p": fit_.pvalue}, TREND,
                                f"slope {fit_.slope:+.4f} per unit α (p = {fit_.pvalue:.2g}, linear fit over all runs)"))
    return claims


def figure1_claims(separability: dict[str, float]) -> list[Claim]:
    """§3.2's reading of Figure 1, measured: how well a linear probe tells the groups apart among
    the predicted positives (balanced accuracy; 0.5 = indistinguishable, "noticeable" read as above 0.6)."""
    unfair, fair = separability["unfair"], separability["fair"]
    return [
        Claim("the unfair model's representations differ by group", unfair > 0.6, {"balanced accuracy": unfair}, THRESHOLD,
              f"balanced accuracy {unfair:.3f}"),
        Claim.compare("the pattern is less pronounced for the fair model", ("fair", fair), "<", ("unfair", unfair), decimals=3),
        Claim("yet the fair model still shows a noticeable division", fair > 0.6, {"balanced accuracy": fair}, THRESHOLD,
              f"balanced accuracy {fair:.3f}"),
    ]


# --------------------------------------------------------------------------- tables the notebook shows

def table3_reproduced(heads: pd.DataFrame, retrain_eo: pd.DataFrame, retrain_dp: pd.DataFrame) -> dict:
    """Table 3 rows: OURS (the WIN head of Figure 4) and Retrain+EO / Retrain+DP at every λ."""
    rows = {("OURS", "—"): report_estimates(heads[heads["method"] == "win"])}
    for label, runs in (("Retrain+EO", retrain_eo), ("Retrain+DP", retrain_dp)):
        for lam, part in runs.groupby("lambda"):
            rows[(label, f"{lam:g}")] = report_estimates(part)
    return rows


def parameter_counts(task: AdultTask, pretrained: Record) -> pd.DataFrame:
    """Trainable parameters of Retrain, OURS and TL beside the paper's counts."""
    retrained = retrain(task, pretrained, task.cfg.lr_grid[0], "eo", tuple(task.cfg.lambdas))
    return pd.DataFrame({
        "trainable parameters (ours)": {
            "Retrain (all layers)": retrained.metrics["trainable_parameters"],
            "OURS (factorised head)": trainable_parameters("win", task.cfg.hidden, rank=task.cfg.rank),
            "TL (original head)": trainable_parameters("tl", task.cfg.hidden),
        },
        "paper": {"Retrain (all layers)": "742", "OURS (factorised head)": "46", "TL (original head)": "not stated"},
    })


def table2_with_ours(fair: dict[str, Record], tl_rows: dict, task: AdultTask) -> pd.DataFrame:
    """The fair pre-trained models fine-tuned with OURS instead of TL (a column the paper does not have)."""
    ours = table2_reproduced(fair, table2_runs(task, fair, "win"))
    return pd.DataFrame({
        key: {"Err fine-tune (OURS)": f"{row['err_finetune'].mean:.3f} ± {row['err_finetune'].std:.3f}",
              "Bias fine-tune (OURS)": f"{row['bias_finetune'].mean:.3f} ± {row['bias_finetune'].std:.3f}",
              "Bias fine-tune (TL)": f"{tl_rows[key]['bias_finetune'].mean:.3f}"}
        for key, row in ours.items()
    }).T


def fisher_check_summary(check: pd.DataFrame, round_off: float = 1e-9) -> str:
    """One paragraph on what :func:`fisher_weighting_check` found, each conclusion read from its numbers: a
    difference below ``round_off`` (float64 after a few hundred steps) counts as none."""
    sgd_full = float(check.loc[("sgd", 2)].max())
    others = check.drop(index=("sgd", 2))
    smallest_other = float(others.min().min())
    text = f"At full rank with SGD the weighting changes the trained layer by at most {sgd_full:.1e}"
    if sgd_full <= round_off:
        text += " (floating-point round-off): there, as the reference argues, every weighting trains the same layer"
    else:
        text += f", more than round-off ({round_off:.0e}): the weighting matters even there, against the reference's argument"
    text += f"; with Adam or at rank 1 the differences are at least {smallest_other:.1e}."
    if sgd_full <= round_off < smallest_other:
        text += (" So the paper's method can differ from its SVD baseline only through Adam's per-coordinate scaling "
                 "(or a rank below the number of classes), which is why this page fine-tunes with Adam. Whether that "
                 "difference helps is an empirical question, answered by the runs above and below.")
    elif smallest_other <= round_off:
        weak = ", ".join(f"{opt} at rank {rank}" for (opt, rank), row in others.iterrows() if row.min() <= round_off)
        text += f" Some weightings train the same layer as SVD there too ({weak}), so WIN and SVD coincide in those cases."
    return text


# ---------------------------------------------------------------------------------------------
# the image rows

IMAGE_METHODS = ("tl", "svd", "win")
TABLE4_MODELS = {"resnet50": "ResNet-50", "densenet121": "DenseNet-121"}


def open_tasks(study: Study) -> dict[str, ImageTask]:
    return {name: win_images.open_task(name, study) for name in ("celeba", "lfwa")}


def table1_columns(tasks: dict[str, ImageTask]) -> dict:
    """Table 1's CelebA and LFW+a columns: the split sizes."""
    sizes = {name: task.sizes() for name, task in tasks.items()}
    return {row: {name: sizes[name][split] for name in tasks}
            for row, split in (("# Training", "train"), ("# Validation", "val"), ("# Test", "test"))}


def _image_records(task: ImageTask, arch: str, method: str) -> dict:
    feats = features(task, backbones.backbone(task.study, arch))
    return {lr: finetune(task, feats, method, lr) for lr in task.cfg.lr_grid}


def image_head_comparison(tasks: dict[str, ImageTask], arch: str = "resnet18") -> pd.DataFrame:
    """TL, SVD and OURS on each dataset: test metrics of every run at the lr chosen on validation."""
    frames = []
    for name, task in tasks.items():
        for method in IMAGE_METHODS:
            frames.append(chosen_runs(_image_records(task, arch, method)).assign(method=method, dataset=DATASET_LABELS[name]))
    return pd.concat(frames, ignore_index=True)


def image_head_selection(tasks: dict[str, ImageTask], arch: str = "resnet18") -> pd.DataFrame:
    frames = []
    for name, task in tasks.items():
        for method in IMAGE_METHODS:
            frames.append(select_lr(_image_records(task, arch, method)).assign(method=method, dataset=DATASET_LABELS[name]))
    return pd.concat(frames, ignore_index=True)[["dataset", "method", "lr", "val_err", "chosen"]]


def table4_runs(tasks: dict[str, ImageTask]) -> pd.DataFrame:
    """OURS on the ResNet-50 and DenseNet-121 backbones, per dataset, at the lr chosen on validation."""
    frames = []
    for name, task in tasks.items():
        for arch, label in TABLE4_MODELS.items():
            frames.append(chosen_runs(_image_records(task, arch, "win")).assign(dataset=DATASET_LABELS[name], model=label))
    return pd.concat(frames, ignore_index=True)


def table4_reproduced(runs: pd.DataFrame) -> dict:
    return {(dataset, model): Row.from_runs(part) for (dataset, model), part in runs.groupby(["dataset", "model"])}


def figure4_claims(heads: pd.DataFrame) -> list[Claim]:
    """§4.2's claims about Figure 4 on every dataset, and that OURS's advantage is larger on images than on Adult."""
    claims = []
    advantage = {}
    for dataset, part in heads.groupby("dataset", sort=False):
        by = {m: part.loc[part["method"] == m] for m in IMAGE_METHODS}
        for column, name in (("err_f1", "error"), ("dp", "ΔDP"), ("eo_sum", "ΔEO")):
            ours = by["win"][column]
            differences = {f"OURS − {m.upper()}": mean_difference(ours, by[m][column]) for m in ("tl", "svd")}
            claims.append(Claim(f"{dataset}: OURS has a lower {name} than TL and SVD, beyond seed noise",
                                all(high < 0 for _, _, high in differences.values()),
                                {k: list(v) for k, v in differences.items()}, WELCH,
                                f"OURS − TL {describe_difference(ours, by['tl'][column])}; "
                                f"OURS − SVD {describe_difference(ours, by['svd'][column])}"))
        better = min(("tl", "svd"), key=lambda m: by[m]["err_f1"].mean())
        advantage[dataset] = mean_difference(by[better]["err_f1"], by["win"]["err_f1"])  # (difference, low, high)
    if "Adult" in advantage:
        adult = advantage.pop("Adult")
        holds = all(low > 0 and diff > adult[0] for diff, low, _ in advantage.values())
        claims.append(Claim("OURS's error advantage over the better baseline is larger on the image datasets than on Adult "
                            "(and beyond seed noise there)", holds,
                            {d: list(v) for d, v in {"Adult": adult, **advantage}.items()}, WELCH,
                            "; ".join(f"{d} {v[0]:+.3f} [95% CI {v[1]:+.3f}, {v[2]:+.3f}]"
                                      for d, v in {"Adult": adult, **advantage}.items())))
    return claims


