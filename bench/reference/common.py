"""What the references share: the image readers, genbox's timing rule and optimizer."""

import gzip
import os
import time

import torch

FASHION_MNIST = "/usr/share/datasets/fashion-mnist"


def read_idx(stem, root=FASHION_MNIST):
    """An IDX file (optionally gzipped) as a uint8 tensor shaped by its header."""
    path = os.path.join(root, stem)
    opener = open if os.path.exists(path) else gzip.open
    with opener(path if os.path.exists(path) else path + ".gz", "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return torch.frombuffer(bytearray(data[4 + 4 * ndim:]), dtype=torch.uint8).view(shape)


def read_cifar10(root):
    """CIFAR-10's binary training batches: uint8 images [N, 3, 32, 32] and int64 labels [N]."""
    data = b"".join(open(os.path.join(root, f"data_batch_{i}.bin"), "rb").read() for i in range(1, 6))
    records = torch.frombuffer(bytearray(data), dtype=torch.uint8).view(-1, 3073)
    return records[:, 1:].reshape(-1, 3, 32, 32).contiguous(), records[:, 0].long()


def training_images(options):
    """What the bench trains on, as genbox's data.dataset chooses: Fashion-MNIST (uint8 [N, 1, 28,
    28]) by default, or CIFAR-10's binary batches under data.root; labels int64 [N]."""
    if options.get("data.dataset", "fashion_mnist") == "cifar10":
        return read_cifar10(options["data.root"])
    return read_idx("train-images-idx3-ubyte")[:, None], read_idx("train-labels-idx1-ubyte").long()


def timed_seconds(work, repeats):
    """genbox's timed_seconds: one untimed warm-up call, then `repeats` timed calls.

    genbox times its NICE and DiT training steps in blocks between blocks of plain matmuls
    (common/matmul.hpp), which can only cost it: they refill the caches the steps use.
    """
    work()
    start = time.perf_counter()
    for _ in range(repeats):
        work()
    return time.perf_counter() - start


def make_optimizer(model, name, lr, betas, eps, weight_decay):
    """Adam or AdamW with weight decay on weight matrices only, as genbox's make_optimizer."""
    decayed = [p for n, p in model.named_parameters() if p.dim() >= 2 and not n.endswith("bias")]
    plain = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and not n.endswith("bias"))]
    groups = [g for g in ({"params": decayed, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0})
              if g["params"]]
    kind = torch.optim.AdamW if name == "adamw" else torch.optim.Adam
    return kind(groups, lr=lr, betas=betas, eps=eps)


def parameter_count(model):
    return sum(p.numel() for p in model.parameters())


def autocast(options):
    """torch.autocast on the CPU in device.precision's dtype (bf16 or fp16); off for fp32."""
    precision = options.get("device.precision", "fp32")
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
    return torch.autocast("cpu", dtype=dtype, enabled=precision != "fp32")
