"""Profiles are validated on load, and overrides name the key they got wrong."""

from __future__ import annotations

import pytest

from fairlab import paths
from fairlab.profiles import PROFILE_NAMES, ProfileError, load_profile, parse_override, valid_keys


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_every_shipped_profile_is_valid(name):
    profile = load_profile(name)
    assert profile.name == name
    assert profile.reportable is (name != "smoke")


def test_the_paper_profile_runs_ten_seeds_as_the_papers():
    assert load_profile("paper").win_adult.n_runs == 10


def test_unknown_key_in_a_file_names_the_valid_keys(tmp_path):
    text = (paths.profiles_dir() / "smoke.yml").read_text()
    bad = tmp_path / "bad.yml"
    bad.write_text(text.replace("  n_runs: 2", "  n_run: 2"))
    with pytest.raises(ProfileError) as info:
        load_profile(str(bad))
    message = str(info.value)
    assert "bad.yml" in message and "win_adult.n_run" in message and "n_runs" in message


def test_wrong_type_names_the_key_and_the_value():
    with pytest.raises(ProfileError, match=r"win_adult\.n_runs.*'many'"):
        load_profile("smoke", {"win_adult.n_runs": "many"})


def test_override_of_an_unknown_key_lists_the_valid_keys():
    with pytest.raises(ProfileError, match=r"unknown key 'nruns'.*valid keys: n_runs"):
        load_profile("smoke", {"win_adult.nruns": 3})


def test_override_of_a_whole_section_is_refused():
    with pytest.raises(ProfileError, match="is a section"):
        load_profile("smoke", {"win_adult": 3})


def test_override_values_are_read_as_yaml():
    assert parse_override("win_adult.n_runs=3") == ("win_adult.n_runs", 3)
    assert parse_override("win_adult.lr_grid=[0.1, 0.2]") == ("win_adult.lr_grid", [0.1, 0.2])
    with pytest.raises(ProfileError, match="KEY=VALUE"):
        parse_override("win_adult.n_runs")
    profile = load_profile("smoke", dict([parse_override("win_adult.n_runs=3")]))
    assert profile.win_adult.n_runs == 3


def test_missing_profile_file_names_the_available_ones():
    with pytest.raises(ProfileError, match="available profiles: .*mini"):
        load_profile("nonexistent")


def test_valid_keys_are_dotted_paths():
    keys = valid_keys()
    assert "win_adult.pretrain.lr" in keys and "win_adult.n_runs" in keys and "name" in keys


@pytest.mark.parametrize("profile, overrides, message", [
    ("mini", {"csdg.backend": "transformers"}, "backend is 'transformers' but llm_model is not set"),
    ("paper", {"csdg.generation.pipeline": "mini"}, "generation.pipeline is 'mini' but there is no t2i section"),
])
def test_keys_that_need_each_other_are_checked_when_the_profile_loads(profile, overrides, message):
    with pytest.raises(ProfileError, match=message):
        load_profile(profile, overrides)


@pytest.mark.parametrize("key, value", [("name", "../../x"), ("reportable", True), ("description", "mine")])
def test_what_a_profile_is_cannot_be_overridden_for_a_run(key, value):
    with pytest.raises(ProfileError, match=rf"override '{key}'.*set in its file"):
        load_profile("smoke", {key: value})


def test_a_profile_file_whose_name_would_leave_the_results_folder_is_refused(tmp_path):
    text = (paths.profiles_dir() / "smoke.yml").read_text()
    bad = tmp_path / "escape.yml"
    bad.write_text(text.replace("name: smoke", "name: ../../x", 1))
    with pytest.raises(ProfileError, match=r"name: String should match pattern"):
        load_profile(str(bad))


@pytest.mark.parametrize("overrides, message", [
    ({"win_adult.n_runs": 1}, r"win_adult\.n_runs: Input should be greater than or equal to 2 \(got 1\)"),
    ({"win_images.n_runs": 1}, r"win_images\.n_runs: Input should be greater than or equal to 2"),
    ({"win_adult.pretrain.lr": float("inf")}, r"win_adult\.pretrain\.lr: Input should be a finite number"),
    ({"win_adult.alphas": [2.5, -1]}, r"win_adult\.alphas\.0: Input should be less than 1 \(got 2\.5\)"),
    ({"win_adult.alphas": [0.5, -1]}, r"win_adult\.alphas\.1: Input should be greater than or equal to 0\.5"),
    ({"win_adult.mlp_depths": [-1, 0]}, r"win_adult\.mlp_depths\.0: Input should be greater than or equal to 2"),
    ({"aimfair.top_k": 1000}, r"aimfair\.top_k: Input should be less than or equal to 62 \(got 1000\)"),
    ({"win_adult.n_runs": True}, r"win_adult\.n_runs: Input should be a valid integer \(got True\)"),
    ({"aimfair.epochs": "3"}, r"aimfair\.epochs: Input should be a valid integer \(got '3'\)"),
])
def test_values_that_would_crash_later_or_mean_nothing_are_refused_at_load_with_the_valid_range(overrides, message):
    with pytest.raises(ProfileError, match=message):
        load_profile("smoke", overrides)


def test_a_key_below_a_value_names_the_value_and_how_to_set_it():
    with pytest.raises(ProfileError, match=r"'win_adult\.n_runs' is a value, not a section, so it has no key 'x'; "
                                           r"set it as win_adult\.n_runs=VALUE"):
        load_profile("smoke", {"win_adult.n_runs.x": 3})


def test_an_integer_is_still_a_valid_float():
    assert load_profile("smoke", {"win_adult.pretrain.lr": 1}).win_adult.pretrain.lr == 1.0
