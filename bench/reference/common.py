"""What the references share: the Fashion-MNIST reader, genbox's timing rule and optimizer."""

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
