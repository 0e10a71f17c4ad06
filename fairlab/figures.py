"""Figures of the book: small functions that take tidy frames and return a matplotlib figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

GROUP_COLOURS = {"Female": "#1f77b4", "Male": "#ff7f0e"}  # the neutralization paper's blue / orange
METHOD_COLOURS = {"TL": "#8c8c8c", "SVD": "#5b8db8", "OURS (WIN)": "#d1495b"}
WIN_METRICS = (("err_f1", "Err (%)"), ("dp", "ΔDP"), ("eo_sum", "ΔEO"))


def style() -> None:
    """The book's plotting style (call once per notebook)."""
    sns.set_theme(style="whitegrid", context="notebook", font_scale=0.95)
    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 110, "axes.titleweight": "bold"})


def method_bars(runs: pd.DataFrame, by: str = "method", labels: dict | None = None, metrics=WIN_METRICS,
                title: str | None = None) -> plt.Figure:
    """One panel per metric; a bar per method (mean over runs, ±1 std) with every run as a dot."""
    labels = labels or {}
    frame = runs.assign(label=runs[by].map(lambda v: labels.get(v, v)))
    order = list(dict.fromkeys(frame["label"]))
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 3.4))
    for ax, (column, name) in zip(np.atleast_1d(axes), metrics):
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
        ax.set_title(name)
        ax.tick_params(axis="x", rotation=15)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


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
