"""The image-folder figures of the README's "Your own images": a CIFAR-sized folder, and what
torchvision and Pillow take over it.

usage: python bench/image_folder.py make DIR N           # N 32 x 32 RGB PNGs in 10 class folders
       python bench/image_folder.py make-flat DIR N S    # the same in DIR itself, drawn from seed S
       python bench/image_folder.py make-jpeg DIR N      # N 512 x 384 RGB JPEGs (quality 90), 10 folders
       python bench/image_folder.py make-cifar DIR       # CIFAR-10's binary files, random pixels
       python bench/image_folder.py torchvision DIR      # one ImageFolder + DataLoader epoch; Pillow alone
       python bench/image_folder.py torchvision DIR S    # the same, ADM's centre crop to S x S first
genbox's side: build/bin/nice train data.dataset=folder data.root=DIR data.image_size=32
data.cache_dir=CACHE train.steps=1 prints "decoded N images in S s", and a second start "read N
prepared images ... in S s".
"""

import json
import os
import sys
import time

import numpy as np
from PIL import Image


def class_folders(root):
    """Ten class folders c0..c9 under root; image i goes into c{i % 10}."""
    for k in range(10):
        os.makedirs(os.path.join(root, f"c{k}"), exist_ok=True)


def make(root, n, seed=0, flat=False):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:32, 0:32]
    if flat:
        os.makedirs(root, exist_ok=True)
    else:
        class_folders(root)
    for i in range(n):
        a, p = rng.uniform(0.05, 0.3, 3), rng.uniform(0, 6, 3)
        image = np.stack([127 + 100 * np.sin(a[c] * x + a[(c + 1) % 3] * y + p[c]) for c in range(3)], -1)
        image += rng.integers(-20, 20, (32, 32, 3))
        name = f"{i:05d}.png" if flat else os.path.join(f"c{i % 10}", f"{i:05d}.png")
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(os.path.join(root, name))


def make_jpeg(root, n):
    """Photograph-like content: smooth waves of random frequency and phase over fine noise, so
    that the DCT has energy at every frequency as in real photos."""
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:384, 0:512]
    class_folders(root)
    for i in range(n):
        a, p = rng.uniform(0.005, 0.08, 3), rng.uniform(0, 6, 3)
        image = np.stack([127 + 90 * np.sin(a[c] * x + a[(c + 1) % 3] * y + p[c]) for c in range(3)], -1)
        image += rng.normal(0, 12, (384, 512, 3))
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(
            os.path.join(root, f"c{i % 10}", f"{i:05d}.jpg"), quality=90)


def make_cifar(root):
    """data_batch_1..5.bin and test_batch.bin as CIFAR-10's binary release lays them out, with
    random pixels and labels: the 3 x 32 x 32 training benches need the shape, not the content."""
    rng = np.random.default_rng(2)
    os.makedirs(root, exist_ok=True)
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        records = rng.integers(0, 256, (10000, 3073), dtype=np.uint8)
        records[:, 0] %= 10
        records.tofile(os.path.join(root, name))


def center_crop_arr(image, size):
    """ADM's centre crop (guided-diffusion image_datasets.center_crop_arr), as genbox's data.crop = center."""
    while min(*image.size) >= 2 * size:
        image = image.resize(tuple(x // 2 for x in image.size), resample=Image.BOX)
    scale = size / min(*image.size)
    image = image.resize(tuple(round(x * scale) for x in image.size), resample=Image.BICUBIC)
    arr = np.array(image)
    top, left = (arr.shape[0] - size) // 2, (arr.shape[1] - size) // 2
    return Image.fromarray(arr[top:top + size, left:left + size])


def torchvision_epoch(root, size=None):
    import torch
    from torchvision import datasets, transforms
    crop = [transforms.Lambda(lambda image: center_crop_arr(image, size))] if size else []
    folder = datasets.ImageFolder(root, transform=transforms.Compose(crop + [transforms.ToTensor()]))
    loader = torch.utils.data.DataLoader(folder, batch_size=256, num_workers=2)
    start, n = time.time(), 0
    for images, _ in loader:
        n += images.shape[0]
    epoch_s = time.time() - start
    what = f"ADM centre crop to {size}, ToTensor" if size else "ToTensor"
    print(f"torchvision ImageFolder + DataLoader (2 workers, {what}): {n} images in {epoch_s:.2f} s")
    start = time.time()
    for path, _ in folder.samples:
        with Image.open(path) as image:
            np.asarray(image.convert("RGB"))
    decode_s = time.time() - start
    print(f"Pillow decoding alone, one process: {len(folder.samples)} images in {decode_s:.2f} s")
    print(json.dumps({"images": n, "epoch_s": epoch_s, "pillow_decode_s": decode_s}))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "make":
        make(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) == 5 and sys.argv[1] == "make-flat":
        make(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), flat=True)
    elif len(sys.argv) == 4 and sys.argv[1] == "make-jpeg":
        make_jpeg(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) == 3 and sys.argv[1] == "make-cifar":
        make_cifar(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "torchvision":
        torchvision_epoch(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "torchvision":
        torchvision_epoch(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(__doc__.strip())
