"""The papers' numbers as data, and the one function that puts ours beside them."""

from __future__ import annotations

import pytest

from fairlab import reported
from fairlab.reports import Estimate, check_claims, compare, load_statuses, status_table


@pytest.mark.parametrize("paper", reported.PAPERS)
def test_every_reported_file_validates(paper):
    assert reported.load(paper).tables


def test_printed_values_are_parsed_with_their_std_and_change():
    cell = reported.parse_printed("0.206±0.024 (+0.138)")
    assert (cell.value, cell.std, cell.change, cell.decimals) == (0.206, 0.024, 0.138, 3)
    assert reported.parse_printed(".67±.29").value == 0.67
    assert reported.parse_printed("—").value is None
    with pytest.raises(ValueError, match="cannot read"):
        reported.parse_printed("about 3")


def test_the_papers_tables_are_complete():
    counts = {t.id: len(t.rows) for t in reported.load("aimfair").tables}
    assert counts["Table 3"] == 21 and counts["Table 8"] == 14 and len(counts) == 11
    assert [t.id for t in reported.load("win").tables] == ["Table 1", "Section 4.4", "Table 2", "Table 3", "Table 4"]
    assert {t.id for t in reported.load("dal_dft").tables} == {"Table 1", "Table 5", "Table 6"}


def test_comparison_shows_paper_ours_and_difference_within_tolerance():
    comparison = compare("win", "Table 3", {("OURS", "—"): {"err_f1": Estimate(16.329, 0.1, 10), "eo_sum": 0.30, "dp": 0.18}}, "mini")
    cells = comparison.long.set_index("metric")
    assert cells.loc["err_f1", "delta"] == pytest.approx(0.5)
    assert bool(cells.loc["err_f1", "within"]) and not bool(cells.loc["eo_sum", "within"])
    assert comparison.summary()["within"] == 2 and comparison.summary()["compared"] == 3
    wide = comparison.wide()
    assert wide.loc[("OURS", "—"), ("Err (%)", "ours")] == "16.329 ± 0.100"
    assert wide.loc[("OURS", "—"), ("ΔEO", "Δ")].endswith("✗")
    assert "paper vs reproduced" in comparison._repr_html_()


def test_rows_copied_from_other_papers_are_shown_but_not_asserted():
    comparison = compare("aimfair", "Table 1", {("ERM", "CelebA S/M"): {"acc": 50.0, "wst": 1.0, "eo_max": 99.0}}, "mini", save=False)
    assert not comparison.long["asserted"].any()
    assert comparison.summary()["compared"] == 0


def test_unknown_rows_are_an_error_naming_the_known_ones():
    with pytest.raises(KeyError, match="not in the printed table"):
        compare("win", "Table 3", {("OURS", "0.5"): {}}, "mini", save=False)


def test_smoke_comparisons_say_they_are_not_comparable():
    comparison = compare("win", "Table 1", {"# Test": {"adult": 10315}}, "smoke", save=False)
    assert "SMOKE — NOT COMPARABLE" in comparison._repr_html_()


def test_status_page_lists_every_catalogued_item_with_what_the_build_recorded():
    compare("win", "Table 1", {"# Test": {"adult": 10315}}, "mini")
    check_claims("win", "Figure 4", "mini", [("OURS is best", False, "it is not")])
    table = status_table("mini").set_index(["paper", "item"])
    assert len(table) == len(reported.catalogue())
    assert table.loc[("WIN", "Table 1"), "result"] == "1 / 1 cells within tolerance"
    assert table.loc[("WIN", "Figure 4"), "result"] == "0 / 1 claims hold"
    assert table.loc[("AIM-Fair", "Table 3"), "status"].startswith("planned")
    assert {s["kind"] for s in load_statuses("mini")} == {"table", "claims"}


def test_every_catalogued_table_exists_in_the_reported_numbers():
    for item in reported.catalogue():
        if item["item"].startswith("Table ") and "," not in item["item"]:
            reported.table(item["paper"], item["item"])
