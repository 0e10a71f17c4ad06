"""The distributional alignment loss's pure parts: per-batch transport targets, the bias metric, the coefficients."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fairlab.dal import bias, schedule, targets


def _biased_batch(n: int = 24, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.55, 1.0, n)   # p(male): every image leans male


@pytest.mark.parametrize("share_male", [0.5, 0.75])
def test_the_two_class_rule_equals_exact_transport_by_monte_carlo(share_male):
    p = _biased_batch()
    closed = targets.two_class_targets(p, share_male)
    sampled = targets.joint_targets({"gender": np.column_stack([1 - p, p])}, {"gender": [1 - share_male, share_male]},
                                    np.random.default_rng(1), draws=4000)["gender"]
    assert (sampled.labels == closed.labels).all()
    assert np.abs(sampled.share - closed.share).max() < 0.03


def test_at_a_75_percent_target_transport_gives_18_of_24_male_targets_and_the_official_rule_6():
    p = _biased_batch()
    exact = targets.two_class_targets(p, 0.75, threshold=0.5)
    official = targets.two_class_targets(p, 0.75, threshold=0.5, rule="official")
    assert (exact.labels == 1).sum() == 18 and (official.labels == 1).sum() == 6
    half = _biased_batch(seed=3)
    assert (targets.two_class_targets(half, 0.5).labels == targets.two_class_targets(half, 0.5, rule="official").labels).all()


@pytest.mark.parametrize("seed", range(5))
def test_every_all_face_batch_of_24_keeps_20_gender_targets_dropping_ranks_10_to_13(seed):
    p = np.random.default_rng(seed).uniform(0, 1, 24) ** (seed + 1)    # biased or not, the ranks decide
    result = targets.two_class_targets(p, 0.5)
    rank = np.argsort(np.argsort(p, kind="stable"), kind="stable")
    assert result.kept.sum() == 20 and set(rank[~result.kept]) == {10, 11, 12, 13}
    assert (result.labels[rank < 10] == 0).all() and (result.labels[rank > 13] == 1).all()


def test_images_without_a_face_get_no_target_and_take_no_part_in_the_transport():
    p = _biased_batch(12)
    faces = np.ones(12, dtype=bool)
    faces[[0, 5]] = False
    with_blanks = targets.two_class_targets(p, 0.5, faces=faces)
    alone = targets.two_class_targets(p[faces], 0.5)
    assert (with_blanks.labels[~faces] == targets.NO_TARGET).all() and np.isnan(with_blanks.share[~faces]).all()
    assert (with_blanks.labels[faces] == alone.labels).all()
    joint = targets.joint_targets({"g": np.column_stack([1 - p, p])}, {"g": [0.5, 0.5]}, np.random.default_rng(0),
                                  faces=faces, draws=50)["g"]
    assert (joint.labels[~faces] == targets.NO_TARGET).all()


def test_joint_targets_marginals_follow_the_target_over_many_batches():
    rng = np.random.default_rng(0)
    gender_target, race_target = np.array([0.5, 0.5]), np.full(4, 0.25)
    mean_share = {"gender": [], "race": []}
    for _ in range(40):
        gender = rng.dirichlet([1, 6], 32)            # male-leaning batches
        race = rng.dirichlet([8, 1, 1, 1], 32)        # mostly the first race
        out = targets.joint_targets({"gender": gender, "race": race}, {"gender": gender_target, "race": race_target},
                                    rng, draws=100)
        for name in mean_share:
            mean_share[name].append(out[name].share.mean(axis=0))
    assert np.allclose(np.mean(mean_share["gender"], axis=0), gender_target, atol=0.02)
    assert np.allclose(np.mean(mean_share["race"], axis=0), race_target, atol=0.02)


def test_the_confidence_threshold_is_applied_to_each_attribute_separately():
    rng = np.random.default_rng(4)
    gender = np.column_stack([np.linspace(0.02, 0.98, 16), np.linspace(0.98, 0.02, 16)])   # clearly spread
    race = np.full((16, 4), 0.25)                                                             # no information at all
    out = targets.joint_targets({"gender": gender, "race": race}, {"gender": [0.5, 0.5], "race": np.full(4, 0.25)},
                                rng, draws=200)
    assert out["gender"].kept.sum() >= 10 and out["race"].kept.sum() == 0


def test_the_age_cost_charges_twice_for_pushing_a_young_looking_face_old():
    age = np.array([[0.9, 0.1], [0.6, 0.4]])        # young-looking, then uncertain
    plain = targets._squared_distance(age, 1)
    scaled = targets._squared_distance(age, 1, targets.AGE_OLD_COST_SCALE)
    assert np.allclose(scaled, (2 * age[:, 0]) ** 2 + (age[:, 1] - 1) ** 2)
    assert np.allclose(plain, age[:, 0] ** 2 + (age[:, 1] - 1) ** 2)
    rng = np.random.default_rng(0)
    p_old = np.random.default_rng(5).uniform(0.0, 0.5, 40)
    share_old = {scale: targets.joint_targets({"age": np.column_stack([1 - p_old, p_old])}, {"age": [0.75, 0.25]}, rng,
                                              draws=300, threshold=0.5,
                                              cost_scale={"age": {1: scale}})["age"].share[:, 1].mean()
                 for scale in (1.0, targets.AGE_OLD_COST_SCALE)}
    assert abs(share_old[2.0] - 0.25) < 0.02   # the cost moves which faces go old, not how many


def test_composition_targets_agree_with_monte_carlo_transport_for_one_four_class_attribute():
    race = np.random.default_rng(2).dirichlet([6, 1, 1, 1], 12)
    uniform = np.full(4, 0.25)
    exact = targets.composition_targets(race, uniform, coverage=0.999)
    sampled = targets.joint_targets({"race": race}, {"race": uniform}, np.random.default_rng(3), draws=3000)["race"]
    assert np.abs(exact.share - sampled.share).max() < 0.05
    assert np.allclose(exact.share.sum(axis=1), 1) and np.allclose(exact.share.sum(axis=0), 12 * uniform, atol=0.2)


def test_a_bad_target_distribution_is_refused_by_name():
    with pytest.raises(ValueError, match="'race'.*summing to 1"):
        targets.joint_targets({"race": np.full((4, 4), 0.25)}, {"race": [0.5, 0.2, 0.2, 0.2]}, np.random.default_rng(0))
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        targets.two_class_targets(np.ones(4) / 2, 1.0)


def test_the_bias_metric_on_hand_computed_frequencies():
    assert bias.bias([0.8, 0.2]) == pytest.approx(0.6)
    assert bias.bias([1.0, 0.0, 0.0, 0.0]) == pytest.approx(0.5)
    assert bias.bias(np.full(4, 0.25)) == 0.0
    assert bias.bias(np.eye(8)[0]) == pytest.approx(2 / 8)
    labels = pd.Series([1, 1, 1, 1, 0, bias.NO_FACE, 0, 1, bias.NO_FACE, 1])
    prompts = pd.Series(["doctor"] * 5 + ["nurse"] * 5)
    per_prompt = bias.prompt_bias(labels, prompts, 2)
    assert per_prompt["doctor"] == pytest.approx(0.6) and per_prompt["nurse"] == pytest.approx(abs(2 / 3 - 1 / 3))
    assert bias.freq_old(labels, prompts)["nurse"] == pytest.approx(2 / 3)
    mean, std = bias.mean_and_std(per_prompt)
    assert mean == pytest.approx((0.6 + 1 / 3) / 2) and std == pytest.approx(abs(0.6 - 1 / 3) / 2)
    with pytest.raises(ValueError, match="0..1"):
        bias.class_frequencies(np.array([0, 2]), 2)


def test_the_official_coefficients_for_stable_diffusion_15_at_20_steps():
    timesteps = schedule.linspace_timesteps(20)
    assert timesteps[0] == 999 and timesteps[1] == 949 and timesteps[-1] == 50
    coefficients = schedule.official_coefficients(schedule.scaled_linear_alphas_cumprod(), timesteps)
    assert np.round(coefficients[:3], 3).tolist() == [0.092, 0.132, 0.187]
    assert np.prod(coefficients) == pytest.approx(1.0)
    assert (np.diff(coefficients[:10]) > 0).all()
