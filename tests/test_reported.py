"""The papers' numbers as data, and the one function that puts ours beside them."""

from __future__ import annotations

import pandas as pd
import pytest

from fairlab import reported
from fairlab.reports import INTERVALS, Claim, Estimate, check_claims, compare, load_statuses, publish, status_table


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
    comparison = compare("aimfair", "Table 1", {("ERM", "CelebA S/M"): {"acc": 50.0, "wst": 1.0, "eo_max": 99.0}}, "mini")
    assert not comparison.long["asserted"].any()
    assert comparison.summary()["compared"] == 0


def test_unknown_rows_are_an_error_naming_the_known_ones():
    with pytest.raises(KeyError, match="not in the printed table"):
        compare("win", "Table 3", {("OURS", "0.5"): {}}, "mini")


def test_smoke_comparisons_say_they_are_not_comparable():
    comparison = compare("win", "Table 1", {"# Test": {"adult": 10315}}, "smoke")
    assert "SMOKE — NOT COMPARABLE" in comparison._repr_html_()


def test_status_page_lists_every_catalogued_item_with_what_the_build_recorded():
    publish(compare("win", "Table 1", {"# Test": {"adult": 10315}}, "mini"))
    publish(check_claims("win", "Figure 4", "mini", [Claim.compare("OURS is best", ("OURS", 2.0), "<", ("TL", 1.0))]))
    table = status_table("mini").set_index(["paper", "item"])
    assert len(table) == len(reported.catalogue())
    assert table.loc[("WIN", "Table 1"), "result"] == "1 / 1 cells within tolerance"
    assert table.loc[("WIN", "Table 1"), "status"] == "reproduced"
    assert table.loc[("WIN", "Figure 4"), "result"] == "0 / 1 claims hold"
    assert table.loc[("WIN", "Figure 4"), "status"] == "compared"
    assert 'href="../tables/win/table-1.csv"' in table.loc[("WIN", "Table 1"), "links"]
    assert table.loc[("AIM-Fair", "Table 3"), "status"].startswith("planned")
    assert {s["kind"] for s in load_statuses("mini")} == {"table", "claims"}


def test_every_catalogued_table_exists_in_the_reported_numbers():
    for item in reported.catalogue():
        if item["item"].startswith("Table ") and "," not in item["item"]:
            reported.table(item["paper"], item["item"])


def test_a_comparison_writes_nothing_until_it_is_published_then_its_csv_and_status():
    from fairlab import paths

    comparison = compare("win", "Table 3", {("OURS", "—"): {"err_f1": Estimate(16.329, 0.1, 10), "eo_sum": 0.30, "dp": 0.18}}, "mini")
    csv = paths.build_root() / "mini" / "tables" / "win" / "table-3.csv"
    assert not csv.exists() and load_statuses("mini") == []
    assert publish(comparison) is comparison
    frame = pd.read_csv(csv)
    assert tuple(frame.columns) == ("row", "metric", "paper", "ours", "difference", "within_tolerance")
    err = frame.set_index("metric").loc["Err (%)"]
    assert err["row"] == "OURS" and err["difference"] == pytest.approx(0.5) and bool(err["within_tolerance"])
    assert status_table("mini").set_index(["paper", "item"]).loc[("WIN", "Table 3"), "status"] == "compared"
    assert 'id="win-table-3"' in comparison._repr_html_()


def test_a_figure_drawn_on_a_page_is_written_as_png_and_svg_and_linked_from_the_status_page(monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    from fairlab import figures, paths
    from fairlab.reports import record_figure

    monkeypatch.setattr("IPython.display.display", lambda *args, **kwargs: None)
    figures.begin_page("mini", "04_weight_importance_neutralization")
    try:
        frame = pd.DataFrame({"group": ["Female"] * 3 + ["Male"] * 3, "unit": [0, 1, 2] * 2,
                              "importance": [0.1, 0.5, 0.2, 0.3, 0.1, 0.4]})
        assert figures.importance_bars(frame) is None
        record_figure("win", "Figure 3", "mini")
    finally:
        figures._PAGE = None
    folder = paths.build_root() / "mini" / "figures" / "04_weight_importance_neutralization"
    assert sorted(p.suffix for p in folder.iterdir()) == [".png", ".svg"]
    links = status_table("mini").set_index(["paper", "item"]).loc[("WIN", "Figure 3"), "links"]
    assert "figures/04_weight_importance_neutralization/01-" in links and ".svg" in links


def test_a_claim_records_the_numbers_it_reads_its_verdict_and_its_noise_test():
    apart = Claim.compare("A is fairer", ("EO A", Estimate(10.0, 1.0, 3, (9.0, 11.0))), "<",
                          ("B", Estimate(14.0, 1.0, 3, (13.0, 15.0))), test=INTERVALS)
    assert apart.holds and apart.reads == {"EO A": 10.0, "B": 14.0}
    assert apart.evidence == "EO A 10.00 vs B 14.00 (beyond seed noise)" and apart.test == INTERVALS
    close = Claim.compare("A is fairer", ("EO A", Estimate(10.0, 1.0, 3, (8.0, 13.0))), "<",
                          ("B", Estimate(11.0, 1.0, 3, (9.0, 14.0))), test=INTERVALS)
    assert close.holds and close.evidence.endswith("(within seed noise)")
    assert not Claim.compare("A is more accurate", ("A", 1.0), ">", ("B", 2.0)).holds
    check = check_claims("aimfair", "Table 3", "mini", [apart, close])
    assert list(check.frame().columns) == ["the paper says", "holds here", "our numbers", "noise test"]


def test_claims_given_as_bare_tuples_are_refused():
    with pytest.raises(TypeError, match="Claim objects"):
        check_claims("win", "Figure 4", "mini", [("OURS is best", False, "it is not")])
