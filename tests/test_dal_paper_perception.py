"""The paper's perception (fairlab.dal.paper_perception and the geometry in fairlab.dal.perception): the official face
crop and alignment, the largest-face rule, the folder's layout and its errors; and (``make test-paper-path``) a run
of the loss and the evaluation, then the chapter's tables, on tiny random networks saved in the official layout
(insightface replaced by a scripted detector app)."""

from __future__ import annotations

import numpy as np
import pytest
import torch


def test_a_detector_box_grows_to_the_official_square_about_its_centre():
    from fairlab.dal.perception import expand_to_square

    # 20 wide, 40 tall: the longer side times 1.5 is 60, centred on (20, 40)
    assert expand_to_square((10, 20, 30, 60), 0.5).tolist() == [-10, 10, 50, 70]
    assert expand_to_square((0, 0, 10, 10), 0.0).tolist() == [0, 0, 10, 10]


def test_a_square_crop_pads_outside_the_image_and_its_gradient_stays_in_the_box():
    from fairlab.dal.perception import crop_squares

    pixels = torch.linspace(-0.5, 0.5, 3 * 8 * 8).reshape(1, 3, 8, 8).requires_grad_(True)
    inside = crop_squares(pixels, np.array([[2, 2, 6, 6]]), 4)
    assert torch.allclose(inside, pixels[:, :, 2:6, 2:6])          # same size: the cut itself
    outside = crop_squares(pixels, np.array([[-4, 0, 4, 8]]), 8)
    assert torch.equal(outside[0, :, :, :4], torch.full((3, 8, 4), -1.0))
    assert torch.allclose(outside[0, :, :, 4:], pixels[0, :, :, :4])
    inside.sum().backward()
    touched = pixels.grad[0, 0] != 0
    assert touched[2:6, 2:6].all() and touched.sum() == 16


def test_the_similarity_transform_is_recovered_from_five_landmarks():
    from fairlab.dal.perception import ARCFACE_TEMPLATE, similarity_transform

    angle, scale, shift = 0.3, 1.7, np.array([5.0, -2.0])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = ARCFACE_TEMPLATE @ rotation.T + shift
    found = similarity_transform(ARCFACE_TEMPLATE, moved)
    assert np.allclose(found[:, :2], rotation) and np.allclose(found[:, 2], shift)


def test_alignment_puts_each_landmark_on_the_template():
    from fairlab.dal.perception import ARCFACE_TEMPLATE, align_faces

    # an image whose two channels hold each pixel's own x and y: after alignment, the pixel at a template point
    # holds the landmark's coordinates in the source image
    size = 160
    ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float64), torch.arange(size, dtype=torch.float64),
                            indexing="ij")
    image = torch.stack([xs, ys, torch.zeros_like(xs)])[None]
    landmarks = ARCFACE_TEMPLATE * 0.9 + np.array([20.0, 30.0])     # a smaller face, shifted
    aligned = align_faces(image, landmarks[None], 112)
    for (tx, ty), (lx, ly) in zip(ARCFACE_TEMPLATE, landmarks):
        # the template point lies between pixel centres: read the bilinear value at it
        x0, y0 = int(np.floor(tx)), int(np.floor(ty))
        fx, fy = tx - x0, ty - y0
        patch = aligned[0, :2, y0:y0 + 2, x0:x0 + 2]
        value = (patch[:, 0, 0] * (1 - fx) * (1 - fy) + patch[:, 0, 1] * fx * (1 - fy)
                 + patch[:, 1, 0] * (1 - fx) * fy + patch[:, 1, 1] * fx * fy)
        assert value.tolist() == pytest.approx([lx, ly], abs=0.05)


class _ScriptedApp:
    """Stands in for insightface's FaceAnalysis: per call, the faces scripted for that image (and what it was given)."""

    def __init__(self, script):
        self.script, self.seen = list(script), []

    def get(self, image):
        self.seen.append(image)
        return self.script[len(self.seen) - 1]


def _face(box, shift=0.0):
    from fairlab.dal.perception import ARCFACE_TEMPLATE

    x0, y0, x1, y1 = box
    return {"bbox": np.array(box, dtype=np.float32),
            "kps": ARCFACE_TEMPLATE * (x1 - x0) / 112 + np.array([x0 + shift, y0])}


def test_the_detector_keeps_the_largest_face_inside_the_image_and_marks_images_without_one():
    from fairlab.dal.paper_perception import InsightFaceDetector

    images = torch.zeros(3, 3, 64, 64, dtype=torch.uint8)
    images[0, 0] = 255                                  # red, to check the BGR order handed to insightface
    # image 0: a large face mostly outside the image loses to a smaller one inside; image 1: none; image 2: one
    app = _ScriptedApp([[_face((50, 0, 150, 100)), _face((5, 5, 35, 35))], [], [_face((10, 10, 50, 50))]])
    faces = InsightFaceDetector(app)(images)
    assert faces.found.tolist() == [True, False, True]
    # 30 pixels grown to 45 about 20: ends at -2.5 and 42.5, rounded half to even as the official code's round()
    assert faces.boxes[0].tolist() == [-2, -2, 42, 42] and faces.boxes[1].tolist() == [-1, -1, -1, -1]
    assert app.seen[0].shape == (64, 64, 3) and app.seen[0][..., 2].min() == 255 and app.seen[0][..., 0].max() == 0


def test_a_perception_folder_missing_entries_names_the_key_and_each_entry(tmp_path):
    from fairlab.dal.paper_perception import LAYOUT, PerceptionFilesError, check_folder

    with pytest.raises(PerceptionFilesError, match="dal.perception_dir is not set"):
        check_folder(None)
    (tmp_path / "clip").mkdir()
    with pytest.raises(PerceptionFilesError) as error:
        check_folder(tmp_path)
    message = str(error.value)
    assert f"{len(LAYOUT) - 1} of {len(LAYOUT)} entries missing" in message
    assert "training_classifier.pt" in message and "models/buffalo_l" in message and "clip/" not in message


def test_a_classifier_checkpoint_with_the_wrong_head_names_its_file_and_the_heads(tmp_path):
    from fairlab.dal.paper_perception import HeadedMobileNet, PerceptionFilesError, load_mobilenet

    path = tmp_path / "evaluation_race.pt"
    torch.save(HeadedMobileNet({"gender": 2}).network.state_dict(), path)
    with pytest.raises(PerceptionFilesError, match=r"evaluation_race.pt: not a MobileNetV3-Large state dict with 4 "
                                                   r"logits \(race 4\)"):
        load_mobilenet(path, {"race": 4})
    torch.save({"module." + k: v for k, v in HeadedMobileNet({"race": 4}).network.state_dict().items()}, path)
    assert load_mobilenet(path, {"race": 4})(torch.zeros(1, 3, 64, 64))["race"].shape == (1, 4)


class _TinyFaceNetwork(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 5, stride=4), torch.nn.AdaptiveAvgPool2d(2),
                                            torch.nn.Flatten())

    def forward(self, x):
        return self.features(x)


@pytest.fixture(scope="module")
def perception_folder(tmp_path_factory):
    """Tiny random networks in the official layout: MobileNetV3 classifiers, CLIP, DINOv2, a face network and bank."""
    from transformers import CLIPConfig, CLIPModel, Dinov2Config, Dinov2Model

    from fairlab import t2i
    from fairlab.dal.classifiers import HEADS
    from fairlab.dal.occupations import occupations
    from fairlab.dal.paper_perception import EVALUATION_FILES, HeadedMobileNet
    from fairlab.faceworld import phrases

    folder = tmp_path_factory.mktemp("perception")
    torch.manual_seed(0)
    torch.save(HeadedMobileNet(HEADS).network.state_dict(), folder / "training_classifier.pt")
    for head, file in EVALUATION_FILES.items():
        torch.save(HeadedMobileNet({head: HEADS[head]}).network.state_dict(), folder / file)
    tokenizer = t2i.build_tokenizer(phrases.vocabulary() + [o.name for o in occupations()])
    text = {"vocab_size": len(tokenizer), "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
            "num_attention_heads": 2, "max_position_embeddings": 32, "eos_token_id": tokenizer.eos_token_id,
            "bos_token_id": tokenizer.bos_token_id, "pad_token_id": tokenizer.pad_token_id}
    vision = {"image_size": 224, "patch_size": 32, "hidden_size": 16, "intermediate_size": 32,
              "num_hidden_layers": 1, "num_attention_heads": 2}
    CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=8)).save_pretrained(folder / "clip")
    tokenizer.save_pretrained(folder / "clip")
    Dinov2Model(Dinov2Config(image_size=224, patch_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                             num_attention_heads=2)).save_pretrained(folder / "dinov2")
    (folder / "insightface" / "models" / "buffalo_l").mkdir(parents=True)
    program = torch.export.export(_TinyFaceNetwork().eval(), (torch.zeros(2, 3, 112, 112),),
                                  dynamic_shapes={"x": {0: torch.export.Dim.DYNAMIC}})
    torch.export.save(program, folder / "face_network.pt2")
    torch.save(torch.randn(5, 16), folder / "face_bank.pt")
    return folder


class _CentreFaces:
    """A scripted insightface app: one face in the middle of every image but the second of each batch."""

    def __init__(self):
        self.calls = 0

    def get(self, image):
        self.calls += 1
        if self.calls % 4 == 2:
            return []
        h, w = image.shape[:2]
        return [_face((w // 4, h // 4, 3 * w // 4, 3 * h // 4))]


@pytest.mark.paper_path
def test_a_run_and_its_evaluation_read_the_paper_networks_from_the_folder(perception_folder, tiny_pipeline,
                                                                         monkeypatch):
    from fairlab.dal import finetune as ft
    from fairlab.dal import paper_perception
    from fairlab.dal.generator import load_generator

    monkeypatch.setattr(paper_perception, "load_insightface",
                        lambda root, device="cpu": paper_perception.InsightFaceDetector(_CentreFaces()))
    seen, evaluation = paper_perception.load(perception_folder, crop=32)   # the official 224 costs 50x the time
    assert seen.reads_face_crop and seen.classifier_size == evaluation.crop_size == 32
    g = load_generator(tiny_pipeline, steps=3, guidance=2.0, timestep_spacing="leading", padding="longest")
    prompt = "a photo of the face of a nurse, a person"
    model = ft.finetune(g, seen, ft.RunSpec(("gender", "race"), face_weight=0.1, no_face_weight=0.2), [prompt],
                        ft.TrainingSettings(iterations=2, images=4, lr=0.05, rank=2), progress=False)
    assert all(np.isfinite(e["loss"]) for e in model.log)
    assert all(e["faces"] == 0.75 and max(e["kept"].values()) <= 0.75 for e in model.log)   # no face: no target
    images = g.images(prompt, range(4))
    read = evaluation.read(images, prompt)
    assert list(read.columns) == ["gender", "race", "age", "clip_t"]
    assert read["gender"].tolist()[1] == -1 and (read[["gender", "race", "age"]].iloc[[0, 2, 3]] >= 0).all().all()
    assert np.all(np.abs(read["clip_t"]) <= 1 + 1e-6)
    confidence = evaluation.confidences(images)
    assert np.isnan(confidence["p_male"][1]) and np.allclose(np.nansum(confidence["race"], 1)[[0, 2, 3]], 1)
    trained = seen.classify(images)
    assert trained["gender"][1] == -1 and set(trained) == {"gender", "race", "age"}


@pytest.mark.paper_path
def test_the_chapter_tables_read_stable_diffusion_runs_through_the_paper_networks(perception_folder, tiny_pipeline,
                                                                                 monkeypatch):
    """The `paper` path of the chapter end to end on tiny networks: the original model's and six runs' records, and
    the tables that read CLIP-T, CLIP-I and DINO where `mini` reads its stand-ins."""
    from fairlab.dal import paper_perception
    from fairlab.pages import dal as page
    from fairlab.profiles import load_profile
    from fairlab.study import Study

    monkeypatch.setattr(paper_perception, "load_insightface",
                        lambda root, device="cpu": paper_perception.InsightFaceDetector(_CentreFaces()))
    monkeypatch.setattr(paper_perception, "FACE_CROP", 32)   # the official 224 costs 50x the time
    profile = load_profile("smoke", {"dal.pipeline": str(tiny_pipeline), "dal.perception_dir": str(perception_folder),
                                     "dal.prompt_padding": "longest", "compute.device": "cpu"})
    study = Study.of(profile)
    assert not page.miniature(profile) and page.semantics(profile) == ("clip_t", "CLIP-T")
    preservation = page.preservation_table(study)
    assert {"CLIP-T (ours)", "CLIP-I (ours)", "DINO (ours)"} <= set(preservation.columns)
    assert not any("stand-in" in c or "held-out" in c for c in preservation.columns)
    table = page.table1(study)
    assert table is not None
    trained = page.trained_table(study)
    assert "CLIP-T" in trained.columns and "CLIP-I" in trained.columns
    claims = page.table1_claims(study)
    assert any("CLIP-T" in c.statement for c in claims)
