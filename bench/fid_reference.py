"""pytorch-fid's side of the "fid" rows of scripts/bench (bench/compare.py), on the same images and
the same (random) weights as genbox's `fid bench` and `fid score`.

usage: python bench/fid_reference.py weights OUT.pth
       python bench/fid_reference.py features FOLDER WEIGHTS --threads T
       python bench/fid_reference.py score FOLDER_A FOLDER_B WEIGHTS --threads T

weights   writes a random FID Inception (bench/fid_oracle.py's) as pytorch-fid's weights file.
features  times pytorch-fid's InceptionV3 (its resize and scaling) over the folder's images,
          decoded beforehand, 50 at a time: {"images", "features_s", "images_per_s"}.
score     times pytorch-fid's whole calculate_fid_given_paths (decoding with 0 workers, features,
          statistics, scipy's sqrtm): {"images", "score_s", "fid"}.
"""

import argparse
import json
import os
import pathlib
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def pytorch_fid_with(weights):
    import pytorch_fid.inception as pfi
    state = torch.load(weights, weights_only=False)
    pfi.load_state_dict_from_url = lambda *args, **kwargs: state  # no download: the given weights
    return pfi


def images_of(folder):
    from PIL import Image
    files = sorted(p for p in pathlib.Path(folder).rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    return np.stack([np.asarray(Image.open(f).convert("RGB")).transpose(2, 0, 1) for f in files])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["weights", "features", "score"])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=50)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.command == "weights":
        from fid_oracle import random_inception
        torch.save(random_inception(0).state_dict(), args.paths[0])
        return
    if args.command == "features":
        folder, weights = args.paths
        model = pytorch_fid_with(weights).InceptionV3([3]).eval()
        images = torch.from_numpy(images_of(folder))
        with torch.no_grad():
            model(images[:2].float() / 255)  # warm-up
            start = time.perf_counter()
            for first in range(0, len(images), args.batch_size):
                model(images[first:first + args.batch_size].float() / 255)[0].squeeze(-1).squeeze(-1).cpu()
            seconds = time.perf_counter() - start
        print(json.dumps({"images": len(images), "features_s": seconds, "images_per_s": len(images) / seconds}))
        return
    folder_a, folder_b, weights = args.paths
    pytorch_fid_with(weights)
    from pytorch_fid.fid_score import calculate_fid_given_paths
    start = time.perf_counter()
    fid = calculate_fid_given_paths([folder_a, folder_b], args.batch_size, "cpu", 2048, num_workers=0)
    seconds = time.perf_counter() - start
    print(json.dumps({"images": len(os.listdir(folder_a)), "score_s": seconds, "fid": fid}))


if __name__ == "__main__":
    main()
