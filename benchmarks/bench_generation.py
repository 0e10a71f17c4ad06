"""(e) fairlab's generation loop against plain ``StableDiffusionPipeline.__call__`` with the same model, steps and batch.

The model is the miniature text-to-image pipeline (untrained weights: the cost is the same), sampled with
DDIM; fairlab's loop adds per-image seeded generators, the resumable manifest and PNG files.
"""

import tempfile

import torch
from harness import device_argument, report, timed

from fairlab import t2i
from fairlab.aimfair import generation
from fairlab.faceworld import phrases

BATCH, STEPS, IMAGES = 16, 10, 64


def main() -> None:
    device = device_argument()
    torch.manual_seed(0)
    tokenizer = t2i.build_tokenizer(phrases.vocabulary())
    vae, text_encoder, unet = t2i.build_components(t2i.Architecture(image_size=32), len(tokenizer))
    with tempfile.TemporaryDirectory() as folder:
        t2i.assemble(vae, text_encoder, tokenizer, unet, t2i.training_scheduler()).save_pretrained(folder)
        pipe = generation.load_pipeline(folder, sampler="ddim").to(device)
    prompt = "a photo of a smiling woman"
    settings = generation.SamplerSettings(sampler="ddim", steps=STEPS, guidance=9.0, eta=0.0, height=32, width=32,
                                          images_per_prompt=0, batch_size=BATCH, out_size=32)

    def plain():
        for start in range(0, IMAGES, BATCH):
            pipe(prompt=[prompt] * BATCH, num_inference_steps=STEPS, guidance_scale=9.0, height=32, width=32,
                 output_type="np", generator=[torch.Generator().manual_seed(start + i) for i in range(BATCH)])

    def ours():
        with tempfile.TemporaryDirectory() as out:
            generation.generate(pipe, {"1_1": [prompt]}, out, settings, images_per_group=IMAGES, progress=False)

    sync = torch.cuda.synchronize if device.startswith("cuda") else None
    reference = timed(plain, repeats=3, sync=sync)
    fairlab = timed(ours, repeats=3, sync=sync)
    report("generation", f"{IMAGES} images, {STEPS} DDIM steps, batch {BATCH}: fairlab's generation loop vs plain "
           "pipeline calls (same model)", reference, fairlab, device, images=IMAGES, steps=STEPS, batch=BATCH)


if __name__ == "__main__":
    main()
