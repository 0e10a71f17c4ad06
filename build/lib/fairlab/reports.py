"""Paper-versus-reproduced tables, claim checks and the build's reproducibility status.

:func:`compare` is the one function every table of the book goes through: it puts the
paper's printed value, ours (mean ± std over runs where there are runs), the difference and
whether it lies within the column's tolerance side by side. :func:`compare` and
:func:`check_claims` compute and write nothing; :func:`publish` is the explicit write: the table
as a CSV file under ``_build/<profile>/tables/<paper>/`` and its status under
``results/<profile>/_status/``, so that the status page can say, for every table and figure of
the three papers, what produced it, how it compares and where to find it.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from fairlab import paths, reported
from fairlab.atomic import write_atomic
from fairlab.data import GROUPS
from fairlab.metrics.intervals import aggregate_seeds, mean_difference
from fairlab.results import NOTEBOOK_ENV, write_json_atomic

STATUS_DIR = "_status"
#: the columns of a published comparison's CSV file
CSV_COLUMNS = ("row", "metric", "paper", "ours", "difference", "within_tolerance")


def artifacts_dir(profile: str, kind: str) -> Path:
    """``_build/<profile>/<kind>``: where a build writes its tables (``tables``) and figures (``figures``) as files."""
    return paths.build_root() / profile / kind


def anchor_id(paper: str, item: str, kind: str = "table") -> str:
    """The stable HTML anchor of a paper's item on its page (the status page links to it)."""
    return f"{paper}-{slug(item)}" + ("" if kind == "table" else f"-{kind}")


def link_html(anchor: str, files: dict[str, str]) -> str:
    """An anchor and download links; ``files`` maps a label to a path relative to the HTML root."""
    links = " · ".join(f'<a href="../{path}" download>{label}</a>' for label, path in files.items())
    return f'<p id="{anchor}" class="fairlab-files"><small>download: {links}</small></p>'


def write_csv_atomic(path: Path, frame: pd.DataFrame) -> None:
    """Write ``frame`` (without its index) to ``path`` whole or not at all (:func:`fairlab.atomic.write_atomic`)."""
    write_atomic(path, lambda tmp: frame.to_csv(tmp, index=False))


class Sentence(str):
    """A sentence computed from results, shown as Markdown: the one way a page prints text it computed
    (so the text can never disagree with the numbers), and what a page shows where its profile cannot
    compute an item (saying why)."""

    def _repr_markdown_(self) -> str:
        return str(self)


@dataclass(frozen=True)
class Estimate:
    """A reproduced value: the mean over ``n`` runs, their standard deviation and a 95 % interval."""

    mean: float
    std: float | None = None
    n: int | None = None
    ci95: tuple[float, float] | None = None

    @classmethod
    def of(cls, values) -> "Estimate":
        arr = np.asarray(list(values), dtype=float)
        std = float(arr.std(ddof=1)) if arr.size > 1 else None
        return cls(float(arr.mean()), std, int(arr.size))


class Row(dict):
    """A table row: metric → :class:`Estimate` (the mean, its spread over seeds or runs, an interval)."""

    #: the metrics of AIM-Fair's tables (percent)
    AIMFAIR_METRICS = ("acc", "wst", "eo_max", "eo_mean", "std")

    @classmethod
    def from_seeds(cls, reports: list[dict], metrics=AIMFAIR_METRICS) -> "Row":
        """A row of AIM-Fair's tables from per-seed :func:`~fairlab.metrics.fairness_report` s, aggregated as the
        paper does (:func:`~fairlab.metrics.aggregate_seeds`: seed means, WST = min and STD = pstdev of the mean
        group accuracies), with the standard deviation over seeds and a bootstrap 95 % interval (none for one
        seed); the group accuracies too (``group_acc.<t>_<s>``)."""
        agg = aggregate_seeds(reports)
        n = agg["n_seeds"]

        def estimate(value, std, ci):
            return Estimate(value, std if n > 1 else None, n, tuple(ci) if n > 1 else None)

        row = cls({f"group_acc.{g}": estimate(agg["paper"]["group_acc"][g], agg["std"]["group_acc"][g],
                                               agg["ci95"]["group_acc"][g]) for g in GROUPS})
        for metric in metrics:
            row[metric] = estimate(agg["paper"][metric], agg["std"].get(metric, 0.0), agg["ci95"][metric])
        return row

    @classmethod
    def from_runs(cls, runs: pd.DataFrame, columns=("err_f1", "eo_sum", "dp")) -> "Row":
        """A row of the neutralization paper's tables: each column's mean and sample standard deviation over runs."""
        return cls({column: Estimate.of(runs[column]) for column in columns})


def _estimate(value) -> Estimate | None:
    if value is None:
        return None
    if isinstance(value, Estimate):
        return value
    if isinstance(value, Mapping):
        return Estimate(value["mean"], value.get("std"), value.get("n"), value.get("ci95"))
    return Estimate(float(value))


def _fmt(value: float | None, decimals: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{decimals}f}"


@dataclass
class Comparison:
    """A reported table beside our reproduction; ``long`` has one line per cell."""

    paper: str
    table_id: str
    title: str
    profile: str
    reportable: bool
    long: pd.DataFrame
    row_keys: list[str]
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        asserted = self.long[self.long["asserted"] & self.long["ours"].notna()]
        return {
            "paper": self.paper, "item": self.table_id, "kind": "table", "title": self.title,
            "profile": self.profile, "reportable": self.reportable,
            "cells": int(len(self.long)), "compared": int(len(asserted)),
            "within": int(asserted["within"].sum()),
        }

    def wide(self) -> pd.DataFrame:
        """Rows = the table's rows; for every printed column: paper, ours, Δ (✓ within tolerance, ✗ outside)."""
        frame = self.long.copy()
        frame["ours_text"] = frame["ours_text"].fillna("—")
        frame["delta_text"] = [
            "—" if pd.isna(d) else f"{d:+.{dec}f} {'✓' if w else '✗'}" if a else f"{d:+.{dec}f}"
            for d, dec, w, a in zip(frame["delta"], frame["decimals"], frame["within"], frame["asserted"])
        ]
        columns = list(dict.fromkeys(frame["column"]))
        index = pd.MultiIndex.from_frame(frame[self.row_keys].drop_duplicates())
        out = pd.DataFrame(index=index)
        for column in columns:
            part = frame[frame["column"] == column].set_index(self.row_keys)
            out[(column, "paper")] = part["printed"]
            out[(column, "ours")] = part["ours_text"]
            out[(column, "Δ")] = part["delta_text"]
        out.columns = pd.MultiIndex.from_tuples(out.columns)
        flags = frame.drop_duplicates(self.row_keys).set_index(self.row_keys)["flags"]
        if flags.map(bool).any():
            out[("", "flags")] = flags.map(lambda f: ", ".join(f))
        return out

    def paper_and_ours(self, metrics: list[str]) -> pd.DataFrame:
        """One line per row: ``row`` (its key as text) and ``{metric}_paper``, ``{metric}_ours`` for each metric."""
        frame = self.long[self.long["metric"].isin(metrics)]
        out = frame.pivot_table(index=self.row_keys, columns="metric", values=["paper", "ours"], sort=False)
        out.columns = [f"{metric}_{which}" for which, metric in out.columns]
        out = out.reset_index()
        out.insert(0, "row", out[self.row_keys].astype(str).agg(lambda r: " ".join(v for v in r if v != "—"), axis=1))
        return out

    def _repr_html_(self) -> str:
        wide = self.wide()

        def colour(value: str) -> str:
            if isinstance(value, str) and value.endswith("✓"):
                return "color: #1a7f37"
            if isinstance(value, str) and value.endswith("✗"):
                return "color: #cf222e; font-weight: 600"
            return ""

        caption = f"{self.title} — paper vs reproduced ({self.profile} profile)"
        if not self.reportable:
            caption = f"SMOKE — NOT COMPARABLE. {caption}"
        styler = wide.style.map(colour).set_caption(caption)
        summary = self.summary()
        foot = (
            f"<p><small>Δ = ours − paper. ✓: |Δ| within the column's tolerance; ✗: outside. "
            f"{summary['within']} of {summary['compared']} compared cells within tolerance."
        )
        definitions = self.long.dropna(subset=["definition"]).drop_duplicates("column")
        if len(definitions):
            foot += " Definitions compared: " + "; ".join(f"{c}: {d}" for c, d in zip(definitions["column"], definitions["definition"])) + "."
        foot += "".join(f" {n}" for n in self.notes) + "</small></p>"
        return link_html(self.anchor, self.files) + styler.to_html() + foot

    @property
    def anchor(self) -> str:
        return anchor_id(self.paper, self.table_id)

    @property
    def files(self) -> dict[str, str]:
        return {"CSV": f"tables/{self.paper}/{slug(self.table_id)}.csv"}

    def csv_frame(self) -> pd.DataFrame:
        """One line per compared cell: ``row`` (its key as text), ``metric`` (the printed column), the paper's
        value, ours, their difference and whether it lies within the column's tolerance."""
        frame = self.long
        row = frame[self.row_keys].astype(str).agg(lambda r: " / ".join(v for v in r if v != "—"), axis=1)
        return pd.DataFrame({"row": row, "metric": frame["column"], "paper": frame["paper"], "ours": frame["ours"],
                             "difference": frame["delta"], "within_tolerance": frame["within"]})[list(CSV_COLUMNS)]

    def publish(self) -> "Comparison":
        """Write the table as a CSV file and its status (what the status page reads); returns the comparison."""
        write_csv_atomic(paths.build_root() / self.profile / self.files["CSV"], self.csv_frame())
        record_status(self.summary() | {"anchor": self.anchor, "files": self.files,
                                        "cells_detail": self.long.drop(columns=["flags"]).to_dict("records")})
        return self


def compare(paper: str, table_id: str, reproduced: Mapping, profile, *, rows: str = "reproduced",
            notes: list[str] | None = None) -> Comparison:
    """Put ``reproduced`` beside the paper's printed ``table_id``.

    ``reproduced`` maps a row key (a tuple in the table's ``row_keys`` order, or a string for a
    one-field key) to ``{metric: value}``, where a value is a float, an :class:`Estimate` or a
    mapping with ``mean``/``std``/``n``.  ``rows="reproduced"`` shows only the rows we reproduce;
    ``"all"`` shows every printed row.  ``profile`` is a :class:`~fairlab.profiles.Profile` or a name.
    Nothing is written: :func:`publish` the comparison a page shows.
    """
    table = reported.table(paper, table_id)
    name = getattr(profile, "name", profile)
    reportable = getattr(profile, "reportable", name != "smoke")
    ours_by_key = {(k,) if isinstance(k, str) else tuple(str(p) for p in k): v for k, v in reproduced.items()}
    known = {table.row_key(r) for r in table.rows}
    unknown = set(ours_by_key) - known
    if unknown:
        raise KeyError(f"{paper} {table_id}: reproduced rows {sorted(unknown)} are not in the printed table; rows: {sorted(known)}")
    lines = []
    for row in table.rows:
        key = table.row_key(row)
        if rows == "reproduced" and key not in ours_by_key:
            continue
        ours_row = ours_by_key.get(key, {})
        asserted = not (set(row.flags) & reported.UNASSERTED_FLAGS)
        for column, text in zip(table.columns, row.printed):
            cell = reported.parse_printed(text)
            est = _estimate(ours_row.get(column.metric))
            delta = None if est is None or cell.value is None else est.mean - cell.value
            dec = cell.decimals
            ours_text = None
            if est is not None:
                ours_text = _fmt(est.mean, dec) + (f" ± {_fmt(est.std, dec)}" if est.std is not None else "")
            lines.append({
                **row.key, "column": column.name, "metric": column.metric, "printed": cell.text,
                "paper": cell.value, "paper_std": cell.std, "ours": None if est is None else est.mean,
                "ours_std": None if est is None else est.std, "n": None if est is None else est.n,
                "ours_text": ours_text, "delta": delta, "tolerance": column.tolerance, "decimals": dec,
                "within": None if delta is None else bool(abs(delta) <= column.tolerance + 1e-12),
                "asserted": asserted and cell.value is not None, "definition": column.definition,
                "flags": list(row.flags),
            })
    frame = pd.DataFrame(lines)
    if rows == "reproduced":  # a printed column we reproduce nowhere (e.g. another dataset) is left out
        reproduced_columns = frame.groupby("column", sort=False)["ours"].apply(lambda v: v.notna().any())
        frame = frame[frame["column"].map(reproduced_columns)].reset_index(drop=True)
    return Comparison(paper, table_id, f"{paper_label(paper)} {table_id}: {table.title}", name, reportable,
                      frame, table.row_keys, list(notes or []))


#: how a claim judges seed noise (a :class:`Claim`'s ``test``)
MEANS = "seed means compared"
INTERVALS = "seed means compared; 95 % bootstrap intervals say whether beyond seed noise"
WELCH = "the Welch 95 % interval of the difference excludes 0"
TREND = "linear fit over all runs, p < 0.05"
STEPS = "every step in the stated direction"
THRESHOLD = "a fixed threshold"


def _value(x) -> float:
    return x.mean if isinstance(x, Estimate) else float(x)


@dataclass(frozen=True)
class Claim:
    """A statement of a paper checked on our numbers: the numbers it reads, the verdict, the noise test used.

    ``evidence`` is how the page prints the numbers (by default, every entry of ``reads``);
    ``item`` the paper's table or figure it speaks of, where a check covers several.
    """

    statement: str
    holds: bool
    reads: Mapping = field(default_factory=dict)
    test: str = MEANS
    evidence: str = ""
    item: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "holds", bool(self.holds))
        if not self.evidence:
            object.__setattr__(self, "evidence", ", ".join(f"{k} {_format_read(v)}" for k, v in self.reads.items()))

    @classmethod
    def compare(cls, statement: str, a: tuple[str, object], relation: str, b: tuple[str, object], *,
                test: str = MEANS, decimals: int = 2, item: str | None = None) -> "Claim":
        """``a relation b`` (``<``, ``>``, ``<=``, ``>=``) on two named numbers or :class:`Estimate` s.

        With ``test=INTERVALS`` the evidence also says whether the two 95 % intervals are apart.
        """
        (name_a, value_a), (name_b, value_b) = a, b
        x, y = _value(value_a), _value(value_b)
        holds = {"<": x < y, ">": x > y, "<=": x <= y, ">=": x >= y}[relation]
        evidence = f"{name_a} {x:.{decimals}f} vs {name_b} {y:.{decimals}f}"
        if test == INTERVALS:
            apart = _intervals_apart(value_a, value_b)
            evidence += " (beyond seed noise)" if apart else " (within seed noise)"
        return cls(statement, holds, {name_a: x, name_b: y}, test, evidence, item)

    def as_row(self) -> dict:
        return {"claim": self.statement, "holds": self.holds, "evidence": self.evidence, "test": self.test,
                "reads": {k: _plain(v) for k, v in self.reads.items()}, **({"item": self.item} if self.item else {})}


def _format_read(value) -> str:
    if isinstance(value, (list, tuple, np.ndarray, pd.Series)):
        return ", ".join(_format_read(v) for v in value)
    return f"{_value(value):.3g}"


def _plain(value):
    if isinstance(value, (list, tuple, np.ndarray, pd.Series)):
        return [_plain(v) for v in value]
    return _value(value)


def _intervals_apart(a, b) -> bool:
    """Whether two estimates' 95 % intervals do not overlap (False where either has none)."""
    if not (isinstance(a, Estimate) and isinstance(b, Estimate)) or a.ci95 is None or b.ci95 is None:
        return False
    return a.ci95[1] < b.ci95[0] or b.ci95[1] < a.ci95[0]


@dataclass
class ClaimCheck:
    """The paper's qualitative claims about a figure (or a table), each checked on our numbers."""

    paper: str
    item: str
    profile: str
    reportable: bool
    claims: list[dict]

    def frame(self) -> pd.DataFrame:
        return (pd.DataFrame(self.claims)[["claim", "holds", "evidence", "test"]]
                .rename(columns={"claim": "the paper says", "holds": "holds here", "evidence": "our numbers",
                                 "test": "noise test"}))

    def _repr_html_(self) -> str:
        frame = self.frame()
        frame["holds here"] = frame["holds here"].map({True: "✓ yes", False: "✗ no"})
        caption = f"{paper_label(self.paper)} {self.item}: the paper's claims, checked ({self.profile} profile)"
        if not self.reportable:
            caption = f"SMOKE — NOT COMPARABLE. {caption}"
        return link_html(self.anchor, self.files) + frame.style.set_caption(caption).hide(axis="index").to_html()

    @property
    def anchor(self) -> str:
        return anchor_id(self.paper, self.item, "claims")

    @property
    def files(self) -> dict[str, str]:
        return {"CSV": f"tables/{self.paper}/{slug(self.item)}--claims.csv"}

    def publish(self) -> "ClaimCheck":
        """Write the claims as a CSV file and their status; returns the check."""
        frame = pd.DataFrame(self.claims).assign(reads=lambda f: f["reads"].map(lambda r: json.dumps(r, ensure_ascii=False)))
        write_csv_atomic(paths.build_root() / self.profile / self.files["CSV"], frame)
        record_status({
            "paper": self.paper, "item": self.item, "kind": "claims", "profile": self.profile,
            "reportable": self.reportable, "claims": self.claims, "anchor": self.anchor, "files": self.files,
            "compared": len(self.claims), "within": int(sum(bool(c["holds"]) for c in self.claims)),
        })
        return self


def check_claims(paper: str, item: str, profile, claims: list[Claim]) -> ClaimCheck:
    """The paper's claims about ``item``, each a :class:`Claim` checked on our numbers (nothing written:
    :func:`publish` the check a page shows)."""
    name = getattr(profile, "name", profile)
    bad = [c for c in claims if not isinstance(c, Claim)]
    if bad:
        raise TypeError(f"{paper} {item}: claims must be fairlab.reports.Claim objects, got {type(bad[0]).__name__}")
    return ClaimCheck(paper, item, name, getattr(profile, "reportable", name != "smoke"), [c.as_row() for c in claims])


def publish(result):
    """The explicit write of what a page shows: a :class:`Comparison`'s or a :class:`ClaimCheck`'s CSV file and
    status. Returns ``result``, so a cell can end with ``publish(compare(...))``."""
    return result.publish()


def record_figure(paper: str, item: str, profile, note: str = "") -> None:
    """Note that this build drew the paper's ``item``: the figures the page drew since the last call, with their files."""
    from fairlab import figures

    name = getattr(profile, "name", profile)
    drawn = figures.take_drawn()
    entry = {"paper": paper, "item": item, "kind": "figure", "profile": name,
             "reportable": getattr(profile, "reportable", name != "smoke"), "note": note}
    if drawn:
        entry |= {"anchor": drawn[0]["anchor"], "files": {k: v for f in drawn for k, v in f["files"].items()}}
    record_status(entry)


def describe_difference(a, b, decimals: int = 3) -> str:
    """"−0.012 [−0.030, 0.006]": a difference of means and its 95 % interval, for claim evidence."""
    diff, lo, hi = mean_difference(a, b)
    text = f"{diff:+.{decimals}f}"
    if not np.isnan(lo):
        text += f" [95% CI {lo:+.{decimals}f}, {hi:+.{decimals}f}]"
        if lo <= 0 <= hi:
            text += ", within seed noise"
    return text


def summary_markdown(paper: str, profile: str) -> str:
    """What this profile's build found for ``paper``: tolerances met per table, and each claim that did not hold."""
    lines = []
    order = {"table": 0, "claims": 1}
    statuses = sorted((s for s in load_statuses(profile) if s["paper"] == paper and s["kind"] in order),
                      key=lambda s: (_item_order(s["item"]), order[s["kind"]]))
    for status in statuses:
        if status["kind"] == "table":
            lines.append(f"- **{status['item']}**: {status['within']} of {status['compared']} printed values reproduced within tolerance.")
        else:
            failed = [c["claim"] for c in status["claims"] if not c["holds"]]
            text = f"- **{status['item']}**: {status['within']} of {status['compared']} of the paper's claims hold here"
            lines.append(text + (f"; not reproduced: {'; '.join(failed)}." if failed else "."))
    return "\n".join(lines) if lines else "Nothing was compared in this build."


def _item_order(item: str) -> tuple:
    kind, _, number = item.partition(" ")
    try:
        return (kind, float(number))
    except ValueError:
        return (kind, float("inf"))


def paper_label(paper: str) -> str:
    return {"aimfair": "AIM-Fair", "win": "WIN", "dal_dft": "DAL/DFT"}.get(paper, paper)


def slug(text: str, limit: int | None = None) -> str:
    """``text`` as a file or anchor name: lower case, runs of anything but letters and digits as one ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit]


def record_status(entry: dict) -> None:
    entry = dict(entry)
    entry.setdefault("notebook", os.environ.get(NOTEBOOK_ENV))
    entry["time_utc"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    name = f"{slug(entry['item'])}--{entry['kind']}.json"
    path = paths.results_root() / entry["profile"] / STATUS_DIR / entry["paper"] / name
    write_json_atomic(path, entry)


def load_statuses(profile: str) -> list[dict]:
    import json

    root = paths.results_root() / profile / STATUS_DIR
    return [json.loads(p.read_text()) for p in sorted(root.glob("*/*.json"))] if root.is_dir() else []


def item_state(statuses: list[dict]) -> str:
    """What the status page says of an item from its statuses.

    "reproduced": at least one number was compared and every compared table cell lies within its
    tolerance and every checked claim holds; "compared": numbers were compared, not all within;
    "drawn": only figures; "not reproduced in this build": nothing.
    """
    checked = [st for st in statuses if st["kind"] in ("table", "claims")]
    if not checked:
        return "drawn" if statuses else "not reproduced in this build"
    if sum(st["compared"] for st in checked) and all(st["within"] == st["compared"] for st in checked):
        return "reproduced"
    return "compared"


def _status_links(statuses: list[dict]) -> str:
    """HTML links from the status page (``book/status``) to each item's anchor on its page and to its files."""
    links = []
    for st in statuses:
        if st.get("anchor") and st.get("notebook"):
            links.append(f'<a href="../notebooks/{st["notebook"]}.html#{st["anchor"]}">{st["kind"]}</a>')
        links += [f'<a href="../{path}" download>{label}</a>' for label, path in st.get("files", {}).items()]
    return " · ".join(links) if links else "—"


def status_table(profile: str) -> pd.DataFrame:
    """Every table and figure of the three papers with what this profile's build produced for it, linked."""
    done: dict[tuple, list[dict]] = {}
    for status in load_statuses(profile):
        done.setdefault((status["paper"], status["item"]), []).append(status)
    order = {"table": 0, "claims": 1, "figure": 2}
    lines = []
    for item in reported.catalogue():
        statuses = sorted(done.get((item["paper"], item["item"]), []), key=lambda st: order[st["kind"]])
        if not statuses:
            state = item.get("pending", "not reproduced in this build")
            result = "—"
            notebook = item.get("notebook") or "—"
        else:
            notebook = statuses[0].get("notebook") or item.get("notebook") or "—"
            state = item_state(statuses)
            parts = []
            for st in statuses:
                if st["kind"] == "table":
                    parts.append(f"{st['within']} / {st['compared']} cells within tolerance")
                elif st["kind"] == "claims":
                    parts.append(f"{st['within']} / {st['compared']} claims hold")
                else:
                    parts.append(st.get("note") or "figure drawn")
            result = "; ".join(parts)
        lines.append({
            "paper": paper_label(item["paper"]), "item": item["item"], "content": item["title"],
            "notebook": notebook, "status": state, "result": result, "links": _status_links(statuses),
        })
    return pd.DataFrame(lines)


def files_table(profile: str) -> pd.DataFrame:
    """Every table (CSV) and figure (PNG, SVG) this profile's build wrote, by the folder its page wrote it to, linked."""
    lines = []
    for kind in ("tables", "figures"):
        root = artifacts_dir(profile, kind)
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                relative = path.relative_to(root.parent).as_posix()
                lines.append({"kind": kind[:-1], "folder": path.parent.name, "file": path.name,
                              "link": f'<a href="../{relative}" download>{path.suffix[1:].upper()}</a>'})
    return pd.DataFrame(lines, columns=["kind", "folder", "file", "link"])
