"""The data page module at smoke scale: exact subset counts, calibration summaries."""

from __future__ import annotations

import pytest

from fairlab.data.subsets import bias_quotas
from fairlab.pages import data as page
from fairlab.profiles import load_profile
from fairlab.results import Registry
from fairlab.study import Study


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    return Study(load_profile("smoke"), Registry("smoke", root=tmp_path_factory.mktemp("results")))


def test_every_subset_on_the_data_page_has_exact_group_counts(setting):
    study = setting
    profile = study.profile
    table = page.subset_counts(study, page.celeba_frame(study))
    size = profile.data.aimfair_subset_size
    expected = {f"({g[0]},{g[2]})": n for g, n in bias_quotas(size).items()}
    for label in ("AIM-Fair CelebA S/M, first-N rule", "AIM-Fair CelebA M/Y, first-N rule"):
        assert table.loc[label, list(expected)].to_dict() == expected
    assert table.loc["UTKFace F/W test", "(1,1)"] == profile.data.utk_test_per_group
    assert table.loc["AIM-Fair Table 2, 10 % of S/M", "images"] == round(0.1 * size)


def test_calibration_summary_names_the_papers_pairs():
    ours, real = page.phi_matrices(n=20_000)
    summary = page.phi_summary(ours, real)
    assert summary["pairs"] == 780 and summary["mean |Δphi|"] < 0.02
    assert summary["phi Male–Wearing_Lipstick (CelebA → FaceWorld)"].startswith("-0.789")
    assert len(page.worst_pairs(ours, real, k=5)) == 5


def test_visibility_verdict_is_computed_from_the_scores():
    import pandas as pd

    frame = pd.DataFrame({"measure": ["balanced accuracy", "balanced accuracy"], "chance": [0.5, 0.5],
                          "photo → photo": [0.9, 0.6], "required": [True, True]}, index=["Male", "Smiling"])
    assert "**not** every one" in page.visibility_verdict(frame) and "Smiling" in page.visibility_verdict(frame)
    frame.loc["Smiling", "photo → photo"] = 0.8
    assert "every one is read well above chance" in page.visibility_verdict(frame)
