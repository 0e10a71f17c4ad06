"""AIM-Fair's S1 ratio estimated from a JTT-style error set."""

from __future__ import annotations

import numpy as np
import pytest

from fairlab.aimfair.bias_estimate import as_ratio, error_set, estimated_minority_share, true_minority_share


def test_a_model_that_answers_from_the_protected_attribute_errs_exactly_on_the_minority_groups():
    # 90/10 per class: the minority groups are (0, 0) and (1, 1)
    target = np.array([0] * 10 + [0] * 90 + [1] * 90 + [1] * 10)
    protected = np.array([0] * 10 + [1] * 90 + [0] * 90 + [1] * 10)
    shortcut = 1 - protected  # the majority pattern: t = 1 − s
    errors = error_set(shortcut, target)
    assert errors.sum() == 20 and np.all(errors == ((target == 0) & (protected == 0)) | ((target == 1) & (protected == 1)))
    assert estimated_minority_share(errors, target) == pytest.approx(0.1) == true_minority_share(target, protected)
    assert as_ratio(0.1) == "1 : 9"


def test_the_estimate_averages_the_classes_and_stays_a_minority_share():
    target = np.array([0] * 100 + [1] * 50)
    errors = np.r_[np.zeros(80, bool), np.ones(20, bool), np.zeros(45, bool), np.ones(5, bool)]
    assert estimated_minority_share(errors, target) == pytest.approx((0.2 + 0.1) / 2)
    assert estimated_minority_share(np.ones(150, bool), target) == 0.5  # a model wrong everywhere: clipped
    with pytest.raises(ValueError, match="differ in shape"):
        error_set(np.zeros(3), np.zeros(4))
