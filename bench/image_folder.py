"""The image-folder figures of the README's "Your own images": a CIFAR-sized folder, and what
torchvision and Pillow take over it.

usage: python bench/image_folder.py make DIR N      # N 32 x 32 RGB PNGs in 10 class folders
       python bench/image_folder.py torchvision DIR # one ImageFolder + DataLoader epoch; Pillow alone
genbox's side: build/bin/nice train data.dataset=folder data.root=DIR data.image_size=32
data.cache_dir=CACHE train.steps=1 prints "decoded N images in S s", and a second start "read N
prepared images ... in S s".
"""

import os
import sys
import time

import numpy as np
from PIL import Image


def make(root, n):
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:32, 0:32]
    for k in range(10):
        os.makedirs(os.path.join(root, f"c{k}"), exist_ok=True)
    for i in range(n):
        a, p = rng.uniform(0.05, 0.3, 3), rng.uniform(0, 6, 3)
        image = np.stack([127 + 100 * np.sin(a[c] * x + a[(c + 1) % 3] * y + p[c]) for c in range(3)], -1)
        image += rng.integers(-20, 20, (32, 32, 3))
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(os.path.join(root, f"c{i % 10}", f"{i:05d}.png"))


def torchvision_epoch(root):
    import torch
    from torchvision import datasets, transforms
    folder = datasets.ImageFolder(root, transform=transforms.ToTensor())
    loader = torch.utils.data.DataLoader(folder, batch_size=256, num_workers=2)
    start, n = time.time(), 0
    for images, _ in loader:
        n += images.shape[0]
    print(f"torchvision ImageFolder + DataLoader (2 workers, ToTensor): {n} images in {time.time() - start:.2f} s")
    start = time.time()
    for path, _ in folder.samples:
        with Image.open(path) as image:
            np.asarray(image.convert("RGB"))
    print(f"Pillow decoding alone, one process: {len(folder.samples)} images in {time.time() - start:.2f} s")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "make":
        make(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) == 3 and sys.argv[1] == "torchvision":
        torchvision_epoch(sys.argv[2])
    else:
        sys.exit(__doc__.strip())
