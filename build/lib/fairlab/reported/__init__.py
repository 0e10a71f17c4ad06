"""The numbers the three papers print, typed once as data (``<paper>.yaml`` beside this file).

Each file holds the paper's tables.  A table names its row-key fields, its columns (the
printed header, the metric key our code produces for it, a tolerance in the column's unit
and, where a paper is ambiguous, the definition we compare with) and its rows.  A row keeps
the *printed* strings (``"16.676±0.313"``, ``".67±.29"``, ``"—"``) so that nothing is lost in
transcription; :func:`parse_printed` turns them into numbers.

Row flags: ``copied`` (the paper copied the row from another paper; shown, never asserted),
``inconsistent`` (the printed row contradicts itself; shown, never asserted).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

HERE = Path(__file__).resolve().parent
PAPERS = ("aimfair", "win", "dal_dft")
ROW_FLAGS = {"copied", "inconsistent"}
UNASSERTED_FLAGS = {"copied", "inconsistent"}

_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)"
_PRINTED = re.compile(
    rf"^\s*(?P<value>{_NUMBER})\s*(?:±\s*(?P<std>{_NUMBER}))?\s*(?:\((?P<change>{_NUMBER})\))?\s*$"
)
_MISSING = {"—", "-", "–", "", "n/a"}


@dataclass(frozen=True)
class Printed:
    """A printed table cell: its text, its value and, when printed, its ± and (change)."""

    text: str
    value: float | None
    std: float | None = None
    change: float | None = None

    @property
    def decimals(self) -> int:
        """Decimals of the printed value (to format our numbers the same way)."""
        match = _PRINTED.match(self.text)
        if not match:
            return 2
        _, _, frac = match.group("value").partition(".")
        return len(frac)


def parse_printed(text: str | int | float) -> Printed:
    """``"0.206±0.024 (+0.138)"`` -> Printed(value=0.206, std=0.024, change=0.138)."""
    text = str(text).strip()
    if text.lower() in _MISSING:
        return Printed(text, None)
    match = _PRINTED.match(text)
    if not match:
        raise ValueError(f"cannot read printed table value {text!r}")

    def num(name: str) -> float | None:
        raw = match.group(name)
        return float(raw) if raw is not None else None

    return Printed(text, num("value"), num("std"), num("change"))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Column(_Strict):
    name: str = Field(description="the header as printed")
    metric: str = Field(description="the key our reproduced results use for this column")
    tolerance: float = Field(ge=0, description="allowed |ours - paper|, in the column's unit")
    definition: str | None = Field(None, description="which definition we compare with, when the paper is ambiguous")


class Row(_Strict):
    key: dict[str, str]
    printed: list[str]
    flags: list[str] = []
    note: str | None = None


class Table(_Strict):
    id: str
    title: str
    row_keys: list[str] = Field(min_length=1)
    columns: list[Column] = Field(min_length=1)
    rows: list[Row] = Field(min_length=1)
    notes: str | None = None

    @model_validator(mode="after")
    def _rows_match_columns(self) -> "Table":
        for row in self.rows:
            where = f"{self.id}, row {row.key}"
            if set(row.key) != set(self.row_keys):
                raise ValueError(f"{where}: key fields {sorted(row.key)} differ from row_keys {self.row_keys}")
            if len(row.printed) != len(self.columns):
                raise ValueError(f"{where}: {len(row.printed)} printed values for {len(self.columns)} columns")
            unknown = set(row.flags) - ROW_FLAGS
            if unknown:
                raise ValueError(f"{where}: unknown flags {sorted(unknown)}; valid flags: {sorted(ROW_FLAGS)}")
            for text in row.printed:
                parse_printed(text)
        keys = [tuple(r.key[k] for k in self.row_keys) for r in self.rows]
        if len(keys) != len(set(keys)):
            raise ValueError(f"{self.id}: duplicate row keys")
        return self

    def row_key(self, row: Row) -> tuple[str, ...]:
        return tuple(row.key[k] for k in self.row_keys)

    def frame(self):
        """One line per cell: row key fields, column, metric, printed text, value, std, tolerance, flags."""
        import pandas as pd

        lines = []
        for row in self.rows:
            for col, text in zip(self.columns, row.printed):
                cell = parse_printed(text)
                lines.append({
                    **row.key, "column": col.name, "metric": col.metric, "printed": cell.text,
                    "value": cell.value, "std": cell.std, "tolerance": col.tolerance,
                    "definition": col.definition, "flags": list(row.flags),
                })
        return pd.DataFrame(lines)


class Paper(_Strict):
    paper: str
    title: str
    citation: str
    units: str
    tables: list[Table]

    def table(self, table_id: str) -> Table:
        for table in self.tables:
            if table.id == table_id:
                return table
        raise KeyError(f"{self.paper}: no reported table {table_id!r}; tables: {[t.id for t in self.tables]}")


@lru_cache(maxsize=None)
def load(paper: str) -> Paper:
    """The reported numbers of ``paper`` (one of :data:`PAPERS`)."""
    if paper not in PAPERS:
        raise KeyError(f"unknown paper {paper!r}; papers: {', '.join(PAPERS)}")
    path = HERE / f"{paper}.yaml"
    data = yaml.safe_load(path.read_text())
    try:
        return Paper.model_validate(data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def table(paper: str, table_id: str) -> Table:
    return load(paper).table(table_id)


@lru_cache(maxsize=1)
def catalogue() -> list[dict]:
    """Every table and figure of the three papers, with the notebook that reproduces it."""
    return yaml.safe_load((HERE / "catalogue.yaml").read_text())["items"]
