"""The data page module at smoke scale: exact subset counts, calibration summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
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
    assert table.loc["AIM-Fair Table 2, CelebA S/M 10%", "images"] == round(0.1 * size)


def test_a_table2_setting_trains_on_the_first_images_of_each_group_of_the_full_subset_and_tests_on_the_same_splits(setting):
    from fairlab.aimfair import recipe

    full = recipe.open_task("CelebA S/M", setting).frames
    for label, share in (("CelebA S/M 50%", 0.5), ("CelebA S/M 10%", 0.1)):
        part = recipe.open_task(label, setting).frames
        assert len(part["train"]) == round(share * len(full["train"]))
        for group, members in part["train"].groupby("group"):
            expected = full["train"][full["train"]["group"] == group].head(len(members))
            assert members.index.tolist() == expected.index.tolist()
        assert part["test"].index.equals(full["test"].index) and part["val"].index.equals(full["val"].index)


def test_the_gate_passes_a_baseline_only_with_both_majority_groups_accurate_and_acc_and_eo_near_the_papers():
    paper = {"acc": 89.23, "eo_max": 23.84}
    assert all(page.gate_checks(95.0, 87.0, 30.0, paper).values())
    assert page.gate_checks(89.9, 87.0, 30.0, paper) == {"majority groups": False, "ACC": True, "EO": True}
    assert page.gate_checks(95.0, 83.0, 30.0, paper)["ACC"] is False
    assert page.gate_checks(95.0, 87.0, 50.0, paper)["EO"] is False and page.gate_checks(95.0, 87.0, 11.0, paper)["EO"] is False


def test_the_gate_verdict_names_every_failing_setting_and_what_failed():
    gate = pd.DataFrame({"weaker majority group": [95.0, 84.0], "passes": ["yes", "no: majority groups, ACC"]},
                        index=pd.Index(["CelebA S/Y", "CelebA S/M"], name="setting"))
    text = page.gate_verdict(gate)
    assert "does not pass" in text and "1 of 2" in text and "CelebA S/M (majority groups, ACC)" in text
    assert "passes** the gate on all 1" in page.gate_verdict(gate.iloc[:1])


def test_calibration_summary_names_the_papers_pairs():
    ours, real = page.phi_matrices(n=20_000)
    summary = page.phi_summary(ours, real)
    assert summary["pairs"] == 780 and summary["mean |Δphi|"] < 0.02
    assert summary["phi Male–Wearing_Lipstick (CelebA → FaceWorld)"].startswith("-0.789")
    assert len(page.worst_pairs(ours, real, k=5)) == 5


def test_visibility_verdict_is_computed_from_the_scores():
    frame = pd.DataFrame({"measure": ["balanced accuracy", "balanced accuracy"], "chance": [0.5, 0.5],
                          "photo → photo": [0.9, 0.6], "required": [True, True]}, index=["Male", "Smiling"])
    assert "**not** every one" in page.visibility_verdict(frame) and "Smiling" in page.visibility_verdict(frame)
    frame.loc["Smiling", "photo → photo"] = 0.8
    assert "every one is read well above chance" in page.visibility_verdict(frame)


def test_the_scale_summary_counts_the_baselines_sgd_steps_from_the_profile():
    study = Study(load_profile("mini", {"aimfair.batch_size": 32, "aimfair.epochs": 16, "backbones.task": "drawn_on_everyone"}),
                  Registry("mini"))
    text = page.scale_summary(study)
    assert "1,000 real images, batch 32, 16 epoch(s) = **496 SGD steps**" in text
    assert "the attributes FaceWorld draws on every face (28)" in text


def test_the_calibration_ratios_divide_smiling_male_and_young_male_by_male_young_accuracy_for_ours_and_the_papers():
    gate = pd.DataFrame({"ACC": [80.0, 100.0, 86.0], "paper: ACC": [89.23, 97.16, 77.70]},
                        index=pd.Index(["CelebA S/M", "CelebA M/Y", "CelebA Y/M"], name="setting"))
    ratios = page.calibration_ratios(gate)
    assert ratios.loc["Smiling", "ours"] == 0.8 and ratios.loc["Smiling", "paper"] == round(89.23 / 97.16, 3)
    assert ratios.loc["Smiling", "difference"] == round(0.8 - 89.23 / 97.16, 3)
    assert ratios.loc["Young", "ours"] == 0.86 and ratios.loc["Young", "paper"] == round(77.70 / 97.16, 3)
    verdict = page.calibration_verdict(ratios)
    assert "Smiling at a ratio of **0.800**" in verdict and "0.118 apart" in verdict and "Smiling is harder" in verdict
    assert "Young at a ratio of **0.860**" in verdict and "0.060 apart" in verdict and "Young is easier" in verdict
    gate.loc["CelebA S/M", "ACC"] = 90.0
    assert "within 0.05" in page.calibration_verdict(page.calibration_ratios(gate))
    partial = page.calibration_verdict(page.calibration_ratios(gate.iloc[:2]))
    assert "lacks Y/M or M/Y, so Young's calibration cannot be read" in partial and "Smiling at a ratio" in partial


def test_the_footprint_table_reports_smiling_and_male_pixels_at_the_profiles_size(setting):
    table = page.attribute_footprints(setting, n=8)
    assert list(table.index) == ["Smiling", "Male"]
    assert (table["pixels changed (mean)"] > 0).all()
    assert (table["5th percentile"] <= table["pixels changed (mean)"]).all()


def test_errors_by_attribute_ranks_the_attribute_the_errors_follow_first_and_leaves_out_rare_or_non_binary_ones():
    frame = pd.DataFrame({"Gray_Hair": [1] * 20 + [0] * 80, "Eyeglasses": np.array([1, 0] * 50, dtype=bool),
                          "Bald": [1] * 3 + [0] * 97, "age": np.arange(100)})
    wrong = np.r_[np.ones(15), np.zeros(5), np.ones(8), np.zeros(72)]  # 15 of 20 grey-haired faces wrong, 8 of 80 others
    table = page.errors_by_attribute(frame, wrong)
    assert list(table.index) == ["Gray_Hair", "Eyeglasses"]  # Bald: 3 images; age: not 0/1
    assert table.loc["Gray_Hair"].to_dict() == {"images with": 20, "error with": 75.0, "images without": 80,
                                                "error without": 10.0, "gap": 65.0}
    with pytest.raises(ValueError, match="99 predictions for 100 images"):
        page.errors_by_attribute(frame, wrong[:99])


def test_the_young_male_paper_row_allows_its_weaker_majority_group_only_the_range_a_linear_program_finds():
    counts = page.real_test_counts("CelebA Y/M")
    assert counts == {"0_0": 1916, "0_1": 2932, "1_0": 10331, "1_1": 4783}
    low, high = page.unprinted_majority_range("CelebA Y/M")
    assert (round(low, 1), round(high, 1)) == (42.0, 94.0)
    # the bounds are attained: group accuracies meeting every printed number with the weaker majority at each end
    weights = np.array(list(counts.values())) / sum(counts.values())
    for groups in ([42.0, 42.0, 84.1, 100.0], [42.0, 94.0, 95.5, 43.5]):
        assert abs(weights @ np.array(groups) - 77.70) < 0.05 and min(groups) == 42.0
    gate = pd.DataFrame({"weaker majority group": [79.89, 97.5], "paper: weaker majority group": [np.nan, 95.36]},
                        index=pd.Index(["CelebA Y/M", "CelebA S/M"], name="setting"))
    note = page.unprinted_majority_note(gate)
    assert "CelebA Y/M's paper row" in note and "42.0 to 94.0 %" in note and "79.9 %, lies inside" in note
    assert "S/M" not in note
