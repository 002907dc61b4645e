"""diffusers' AutoencoderKL doing what build/bin/bench_vae does, for scripts/bench's "vae" rows.

usage: python bench/vae_reference.py VAE_DIR --size S --batch B --threads T --precision fp32|bf16 --repeats R

bf16 is the model loaded with torch_dtype=torch.bfloat16, as diffusers' users run it. Prints one JSON line.
"""

import argparse
import json
import time

import torch
from diffusers import AutoencoderKL


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dtype = torch.bfloat16 if args.precision == "bf16" else torch.float32
    vae = AutoencoderKL.from_pretrained(args.folder, torch_dtype=dtype).eval()
    torch.manual_seed(0)
    images = (torch.rand(args.batch, vae.config.in_channels, args.size, args.size) * 2 - 1).to(dtype)
    with torch.no_grad():
        latents = vae.encode(images).latent_dist.mean
        vae.decode(latents)
        start = time.perf_counter()
        for _ in range(args.repeats):
            latents = vae.encode(images).latent_dist.mean
        encode_s = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(args.repeats):
            vae.decode(latents)
        decode_s = time.perf_counter() - start
    print(json.dumps({"threads": args.threads, "precision": args.precision, "size": args.size, "batch": args.batch,
                      "encode_images_per_s": args.batch * args.repeats / encode_s,
                      "decode_images_per_s": args.batch * args.repeats / decode_s}), flush=True)


if __name__ == "__main__":
    main()
