#!/usr/bin/env python3
"""Generates Tests/Fixtures/ddim.safetensors with huggingface diffusers' DDIMScheduler, once.

Not used by the product or the tests at run time. Run: pip install diffusers; python3 tools/make_schedule_fixtures.py
For the linear, scaled_linear (latent diffusion's) and squaredcos_cap_v2 (cosine) schedules over 1000 steps: the
cumulative alphas, the 50 DDIM timesteps ("leading" spacing, steps_offset 1, the final step going to alpha_cumprod[0]
as latent-diffusion's sampler), and single DDIM steps (no clipping) for epsilon and v prediction at several eta,
with the model output, sample and noise they used, plus add_noise and get_velocity for one batch.
"""
import json
import os

import torch
from diffusers import DDIMScheduler
from fixture_file import write_safetensors

torch.manual_seed(0)
tensors, options = {}, {}
for name in ["linear", "scaled_linear", "squaredcos_cap_v2"]:
    start, end = (1e-4, 2e-2) if name == "linear" else (0.00085, 0.012)
    for prediction in ["epsilon", "v_prediction"]:
        scheduler = DDIMScheduler(num_train_timesteps=1000, beta_start=start, beta_end=end, beta_schedule=name,
                                  clip_sample=False, set_alpha_to_one=False, steps_offset=1, prediction_type=prediction,
                                  timestep_spacing="leading")
        scheduler.set_timesteps(50)
        key = f"{name}.{prediction}"
        tensors[f"{name}.alphas_cumprod"] = scheduler.alphas_cumprod.clone()
        tensors[f"{name}.timesteps"] = scheduler.timesteps.float()
        for index, (timestep, eta) in enumerate([(501, 0.0), (501, 1.0), (21, 0.5), (1, 0.0)]):
            sample, output, noise = torch.randn(1, 4, 4, 4), torch.randn(1, 4, 4, 4), torch.randn(1, 4, 4, 4)
            result = scheduler.step(output, timestep, sample, eta=eta, variance_noise=noise)
            tensors.update({f"{key}.step{index}.sample": sample, f"{key}.step{index}.output": output,
                            f"{key}.step{index}.noise": noise, f"{key}.step{index}.previous": result.prev_sample,
                            f"{key}.step{index}.original": result.pred_original_sample})
            options[f"{key}.step{index}"] = {"timestep": timestep, "eta": eta}
    clean, noise = torch.randn(3, 4, 4, 4), torch.randn(3, 4, 4, 4)
    steps = torch.tensor([0, 499, 999])
    tensors[f"{name}.clean"], tensors[f"{name}.noise"] = clean, noise
    tensors[f"{name}.noised"] = scheduler.add_noise(clean, noise, steps)
    tensors[f"{name}.velocity"] = scheduler.get_velocity(clean, noise, steps)
    options[f"{name}.noised"] = {"timesteps": [0, 499, 999]}

write_safetensors(os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "ddim.safetensors"), tensors, {"options": json.dumps(options, sort_keys=True), "torch": torch.__version__})
