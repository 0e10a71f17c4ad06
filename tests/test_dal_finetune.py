"""The third paper's fine-tuning machinery on a tiny random pipeline saved locally: the generator, the training loop,
the occupation fine-tune's pieces and the face box."""

from __future__ import annotations

import numpy as np
import pytest
import torch


def _generator(folder, **options):
    from fairlab.dal.generator import load_generator

    return load_generator(folder, steps=3, guidance=2.0, timestep_spacing="leading", padding="max_length", **options)


class _TinyClassifier(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.body = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.AdaptiveAvgPool2d(1),
                                        torch.nn.Flatten())
        self.heads = torch.nn.ModuleDict({"gender": torch.nn.Linear(4, 2), "race": torch.nn.Linear(4, 4),
                                          "age": torch.nn.Linear(4, 2)})

    def forward(self, x):
        h = self.body(x)
        return {k: head(h) for k, head in self.heads.items()}


def _perception():
    from fairlab.dal.finetune import Perception
    from fairlab.dal.perception import FaceEmbedder, ImageEncoder

    def encoder(seed):
        torch.manual_seed(seed)
        net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(2),
                                  torch.nn.Flatten())
        return ImageEncoder(net, 16, ((0.5,) * 3, (0.5,) * 3))

    face = FaceEmbedder(encoder(7))
    bank = torch.nn.functional.normalize(torch.randn(6, 32, generator=torch.Generator().manual_seed(5)), dim=1)
    return Perception(_TinyClassifier().eval().requires_grad_(False), 16, encoder(1), encoder(2), face, bank)


def test_the_generator_draws_the_same_image_for_a_prompt_and_index_in_any_batch(tiny_pipeline):
    g = _generator(tiny_pipeline)
    prompt = "a photo of the face of a nurse, a person"
    together = g.images(prompt, range(4), batch_size=4)
    apart = torch.cat([g.images(prompt, [i]) for i in range(4)])
    assert together.dtype == torch.uint8 and together.shape == (4, 3, 16, 16)
    assert torch.equal(together, apart)
    assert not torch.equal(g.images("a photo of the face of a judge, a person", range(4)), together)


@pytest.mark.parametrize("trained", ["text_lora", "unet_lora", "prefix"])
def test_a_run_trains_only_what_it_names_and_its_original_model_is_the_base(tiny_pipeline, trained):
    from fairlab.dal import finetune as ft

    g = _generator(tiny_pipeline)
    prompt = "a photo of the face of a nurse, a person"
    base = g.images(prompt, range(2))
    frozen = {name: p.detach().clone() for name, p in [*g.unet.named_parameters(), *g.text_encoder.named_parameters()]}
    model = ft.finetune(g, _perception(), ft.RunSpec(("gender",), trained=trained), [prompt],
                        ft.TrainingSettings(iterations=3, images=3, lr=0.05, rank=2), progress=False)
    assert len(model.log) == 3 and all(np.isfinite(e["loss"]) for e in model.log)
    assert all(p.requires_grad for p in model.trained)
    moved = [name for name, p in [*g.unet.named_parameters(), *g.text_encoder.named_parameters()]
             if name in frozen and not torch.equal(p, frozen[name])]
    assert moved == []   # the base weights did not move; only the adapter or prefix did
    assert not torch.equal(g.images(prompt, range(2)), base)
    with ft.original_model(g):
        assert torch.equal(g.images(prompt, range(2)), base)


def test_an_interrupted_run_resumes_from_its_checkpoint_to_the_same_weights_and_log(tiny_pipeline, tmp_path):
    from fairlab.dal import finetune as ft

    prompts = ["a photo of the face of a nurse, a person", "a photo of the face of a judge, a person"]
    spec = ft.RunSpec(("gender",))
    settings = ft.TrainingSettings(iterations=4, images=2, lr=0.05, rank=2)
    straight = ft.finetune(_generator(tiny_pipeline), _perception(), spec, prompts, settings, progress=False)

    checkpoint = tmp_path / "checkpoint.pt"
    calls = {"n": 0}
    original_objective = ft.OBJECTIVES["alignment"]

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:      # the first iteration of the second epoch
            raise KeyboardInterrupt
        return original_objective(*args, **kwargs)

    ft.OBJECTIVES["alignment"] = interrupted
    try:
        with pytest.raises(KeyboardInterrupt):
            ft.finetune(_generator(tiny_pipeline), _perception(), spec, prompts, settings, checkpoint=checkpoint,
                        progress=False)
    finally:
        ft.OBJECTIVES["alignment"] = original_objective
    assert checkpoint.exists()
    saved = torch.load(checkpoint, weights_only=False)["model"]
    trained_names = {n for n, p in straight.named_parameters() if p.requires_grad}
    assert set(saved) == trained_names | {"_extra_state"}   # the frozen base is not in the checkpoint
    resumed = ft.finetune(_generator(tiny_pipeline), _perception(), spec, prompts, settings, checkpoint=checkpoint,
                          progress=False)
    assert [e["loss"] for e in resumed.log] == [e["loss"] for e in straight.log]
    for a, b in zip(resumed.trained, straight.trained):
        assert torch.equal(a, b)
    assert not checkpoint.exists()


def test_the_prompt_stream_gives_each_prompt_once_per_epoch_and_stops_at_the_iteration_count():
    from fairlab.dal.finetune import PromptStream

    stream = PromptStream(4, 10, seed=3)
    epochs = [[int(b[0]) for b in stream] for _ in range(stream.epochs)]
    assert stream.epochs == 3 and [len(e) for e in epochs] == [4, 4, 2]
    assert sorted(epochs[0]) == sorted(epochs[1]) == [0, 1, 2, 3]


def test_a_step_whose_gradient_is_not_finite_is_skipped_and_counted():
    from fairlab.train import fit

    model = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.ones_(model.weight)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    batches = [torch.tensor([[1.0]]), torch.tensor([[float("inf")]]), torch.tensor([[1.0]])]
    stepped = []
    result = fit(model, optimizer, batches, lambda m, x: (m(x) * 0 + m.weight).sum() if torch.isfinite(x).all()
                 else (m(x)).sum(), 1, after_step=lambda: stepped.append(1), skip_nonfinite=True, progress=False)
    assert result.history[-1]["skipped_steps"] == 1 and len(stepped) == 2
    assert torch.allclose(model.weight, torch.tensor([[0.8]]))   # two steps of 0.1, the infinite one skipped
    assert np.isfinite(result.history[-1]["train_loss"])


def test_the_face_box_holds_most_of_the_skin_of_a_studio_face_above_the_neck():
    from fairlab.dal.base_model import square
    from fairlab.dal.classifiers import balanced_scenes
    from fairlab.dal.perception import face_boxes
    from fairlab.faceworld import formats
    from fairlab.faceworld.datasets import render_tensor

    scenes = balanced_scenes(60, seed=3)
    shape = formats.image_size("celeba", 32)
    pale, dark = (square(render_tensor(scenes.assign(tone=tone), *shape, "studio"), 32).float() for tone in (0, 6))
    skin = (pale - dark).abs().sum(1) > 30         # only the skin changes with the tone
    x0, y0, x1, y1 = face_boxes(1, 32, 32)[0]
    head = skin[:, :y1]                               # the neck below the chin is not the face
    assert head[:, y0:, x0:x1].sum() >= 0.9 * head.sum()
    assert (x1 - x0) * (y1 - y0) <= 0.35 * 32 * 32


def test_the_mixed_captions_give_occupation_renders_their_prompt_and_originals_their_own():
    from fairlab.dal.base_model import mixed_captions

    def original(indices, generator):
        return [f"original {i}" for i in indices]

    captions = mixed_captions(["p0", "p1"], original, caption_dropout=0.0)
    assert captions([1, 3, 0, 2], torch.Generator().manual_seed(0)) == ["p1", "original 1", "p0", "original 0"]
    dropped = mixed_captions(["p0"] * 200, original, caption_dropout=0.5)([*range(200)], torch.Generator())
    assert 60 < dropped.count("") < 140


def test_the_extended_tokenizer_keeps_every_word_id_and_refuses_a_foreign_vocabulary():
    from types import SimpleNamespace

    from fairlab import t2i
    from fairlab.dal.base_model import extended_tokenizer
    from fairlab.dal.occupations import occupations
    from fairlab.faceworld import phrases

    old = t2i.build_tokenizer(phrases.vocabulary())
    new = extended_tokenizer(SimpleNamespace(tokenizer=old))
    assert all(new.get_vocab()[w] == i for w, i in old.get_vocab().items())
    assert len(new) == len(old) + len(occupations())
    with pytest.raises(ValueError, match="vocabulary"):
        extended_tokenizer(SimpleNamespace(tokenizer=t2i.build_tokenizer(["zebra"] + phrases.vocabulary())))


def test_a_mini_dal_section_needs_its_base_and_classifier_recipes(tmp_path):
    import yaml

    from fairlab import paths
    from fairlab.profiles import ProfileError, load_profile

    profile = yaml.safe_load((paths.profiles_dir() / "smoke.yml").read_text())
    del profile["dal"]["base"]
    path = tmp_path / "no_base.yml"
    path.write_text(yaml.safe_dump(profile))
    with pytest.raises(ProfileError, match="base or classifier"):
        load_profile(str(path))
