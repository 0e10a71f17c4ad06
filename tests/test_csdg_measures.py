"""What the CSDG page measures: stated attributes, fidelity, label noise, diversity, S1/S2 and the training helpers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from fairlab import t2i
from fairlab.aimfair import csdg
from fairlab.aimfair.generation import jobs_for
from fairlab.aimfair.settings import SETTINGS
from fairlab.faceworld.oracle import BINARY
from fairlab.metrics.generation import vendi_score
from fairlab.profiles import load_profile


def test_stated_reads_group_words_and_detail_phrases():
    got = csdg.stated("Portrait face photo of a smiling male with black hair, eyeglasses, and head turned left.",
                      SETTINGS["CelebA S/M"])
    assert got == {"Smiling": 1, "Male": 1, "Black_Hair": 1, "Eyeglasses": 1}
    got = csdg.stated("Portrait face photo of a non-smiling old person with a beard.", SETTINGS["CelebA S/Y"])
    assert got == {"Smiling": 0, "Young": 0, "No_Beard": 0}


def test_black_hair_does_not_make_a_white_face_non_white():
    got = csdg.stated("Face photo of a 30-year-old white female with black hair.", SETTINGS["UTK F/W"])
    assert got["White"] == 1 and got["Female"] == 1


def _reading(**columns) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    frame = pd.DataFrame({name: np.zeros(n, dtype=int) for name in BINARY})
    frame["race"] = 0
    for name, values in columns.items():
        frame[name] = values
    return csdg.oracle_values(frame)


def test_fidelity_is_the_share_of_images_showing_what_their_prompt_asked_for():
    frame = pd.DataFrame({"prompt": ["portrait face photo of a smiling male with eyeglasses"] * 4})
    read = _reading(Smiling=[1, 1, 1, 0], Male=[1, 1, 1, 1], Eyeglasses=[1, 0, 0, 0])
    fid = csdg.fidelity(frame, read, SETTINGS["CelebA S/M"])
    assert fid["Smiling"] == {"fidelity": 0.75, "images": 4}
    assert fid["Male"]["fidelity"] == 1.0 and fid["Eyeglasses"]["fidelity"] == 0.25


def test_label_noise_counts_images_whose_reading_contradicts_their_folder():
    frame = pd.DataFrame({"group": ["1_1", "1_1", "0_0", "0_0"], "target": [1, 1, 0, 0], "protected": [1, 1, 0, 0]})
    read = _reading(Smiling=[1, 0, 0, 0], Male=[1, 1, 1, 0])
    noise = csdg.label_noise(frame, read, SETTINGS["CelebA S/M"])
    assert noise["target"] == 0.25 and noise["protected"] == 0.25 and noise["either"] == 0.5
    assert noise["per_group"] == {"1_1": 0.5, "0_0": 0.5}


def test_utkface_readings_map_male_and_race_to_female_and_white():
    read = _reading(Male=[1, 0], race=[0, 2])
    assert read["Female"].tolist() == [0, 1] and read["White"].tolist() == [1, 0]


def test_vendi_score_counts_effective_distinct_images():
    assert vendi_score(np.ones((10, 4))) == pytest.approx(1.0)
    assert vendi_score(np.eye(6)) == pytest.approx(6.0)
    two_kinds = np.repeat(np.eye(2), 5, axis=0)
    assert vendi_score(two_kinds) == pytest.approx(2.0)


def test_attribute_entropy_is_zero_when_images_agree_and_one_bit_at_half():
    groups = np.array(["0_0"] * 4)
    agreeing = _reading(Eyeglasses=[1, 1, 1, 1])
    assert csdg.attribute_entropy(agreeing, groups, exclude=()) == pytest.approx(0.0, abs=1e-9)
    half = _reading(**{name: [0, 1, 0, 1] for name in BINARY})
    assert csdg.attribute_entropy(half, groups, exclude=()) == pytest.approx(1.0)


def test_each_group_cycles_through_its_prompts():
    jobs = jobs_for({"0_0": ["a b c d", "e f g h"], "1_1": ["only one prompt"]}, 5)
    assert [(k, i) for g, k, _, i in jobs if g == "0_0"] == [(0, 0), (1, 0), (0, 1), (1, 1), (0, 2)]
    assert [(k, i) for g, k, _, i in jobs if g == "1_1"] == [(0, i) for i in range(5)]


def test_step_limit_stops_mid_epoch_after_the_requested_steps():
    batches = t2i.StepLimit(list(range(4)), 10)
    assert batches.epochs == 3
    seen = [b for _ in range(batches.epochs) for b in batches]
    assert seen == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]


def test_training_captions_drop_whole_captions_for_guidance():
    scenes = csdg.world.celeba_scenes(50, 0).assign(style="celeba")
    write = csdg.caption_writer(scenes, detail_dropout=0.0, caption_dropout=0.5)
    captions = write(np.arange(50), torch.Generator().manual_seed(0))
    empty = sum(c == "" for c in captions)
    assert 10 < empty < 40
    assert all(c.startswith("portrait face photo of a") for c in captions if c)


def test_mini_pools_hold_s2_and_every_s1():
    profile = load_profile("mini")
    for label, setting in SETTINGS.items():
        n_real = csdg.real_size(profile, setting)
        biggest_s1_group = max(csdg.bias_quotas(profile.csdg.s1_size or n_real, 0.1).values())
        assert profile.csdg.pool_per_group >= max(round(n_real / 4), biggest_s1_group), label
    assert profile.csdg.table5_per_group <= profile.csdg.pool_per_group


class _CountingComposer(csdg.ComposerBackend):
    calls = 0

    def complete(self, request, attempt):
        type(self).calls += 1
        return super().complete(request, attempt)


def test_prompts_are_asked_once_and_then_read_from_the_cache(tmp_path, monkeypatch):
    from fairlab.results import Registry
    from fairlab.study import Study

    monkeypatch.setattr(csdg, "backend_for", lambda profile: _CountingComposer())
    study = Study(load_profile("smoke"), Registry("smoke", root=tmp_path))
    first = csdg.prompt_set(study, "CelebA S/M", "ctx25")
    asked = _CountingComposer.calls
    again = csdg.prompt_set(study, "CelebA S/M", "ctx25")
    assert asked >= 4 and _CountingComposer.calls == asked
    assert again.prompts == first.prompts and again.provenance["backend"] == "composer"
    assert all(len(p) == 25 for p in first.prompts.values())
    cached = list((tmp_path / "smoke" / "prompt_cache").glob("*.json"))
    assert len(cached) == 1


def test_a_smaller_pool_is_the_first_images_of_a_larger_one():
    prompts = {"0_0": ["a b c d", "e f g h", "i j k l"], "1_1": ["m n o p"]}
    small, large = jobs_for(prompts, 4), jobs_for(prompts, 9)
    assert set(small) <= set(large)


def test_a_drawn_set_takes_each_groups_quota_in_pool_order_and_never_pads_a_group_the_pool_lacks(tmp_path):
    import pandas as pd

    pool = pd.DataFrame({"file": [f"{i}.png" for i in range(10)], "group": ["0_0"] * 6 + ["1_1"] * 4,
                         "target": [0] * 6 + [1] * 4, "protected": [0] * 6 + [1] * 4, "prompt_id": 0, "prompt": "p", "seed": 0})
    got = csdg.draw_set(pool, {"0_0": 3, "1_1": 7}, seed=5, out=tmp_path / "S.csv")
    drawn = pd.read_csv(tmp_path / "S.csv")
    assert got == {"0_0": 3, "1_1": 4} and len(drawn) == 7
    assert drawn["file"].tolist() == sorted(drawn["file"].tolist(), key=lambda f: int(f.split(".")[0]))
    csdg.draw_set(pool, {"0_0": 3, "1_1": 7}, seed=5, out=tmp_path / "again.csv")
    assert pd.read_csv(tmp_path / "again.csv").equals(drawn)
