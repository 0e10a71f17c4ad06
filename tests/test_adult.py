"""UCI Adult: the vendored files are verified and preprocessed to the paper's exact counts."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from fairlab.data import DataError
from fairlab.data.adult import SHIPPED_DIR, load_adult, read_raw


@pytest.fixture(scope="module")
def splits():
    return load_adult()


def test_splits_have_the_papers_sizes(splits):
    assert splits.sizes() == {"pretrain": 18430, "train": 12287, "val": 5000, "test": 10315}


def test_features_exclude_sex_and_race_and_number_34(splits):
    assert len(splits.feature_names) == 34
    assert not any(name.startswith(("sex", "race", "fnlwgt")) for name in splits.feature_names)
    assert splits.train.x.shape == (12287, 34) and splits.train.x.dtype == np.float32


def test_labels_and_groups_are_binary_with_men_as_s_1(splits):
    for part in (splits.pretrain, splits.train, splits.val, splits.test):
        assert set(np.unique(part.y)) == {0, 1} and set(np.unique(part.s)) == {0, 1}
    assert 0.28 < np.mean(splits.train.s == 0) < 0.36  # about a third of the rows are women
    assert 0.2 < np.mean(splits.train.y) < 0.3


def test_splits_are_seeded_and_disjoint(splits):
    again = load_adult()
    assert np.array_equal(again.train.rows, splits.train.rows)
    assert not set(splits.train.rows) & set(splits.pretrain.rows)
    assert not set(splits.val.rows) & set(splits.test.rows)


def test_a_corrupt_file_is_rejected_with_its_name(tmp_path):
    data = gzip.decompress((SHIPPED_DIR / "adult.data.gz").read_bytes())
    (tmp_path / "adult.data").write_bytes(data.replace(b"State-gov", b"State-gob", 1))
    with pytest.raises(DataError, match=r"adult\.data: sha256 .* does not match"):
        read_raw("adult.data", tmp_path)


def test_a_missing_file_names_the_expected_file(tmp_path):
    with pytest.raises(DataError, match=r"adult\.test.*file not found"):
        read_raw("adult.test", tmp_path)


def test_a_plain_copy_of_the_original_is_accepted(tmp_path):
    (tmp_path / "adult.test").write_bytes(gzip.decompress((SHIPPED_DIR / "adult.test.gz").read_bytes()))
    assert read_raw("adult.test", tmp_path) == read_raw("adult.test")


def test_a_broken_gzip_is_reported_as_such(tmp_path):
    (tmp_path / "adult.data.gz").write_bytes(b"not gzip")
    with pytest.raises(DataError, match="not a readable gzip"):
        read_raw("adult.data", tmp_path)
