"""The real datasets' loaders on small folders in the official formats, and the papers' subsets."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fairlab.data import DataError
from fairlab.data.celeba import load_celeba
from fairlab.data.images import load_images
from fairlab.data.lfwa import KUMAR_ATTRIBUTES, load_lfwa
from fairlab.data.subsets import bias_quotas, biased_subset, group_counts, random_split, utkface_splits
from fairlab.data.synthetic import load_synthetic
from fairlab.data.utkface import load_utkface, parse_name

ATTRS = ["5_o_Clock_Shadow", "Male", "Smiling", "Young"]


def tiny_jpeg(path, value=128, size=(10, 12)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), value, np.uint8)).save(path, format="JPEG")


def celeba_folder(root, groups, partitions=None, csv=False):
    """``groups`` lists (Smiling, Male) per image, in index order."""
    names = [f"{i + 1:06d}.jpg" for i in range(len(groups))]
    partitions = partitions or [0] * len(groups)
    for name in names:
        tiny_jpeg(root / "img_align_celeba" / name)
    rows = [[-1, 2 * m - 1, 2 * s - 1, 1] for s, m in groups]
    if csv:
        pd.DataFrame(rows, columns=ATTRS).assign(image_id=names)[["image_id"] + ATTRS].to_csv(root / "list_attr_celeba.csv", index=False)
        pd.DataFrame({"image_id": names, "partition": partitions}).to_csv(root / "list_eval_partition.csv", index=False)
    else:
        lines = [str(len(names)), " ".join(ATTRS)] + [n + " " + " ".join(f"{v:2d}" for v in r) for n, r in zip(names, rows)]
        (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
        (root / "list_eval_partition.txt").write_text("".join(f"{n} {p}\n" for n, p in zip(names, partitions)))
    return names


@pytest.mark.parametrize("csv", [False, True])
def test_celeba_official_and_csv_layouts_load_the_same(tmp_path, csv):
    celeba_folder(tmp_path, [(1, 0), (0, 1), (1, 1)], partitions=[0, 1, 2], csv=csv)
    frame = load_celeba(tmp_path)
    assert list(frame.index) == ["000001.jpg", "000002.jpg", "000003.jpg"]
    assert frame["Smiling"].tolist() == [1, 0, 1] and frame["Male"].tolist() == [0, 1, 1]
    assert frame["partition"].tolist() == ["train", "val", "test"]
    assert frame["Young"].dtype == np.int8


def test_celeba_count_line_must_match(tmp_path):
    celeba_folder(tmp_path, [(1, 0), (0, 1)])
    text = (tmp_path / "list_attr_celeba.txt").read_text().replace("2\n", "3\n", 1)
    (tmp_path / "list_attr_celeba.txt").write_text(text)
    with pytest.raises(DataError, match="count line says 3 images but 2 rows follow"):
        load_celeba(tmp_path)


def test_celeba_missing_files_name_the_file_and_the_layout(tmp_path):
    with pytest.raises(DataError, match=r"(?s)list_attr_celeba\.txt: file not found.*img_align_celeba"):
        load_celeba(tmp_path)
    celeba_folder(tmp_path, [(1, 0)])
    (tmp_path / "img_align_celeba" / "000001.jpg").unlink()
    with pytest.raises(DataError, match=r"000001\.jpg: image listed in the attribute file is missing"):
        load_celeba(tmp_path)


@pytest.mark.parametrize("csv", [False, True])
def test_a_truncated_attribute_value_names_the_file_the_line_the_image_and_the_attribute(tmp_path, csv):
    celeba_folder(tmp_path, [(1, 1), (0, 0), (1, 0)], csv=csv)
    path = tmp_path / ("list_attr_celeba.csv" if csv else "list_attr_celeba.txt")
    lines = path.read_text().splitlines()
    row = 2 if csv else 3  # 0-based: the second image's row
    if csv:
        cells = lines[row].split(",")
        cells[ATTRS.index("Male") + 1] = "-"
        lines[row] = ",".join(cells)
    else:
        cells = lines[row].split()
        cells[ATTRS.index("Male") + 1] = "-"
        lines[row] = " ".join(cells)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=rf"{path.name}: line {row + 1}, image '000002.jpg', attribute 'Male': "
                                        r"expected -1 or 1, got '-'"):
        load_celeba(tmp_path)


def test_unknown_attribute_is_named_with_the_valid_ones(tmp_path):
    celeba_folder(tmp_path, [(1, 0)] * 4)
    with pytest.raises(DataError, match=r"unknown attribute 'Smilling'; valid attributes: .*Smiling"):
        biased_subset(load_celeba(tmp_path), "Smilling", "Male", 2)


def test_utkface_names_parse_and_malformed_ones_are_skipped_with_one_warning(tmp_path):
    folder = tmp_path / "UTKFace"
    for name in ["26_0_0_20170116174525125.jpg.chip.jpg", "3_1_2_20161219222749039.jpg.chip.jpg",
                 "61_1_20170109150557335.jpg.chip.jpg", "39_1_20170116174525125.jpg.chip.jpg"]:
        tiny_jpeg(folder / name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = load_utkface(tmp_path)
    assert len(frame) == 2
    assert [str(w.message) for w in caught if "skipped 2" in str(w.message)]
    row = frame.loc["3_1_2_20161219222749039.jpg.chip.jpg"]
    assert (row["age"], row["Female"], row["White"], row["race"]) == (3, 1, 0, 2)
    assert parse_name("26_0_0_20170116174525125.jpg.chip.jpg")["White"] == 1
    assert parse_name("26_0_0_2017011617452512 .jpg.chip.jpg") is not None  # a cosmetic defect still parses


def write_lfwa(root, people):
    lines = ["# LFW attributes", "#\t" + "\t".join(("person", "imagenum") + KUMAR_ATTRIBUTES)]
    for name, male, makeup in people:
        scores = [0.0] * len(KUMAR_ATTRIBUTES)
        scores[0], scores[60] = (1.2 if male else -0.8), (0.9 if makeup else -1.1)
        lines.append("\t".join([name, "1"] + [f"{v:.3f}" for v in scores]))
        folder = name.replace(" ", "_")
        tiny_jpeg(root / "lfw2" / folder / f"{folder}_0001.jpg")
    (root / "lfw_attributes.txt").write_text("\n".join(lines) + "\n")


def test_lfwa_reads_gender_and_heavy_makeup_from_the_scores(tmp_path):
    write_lfwa(tmp_path, [("Aaron Eckhart", True, False), ("Jane Doe", False, True)])
    frame = load_lfwa(tmp_path)
    assert frame["Male"].tolist() == [1, 0] and frame["Heavy_Makeup"].tolist() == [0, 1]
    assert KUMAR_ATTRIBUTES[60] == "Heavy Makeup"
    assert frame["path"].iloc[0].endswith("lfw2/Aaron_Eckhart/Aaron_Eckhart_0001.jpg")
    assert frame["score:Male"].iloc[0] == pytest.approx(1.2)


def test_a_corrupt_jpeg_is_reported_by_name(tmp_path):
    good, bad = tmp_path / "good.jpg", tmp_path / "bad.jpg"
    tiny_jpeg(good)
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    with pytest.raises(DataError, match=r"bad\.jpg: corrupt or unreadable image"):
        load_images([str(good), str(bad)], (12, 10), use_cache=False, progress=False)


def test_the_image_cache_is_reused_and_keyed_by_resolution(tmp_path):
    files = []
    for i in range(3):
        files.append(tmp_path / f"{i}.jpg")
        tiny_jpeg(files[-1], value=40 * i)
    first = load_images(files, (12, 10), progress=False)
    assert first.shape == (3, 3, 12, 10) and first.dtype.is_floating_point is False
    files[0].unlink()
    tiny_jpeg(files[0], value=40)  # rewritten: new size/mtime, so a new cache entry
    assert load_images(files, (6, 5), progress=False).shape == (3, 3, 6, 5)


def test_synthetic_folders_take_their_labels_from_the_folder(tmp_path):
    for group in ("0_0", "1_1"):
        tiny_jpeg(tmp_path / group / "000.png")
    pd.DataFrame({"file": ["0_0/000.png", "1_1/000.png"], "group": ["0_0", "1_1"], "prompt": ["a", "b"],
                  "seed": [1, 2]}).to_csv(tmp_path / "manifest.csv", index=False)
    frame = load_synthetic(tmp_path).set_index("file")
    assert frame.loc["1_1/000.png", "target"] == 1 and frame.loc["1_1/000.png", "prompt"] == "b"


def test_biased_subset_takes_the_first_images_of_each_group_and_counts_are_exact(tmp_path):
    rng = np.random.default_rng(0)
    groups = [tuple(rng.integers(0, 2, 2)) for _ in range(400)]
    celeba_folder(tmp_path, groups)
    frame = load_celeba(tmp_path)
    subset = biased_subset(frame, "Smiling", "Male", 100)
    assert group_counts(subset) == {"0_0": 5, "0_1": 45, "1_0": 45, "1_1": 5} == bias_quotas(100)
    for group, quota in bias_quotas(100).items():  # the first `quota` images of each group, in index order
        members = frame[(frame["Smiling"].astype(str) + "_" + frame["Male"].astype(str)) == group]
        assert list(subset[subset["group"] == group].index) == list(members.index[:quota])
    smaller = biased_subset(frame, "Smiling", "Male", 40)
    assert set(smaller.index) <= set(subset.index)  # smaller subsets are per-group prefixes
    seeded = biased_subset(frame, "Smiling", "Male", 100, rule="random", seed=3)
    assert group_counts(seeded) == group_counts(subset) and list(seeded.index) != list(subset.index)


def test_quotas_round_instead_of_truncating():
    assert bias_quotas(20000) == {"0_0": 1000, "0_1": 9000, "1_0": 9000, "1_1": 1000}
    assert bias_quotas(10000, minority_share=0.4) == {"0_0": 2000, "0_1": 3000, "1_0": 3000, "1_1": 2000}


def test_a_group_too_small_for_its_quota_is_an_error():
    frame = pd.DataFrame({"Smiling": [0, 0, 1, 1], "Male": [0, 1, 0, 1]})
    with pytest.raises(DataError, match=r"group 0_0 \(Smiling=0, Male=0\) needs 5 images but the pool has only 1"):
        biased_subset(frame, "Smiling", "Male", 100)


def test_utkface_splits_are_disjoint_with_a_balanced_test_set():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"Female": rng.integers(0, 2, 3000), "White": rng.integers(0, 2, 3000)},
                         index=[f"img{i}" for i in range(3000)])
    splits = utkface_splits(frame, train_size=1000, test_per_group=100, seed=1)
    assert group_counts(splits["test"]) == {g: 100 for g in ("0_0", "0_1", "1_0", "1_1")}
    assert group_counts(splits["train"]) == bias_quotas(1000)
    names = [set(part.index) for part in splits.values()]
    assert not (names[0] & names[1]) and not (names[0] & names[2]) and not (names[1] & names[2])
    assert len(splits["val"]) == round(0.1 * (3000 - 400 - 1000))


def test_random_split_rounds_the_test_share_up():
    parts = random_split(pd.DataFrame({"x": range(13143)}), 0.4, 1000, seed=0)
    assert (len(parts["train"]), len(parts["val"]), len(parts["test"])) == (6885, 1000, 5258)
