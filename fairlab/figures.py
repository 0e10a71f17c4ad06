"""Figures of the book: small functions that take tidy frames and return a matplotlib figure.

On a page (after :func:`fairlab.notebook.start`), each figure is also written as PNG and SVG to
``_build/<profile>/figures/<notebook>/<NN>-<title>.{png,svg}`` and shown with an anchor and its
download links; :func:`fairlab.reports.record_figure` then ties the figures drawn since its last
call to a paper's item on the status page.
"""

from __future__ import annotations

import functools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from fairlab.atomic import write_atomic

GROUP_COLOURS = {"Female": "#1f77b4", "Male": "#ff7f0e"}  # the neutralization paper's blue / orange
METHOD_COLOURS = {"TL": "#8c8c8c", "SVD": "#5b8db8", "OURS (WIN)": "#d1495b"}
WIN_METRICS = (("err_f1", "Err (%)"), ("dp", "ΔDP"), ("eo_sum", "ΔEO"))


#: the page being executed: profile, notebook, figures drawn so far, figures not yet tied to an item
_PAGE: dict | None = None


def begin_page(profile: str, notebook: str | None) -> None:
    """Start writing this page's figures as files (called by :func:`fairlab.notebook.start`)."""
    global _PAGE
    _PAGE = {"profile": profile, "notebook": notebook or "notebook", "count": 0, "drawn": []}


def take_drawn() -> list[dict]:
    """The figures drawn since the last call (anchor and files of each), forgotten once taken."""
    if _PAGE is None:
        return []
    drawn, _PAGE["drawn"] = _PAGE["drawn"], []
    return drawn


def _title(fig: plt.Figure, fallback: str) -> str:
    titles = [fig._suptitle.get_text()] if fig._suptitle is not None else []
    titles += [ax.get_title() for ax in fig.axes]
    return next((t for t in titles if t), fallback)


def _save_atomic(fig: plt.Figure, path, format: str) -> None:
    write_atomic(path, lambda tmp: fig.savefig(tmp, format=format, bbox_inches="tight"))


def _publish(fig: plt.Figure, fallback: str) -> None:
    """Write ``fig`` as PNG and SVG, show it under an anchor and its download links, close it."""
    from IPython.display import HTML, display

    from fairlab import paths
    from fairlab.reports import artifacts_dir, link_html, slug

    _PAGE["count"] += 1
    name = f"{_PAGE['count']:02d}-{slug(_title(fig, fallback), 60)}"
    folder = artifacts_dir(_PAGE["profile"], "figures") / _PAGE["notebook"]
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for format in ("png", "svg"):
        path = folder / f"{name}.{format}"
        _save_atomic(fig, path, format)
        files[format.upper()] = path.relative_to(paths.build_root() / _PAGE["profile"]).as_posix()
    anchor = f"figure-{name}"
    display(HTML(link_html(anchor, files)))
    display(fig)
    plt.close(fig)
    _PAGE["drawn"].append({"anchor": anchor, "files": files})


def book_figure(function):
    """A figure function that, on a page, publishes its figure (files, anchor, links) instead of returning it."""
    @functools.wraps(function)
    def draw(*args, **kwargs):
        fig = function(*args, **kwargs)
        if _PAGE is None:
            return fig
        _publish(fig, function.__name__)
        return None
    return draw


def style() -> None:
    """The book's plotting style (call once per notebook)."""
    sns.set_theme(style="whitegrid", context="notebook", font_scale=0.95)
    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 110, "axes.titleweight": "bold"})


@book_figure
def method_bars(runs: pd.DataFrame, by: str = "method", labels: dict | None = None, metrics=WIN_METRICS,
                title: str | None = None, row: str | None = None) -> plt.Figure:
    """One panel per metric (and per value of ``row``); a bar per method (mean ± 1 std over runs), every run a dot."""
    labels = labels or {}
    frame = runs.assign(label=runs[by].map(lambda v: labels.get(v, v)))
    order = list(dict.fromkeys(frame["label"]))
    rows = list(dict.fromkeys(frame[row])) if row else [None]
    fig, axes = plt.subplots(len(rows), len(metrics), figsize=(3.6 * len(metrics), 3.2 * len(rows)), squeeze=False)
    for r, value in enumerate(rows):
        part = frame if value is None else frame[frame[row] == value]
        _method_panels(axes[r], part, order, metrics, prefix=f"{value}: " if value is not None else "")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _method_panels(axes, frame: pd.DataFrame, order: list, metrics, prefix: str) -> None:
    for ax, (column, name) in zip(axes, metrics):
        stats = frame.groupby("label", sort=False)[column].agg(["mean", "std"]).reindex(order)
        colours = [METHOD_COLOURS.get(label, "#777777") for label in order]
        ax.bar(order, stats["mean"], yerr=stats["std"].fillna(0), color=colours, alpha=0.85, capsize=4)
        for i, label in enumerate(order):
            values = frame.loc[frame["label"] == label, column].to_numpy()
            jitter = np.linspace(-0.15, 0.15, len(values)) if len(values) > 1 else np.zeros(1)
            ax.scatter(i + jitter, values, s=10, color="black", alpha=0.6, zorder=3)
        low = float((stats["mean"] - stats["std"].fillna(0)).min())
        high = float((stats["mean"] + stats["std"].fillna(0)).max())
        pad = 0.6 * (high - low) + 1e-9
        ax.set_ylim(max(0.0, low - pad), high + pad)
        ax.set_title(prefix + name)
        ax.tick_params(axis="x", rotation=15)


@book_figure
def importance_bars(frame: pd.DataFrame) -> plt.Figure:
    """Figure 3: the row importances I_s of the last layer, one panel per group."""
    groups = list(dict.fromkeys(frame["group"]))
    fig, axes = plt.subplots(1, len(groups), figsize=(5.2 * len(groups), 3.2), sharey=True)
    for ax, group in zip(np.atleast_1d(axes), groups):
        part = frame[frame["group"] == group]
        ax.bar(part["unit"], part["importance"], color=GROUP_COLOURS.get(group, "#777777"))
        ax.set_title(f"s = {group}")
        ax.set_xlabel("hidden unit a (row of W)")
        ax.set_xticks(part["unit"])
    np.atleast_1d(axes)[0].set_ylabel("row importance I_s[a]")
    fig.tight_layout()
    return fig


@book_figure
def alpha_curves(frame: pd.DataFrame, metrics=WIN_METRICS) -> plt.Figure:
    """Figure 5: each metric against α, mean over runs with a ±1 std band."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 3.2))
    for ax, (column, name) in zip(np.atleast_1d(axes), metrics):
        stats = frame.groupby("alpha")[column].agg(["mean", "std"])
        ax.plot(stats.index, stats["mean"], marker="o", color="#d1495b")
        ax.fill_between(stats.index, stats["mean"] - stats["std"], stats["mean"] + stats["std"], color="#d1495b", alpha=0.2)
        ax.set_xlabel("α (weight of the male group's importance)")
        ax.set_title(name)
    fig.tight_layout()
    return fig


@book_figure
def pca_panels(panels: dict[str, pd.DataFrame], points_per_group: int, seed: int = 0) -> plt.Figure:
    """Figure 1: a 2-D PCA of each panel's representations, coloured by group."""
    from sklearn.decomposition import PCA

    n = len(panels)
    cols = 2 if n > 1 else 1
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols, 3.8 * rows), squeeze=False)
    for ax, (title, frame) in zip(axes.ravel(), panels.items()):
        features = frame.filter(like="h").to_numpy()
        coords = PCA(n_components=2, random_state=seed).fit_transform(features) if len(frame) > 2 else np.zeros((len(frame), 2))
        rng = np.random.default_rng(seed)
        for group, colour in GROUP_COLOURS.items():
            idx = np.flatnonzero(frame["group"].to_numpy() == group)
            idx = rng.choice(idx, size=min(points_per_group, idx.size), replace=False) if idx.size else idx
            ax.scatter(coords[idx, 0], coords[idx, 1], s=8, alpha=0.55, color=colour, label=f"{group} ({(frame['group'] == group).sum()})")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
        ax.legend(fontsize=8, loc="best")
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    fig.tight_layout()
    return fig


@book_figure
def paper_vs_ours(points: pd.DataFrame, x: str, y: str, xlabel: str, ylabel: str, label: str = "row") -> plt.Figure:
    """Each row of a table as an arrow from the paper's (x, y) to ours; ``points`` has columns
    ``row``, ``{x}_paper``, ``{y}_paper``, ``{x}_ours``, ``{y}_ours``."""
    fig, ax = plt.subplots(figsize=(6.2, 4.4))
    palette = sns.color_palette("tab10", len(points))
    for colour, (_, row) in zip(palette, points.iterrows()):
        ax.scatter(row[f"{x}_paper"], row[f"{y}_paper"], facecolors="none", edgecolors=[colour], s=60)
        ax.scatter(row[f"{x}_ours"], row[f"{y}_ours"], color=colour, s=40, label=row[label])
        ax.annotate("", xy=(row[f"{x}_ours"], row[f"{y}_ours"]), xytext=(row[f"{x}_paper"], row[f"{y}_paper"]),
                    arrowprops={"arrowstyle": "->", "color": colour, "alpha": 0.5})
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8, title="hollow: paper, filled: ours", title_fontsize=8, loc="best")
    fig.tight_layout()
    return fig


@book_figure
def image_grid(groups: dict[str, np.ndarray], columns: int = 8, scale: float = 0.9, title: str | None = None) -> plt.Figure:
    """Rows of images, one row per entry of ``groups`` (label -> ``uint8 [n, H, W, 3]``), labels on the left."""
    rows = len(groups)
    height, width = next(iter(groups.values())).shape[1:3]
    fig, axes = plt.subplots(rows, columns, figsize=(columns * scale, rows * scale * height / width + 0.3), squeeze=False)
    for r, (label, images) in enumerate(groups.items()):
        for c in range(columns):
            ax = axes[r, c]
            ax.axis("off")
            if c < len(images):
                ax.imshow(images[c], interpolation="nearest")
        axes[r, 0].text(-0.08, 0.5, label, transform=axes[r, 0].transAxes, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(left=0.22, wspace=0.04, hspace=0.06)
    return fig


@book_figure
def correlation_pair(ours: pd.DataFrame, real: pd.DataFrame, titles=("FaceWorld", "CelebA (published labels)")) -> plt.Figure:
    """Two phi-coefficient heatmaps side by side, on one colour scale."""
    fig, axes = plt.subplots(1, 2, figsize=(15, 6.8))
    for ax, matrix, title in zip(axes, (ours, real), titles):
        sns.heatmap(matrix, ax=ax, vmin=-1, vmax=1, cmap="RdBu_r", square=True, cbar=ax is axes[1],
                    xticklabels=True, yticklabels=True)
        ax.set_title(title)
        ax.tick_params(labelsize=6)
    fig.tight_layout()
    return fig



@book_figure
def sensitivity_scatter(frame: pd.DataFrame, k: int | None = None, title: str | None = None) -> plt.Figure:
    """SMG's two sensitivities of every tensor (log axes), coloured by block; selected tensors filled.

    ``frame``: one row per tensor with ``domain`` (Δ1), ``fairness`` (Δ2), ``block`` and ``selected``.
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    blocks = list(dict.fromkeys(frame["block"]))
    palette = dict(zip(blocks, sns.color_palette("viridis", len(blocks))))
    for block in blocks:
        part = frame[frame["block"] == block]
        for selected, marker_face in ((True, None), (False, "none")):
            rows = part[part["selected"] == selected]
            colour = palette[block]
            ax.scatter(rows["domain"], rows["fairness"], s=36, edgecolors=colour,
                       facecolors=colour if marker_face is None else "none",
                       label=block if selected or not part["selected"].any() else None)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("Δ1 = mean |g_R − g_S1|  (domain; kept: small)")
    ax.set_ylabel("Δ2 = mean |g_S1 − g_S2|  (bias; kept: large)")
    chosen = int(frame["selected"].sum())
    ax.set_title(title or f"{chosen} of {len(frame)} tensors selected" + (f" (top-{k} ∩ top-{k})" if k else ""))
    ax.legend(title="block (filled: selected)", fontsize=8, title_fontsize=8, loc="best")
    fig.tight_layout()
    return fig


@book_figure
def strategy_tradeoff(points: pd.DataFrame, title: str | None = None, highlight: str = "AIM-Fair (Ours)") -> plt.Figure:
    """Accuracy against worst-group accuracy and against EO, one point per strategy (± 1 std over seeds).

    ``points``: ``method``, ``ACC``, ``WST``, ``EO`` and their ``… sd`` columns.
    """
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    for ax, (column, label) in zip(axes, (("WST", "worst-group accuracy (%)"), ("EO", "EO, max(ΔTPR, ΔFPR) (%)"))):
        for _, row in points.iterrows():
            strong = row["method"] == highlight
            ax.errorbar(row[column], row["ACC"], xerr=row[f"{column} sd"], yerr=row["ACC sd"], fmt="o",
                        color="#d1495b" if strong else "#5b6b7b", ms=8 if strong else 6, capsize=2)
            ax.annotate(row["method"], (row[column], row["ACC"]), textcoords="offset points", xytext=(5, 4), fontsize=8,
                        fontweight="bold" if strong else "normal")
        ax.set_xlabel(label + ("  → better" if column == "WST" else "  ← better"))
        ax.set_ylabel("accuracy (%)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


ACC_WST_EO = (("ACC", "accuracy (%)"), ("WST", "worst-group accuracy (%)"), ("EO", "EO, max(ΔTPR, ΔFPR) (%)"))


@book_figure
def metric_lines(frame: pd.DataFrame, x: str, xlabel: str, title: str | None = None, mark: object = None,
                 metrics=ACC_WST_EO) -> plt.Figure:
    """One panel per metric against ``x`` (mean ± 1 std over seeds); ``mark`` highlights one x value.

    ``frame``: ``x`` and, per metric, the metric and its ``… sd`` column.
    """
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 3.2))
    positions = np.arange(len(frame))
    for ax, (column, label) in zip(axes, metrics):
        ax.errorbar(positions, frame[column], yerr=frame[f"{column} sd"], fmt="o-", color="#5b6b7b", capsize=3)
        if mark is not None and mark in set(frame[x]):
            i = list(frame[x]).index(mark)
            ax.plot(positions[i], frame[column].iloc[i], "o", color="#d1495b", ms=10, zorder=3)
        ax.set_xticks(positions, [str(v) for v in frame[x]])
        ax.set_xlabel(xlabel)
        ax.set_title(label, fontsize=10)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


@book_figure
def block_bars(frame: pd.DataFrame, title: str | None = None) -> plt.Figure:
    """Selected tensors per block against the block's tensors (seed mean, every seed a dot); one panel per setting.

    ``frame``: ``block``, ``tensors``, ``selected``, ``seed`` and optionally ``setting``.
    """
    frame = frame if "setting" in frame else frame.assign(setting="")
    settings = list(dict.fromkeys(frame["setting"]))
    fig, axes = plt.subplots(1, len(settings), figsize=(4.6 * len(settings), 3.4), squeeze=False, sharey=True)
    for ax, setting in zip(axes[0], settings):
        part = frame[frame["setting"] == setting]
        order = list(dict.fromkeys(part["block"]))
        total = part.groupby("block", sort=False)["tensors"].first().reindex(order)
        x = np.arange(len(order))
        ax.bar(x, total, color="#d9dde2", label="tensors in the block")
        ax.bar(x, part.groupby("block", sort=False)["selected"].mean().reindex(order), width=0.55, color="#d1495b",
               label="selected (seed mean)")
        for i, block in enumerate(order):
            values = part.loc[part["block"] == block, "selected"]
            ax.plot(np.full(len(values), i), values, "k.", ms=4)
        ax.set_xticks(x, order, fontsize=8)
        if setting:
            ax.set_title(setting, fontsize=10)
    axes[0][0].set_ylabel("parameter tensors")
    axes[0][0].legend(frameon=False, fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


@book_figure
def embedding_panels(frame: pd.DataFrame, title: str | None = None) -> plt.Figure:
    """One 2-d embedding per method, points coloured by (target, protected) group.

    ``frame``: ``method``, ``x``, ``y``, ``group``.
    """
    methods = list(dict.fromkeys(frame["method"]))
    groups = sorted(frame["group"].unique())
    palette = dict(zip(groups, sns.color_palette("tab10", len(groups))))
    fig, axes = plt.subplots(1, len(methods), figsize=(3.6 * len(methods), 3.6), squeeze=False)
    for ax, method in zip(axes[0], methods):
        part = frame[frame["method"] == method]
        for group in groups:
            g = part[part["group"] == group]
            ax.scatter(g["x"], g["y"], s=6, color=palette[group], label=group, alpha=0.8)
        ax.set_title(method, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][-1].legend(frameon=False, fontsize=8, markerscale=2, loc="center left", bbox_to_anchor=(1, 0.5))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


GRADIENT_COLOURS = {"exact": "#8c8c8c", "adjusted_no_coefficient": "#5b8db8", "adjusted": "#d1495b"}
GRADIENT_LABELS = {"exact": "exact (naive DFT)", "adjusted_no_coefficient": "adjusted, no coefficient",
                   "adjusted": "adjusted (ours)"}


@book_figure
def gradient_panels(losses: pd.DataFrame, scales: pd.DataFrame, title: str | None = None) -> plt.Figure:
    """Figure 1 of the third paper. Left: the toy loss per iteration under each gradient, one line per run
    (``losses``: gradient, run, iteration, loss). Right: the gradient scale per sampler step, the mean and a 90 %
    band over noise draws (``scales``: gradient, draw, timestep, norm), on a log scale."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    for gradient, colour in GRADIENT_COLOURS.items():
        for k, (_, run) in enumerate(losses[losses["gradient"] == gradient].groupby("run")):
            left.plot(run["iteration"], run["loss"], color=colour, alpha=0.8, lw=1.2,
                      label=GRADIENT_LABELS[gradient] if k == 0 else None)
        per_step = scales[scales["gradient"] == gradient].groupby("timestep")["norm"]
        t = np.array(sorted(per_step.groups))
        right.plot(t, per_step.mean().loc[t], "o-", color=colour, ms=3, label=GRADIENT_LABELS[gradient])
        right.fill_between(t, per_step.quantile(0.05).loc[t], per_step.quantile(0.95).loc[t], color=colour, alpha=0.2)
    left.set(xlabel="iteration", ylabel="training loss", title="training loss")
    left.legend(fontsize=8)
    right.set(xlabel="time step t", ylabel="gradient scale at ε(t)", yscale="log", title="gradient scale per step")
    right.invert_xaxis()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


RACE_COLOURS = ("#2ca02c", "#8c564b", "#e377c2", "#17becf")   # categorical, not skin tones


@book_figure
def attribute_grid(rows: dict[str, np.ndarray], gender: dict[str, np.ndarray], race: dict[str, np.ndarray],
                   race_names: tuple[str, ...], title: str | None = None) -> plt.Figure:
    """Figure 3 of the third paper: rows of images (label → ``uint8 [n, H, W, 3]``), each with two bars under it — the
    evaluation classifier's P(male) (orange, else blue for female, height = confidence) and its most likely race
    class (colour by class, height = its probability). Images in one column come from the same noise."""
    columns = max(len(v) for v in rows.values())
    fig, axes = plt.subplots(2 * len(rows), columns, figsize=(columns * 0.95, len(rows) * 1.45),
                             gridspec_kw={"height_ratios": [4, 1] * len(rows)}, squeeze=False)
    for r, (label, images) in enumerate(rows.items()):
        for c in range(columns):
            image_ax, bar_ax = axes[2 * r, c], axes[2 * r + 1, c]
            image_ax.axis("off")
            bar_ax.axis("off")
            if c >= len(images):
                continue
            image_ax.imshow(images[c], interpolation="nearest")
            image_ax.text(0.02, 0.98, str(c), transform=image_ax.transAxes, va="top", fontsize=6, color="white")
            p_male = float(gender[label][c])
            k = int(np.argmax(race[label][c]))
            bar_ax.bar([0], [max(p_male, 1 - p_male)], color=GROUP_COLOURS["Male" if p_male >= 0.5 else "Female"])
            bar_ax.bar([1], [race[label][c][k]], color=RACE_COLOURS[k])
            bar_ax.set_ylim(0, 1)
            bar_ax.set_xlim(-0.6, 1.6)
        axes[2 * r, 0].text(-0.1, 0.5, label, transform=axes[2 * r, 0].transAxes, ha="right", va="center", fontsize=8)
    handles = [plt.Rectangle((0, 0), 1, 1, color=GROUP_COLOURS[g]) for g in ("Female", "Male")]
    handles += [plt.Rectangle((0, 0), 1, 1, color=c) for c in RACE_COLOURS]
    fig.legend(handles, ["female", "male", *race_names], loc="lower center", ncol=6, fontsize=7, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(left=0.2, wspace=0.05, hspace=0.08, bottom=0.08)
    return fig


@book_figure
def frequency_bars(frame: pd.DataFrame, target: float, ylabel: str, title: str | None = None) -> plt.Figure:
    """Figure 4 of the third paper: one group of bars per occupation (``frame``: index occupation, one column per
    model), with the target as a horizontal line."""
    ax = frame.plot.bar(figsize=(max(6.0, 0.45 * len(frame) + 2), 3.4), color=["#8c8c8c", "#d1495b"], width=0.8)
    ax.axhline(target, color="#2ca02c", lw=1.5, label=f"target {target:.0%}")
    ax.set(ylabel=ylabel, xlabel="")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    ax.figure.tight_layout()
    return ax.figure
