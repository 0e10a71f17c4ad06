"""The training engine: replicas equal separate runs, and the best checkpoint is kept per replica."""

from __future__ import annotations

import numpy as np
import torch

from fairlab.models import ReplicaMLP, replicate
from fairlab.train import ReplicaBatches, fit, make_optimizer


def data(n=200, d=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    y = (x[:, 0] + 0.3 * torch.randn(n, generator=g) > 0).long()
    return x, y


def loss(model, batch):
    x, y = batch
    return torch.nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten(), reduction="none").view(y.shape).mean(1).sum()


def train(model, seeds, epochs=3):
    x, y = data()
    fit(model, make_optimizer("adam", model.parameters(), 0.01), ReplicaBatches((x, y), 32, seeds), loss, epochs, progress=False)
    return model


def test_replicas_train_exactly_like_separate_runs():
    torch.manual_seed(0)
    base = ReplicaMLP(1, 5, hidden=8, depth=3)
    together = train(replicate(base, [0, 0]), seeds=[11, 12])
    apart = [train(replicate(base, [0]), seeds=[seed]) for seed in (11, 12)]
    for r, single in enumerate(apart):
        for name, value in single.state_dict().items():
            assert torch.allclose(together.state_dict()[name][r], value[0], atol=1e-6), name


def test_replica_batches_use_each_seed_independently():
    x, y = data(n=10)
    first = next(iter(ReplicaBatches((x, y), 4, seeds=[1, 2])))[1]
    again = next(iter(ReplicaBatches((x, y), 4, seeds=[1, 3])))[1]
    assert torch.equal(first[0], again[0]) and not torch.equal(first[1], again[1])


def test_the_best_epoch_is_kept_per_replica():
    torch.manual_seed(0)
    model = replicate(ReplicaMLP(1, 5, hidden=4, depth=2), [0, 0])
    scores = iter([np.array([0.1, 0.9]), np.array([0.5, 0.2]), np.array([0.3, 0.1])])
    snapshots = []

    def evaluate(m):
        snapshots.append({k: v.clone() for k, v in m.state_dict().items()})
        return next(scores)

    x, y = data()
    result = fit(model, make_optimizer("sgd", model.parameters(), 0.5), ReplicaBatches((x, y), 50, [0, 1]), loss, 3,
                 evaluate=evaluate, progress=False)
    assert result.best_epoch.tolist() == [2, 1]
    assert torch.equal(model.head.weight[0], snapshots[1]["head.weight"][0])
    assert torch.equal(model.head.weight[1], snapshots[0]["head.weight"][1])


def test_ties_go_to_the_later_epoch_with_ge_and_to_the_earlier_with_gt():
    for keep, expected in (("ge", 3), ("gt", 1)):
        model = ReplicaMLP(1, 5, hidden=4, depth=2)
        x, y = data()
        result = fit(model, make_optimizer("sgd", model.parameters(), 0.1), ReplicaBatches((x, y), 50, [0]), loss, 3,
                     evaluate=lambda m: 0.5, keep=keep, progress=False)
        assert result.best_epoch.tolist() == [expected]


def test_a_diverging_loss_stops_training_with_a_clear_error():
    model = ReplicaMLP(1, 5, hidden=4, depth=2)
    x, y = data()
    try:
        fit(model, make_optimizer("sgd", model.parameters(), 0.1), ReplicaBatches((x, y), 50, [0]),
            lambda m, b: loss(m, b) * float("nan"), 1, progress=False, desc="demo")
    except FloatingPointError as exc:
        assert "demo" in str(exc) and "epoch 1" in str(exc)
    else:
        raise AssertionError("expected FloatingPointError")


def test_early_stopping_of_replicas_equals_stopping_each_run_on_its_own():
    # replica 0 keeps improving; replica 1 improves at epoch 1, stalls, and would improve at epoch 5
    scores = {0: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7], 1: [0.5, 0.4, 0.4, 0.4, 0.9, 0.4, 0.4]}

    def run(replicas):
        model = replicate(ReplicaMLP(1, 5, hidden=4, depth=2), [0] * len(replicas))
        epoch = iter(range(100))
        x, y = data()

        def evaluate(m):
            e = next(epoch)
            return np.array([scores[r][e] for r in replicas])

        return fit(model, make_optimizer("sgd", model.parameters(), 0.1), ReplicaBatches((x, y), 50, list(replicas)), loss, 7,
                   evaluate=evaluate, patience=2, progress=False)

    together = run([0, 1])
    alone = [run([r]) for r in (0, 1)]
    assert together.best_epoch.tolist() == [alone[0].best_epoch[0], alone[1].best_epoch[0]] == [7, 1]
    assert len(alone[1].history) == 3  # stopped after two epochs without improvement
