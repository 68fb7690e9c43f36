#!/usr/bin/env python3
"""Generates the LDM super-resolution parity fixtures with diffusers, once (the Swift tests read the committed files).

- Tests/Fixtures/ldm_sr_tiny/{unet,vqvae,scheduler}: a tiny random-weight model of the same classes and block layout
  as CompVis/ldm-super-resolution-4x-openimages (UNet2DModel: 6 → 3 channels, DownBlock2D ×3 + AttnDownBlock2D,
  AttnUpBlock2D + UpBlock2D ×3, 2 layers per block; VQModel f = 4, 3 latent channels, mid-block attention; DDIM with the
  model's scaled-linear 0.0015 → 0.0155 betas), saved by save_pretrained (safetensors, float32).
- Tests/Fixtures/ldm_sr_tiny_bin: the same weights as diffusers' older files: `diffusion_pytorch_model.bin` (torch.save),
  the attention keys under their old names (query/key/value/proj_attn), the VQ model in float16.
- Tests/Fixtures/ldm_sr.safetensors: a low-resolution input in [-1, 1] (32×32) and its VQ encoding (and a 136×136 one),
  the initial latents, the per-step
  noises, the UNet's first prediction, and the final latents and decoded image of the pipeline's loop for 4 DDIM
  steps with eta 1 (the noises injected through DDIMScheduler.step's variance_noise) and with eta 0 — the latter
  checked here against LDMSuperResolutionPipeline itself.
Run: python3 tools/make_ldm_sr_fixtures.py  (needs torch and diffusers)
"""
import os

import torch
from diffusers import DDIMScheduler, UNet2DModel, VQModel
from diffusers.pipelines.latent_diffusion.pipeline_latent_diffusion_superresolution import LDMSuperResolutionPipeline
from fixture_file import write_safetensors

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures")
torch.manual_seed(0)
unet = UNet2DModel(sample_size=32, in_channels=6, out_channels=3, block_out_channels=(8, 8, 16, 16), layers_per_block=2,
                   down_block_types=("DownBlock2D", "DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
                   up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D", "UpBlock2D"), attention_head_dim=4,
                   norm_num_groups=4).eval()
vqvae = VQModel(in_channels=3, out_channels=3, block_out_channels=(8, 16, 16), layers_per_block=2, latent_channels=3,
                num_vq_embeddings=32, norm_num_groups=4, down_block_types=("DownEncoderBlock2D",) * 3,
                up_block_types=("UpDecoderBlock2D",) * 3).eval()
# Spread the weights so every path matters (some of diffusers' initialisations are zero or tiny).
with torch.no_grad():
    for module in (unet, vqvae):
        for name, parameter in module.named_parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    vqvae.quantize.embedding.weight.copy_(torch.randn_like(vqvae.quantize.embedding.weight))
scheduler = DDIMScheduler(num_train_timesteps=1000, beta_start=0.0015, beta_end=0.0155, beta_schedule="scaled_linear",
                          clip_sample=False)

folder = os.path.join(root, "ldm_sr_tiny")
unet.save_pretrained(os.path.join(folder, "unet"), safe_serialization=True)
vqvae.save_pretrained(os.path.join(folder, "vqvae"), safe_serialization=True)
scheduler.save_pretrained(os.path.join(folder, "scheduler"))

legacy = os.path.join(root, "ldm_sr_tiny_bin")
for name, module, half in (("unet", unet, False), ("vqvae", vqvae, True)):
    target = os.path.join(legacy, name)
    os.makedirs(target, exist_ok=True)
    state = {}
    for key, value in module.state_dict().items():
        for new, old in ((".to_q.", ".query."), (".to_k.", ".key."), (".to_v.", ".value."), (".to_out.0.", ".proj_attn.")):
            key = key.replace(new, old)
        state[key] = value.half() if half else value
    torch.save(state, os.path.join(target, "diffusion_pytorch_model.bin"))
    with open(os.path.join(folder, name, "config.json")) as source, open(os.path.join(target, "config.json"), "w") as copy:
        copy.write(source.read())
scheduler.save_pretrained(os.path.join(legacy, "scheduler"))

generator = torch.Generator().manual_seed(1)
image = torch.rand(1, 3, 32, 32, generator=generator) * 2 - 1
steps = 4
noises = torch.randn(steps, 1, 3, 32, 32, generator=generator)
tensors = {"image": image, "step_noises": noises}
with torch.no_grad():
    for eta in (1.0, 0.0):
        # The initial latents as the pipeline draws them: randn of [1, 3, h, w] from its generator.
        latents = torch.randn((1, 3, 32, 32), generator=torch.Generator().manual_seed(7))
        tensors["noise"] = latents.clone()
        scheduler.set_timesteps(steps)
        latents = latents * scheduler.init_noise_sigma
        for index, t in enumerate(scheduler.timesteps):
            prediction = unet(scheduler.scale_model_input(torch.cat([latents, image], dim=1), t), t).sample
            if index == 0:
                tensors["first_prediction"] = prediction
            latents = scheduler.step(prediction, t, latents, eta=eta, variance_noise=noises[index] if eta > 0 else None).prev_sample
        decoded = vqvae.decode(latents).sample.clamp(-1, 1)
        tag = "eta1" if eta > 0 else "eta0"
        tensors["latents_" + tag] = latents
        tensors["decoded_" + tag] = decoded
    pipeline = LDMSuperResolutionPipeline(vqvae=vqvae, unet=unet, scheduler=scheduler)
    result = pipeline(image, num_inference_steps=steps, eta=0.0, generator=torch.Generator().manual_seed(7), output_type="np").images
    expected = (tensors["decoded_eta0"][0].permute(1, 2, 0).numpy() / 2 + 0.5).clip(0, 1)
    assert abs(result[0] - expected).max() < 1e-5, "the loop differs from LDMSuperResolutionPipeline"
    tensors["encoded"] = vqvae.encode(image).latents
    # A larger image: its middle attention (34² = 1,156 positions) runs in query chunks in stylize.
    large = torch.rand(1, 3, 136, 136, generator=generator) * 2 - 1
    tensors["large_image"] = large
    tensors["large_encoded"] = vqvae.encode(large).latents

write_safetensors(os.path.join(root, "ldm_sr.safetensors"), tensors,
                  {"steps": str(steps), "timesteps": ",".join(str(int(t)) for t in scheduler.timesteps)})
