"""NICE (Dinh, Krueger, Bengio 2014) in PyTorch, as genbox's flows/nice builds it.

Additive couplings on interleaved halves (parity 0 keeps the even coordinates), a diagonal
scaling, a factorised logistic or Gaussian prior. The state-dict names are genbox's.
"""

import math

import torch
from torch import nn

from . import common

DEFAULTS = {"model.coupling_layers": 4, "model.hidden": 256, "model.hidden_layers": 3, "model.prior": "logistic",
            "train.batch_size": 200, "optim.name": "adam", "optim.lr": 1e-3, "optim.beta1": 0.9, "optim.beta2": 0.99,
            "optim.eps": 1e-4, "optim.weight_decay": 0.0}


class Coupling(nn.Module):
    def __init__(self, dim, parity, hidden, hidden_layers):
        super().__init__()
        self.parity = parity
        layers, width = [], (dim + 1 - parity) // 2
        for i in range(hidden_layers):
            layers += [nn.Linear(width if i == 0 else hidden, hidden), nn.ReLU()]
        layers.append(nn.Linear(hidden if hidden_layers else width, (dim + parity) // 2))
        self.shift_net = nn.Sequential(*layers)

    def forward(self, x, sign=1.0):
        """Strided views of the two halves, interleaved back by stacking (dim must be even)."""
        kept, changed = x[:, self.parity::2], x[:, 1 - self.parity::2]
        changed = changed + sign * self.shift_net(kept)
        pair = (kept, changed) if self.parity == 0 else (changed, kept)
        return torch.stack(pair, dim=2).flatten(1)


class Nice(nn.Module):
    def __init__(self, dim, coupling_layers, hidden, hidden_layers, prior):
        super().__init__()
        self.couplings = nn.ModuleList(Coupling(dim, i % 2, hidden, hidden_layers) for i in range(coupling_layers))
        self.scaling = nn.Module()
        self.scaling.log_scale = nn.Parameter(torch.zeros(dim))
        self.prior = prior

    def forward(self, x):
        """x -> (z, log|det dz/dx|) per example."""
        for coupling in self.couplings:
            x = coupling(x)
        s = self.scaling.log_scale
        return x * s.exp(), s.sum().expand(x.shape[0])

    def inverse(self, z):
        s = self.scaling.log_scale
        x = z * (-s).exp()
        for coupling in reversed(self.couplings):
            x = coupling(x, sign=-1.0)
        return x, (-s.sum()).expand(z.shape[0])

    def log_prob(self, x):
        z, logdet = self(x)
        if self.prior == "logistic":
            prior = -(nn.functional.softplus(z) + nn.functional.softplus(-z))
        else:
            prior = -0.5 * z.square() - 0.5 * math.log(2 * math.pi)
        return prior.sum(1) + logdet


def build(options, dim=784):
    o = {**DEFAULTS, **options}
    return Nice(dim, o["model.coupling_layers"], o["model.hidden"], o["model.hidden_layers"], o["model.prior"])


def oracle(case):
    x = case["inputs"]["x"]
    model = build(case["options"], x.shape[1])
    model.load_state_dict(case["state"], strict=True)
    z, logdet = model(x)
    x_back, inverse_logdet = model.inverse(z.detach())
    log_prob = model.log_prob(x)
    (-log_prob.mean()).backward()
    out = {"z": z, "logdet": logdet, "log_prob": log_prob, "inverse": x_back, "inverse_logdet": inverse_logdet}
    out = {k: v.detach() for k, v in out.items()}
    out.update({"grad." + n: p.grad for n, p in model.named_parameters()})
    return out


def bench(threads, steps, options):
    """`nice bench`: Adam steps on dequantized Fashion-MNIST (or CIFAR-10) batches, then 1000-sample draws."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    o = {**DEFAULTS, **options}
    train = common.training_images(o)[0].flatten(1)
    model = build(o, train.shape[1])
    optimizer = common.make_optimizer(model, o["optim.name"], o["optim.lr"], (o["optim.beta1"], o["optim.beta2"]),
                                      o["optim.eps"], o["optim.weight_decay"])
    batch = o["train.batch_size"]
    order = iter(())

    def train_step():
        nonlocal order
        rows = next(order, None)
        if rows is None:
            order = iter(torch.randperm(train.shape[0]).split(batch))
            rows = next(order)
        x = (train[rows].float() + torch.rand(len(rows), train.shape[1])) / 256.0
        optimizer.zero_grad()
        with common.autocast(o):
            loss = -model.log_prob(x).mean()
        loss.backward()
        optimizer.step()

    train_seconds = common.timed_seconds(train_step, steps)

    def sample():
        with torch.no_grad():
            u = torch.rand(1000, train.shape[1]).clamp(1e-6, 1 - 1e-6)
            model.inverse(torch.log(u) - torch.log1p(-u))

    repeats = max(steps, 2)
    sample_seconds = common.timed_seconds(sample, repeats)
    return {"experiment": "nice", "threads": threads, "precision": o.get("device.precision", "fp32"), "batch_size": batch, "parameters": common.parameter_count(model),
            "train_examples_per_s": steps * batch / train_seconds, "train_steps_per_s": steps / train_seconds,
            "samples_per_s": repeats * 1000 / sample_seconds}
