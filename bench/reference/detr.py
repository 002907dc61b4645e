"""DETR (Carion et al. 2020) in PyTorch at genbox's size, as detection/ builds it: a small ResNet
with batch norm over valid pixels only, a 1x1 projection, the masked sine position encoding, a
pre-norm transformer encoder-decoder over learned query contents and positions, class and box
heads on every decoder layer; the Hungarian matcher (torch costs, scipy's solver, as in DETR)
and the set loss with auxiliary layers. The state-dict names are genbox's.
"""

import math

import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import nn

from . import common

DEFAULTS = {"model.num_queries": 16, "model.width": 64, "model.heads": 4, "model.encoder_layers": 2,
            "model.decoder_layers": 3, "model.ffn": 256, "model.backbone_channels": [16, 32, 64],
            "model.blocks_per_stage": 1, "model.output_stride": 8, "model.image_channels": 3, "data.num_classes": 10,
            "loss.ce_weight": 1.0, "loss.bbox_weight": 5.0, "loss.giou_weight": 2.0, "loss.class_cost": 1.0,
            "loss.bbox_cost": 5.0, "loss.giou_cost": 2.0, "loss.no_object_weight": 0.1, "loss.aux": True,
            "train.batch_size": 32, "optim.lr": 2e-3, "optim.weight_decay": 1e-4, "eval.batch_size": 50,
            "image_size": 64}


def conv(cin, cout, kernel, stride):
    layer = nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False)
    nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
    return layer


class MaskedBatchNorm(nn.Module):
    """Batch norm whose statistics count valid (unpadded) pixels only; output zero on padding."""

    def __init__(self, channels, momentum=0.1, eps=1e-5):
        super().__init__()
        self.weight, self.bias = nn.Parameter(torch.ones(channels)), nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))
        self.momentum, self.eps = momentum, eps

    def forward(self, x, valid):
        if self.training:
            count = valid.sum()
            mean = (x * valid).sum((0, 2, 3)) / count
            var = ((x - mean[None, :, None, None]).square() * valid).sum((0, 2, 3)) / count
            with torch.no_grad():
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
                self.running_var.mul_(1 - self.momentum).add_(self.momentum * var * count / (count - 1).clamp_min(1))
        else:
            mean, var = self.running_mean, self.running_var
        scale = self.weight * (var + self.eps).rsqrt()
        shift = self.bias - mean * scale
        return (x * scale[None, :, None, None] + shift[None, :, None, None]) * valid


class ResidualBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.stride = stride
        self.conv1, self.norm1 = conv(cin, cout, 3, stride), MaskedBatchNorm(cout)
        self.conv2, self.norm2 = conv(cout, cout, 3, 1), MaskedBatchNorm(cout)
        nn.init.zeros_(self.norm2.weight)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut, self.shortcut_norm = conv(cin, cout, 1, stride), MaskedBatchNorm(cout)

    def forward(self, x, valid):
        if self.stride == 2:
            valid = valid[:, :, ::2, ::2]
        h = self.norm2(self.conv2(F.relu(self.norm1(self.conv1(x), valid))), valid)
        identity = self.shortcut_norm(self.shortcut(x), valid) if self.shortcut is not None else x
        return F.relu(h + identity), valid


class Backbone(nn.Module):
    def __init__(self, image_channels, channels, blocks_per_stage, output_stride):
        super().__init__()
        stages, down = len(channels), int(math.log2(output_stride))
        self.stem_strides = [1] + [2] * (down - stages)
        self.stem = nn.ModuleList([conv(image_channels, channels[0], 3, 1)] +
                                  [conv(channels[0], channels[0], 3, 2) for _ in range(down - stages)])
        self.stem_norms = nn.ModuleList(MaskedBatchNorm(channels[0]) for _ in self.stem_strides)
        blocks, width = [], channels[0]
        for s, c in enumerate(channels):
            for b in range(blocks_per_stage):
                blocks.append(ResidualBlock(width, c, 2 if b == 0 and s >= stages - down else 1))
                width = c
        self.blocks = nn.ModuleList(blocks)

    def forward(self, images, valid):
        x = images * valid
        for stride, layer, norm in zip(self.stem_strides, self.stem, self.stem_norms):
            if stride == 2:
                valid = valid[:, :, ::2, ::2]
            x = F.relu(norm(layer(x), valid))
        for block in self.blocks:
            x, valid = block(x, valid)
        return x, valid


def xavier_linear(cin, cout):
    layer = nn.Linear(cin, cout)
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class Attention(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.out = (xavier_linear(width, width) for _ in range(4))

    def forward(self, query, key, value, key_padding=None):
        b, n, w = query.shape

        def split(x):
            return x.view(b, x.shape[1], self.heads, w // self.heads).transpose(1, 2)

        mask = None if key_padding is None else ~key_padding[:, None, None, :]
        attended = F.scaled_dot_product_attention(split(self.q(query)), split(self.k(key)), split(self.v(value)), mask)
        return self.out(attended.transpose(1, 2).reshape(b, n, w))


class Mlp(nn.Module):
    def __init__(self, width, hidden):
        super().__init__()
        self.fc1, self.fc2 = xavier_linear(width, hidden), xavier_linear(hidden, width)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class EncoderLayer(nn.Module):
    def __init__(self, width, heads, ffn):
        super().__init__()
        self.norm1, self.attention = nn.LayerNorm(width), Attention(width, heads)
        self.norm2, self.mlp = nn.LayerNorm(width), Mlp(width, ffn)

    def forward(self, x, pos, padding):
        h = self.norm1(x)
        y = x + self.attention(h + pos, h + pos, h, padding)
        return y + self.mlp(self.norm2(y))


class DecoderLayer(nn.Module):
    def __init__(self, width, heads, ffn):
        super().__init__()
        self.norm1, self.self_attention = nn.LayerNorm(width), Attention(width, heads)
        self.norm2, self.cross_attention = nn.LayerNorm(width), Attention(width, heads)
        self.norm3, self.mlp = nn.LayerNorm(width), Mlp(width, ffn)

    def forward(self, x, query_pos, memory, memory_pos, padding):
        h = self.norm1(x)
        y = x + self.self_attention(h + query_pos, h + query_pos, h)
        y = y + self.cross_attention(self.norm2(y) + query_pos, memory + memory_pos, memory, padding)
        return y + self.mlp(self.norm3(y))


class Transformer(nn.Module):
    def __init__(self, width, heads, ffn, encoder_layers, decoder_layers):
        super().__init__()
        self.encoder = nn.ModuleList(EncoderLayer(width, heads, ffn) for _ in range(encoder_layers))
        self.encoder_norm = nn.LayerNorm(width)
        self.decoder = nn.ModuleList(DecoderLayer(width, heads, ffn) for _ in range(decoder_layers))
        self.decoder_norm = nn.LayerNorm(width)


def sine_position_2d(padding, dim, temperature=10000.0):
    valid = (~padding).float()
    rows, columns = valid.cumsum(1), valid.cumsum(2)
    rows = rows / (rows[:, -1:] + 1e-6) * 2 * math.pi
    columns = columns / (columns[:, :, -1:] + 1e-6) * 2 * math.pi
    half = dim // 2
    inverse_frequency = temperature ** (-2.0 * torch.arange(half // 2, dtype=torch.float32) / half)

    def encode(positions):
        angles = positions[..., None] * inverse_frequency
        return torch.stack([angles.sin(), angles.cos()], -1).flatten(3)

    return (torch.cat([encode(rows), encode(columns)], -1) * valid[..., None]).permute(0, 3, 1, 2)


class Detr(nn.Module):
    def __init__(self, o):
        super().__init__()
        width, queries = o["model.width"], o["model.num_queries"]
        self.backbone = Backbone(o["model.image_channels"], o["model.backbone_channels"], o["model.blocks_per_stage"], o["model.output_stride"])
        self.input_projection = nn.Conv2d(o["model.backbone_channels"][-1], width, 1)
        self.transformer = Transformer(width, o["model.heads"], o["model.ffn"], o["model.encoder_layers"],
                                       o["model.decoder_layers"])
        self.query_pos = nn.Parameter(torch.randn(queries, width))
        self.query_content = nn.Parameter(torch.randn(queries, width))
        self.class_head = nn.Linear(width, o["data.num_classes"] + 1)
        self.box_head = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                                      nn.Linear(width, 4))
        self.width = width

    def forward(self, images, padding_mask):
        """Per decoder layer: logits [B, Q, K + 1] and boxes [B, Q, 4] (cx, cy, w, h in [0, 1])."""
        features, valid = self.backbone(images, (~padding_mask)[:, None].float())
        padding = valid[:, 0] < 0.5
        tokens = self.input_projection(features).flatten(2).transpose(1, 2)
        pos = sine_position_2d(padding, self.width).flatten(2).transpose(1, 2)
        flat_padding = padding.flatten(1)
        t = self.transformer
        memory = tokens
        for layer in t.encoder:
            memory = layer(memory, pos, flat_padding)
        memory = t.encoder_norm(memory)
        b = tokens.shape[0]
        query_pos = self.query_pos[None].expand(b, -1, -1)
        x = self.query_content[None].expand(b, -1, -1)
        logits, boxes = [], []
        for layer in t.decoder:
            x = layer(x, query_pos, memory, pos, flat_padding)
            y = t.decoder_norm(x)
            logits.append(self.class_head(y))
            boxes.append(self.box_head(y).sigmoid())
        return logits, boxes


def cxcywh_to_xyxy(b):
    cx, cy, w, h = b.unbind(-1)
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1)


def generalized_iou(a, b):
    """Pairwise GIoU of corner boxes a [N, 4] and b [M, 4]."""
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    lt, rb = torch.max(a[:, None, :2], b[None, :, :2]), torch.min(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    union = area_a[:, None] + area_b[None] - inter
    hull = (torch.max(a[:, None, 2:], b[None, :, 2:]) - torch.min(a[:, None, :2], b[None, :, :2])).clamp(min=0).prod(-1)
    return inter / union - (hull - union) / hull


@torch.no_grad()
def match(logits, boxes, labels, target_boxes, o):
    """Per image, (query indices, target indices) of the least-cost assignment, as in DETR."""
    out = []
    for b in range(logits.shape[0]):
        if len(labels[b]) == 0:
            out.append((torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)))
            continue
        cost = (-o["loss.class_cost"] * logits[b].softmax(-1)[:, labels[b]]
                + o["loss.bbox_cost"] * torch.cdist(boxes[b], target_boxes[b], p=1)
                - o["loss.giou_cost"] * generalized_iou(cxcywh_to_xyxy(boxes[b]), cxcywh_to_xyxy(target_boxes[b])))
        q, t = linear_sum_assignment(cost.numpy())
        out.append((torch.as_tensor(q, dtype=torch.long), torch.as_tensor(t, dtype=torch.long)))
    return out


def set_loss(logits_per_layer, boxes_per_layer, labels, target_boxes, o):
    """Sum over the (auxiliary and final) layers of ce_weight CE + bbox_weight L1 + giou_weight GIoU."""
    classes = o["data.num_classes"]
    box_count = max(1.0, float(sum(len(l) for l in labels)))
    weights = torch.ones(classes + 1)
    weights[classes] = o["loss.no_object_weight"]
    layers = range(len(logits_per_layer)) if o["loss.aux"] else [len(logits_per_layer) - 1]
    total, parts, matches = 0.0, {}, None
    for i in layers:
        logits, boxes = logits_per_layer[i], boxes_per_layer[i]
        matches = match(logits.detach(), boxes.detach(), labels, target_boxes, o)
        image = torch.cat([torch.full_like(q, b) for b, (q, _) in enumerate(matches)])
        query = torch.cat([q for q, _ in matches])
        matched_labels = torch.cat([labels[b][t] for b, (_, t) in enumerate(matches)])
        wanted = torch.cat([target_boxes[b][t] for b, (_, t) in enumerate(matches)])
        target_classes = torch.full(logits.shape[:2], classes, dtype=torch.long)
        target_classes[image, query] = matched_labels
        ce = F.cross_entropy(logits.flatten(0, 1), target_classes.flatten(), weight=weights)
        predicted = boxes[image, query]
        bbox = (predicted - wanted).abs().sum() / box_count
        giou = (1 - torch.diag(generalized_iou(cxcywh_to_xyxy(predicted), cxcywh_to_xyxy(wanted)))).sum() / box_count
        total = total + o["loss.ce_weight"] * ce + o["loss.bbox_weight"] * bbox + o["loss.giou_weight"] * giou
        suffix = "" if i == len(logits_per_layer) - 1 else f"_{i}"
        parts.update({"loss_ce" + suffix: ce, "loss_bbox" + suffix: bbox, "loss_giou" + suffix: giou})
    return total, parts, matches


def build(options):
    return Detr({**DEFAULTS, **options})


def unpad(i):
    counts = i["counts"].tolist()
    return ([i["labels"][b, :n] for b, n in enumerate(counts)], [i["boxes"][b, :n] for b, n in enumerate(counts)])


def oracle(case):
    o, i = {**DEFAULTS, **case["options"]}, case["inputs"]
    model = Detr(o)
    model.load_state_dict(case["state"], strict=True)
    model.train()
    logits, boxes = model(i["images"], i["padding_mask"])
    labels, target_boxes = unpad(i)
    total, parts, matches = set_loss(logits, boxes, labels, target_boxes, o)
    total.backward()
    out = {"logits": torch.stack(logits).detach(), "boxes": torch.stack(boxes).detach(), "loss": total.detach(),
           "matched_queries": torch.cat([q for q, _ in matches]), "matched_targets": torch.cat([t for _, t in matches])}
    out.update({k: v.detach() for k, v in parts.items()})
    out.update({"grad." + n: p.grad for n, p in model.named_parameters() if p.grad is not None})
    out.update({"buffer." + n: b for n, b in model.named_buffers()})
    return out


def random_targets(n, classes, generator, most):
    """n images' targets: 1..most boxes of random classes, centres and sizes inside the image."""
    labels, boxes = [], []
    for _ in range(n):
        k = int(torch.randint(1, most + 1, (1,), generator=generator))
        size = torch.rand(k, 2, generator=generator) * 0.3 + 0.1
        centre = size / 2 + torch.rand(k, 2, generator=generator) * (1 - size)
        labels.append(torch.randint(0, classes, (k,), generator=generator))
        boxes.append(torch.cat([centre, size], 1))
    return labels, boxes


def bench(threads, steps, options):
    """`detr bench` on random 64 x 64 images with 1..4 random boxes each, as many as the scenes hold (the step's compute does not
    depend on the pixels; genbox's side also draws its scenes inside the timed step)."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    # The scenes are Fashion-MNIST items: one channel, as genbox's model takes them.
    o = {**DEFAULTS, "model.image_channels": 1, **options}
    model = Detr(o)
    optimizer = common.make_optimizer(model, "adamw", o["optim.lr"], (0.9, 0.999), 1e-8, o["optim.weight_decay"])
    g = torch.Generator().manual_seed(1)
    batch, size = o["train.batch_size"], o["image_size"]

    def train_step():
        images = torch.rand(batch, 1, size, size, generator=g)
        labels, target_boxes = random_targets(batch, o["data.num_classes"], g, most=4)
        optimizer.zero_grad()
        with common.autocast(o):
            logits, boxes = model(images, torch.zeros(batch, size, size, dtype=torch.bool))
        logits, boxes = [x.float() for x in logits], [x.float() for x in boxes]
        set_loss(logits, boxes, labels, target_boxes, o)[0].backward()
        optimizer.step()

    train_seconds = common.timed_seconds(train_step, steps)
    test_images = torch.rand(o["eval.batch_size"], 1, size, size, generator=g)

    def infer():
        model.eval()
        with torch.no_grad(), common.autocast(o):
            logits, boxes = model(test_images, torch.zeros(len(test_images), size, size, dtype=torch.bool))
            logits[-1].softmax(-1)[..., :-1].max(-1)
            cxcywh_to_xyxy(boxes[-1]) * size
        model.train()

    repeats = max(steps // 2, 2)
    inference_seconds = common.timed_seconds(infer, repeats)
    torch.set_num_threads(1)
    labels, target_boxes = random_targets(64, o["data.num_classes"], g, most=20)
    logits, boxes = torch.randn(64, 100, o["data.num_classes"] + 1), torch.rand(64, 100, 4) * 0.5 + 0.25
    match_ms = common.timed_seconds(lambda: match(logits, boxes, labels, target_boxes, o), 20) / 20 * 1000
    return {"experiment": "detr", "threads": threads, "precision": o.get("device.precision", "fp32"), "batch_size": batch, "parameters": common.parameter_count(model),
            "train_images_per_s": steps * batch / train_seconds,
            "inference_images_per_s": repeats * len(test_images) / inference_seconds,
            "matcher_ms_64x100_cpu_1_thread": match_ms}
