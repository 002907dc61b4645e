"""diffusers' AutoencoderKL with random weights: the oracle of genbox's (tests/vae/test_autoencoder_kl_oracle.cpp).

usage: python bench/vae_oracle.py OUT_DIR
       python bench/vae_oracle.py --sd3 OUT_DIR   (SD3's VAE with random weights, for the bench)

For each case below (diffusers builds any config without a download) it writes OUT_DIR/CASE/ as
save_pretrained writes a VAE folder (config.json, diffusion_pytorch_model.safetensors) and
OUT_DIR/CASE.safetensors with: images [2, C, H, W] in [-1, 1]; mean, std: the posterior
(latent_dist.mean, .std); decoded: decode() of the mean; and the same in bf16 (the model and
images cast to bfloat16) as mean_bf16, std_bf16, decoded_bf16 (stored as float32).
The weights are diffusers' initialisation plus N(0, 0.05^2) noise on every tensor, so that the
GroupNorm scales and zero-initialised biases differ from their defaults.
"""

import os
import sys

import torch
from diffusers import AutoencoderKL
from safetensors.torch import save_file

CASES = {
    # SD 1.x/2.x's layout at toy widths: 4 latent channels, quant convs, mid-block attention.
    "four_channels": dict(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=[32, 64],
                          down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                          layers_per_block=1, norm_num_groups=16, scaling_factor=0.18215, sample_size=32),
    # SD3's: 16 latent channels, no quant convs, a shift factor, three blocks of two layers.
    "sixteen_channels": dict(in_channels=3, out_channels=3, latent_channels=16, block_out_channels=[32, 32, 64],
                             down_block_types=["DownEncoderBlock2D"] * 3, up_block_types=["UpDecoderBlock2D"] * 3,
                             layers_per_block=2, norm_num_groups=8, scaling_factor=1.5305, shift_factor=0.0609,
                             use_quant_conv=False, use_post_quant_conv=False, sample_size=32),
    # A grey single-block VAE without the mid-block attention.
    "no_attention": dict(in_channels=1, out_channels=1, latent_channels=4, block_out_channels=[16],
                         down_block_types=["DownEncoderBlock2D"], up_block_types=["UpDecoderBlock2D"],
                         layers_per_block=1, norm_num_groups=8, mid_block_add_attention=False, sample_size=16),
}


# SD3's VAE as its config.json has it (16 latent channels, 4 blocks 128-512 wide): what
# scripts/bench's "vae" rows time, with random weights (`vae_oracle.py --sd3 OUT_DIR`).
SD3 = dict(in_channels=3, out_channels=3, latent_channels=16, block_out_channels=[128, 256, 512, 512],
           down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4, layers_per_block=2,
           norm_num_groups=32, scaling_factor=1.5305, shift_factor=0.0609, use_quant_conv=False,
           use_post_quant_conv=False, sample_size=1024)


def main():
    if sys.argv[1] == "--sd3":
        torch.manual_seed(0)
        AutoencoderKL(**SD3).save_pretrained(sys.argv[2], safe_serialization=True)
        return
    out = sys.argv[1]
    for name, config in CASES.items():
        torch.manual_seed(0)
        model = AutoencoderKL(**config).eval()
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.05)
        model.save_pretrained(os.path.join(out, name), safe_serialization=True)
        size = config["sample_size"]
        images = torch.rand(2, config["in_channels"], size, size) * 2 - 1
        result = {"images": images}
        with torch.no_grad():
            posterior = model.encode(images).latent_dist
            result.update(mean=posterior.mean, std=posterior.std, decoded=model.decode(posterior.mean).sample)
            low = model.to(torch.bfloat16)
            posterior = low.encode(images.to(torch.bfloat16)).latent_dist
            result.update(mean_bf16=posterior.mean.float(), std_bf16=posterior.std.float(),
                          decoded_bf16=low.decode(posterior.mean).sample.float())
        save_file({k: v.contiguous() for k, v in result.items()}, os.path.join(out, name + ".safetensors"))


if __name__ == "__main__":
    main()
