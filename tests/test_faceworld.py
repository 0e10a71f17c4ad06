"""FaceWorld: calibrated sampler, deterministic renderer, visible attributes, real formats."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fairlab.cli import app
from fairlab.faceworld import formats, render, sampler, world


@pytest.fixture(scope="module")
def large_sample():
    return sampler.celeba_copula().sample(100_000, np.random.default_rng(0), "train")


def test_marginals_follow_celeba_per_partition(large_sample):
    real = sampler.real_marginals()
    assert (large_sample.mean() - real["frac_train"]).abs().max() < 0.006
    test = sampler.celeba_copula().sample(100_000, np.random.default_rng(1), "test")
    assert test["Big_Lips"].mean() == pytest.approx(real.loc["Big_Lips", "frac_test"], abs=0.006)


def test_pairwise_dependence_follows_celeba(large_sample):
    ours, real = sampler.pairwise_phi(large_sample), sampler.real_phi("train")
    gaps = (ours - real).abs().to_numpy()[np.triu_indices(40, 1)]
    assert gaps.mean() < 0.01 and gaps.max() < 0.08
    assert ours.loc["Male", "Wearing_Lipstick"] == pytest.approx(-0.79, abs=0.02)
    assert ours.loc["High_Cheekbones", "Smiling"] == pytest.approx(0.68, abs=0.02)
    assert abs(ours.loc["Smiling", "Young"]) < 0.05


def test_utkface_labels_follow_the_real_joint():
    frame = world.utkface_scenes(20000, seed=0)
    cells = sampler.utkface_cells()
    real_female = cells.loc[cells["gender"] == 1, "count"].sum() / cells["count"].sum()
    assert frame["gender"].mean() == pytest.approx(real_female, abs=0.015)
    assert (frame["Male"] == (frame["gender"] == 0)).all()
    assert frame.loc[frame["age"] < 13, "Mustache"].sum() == 0


def test_same_attributes_and_seed_give_the_same_pixels_whatever_the_batch():
    scenes = world.celeba_scenes(6, seed=4)
    alone = render.render(scenes.iloc[[3]].reset_index(drop=True), 40)
    together = render.render(scenes, 40)
    assert np.array_equal(alone[0], together[3])
    again = render.render(scenes, 40)
    assert np.array_equal(together, again)


# attribute -> the other attributes it needs to show (e.g. a beard needs a man)
NEEDS = {"No_Beard": {"Male": 1}, "Goatee": {"Male": 1}, "Mustache": {"Male": 1}, "Sideburns": {"Male": 1},
         "5_o_Clock_Shadow": {"Male": 1}, "Straight_Hair": {"Wavy_Hair": 0, "Bald": 0}, "Wavy_Hair": {"Bald": 0},
         "Bangs": {"Bald": 0, "Wearing_Hat": 0}, "Black_Hair": {"Blond_Hair": 0, "Brown_Hair": 0, "Gray_Hair": 0, "Bald": 0},
         "Brown_Hair": {"Blond_Hair": 0, "Gray_Hair": 0, "Bald": 0}, "Blond_Hair": {"Gray_Hair": 0, "Bald": 0},
         "Gray_Hair": {"Bald": 0}, "Receding_Hairline": {"Bald": 0, "Wearing_Hat": 0, "Bangs": 0},
         "Mouth_Slightly_Open": {"Smiling": 0}, "Wearing_Lipstick": {"Heavy_Makeup": 0},
         "Pale_Skin": {}, "Bald": {"Wearing_Hat": 0}}


@pytest.mark.parametrize("attribute", [a for a in render.RENDERED if a not in ("Young", "Pale_Skin")])
def test_every_rendered_attribute_changes_the_image(attribute):
    plain = {a: 0 for a in render.RENDERED} | {"Young": 1, "Male": 0, "No_Beard": 1, "age": 30, "yaw": 0.0, "tilt": 0.0}
    scene = world.celeba_scenes(1, seed=11).assign(**plain)
    scene = scene.assign(**NEEDS.get(attribute, {}))
    off = scene.assign(**{attribute: 1 - scene[attribute].iloc[0]})
    a, b = render.render(pd.concat([scene, off], ignore_index=True), 64, domain="studio")
    assert np.abs(a.astype(int) - b.astype(int)).max() > 8, attribute


def test_a_smile_shows_in_the_eyes_and_cheeks_as_well_as_the_mouth():
    # a mouth alone spans a handful of rows at 64 px; a smile that narrows the eyes and lifts the cheeks spans the
    # face from the lower lids to the chin
    scenes = world.celeba_scenes(50, seed=3).assign(yaw=0.0, tilt=0.0)
    off = render.render(scenes.assign(Smiling=0), 64, domain="studio", workers=1).astype(int)
    on = render.render(scenes.assign(Smiling=1), 64, domain="studio", workers=1).astype(int)
    rows_changed = ((np.abs(on - off).max(axis=-1) > 8).mean(axis=0).mean(axis=1) > 0.1).sum()
    assert rows_changed >= 15


def test_the_smiles_footprint_is_a_sizeable_share_of_genders():
    scenes = world.celeba_scenes(50, seed=4)
    smiling = render.changed_pixels(scenes, "Smiling", 39, 32).mean()
    male = render.changed_pixels(scenes, "Male", 39, 32).mean()
    assert smiling > 0.25 * male


def test_changed_pixels_names_the_rendered_attributes_when_given_another():
    with pytest.raises(ValueError, match="unknown attribute 'Smile'"):
        render.changed_pixels(world.celeba_scenes(2, seed=0), "Smile", 32)


def test_age_and_skin_tone_change_the_image():
    scene = world.celeba_scenes(1, seed=2).assign(Bald=0, Wearing_Hat=0)
    young, old = render.render(pd.concat([scene.assign(age=25), scene.assign(age=75)], ignore_index=True), 64, domain="studio")
    assert np.abs(young.astype(int) - old.astype(int)).max() > 40
    light, dark = render.render(pd.concat([scene.assign(tone=1), scene.assign(tone=6)], ignore_index=True), 64, domain="studio")
    assert light.mean() > dark.mean() + 5


def test_a_face_changes_more_across_celebas_young_boundary_than_within_young():
    # CelebA's Young is the labellers' reading of a face, drawn here below 40: a face must age visibly through its
    # late thirties and forties (lines, dulling skin, greying hair), more than it does from 25 to 35
    scenes = world.celeba_scenes(60, seed=6).assign(yaw=0.0, tilt=0.0, Gray_Hair=0)
    faces = {age: render.render(scenes.assign(age=age), 32, domain="studio", workers=1).astype(int) for age in (25, 35, 45)}
    changed = lambda a, b: (np.abs(faces[a] - faces[b]).max(axis=-1) > 8).sum(axis=(1, 2))
    assert (changed(35, 45) > changed(25, 35)).mean() > 0.9


def test_a_girls_hair_reaches_beside_her_jaw_and_a_boys_is_cropped_above_it():
    # before adolescence hair is the only thing Male changes; girls' hair falls to the shoulders or is bobbed to the
    # jaw, boys' is mostly cropped (6 % long), so toggling Male changes the rows beside the jaw on almost every child
    scenes = world.celeba_scenes(100, seed=5).assign(yaw=0.0, tilt=0.0, Bald=0, Wearing_Hat=0, age=8)
    girls = render.render(scenes.assign(Male=0), 64, domain="studio", workers=1).astype(int)
    boys = render.render(scenes.assign(Male=1), 64, domain="studio", workers=1).astype(int)
    beside_jaw = (np.abs(girls - boys).max(axis=-1) > 8)[:, int(64 * 0.55):int(64 * 0.68), :]
    assert (beside_jaw.sum(axis=(1, 2)) > 10).mean() >= 0.85


CLEAN_SHAVEN_BARE_FACE = {"No_Beard": 1, "Goatee": 0, "Mustache": 0, "Sideburns": 0, "5_o_Clock_Shadow": 0,
                          "Wearing_Lipstick": 0, "Heavy_Makeup": 0, "Smiling": 0, "Mouth_Slightly_Open": 0,
                          "Double_Chin": 0, "Rosy_Cheeks": 0, "High_Cheekbones": 0, "Eyeglasses": 0, "Chubby": 0,
                          "yaw": 0.0, "tilt": 0.0, "age": 30}


def test_a_clean_shaven_mans_chin_is_darker_than_his_cheeks_and_a_womans_is_not():
    # the beard shadow: stubble under shaven skin darkens a man's lower face, one of the contrasts that tell faces'
    # gender apart when nothing else (beard, make-up) does
    scenes = world.celeba_scenes(40, seed=7).assign(**CLEAN_SHAVEN_BARE_FACE)
    chin_over_cheek = {}
    for male in (0, 1):
        sc = scenes.assign(Male=male)
        grey = render.render(sc, 64, domain="studio", workers=1).astype(float).mean(axis=-1)
        s = render._scene(sc, 64, 64, "studio")
        across, down = np.broadcast_to(np.abs(s.x - s.face_cx), grey.shape), np.broadcast_to(s.y, grey.shape)
        chin = (across < 0.1) & (down > 0.36) & (down < 0.44)
        cheek = (across > 0.22) & (across < 0.3) & (down > 0.0) & (down < 0.08)
        chin_over_cheek[male] = np.array([g[c].mean() / g[k].mean() for g, c, k in zip(grey, chin, cheek)])
    assert (chin_over_cheek[1] < 0.93).all() and (chin_over_cheek[0] > 0.97).all()


def test_a_bare_faced_womans_eyes_are_larger_and_a_mans_nose_broader():
    # the eyes and the nose carry gender on a bare face (larger eyes on women, a broader nose on men); without them
    # the grey hair that CelebA's labels put mostly on men outweighed gender on old women
    scenes = world.celeba_scenes(40, seed=9).assign(**CLEAN_SHAVEN_BARE_FACE, Big_Nose=0, Pointy_Nose=0, Narrow_Eyes=0)
    eye_opening, nose_shade = {}, {}
    for male in (0, 1):
        sc = scenes.assign(Male=male)
        image = render.render(sc, 64, domain="studio", workers=1).astype(float)
        s = render._scene(sc, 64, 64, "studio")
        across, down = np.broadcast_to(np.abs(s.x - s.face_cx), image.shape[:3]), np.broadcast_to(s.y, image.shape[:3])
        # beside the iris, between the brow's lower edge and the cheek: the open eye, its lashes included
        eyes = (np.abs(np.abs(across - 0.165) - 0.06) < 0.012) & (down > -0.1) & (down < 0.0)
        off_skin = np.abs(image / 255 - s.skin[:, None, None, :]).max(axis=-1) > 0.25
        eye_opening[male] = (off_skin & eyes).sum(axis=(1, 2))
        nose = (across < 0.12) & (down > 0.02) & (down < 0.12)
        grey = image.mean(axis=-1)
        nose_shade[male] = np.array([(g[m] < 0.93 * np.percentile(g[m], 90)).mean() for g, m in zip(grey, nose)])
    assert eye_opening[0].mean() > 1.15 * eye_opening[1].mean()
    assert nose_shade[1].mean() > 1.08 * nose_shade[0].mean()


def test_women_grey_less_than_men_of_the_same_age_by_the_ratio_celebas_labels_give():
    # CelebA: Gray_Hair 8x rarer among women than men, not-Young 2.9x rarer: women grey about 2.75x less at an age
    assert 2.6 < render.women_grey_rarer() < 2.9
    scenes = world.celeba_scenes(20, seed=8).assign(Gray_Hair=0, Blond_Hair=0, Brown_Hair=0, Black_Hair=1)
    hair = {(male, age): render._scene(scenes.assign(Male=male, age=age), 32, 32, "studio").hair
            for male in (0, 1) for age in (25, 70)}
    grey_of = {male: (hair[male, 70] - hair[male, 25]).mean(axis=1) for male in (0, 1)}
    assert np.allclose(grey_of[0] * render.women_grey_rarer(), grey_of[1], rtol=1e-3)
    assert (grey_of[1] > 0.1).all()


def test_the_photo_domain_differs_from_the_studio_domain():
    scenes = world.celeba_scenes(8, seed=3)
    photo, studio = render.render(scenes, 32, domain="photo"), render.render(scenes, 32, domain="studio")
    assert np.abs(photo.astype(int) - studio.astype(int)).mean() > 10


def test_faceworld_make_then_data_subset_gives_the_90_10_layout(tmp_path):
    runner = CliRunner()
    made = runner.invoke(app, ["faceworld", "make", "--format", "celeba", "--domain", "photo", "--n", "3000",
                               "--seed", "1", "--out", str(tmp_path / "fw"), "--size", "16"])
    assert made.exit_code == 0, made.output
    out = tmp_path / "subset.csv"
    chosen = runner.invoke(app, ["data", "subset", "--dataset", "celeba", "--root", str(tmp_path / "fw"), "--target", "Smiling",
                                 "--protected", "Male", "--size", "400", "--out", str(out)])
    assert chosen.exit_code == 0, chosen.output
    subset = pd.read_csv(out)
    assert subset["group"].value_counts().to_dict() == {"0_1": 180, "1_0": 180, "0_0": 20, "1_1": 20}
    assert "(1,1)  Smiling=1 Male=1: 20" in chosen.output


@pytest.mark.parametrize("fmt", ["utkface", "lfwa"])
def test_faceworld_writes_formats_the_real_loaders_read(tmp_path, fmt):
    from fairlab.data.sources import load_dataset

    scenes = formats.make(fmt, "studio", 40, seed=2, out=tmp_path, size=16, workers=1, progress=False)
    frame = load_dataset(fmt, tmp_path)
    assert len(frame) == 40
    if fmt == "utkface":
        assert sorted(frame["Female"].tolist()) == sorted(scenes["gender"].tolist())
    else:
        assert frame["Male"].tolist() == scenes["Male"].tolist()
        assert frame["Heavy_Makeup"].tolist() == scenes["Heavy_Makeup"].tolist()


def test_celeba_format_keeps_the_official_partition_order_and_proportions(tmp_path):
    from fairlab.data.celeba import load_celeba

    formats.make("celeba", "photo", 500, seed=0, out=tmp_path, size=16, workers=1, progress=False)
    frame = load_celeba(tmp_path)
    sizes = frame["partition"].value_counts().to_dict()
    assert sizes == formats.celeba_partition_sizes(500) == {"train": 402, "val": 49, "test": 49}
    assert list(frame["partition"].iloc[[0, 401, 402, 451, 499]]) == ["train", "train", "val", "test", "test"]


def _make(out, *extra, n="12"):
    return CliRunner().invoke(app, ["faceworld", "make", "--format", "utkface", "--domain", "photo", "--n", n,
                                    "--out", str(out), "--size", "16", *extra])


@pytest.mark.parametrize("extra, n, message", [((), "-5", "--n"), (("--size", "0"), "5", "--size"),
                                               (("--size", "-3"), "5", "--size")])
def test_faceworld_make_refuses_a_count_or_size_that_cannot_be_rendered(tmp_path, extra, n, message):
    result = _make(tmp_path / "out", *extra, n=n)
    assert result.exit_code == 2 and message in result.output and not (tmp_path / "out").exists()


def test_faceworld_make_refuses_a_file_or_a_folder_holding_a_dataset_and_overwrite_replaces_it(tmp_path):
    from fairlab.data.sources import load_dataset

    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    result = _make(a_file)
    assert result.exit_code == 2 and f"{a_file}: --out is a file" in result.output and a_file.read_text() == "mine"
    out = tmp_path / "utk"
    assert _make(out, n="20").exit_code == 0
    result = _make(out)
    assert result.exit_code == 2 and "the folder is not empty" in result.output and len(load_dataset("utkface", out)) == 20
    assert _make(out, "--overwrite").exit_code == 0
    assert len(load_dataset("utkface", out)) == 12  # replaced, not mixed with the 20 before


def test_an_interrupted_faceworld_make_leaves_the_previous_dataset_and_no_half_written_one(tmp_path, monkeypatch):
    from fairlab.data.sources import load_dataset

    out = tmp_path / "utk"
    assert _make(out, n="20").exit_code == 0
    real_render = formats.render_files

    def interrupted(scenes, folder, *args, **kwargs):
        real_render(scenes.iloc[:5], folder, *args, **kwargs)  # some images written, then the process is stopped
        raise KeyboardInterrupt

    monkeypatch.setattr(formats, "render_files", interrupted)
    with pytest.raises(KeyboardInterrupt):
        formats.make_folder("utkface", "photo", 12, 0, out, size=16, overwrite=True, progress=False)
    assert len(load_dataset("utkface", out)) == 20
    assert sorted(p.name for p in tmp_path.iterdir()) == ["utk"]
