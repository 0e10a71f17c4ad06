"""Shared fixtures: every test writes results and builds into its own temporary folders."""

from __future__ import annotations

import os

import pytest

from fairlab import paths


@pytest.fixture(autouse=True)
def isolated_outputs(tmp_path, monkeypatch):
    """Results and build folders of a test live under tmp_path, never in the checkout."""
    monkeypatch.setenv(paths.RESULTS_ENV, str(tmp_path / "results"))
    monkeypatch.setenv(paths.BUILD_ENV, str(tmp_path / "_build"))
    monkeypatch.delenv("FAIRLAB_FRESH_SINCE", raising=False)
    yield tmp_path


def running_in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


#: the smoke book's device named explicitly (every record must then say it was computed on the CPU),
#: one thread per process so that the parallel build it is compared with runs at the same threads
SMOKE_BOOK_OVERRIDES = {"compute.device": "cpu", "compute.threads": 1}


@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory):
    """The whole book built once with the smoke profile, kernels offline, into a temporary folder."""
    from fairlab.book import build_book

    root = tmp_path_factory.mktemp("smoke-book")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(paths.RESULTS_ENV, str(root / "results"))
        mp.setenv(paths.BUILD_ENV, str(root / "_build"))
        mp.delenv("FAIRLAB_FRESH_SINCE", raising=False)
        html = build_book("smoke", SMOKE_BOOK_OVERRIDES, block_network=True, progress=False,
                          announce=lambda message: None)
    return {"html": html, "build": root / "_build", "results": root / "results"}


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory):
    """A tiny random text-to-image pipeline saved locally (16-pixel images), whose tokenizer knows FaceWorld's
    caption words and the occupations: the third paper's generator and runs on it in seconds."""
    import torch

    from fairlab import t2i
    from fairlab.dal.occupations import occupations
    from fairlab.faceworld import phrases

    torch.manual_seed(0)
    tokenizer = t2i.build_tokenizer(phrases.vocabulary() + [o.name for o in occupations()])
    arch = t2i.Architecture(image_size=16, latent_channels=4, vae_channels=(8, 16), unet_channels=(16, 32),
                            text_width=16, text_layers=1)
    vae, text, unet = t2i.build_components(arch, len(tokenizer))
    folder = tmp_path_factory.mktemp("pipeline") / "tiny"
    t2i.assemble(vae, text, tokenizer, unet, t2i.training_scheduler()).save_pretrained(folder)
    return folder
