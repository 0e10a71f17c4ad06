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


# ---- adjusted direct fine-tuning -------------------------------------------------------------------------------------

def test_the_official_coefficient_weights_dpm_solver_steps_about_040_not_1_at_20_steps():
    from fairlab.dal import dft

    scheduler = dft.dft_scheduler()
    weights = dft.direct_path_weights(scheduler, 20)
    assert weights.max() == pytest.approx(2.99, abs=0.01) and weights.min() == pytest.approx(-0.08, abs=0.01)
    effective = weights * dft.step_coefficients(scheduler, 20)
    assert np.allclose(effective[2:14], 0.40, atol=0.02)
    assert effective[0] == pytest.approx(0.22, abs=0.01) and effective[-1] == pytest.approx(2.12, abs=0.01)
    exact = weights * dft.step_coefficients(scheduler, 20, "exact")
    large = np.abs(weights) >= dft.SMALL_DIRECT_WEIGHT
    assert np.allclose(exact[large], 1.0) and np.allclose(exact[~large], effective[~large])


@pytest.fixture(scope="module")
def tiny_denoiser():
    import torch
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(16, 32),
                                layers_per_block=1, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=16,
                                attention_head_dim=8, norm_num_groups=8).double()
    generator = torch.Generator().manual_seed(1)
    inputs = {"latents": torch.randn(2, 4, 8, 8, generator=generator, dtype=torch.float64),
              "cond": torch.randn(2, 5, 16, generator=generator, dtype=torch.float64),
              "uncond": torch.randn(2, 5, 16, generator=generator, dtype=torch.float64)}
    readout = torch.randn(2, 4, 8, 8, generator=generator, dtype=torch.float64)   # L = <readout, z_0>, so R = readout
    return unet, inputs, readout


def _gradient(unet, inputs, readout, **options):
    import torch
    from fairlab.dal import dft

    z0 = dft.sample(unet, dft.dft_scheduler(), inputs["latents"], inputs["cond"], inputs["uncond"], steps=6,
                    guidance=3.0, **options)
    params = [p for p in unet.parameters() if p.requires_grad]
    return torch.cat([g.flatten() for g in torch.autograd.grad((z0 * readout).sum(), params)])


@pytest.fixture(scope="module")
def six_steps():
    """The sampler at six steps, its direct-path weights A_t and official coefficients."""
    from fairlab.dal import dft

    scheduler = dft.dft_scheduler()
    return scheduler, dft.direct_path_weights(scheduler, 6), dft.step_coefficients(scheduler, 6)


def test_the_adjusted_gradient_is_the_closed_form_sum_over_steps_of_coefficient_weight_and_unet_jacobian(tiny_denoiser,
                                                                                                          six_steps):
    import torch
    from fairlab.dal import dft

    unet, inputs, readout = tiny_denoiser
    scheduler, weights, coefficients = six_steps
    params = [p for p in unet.parameters() if p.requires_grad]
    # the U-Net inputs of the adjusted pass are the detached trajectory of a plain sampling pass
    scheduler.set_timesteps(6)
    z, closed = inputs["latents"], torch.zeros(sum(p.numel() for p in params), dtype=torch.float64)
    for i, t in enumerate(scheduler.timesteps):
        eps = dft.guided_noise(unet, z.detach(), t, inputs["cond"], inputs["uncond"], 3.0)
        vjp = torch.autograd.grad(eps, params, grad_outputs=-coefficients[i] * weights[i] * readout)
        closed += torch.cat([g.flatten() for g in vjp])
        z = scheduler.step(eps.detach(), t, z).prev_sample
    adjusted = _gradient(unet, inputs, readout, gradient="adjusted")
    # float64 throughout, except diffusers' DPM-Solver step, which computes in float32: agreement to its precision
    assert torch.allclose(adjusted, closed, rtol=1e-5, atol=1e-6 * closed.abs().max())
    no_coefficient = _gradient(unet, inputs, readout, gradient="adjusted_no_coefficient")
    exact = _gradient(unet, inputs, readout, gradient="exact")
    assert not torch.allclose(exact, no_coefficient, rtol=1e-3) and not torch.allclose(no_coefficient, adjusted, rtol=1e-3)


def test_the_recorded_gradient_scale_of_each_step_is_the_direct_path_weight_times_the_readout_norm(tiny_denoiser,
                                                                                                   six_steps):
    import torch
    from fairlab.dal import dft

    unet, inputs, readout = tiny_denoiser
    scheduler, weights, coefficients = six_steps
    for gradient, expected in (("adjusted_no_coefficient", np.abs(weights)), ("adjusted", np.abs(weights * coefficients))):
        norms = {}
        z0 = dft.sample(unet, scheduler, inputs["latents"], inputs["cond"], inputs["uncond"], 6, 3.0, gradient,
                        gradient_norms=norms)
        torch.autograd.grad((z0 * readout).sum(), [p for p in unet.parameters() if p.requires_grad])
        recorded = np.array([norms[i] for i in range(6)])
        assert np.allclose(recorded, expected * float(readout.norm()), rtol=1e-5)


def test_gradient_checkpointing_changes_no_gradient(tiny_denoiser):
    import torch

    unet, inputs, readout = tiny_denoiser
    for gradient in ("adjusted", "exact"):
        plain = _gradient(unet, inputs, readout, gradient=gradient)
        checkpointed = _gradient(unet, inputs, readout, gradient=gradient, checkpoint=True)
        assert torch.allclose(plain, checkpointed, rtol=1e-10, atol=0)


def test_an_unknown_gradient_or_coefficient_mode_is_refused(tiny_denoiser):
    from fairlab.dal import dft

    unet, inputs, _ = tiny_denoiser
    with pytest.raises(ValueError, match="gradient must be one of"):
        dft.sample(unet, dft.dft_scheduler(), inputs["latents"], inputs["cond"], inputs["uncond"], 2, gradient="naive")
    with pytest.raises(ValueError, match="coefficients must be one of"):
        dft.step_coefficients(dft.dft_scheduler(), 2, "unit")


def test_lora_gradients_reach_only_the_adapter_and_a_disabled_adapter_reproduces_the_base_bit_for_bit():
    import torch
    from diffusers import UNet2DConditionModel
    from fairlab.dal import adapters, dft

    torch.manual_seed(0)
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(16, 32),
                                layers_per_block=1, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=16,
                                attention_head_dim=8, norm_num_groups=8)
    z, cond, uncond = torch.randn(2, 4, 8, 8), torch.randn(2, 5, 16), torch.randn(2, 5, 16)
    base = unet(z, 500, encoder_hidden_states=cond).sample.detach().clone()
    trained = adapters.add_lora(unet, adapters.UNET_TARGETS, rank=4)
    assert trained and all(p.requires_grad for p in trained)
    z0 = dft.sample(unet, dft.dft_scheduler(), z, cond, uncond, steps=3, guidance=2.0)
    z0.square().mean().backward()
    with_gradient = {name for name, p in unet.named_parameters() if p.grad is not None}
    assert with_gradient and all("lora_" in name for name in with_gradient)
    assert {name for name, p in unet.named_parameters() if "lora_B" in name} <= with_gradient   # B starts at zero
    with torch.no_grad():
        for p in trained:
            p.add_(0.05)           # a trained adapter: the model now differs from its base
        adapted = unet(z, 500, encoder_hidden_states=cond).sample
        with adapters.original(unet):
            restored = unet(z, 500, encoder_hidden_states=cond).sample
    assert not torch.allclose(adapted, base) and torch.equal(restored, base)
    with pytest.raises(ValueError, match="no LoRA was added"):
        adapters.add_lora(torch.nn.Sequential(torch.nn.Linear(2, 2)), ["to_q"])


# ---- the occupation world ---------------------------------------------------------------------------------------------

def test_the_occupation_world_ships_sixty_one_word_occupations_in_disjoint_splits():
    from fairlab.dal import occupations

    names = occupations.occupation_names()
    assert names["split"].value_counts().to_dict() == {"train": 40, "test": 15, "validation": 5}
    world = occupations.occupations()
    assert len(world) == 60 and world == occupations.occupations()          # fixed before anything is trained
    nurse = next(o for o in world if o.name == "nurse")
    assert nurse.prompt == "a photo of the face of a nurse, a person" and 1 <= len(nurse.cues) <= 2
    assert abs(np.mean([o.p_male < 0.5 for o in world]) - 0.25) < 0.05       # a quarter female-leaning


def test_the_stated_skew_distributions_give_the_original_stable_diffusions_bias():
    from fairlab.dal import occupations

    skews = occupations.draw_skews(20_000, np.random.default_rng(0))
    designed = pd.DataFrame([occupations.designed_bias(m, r, o)
                             for m, r, o in zip(skews["p_male"], skews["race"], skews["p_old"])]).mean()
    assert designed["gender"] == pytest.approx(0.68, abs=0.02) and designed["race"] == pytest.approx(0.44, abs=0.02)
    assert designed["gender × race"] == pytest.approx(0.22, abs=0.02)
    assert designed["freq_old"] == pytest.approx(0.20, abs=0.01)


def test_a_malformed_occupation_file_names_itself_and_what_was_expected(tmp_path):
    from fairlab.dal import occupations
    from fairlab.data import DataError

    bad = tmp_path / "occupations.csv"
    bad.write_text("occupation,split\nnurse,train\nbus driver,test\ncook,validation\n")
    with pytest.raises(DataError, match="occupations.csv: occupations must be distinct single words"):
        occupations.occupation_names(bad)
    bad.write_text("occupation,split\nnurse,train\ncook,dev\n")
    with pytest.raises(DataError, match="the splits must be exactly train, validation, test, got dev, train"):
        occupations.occupation_names(bad)


# ---- the loss, the preservation weights, the noise ----------------------------------------------------------------------

def test_the_alignment_loss_averages_over_every_image_including_those_without_a_target():
    import torch
    from fairlab.dal import loss

    logits = {"gender": torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, 0.0]]),
              "race": torch.zeros(4, 4)}
    labels = {"gender": np.array([0, 1, -1, -1]), "race": np.array([-1, 3, -1, -1])}
    expected = (torch.nn.functional.cross_entropy(logits["gender"][:2], torch.tensor([0, 1]), reduction="sum")
                + np.log(4.0)) / 4
    assert loss.alignment_loss(logits, labels).item() == pytest.approx(expected.item())
    nothing = loss.alignment_loss({"gender": logits["gender"].requires_grad_()}, {"gender": np.full(4, -1)})
    assert nothing.item() == 0.0 and nothing.requires_grad


def test_preservation_weights_take_the_smallest_factor_of_the_attributes_a_target_changes():
    from fairlab.dal import loss

    labels = {"gender": np.array([0, 1, -1, 1, 0]), "race": np.array([2, 2, 2, 0, 0])}
    original = {"gender": np.array([0, 0, 0, 1, 0]), "race": np.array([2, 2, 2, 2, 0])}
    changed = loss.changed_attributes(labels, original)
    assert changed["gender"].tolist() == [False, True, True, False, False]
    faces = np.array([True, True, True, True, False])
    assert loss.preservation_weight(changed, faces).tolist() == [1.0, 0.2, 0.2, 0.6, 1.0]
    assert loss.preservation_weight(changed, faces, no_face_weight=0.2)[-1] == 0.2
    assert loss.region_factor(changed).tolist() == [1.0, 0.2, 0.2, 0.3, 1.0]


def test_the_face_region_factor_scales_gradients_only_inside_the_box():
    import torch
    from fairlab.dal import loss

    images = torch.rand(2, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    boxes = loss.box_intersection(np.array([[1, 2, 5, 6], [0, 0, 8, 8]]), np.array([[2, 2, 9, 9], [3, 3, 4, 4]]))
    assert boxes.tolist() == [[2, 2, 5, 6], [3, 3, 4, 4]]
    out = loss.attenuate_inside(images, boxes, np.array([0.2, 0.3]))
    assert torch.equal(out, images)
    out.sum().backward()
    expected = torch.ones(2, 3, 8, 8, dtype=torch.float64)
    expected[0, :, 2:6, 2:5], expected[1, :, 3:4, 3:4] = 0.2, 0.3
    assert torch.allclose(images.grad, expected)


def test_the_same_prompt_and_index_give_the_same_noise_in_another_process():
    import subprocess
    import sys

    import torch
    from fairlab.dal import noise

    here = noise.initial_noise("a photo of the face of a nurse, a person", [0, 3], (4, 8, 8))
    code = ("import torch; from fairlab.dal import noise; "
            "torch.save(noise.initial_noise('a photo of the face of a nurse, a person', [3], (4, 8, 8)), sys.argv[1])")
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/noise.pt"
        subprocess.run([sys.executable, "-c", "import sys; " + code, path], check=True,
                       env={"PYTHONHASHSEED": "random", "PATH": ""})
        there = torch.load(path)
    assert torch.equal(here[1], there[0]) and not torch.equal(here[0], here[1])
    assert not torch.equal(here[0], noise.initial_noise("a photo of the face of a judge, a person", [0], (4, 8, 8))[0])


def test_an_occupations_faces_follow_its_designed_skews_cues_and_one_tone_per_race():
    from fairlab.dal import occupations
    from fairlab.faceworld.datasets import render_tensor

    judge = next(o for o in occupations.occupations() if o.name == "judge")
    scenes = occupations.occupation_scenes(judge, 4000, seed=0)
    assert scenes.equals(occupations.occupation_scenes(judge, 4000, seed=0))
    assert abs(scenes["Male"].mean() - judge.p_male) < 0.03 and abs((1 - scenes["Young"]).mean() - judge.p_old) < 0.03
    shares = np.bincount(scenes["race_class"], minlength=4) / len(scenes)
    assert np.abs(shares - np.array(judge.race_shares)).max() < 0.03
    for cue in judge.cues:
        assert scenes[cue].mean() >= occupations.CUE_RATE - 0.03
    tones = scenes.groupby("race_class")["tone"].unique()
    assert all(len(t) == 1 for t in tones) and len({t[0] for t in tones}) == len(tones)
    assert render_tensor(scenes.head(4), 39, 32, "studio").shape[:2] == (4, 3)


def test_the_training_and_evaluation_classifiers_read_balanced_occupation_renders_and_their_agreement():
    from fairlab.dal import classifiers
    from fairlab.faceworld import oracle
    from fairlab.faceworld.datasets import render_tensor

    scenes = classifiers.balanced_scenes(1500, seed=0)
    assert abs(scenes["Male"].mean() - 0.5) < 0.04 and abs((1 - scenes["Young"]).mean() - 0.5) < 0.04
    images = render_tensor(scenes, 39, 32, "studio")
    train, test = slice(0, 1200), slice(1200, 1500)
    held_out = scenes.iloc[test].reset_index(drop=True)
    trainer = classifiers.train_classifier(images[train], scenes.iloc[train], epochs=6, progress=False)
    read = classifiers.classify(trainer, images[test])
    truth = classifiers.attribute_labels(held_out)
    accuracy = {h: float((read[h] == truth[h]).mean()) for h in classifiers.HEADS}
    assert accuracy["race"] > 0.9 and accuracy["gender"] > 0.85, accuracy   # one tone per race class
    judge = oracle.train_attribute_net(images[train], scenes.iloc[train], epochs=6, progress=False, seed=1)
    graded = classifiers.evaluation_reading(oracle.predict(judge, images[test]))
    assert set(np.unique(graded["race"])) <= {-1, 0, 1, 2, 3}
    assert float((graded["race"] == truth["race"]).mean()) > 0.8
    together = classifiers.agreement(read, graded)
    assert set(together) == set(classifiers.HEADS) and all(0.0 <= v <= 1.0 for v in together.values())
    assert together["race"] > 0.8


def test_a_soft_prefix_trains_only_its_tokens_and_prompts_without_it_encode_as_before():
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel
    from fairlab import t2i
    from fairlab.dal import adapters

    torch.manual_seed(0)
    tokenizer = t2i.build_tokenizer(["a", "photo", "of", "the", "face", "nurse", "person"])
    text = CLIPTextModel(CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                        num_hidden_layers=1, num_attention_heads=4, max_position_embeddings=24,
                                        pad_token_id=0, bos_token_id=2, eos_token_id=3))
    prompt = "a photo of the face of a nurse, a person"
    plain = tokenizer([prompt], return_tensors="pt")
    before = text(**plain).last_hidden_state.detach().clone()
    prefix, parameter = adapters.add_soft_prefix(text, tokenizer, n=5)
    prefixed = tokenizer([prefix + prompt], return_tensors="pt")
    assert prefixed["input_ids"].shape[1] == plain["input_ids"].shape[1] + 5
    assert prefixed["input_ids"][0, 1:6].tolist() == list(range(len(tokenizer) - 5, len(tokenizer)))
    text(**prefixed).last_hidden_state.square().sum().backward()
    trained = [p for p in text.parameters() if p.requires_grad]
    assert len(trained) == 1 and trained[0] is parameter and parameter.grad is not None
    with torch.no_grad():
        parameter.add_(0.5)
    assert torch.equal(text(**plain).last_hidden_state, before)            # the original model: no prefix
    with pytest.raises(ValueError, match="already has the soft prefix"):
        adapters.add_soft_prefix(text, tokenizer)
