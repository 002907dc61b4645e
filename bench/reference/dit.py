"""The rectified-flow DiT in PyTorch, as genbox's diffusion/dit builds it (Peebles & Xie 2023, with
SD3's QK-norm and logit-normal timesteps), its training step and its Euler sampler with CFG.

Patch tokens plus a fixed 2D sin-cos embedding; conditioning = MLP(sinusoid(1000 t)) + a class
embedding with a null class; blocks modulated by adaLN-Zero; a final adaLN layer back to
patches. The state-dict names are genbox's.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from . import common

PRESETS = {"tiny": (64, 2, 2, 4), "small": (384, 12, 6, 2), "base": (768, 12, 12, 2)}  # width, depth, heads, patch
DEFAULTS = {"model.preset": "tiny", "model.width": 0, "model.depth": 0, "model.heads": 0, "model.patch": 0,
            "model.mlp_ratio": 4, "model.qk_norm": True, "model.mlp": "gelu_tanh", "model.label_dropout": 0.1,
            "flow.mean": 0.0, "flow.stddev": 1.0, "train.batch_size": 64, "optim.lr": 1e-3, "optim.beta1": 0.9,
            "optim.beta2": 0.99, "optim.eps": 1e-8, "optim.weight_decay": 0.0, "sample.steps": 16,
            "sample.guidance": 2.0}


def sincos_1d(dim, positions):
    omega = 10000.0 ** (-torch.arange(dim // 2, dtype=torch.float64) / (dim / 2))
    angles = positions[:, None] * omega[None]
    return torch.cat([angles.sin(), angles.cos()], 1)


def sincos_2d(dim, grid):
    rows = torch.arange(grid, dtype=torch.float64).repeat_interleave(grid)
    columns = torch.arange(grid, dtype=torch.float64).repeat(grid)
    return torch.cat([sincos_1d(dim // 2, columns), sincos_1d(dim // 2, rows)], 1).float()


def timestep_embedding(t, dim, max_period=10000.0):
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=t.dtype) / half)
    angles = t[:, None] * freqs[None]
    return torch.cat([angles.cos(), angles.sin()], 1)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.square().mean(-1, keepdim=True) + self.eps) * self.scale


class Attention(nn.Module):
    def __init__(self, dim, heads, qk_norm):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        if qk_norm:
            self.q_norm, self.k_norm = RMSNorm(dim // heads), RMSNorm(dim // heads)
        self.qk_norm = qk_norm
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        if self.qk_norm:
            q, k = self.q_norm(q), self.k_norm(k)
        return self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, t, d))


class Mlp(nn.Module):
    def __init__(self, dim, hidden, kind):
        super().__init__()
        self.kind = kind
        self.fc1 = nn.Linear(dim, hidden if kind == "gelu_tanh" else 2 * hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        h = self.fc1(x)
        if self.kind == "gelu_tanh":
            return self.fc2(F.gelu(h, approximate="tanh"))
        a, b = h.chunk(2, -1)
        return self.fc2(F.silu(a) * b)


def modulate(x, shift, scale):
    return x * (1 + scale[:, None]) + shift[:, None]


def plain_layer_norm(x):
    return F.layer_norm(x, (x.shape[-1],), eps=1e-6)


def xavier(layer):
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)


def zero(layer):
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)


class Block(nn.Module):
    def __init__(self, width, heads, mlp_hidden, mlp, qk_norm):
        super().__init__()
        self.attention = Attention(width, heads, qk_norm)
        self.mlp = Mlp(width, mlp_hidden, mlp)
        self.modulation = nn.Linear(width, 6 * width)
        for layer in (self.attention.qkv, self.attention.proj, self.mlp.fc1, self.mlp.fc2):
            xavier(layer)
        zero(self.modulation)

    def forward(self, x, c):
        m = self.modulation(F.silu(c)).chunk(6, 1)
        h = x + m[2][:, None] * self.attention(modulate(plain_layer_norm(x), m[0], m[1]))
        return h + m[5][:, None] * self.mlp(modulate(plain_layer_norm(h), m[3], m[4]))


class FinalLayer(nn.Module):
    def __init__(self, width, patch_dim):
        super().__init__()
        self.modulation = nn.Linear(width, 2 * width)
        self.output = nn.Linear(width, patch_dim)
        zero(self.modulation)
        zero(self.output)

    def forward(self, x, c):
        shift, scale = self.modulation(F.silu(c)).chunk(2, 1)
        return self.output(modulate(plain_layer_norm(x), shift, scale))


class Conditioning(nn.Module):
    def __init__(self, width, num_classes, frequency_dim=256):
        super().__init__()
        self.frequency_dim = frequency_dim
        self.time_mlp = nn.Sequential(nn.Linear(frequency_dim, width), nn.SiLU(), nn.Linear(width, width))
        self.class_embedding = nn.Embedding(num_classes + 1, width)
        for layer in (self.time_mlp[0], self.time_mlp[2]):
            nn.init.normal_(layer.weight, 0, 0.02)
            nn.init.zeros_(layer.bias)
        nn.init.normal_(self.class_embedding.weight, 0, 0.02)

    def forward(self, t, labels):
        return self.time_mlp(timestep_embedding(t * 1000.0, self.frequency_dim)) + self.class_embedding(labels)


class Dit(nn.Module):
    def __init__(self, image_size, channels, patch, width, depth, heads, mlp_ratio, num_classes, qk_norm, mlp):
        super().__init__()
        self.patch, grid = patch, image_size // patch
        mlp_hidden = 2 * mlp_ratio * width // 3 if mlp == "swiglu" else mlp_ratio * width
        self.patch_embedding = nn.Linear(patch * patch * channels, width)
        xavier(self.patch_embedding)
        self.conditioning = Conditioning(width, num_classes)
        self.blocks = nn.ModuleList(Block(width, heads, mlp_hidden, mlp, qk_norm) for _ in range(depth))
        self.final_layer = FinalLayer(width, patch * patch * channels)
        self.register_buffer("position_embedding", sincos_2d(width, grid)[None])
        self.null_class = num_classes

    def forward(self, x, t, labels):
        b, c, h, w = x.shape
        p = self.patch
        tokens = x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1).reshape(b, -1, p * p * c)
        tokens = self.patch_embedding(tokens) + self.position_embedding
        cond = self.conditioning(t, labels)
        for block in self.blocks:
            tokens = block(tokens, cond)
        out = self.final_layer(tokens, cond)
        return out.reshape(b, h // p, w // p, p, p, c).permute(0, 5, 1, 3, 2, 4).reshape(b, c, h, w)


def build(options, image_size=28, channels=1, num_classes=10):
    o = {**DEFAULTS, **options}
    width, depth, heads, patch = PRESETS[o["model.preset"]]
    return Dit(image_size, channels, o["model.patch"] or patch, o["model.width"] or width, o["model.depth"] or depth,
               o["model.heads"] or heads, o["model.mlp_ratio"], num_classes, o["model.qk_norm"], o["model.mlp"])


def loss(model, x0, noise, t, labels):
    """The rectified-flow loss: x_t = (1 - t) x0 + t noise, target noise - x0."""
    tb = t.view(-1, *([1] * (x0.dim() - 1)))
    return F.mse_loss(model((1 - tb) * x0 + tb * noise, t, labels), noise - x0)


def oracle(case):
    i = case["inputs"]
    model = build(case["options"], i["x"].shape[-1], i["x"].shape[1])
    model.load_state_dict(case["state"], strict=True)
    velocity = model(i["x"], i["t"], i["labels"])
    (velocity * i["cotangent"]).sum().backward()
    out = {"velocity": velocity.detach()}
    out.update({"grad." + n: p.grad for n, p in model.named_parameters()})
    with torch.no_grad():
        out["loss"] = loss(model, i["x0"], i["noise"], i["t"], i["labels"])
    return out


def sample(model, noise, labels, steps, guidance):
    """Euler from t = 1 to 0 with classifier-free guidance (one batched pass of both halves)."""
    both = torch.cat([labels, torch.full_like(labels, model.null_class)])
    ts = torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)
    x = noise
    for i in range(steps):
        t = torch.full((x.shape[0] * 2,), float(ts[i]))
        conditional, unconditional = model(torch.cat([x, x]), t, both).chunk(2)
        x = x + float(ts[i + 1] - ts[i]) * (unconditional + guidance * (conditional - unconditional))
    return x


def bench(threads, steps, options):
    """`rf_dit bench`: AdamW steps on dequantized Fashion-MNIST (or CIFAR-10), then a 10 x 6 CFG sample sheet."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    o = {**DEFAULTS, **options}
    images, labels = common.training_images(o)
    model = build(o, images.shape[-1], images.shape[1])
    optimizer = common.make_optimizer(model, "adamw", o["optim.lr"], (o["optim.beta1"], o["optim.beta2"]),
                                      o["optim.eps"], o["optim.weight_decay"])
    batch = o["train.batch_size"]
    order = iter(())

    def train_step():
        nonlocal order
        rows = next(order, None)
        if rows is None:
            order = iter(torch.randperm(images.shape[0]).split(batch))
            rows = next(order)
        x0 = (images[rows].float() + torch.rand(len(rows), *images.shape[1:])) / 256.0 * 2 - 1
        y = torch.where(torch.rand(len(rows)) < o["model.label_dropout"], model.null_class, labels[rows])
        t = torch.sigmoid(torch.randn(len(rows)) * o["flow.stddev"] + o["flow.mean"])
        noise = torch.randn_like(x0)
        optimizer.zero_grad()
        with common.autocast(o):
            value = loss(model, x0, noise, t, y)
        value.backward()
        optimizer.step()

    train_seconds = common.timed_seconds(train_step, steps)
    per_class = max(batch // 10, 1)
    noise = torch.randn(10 * per_class, *images.shape[1:])
    sheet_labels = torch.arange(10).repeat_interleave(per_class)

    def draw():
        model.eval()
        with torch.no_grad(), common.autocast(o):
            sample(model, noise, sheet_labels, o["sample.steps"], o["sample.guidance"])
        model.train()

    repeats = max(steps // 10, 2)
    sample_seconds = common.timed_seconds(draw, repeats)
    return {"experiment": "rf_dit", "threads": threads, "precision": o.get("device.precision", "fp32"), "batch_size": batch, "parameters": common.parameter_count(model),
            "train_images_per_s": steps * batch / train_seconds,
            "sample_images_per_s": repeats * noise.shape[0] / sample_seconds}
