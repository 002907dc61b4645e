"""The FID oracle of genbox's Inception tests (tests/metrics/test_inception_oracle.cpp): what the
tools papers use make of the same images with the same random weights.

usage: python bench/fid_oracle.py DIR
       python bench/fid_oracle.py read-stats FILE.npz

DIR gets:
  weights.pth, weights.safetensors  one random FID Inception (pytorch-fid's network, its batch-norm
                                    statistics calibrated on random images so that features vary)
  images_<case>.npy                 uint8 [N, C, H, W] test images
  expected.npz                      per case and convention: "input_<conv>_<case>" (the network's
                                    input) and "features_<conv>_<case>" (pool3; clean: not for
                                    sets a and b), by
                                      pytorch  pytorch-fid's InceptionV3 (its resize and 2x - 1)
                                      tf       torch-fidelity's inception-v3-compat extractor
                                      clean    clean-fid's PIL resize, then pytorch-fid's network
                                    and between sets a and b: "fid_pytorch" (pytorch-fid's
                                    calculate_frechet_distance), "fid_tf", "kid_tf",
                                    "precision_tf", "recall_tf" (torch-fidelity's, on its features)
  stats_pytorch_a.npz               pytorch-fid's --save-stats file of set a (savez_compressed)
read-stats prints {"mu_sum", "sigma_trace", "sigma_sum", "shape"} of an .npz as pytorch-fid loads it.
"""

import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

REFERENCE_WEIGHTS_NAME = "weights.pth"
CLEAN_SKIPS = ("a", "b")  # the clean convention's features are computed for the other cases only


def random_inception(seed):
    """pytorch-fid's FID Inception, built as fid_inception_v3 builds it, with random weights whose
    batch norms hold statistics of one pass over random images."""
    import pytorch_fid.inception as pfi
    torch.manual_seed(seed)
    net = pfi._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    net.Mixed_5b = pfi.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = pfi.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = pfi.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = pfi.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = pfi.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = pfi.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = pfi.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = pfi.FIDInceptionE_1(1280)
    net.Mixed_7c = pfi.FIDInceptionE_2(2048)
    for module in net.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
        elif isinstance(module, torch.nn.BatchNorm2d):
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
            module.reset_running_stats()
            module.momentum = None  # a cumulative average over the calibration pass
    torch.nn.init.normal_(net.fc.weight, std=0.01)
    torch.nn.init.zeros_(net.fc.bias)
    net.train()
    with torch.no_grad():
        calibration = smooth_images(np.random.default_rng(seed), 8, 3, 299, 299)
        pfi_blocks = torch.nn.Sequential(
            net.Conv2d_1a_3x3, net.Conv2d_2a_3x3, net.Conv2d_2b_3x3, torch.nn.MaxPool2d(3, 2), net.Conv2d_3b_1x1,
            net.Conv2d_4a_3x3, torch.nn.MaxPool2d(3, 2), net.Mixed_5b, net.Mixed_5c, net.Mixed_5d, net.Mixed_6a,
            net.Mixed_6b, net.Mixed_6c, net.Mixed_6d, net.Mixed_6e, net.Mixed_7a, net.Mixed_7b, net.Mixed_7c)
        pfi_blocks(torch.from_numpy(calibration).float() / 127.5 - 1)
    net.eval()
    return net


def save_safetensors(tensors, path):
    """The safetensors layout (8-byte header length, JSON header, raw bytes) for float32 tensors,
    without the safetensors package."""
    header, blobs, offset = {}, [], 0
    for name, tensor in tensors.items():
        data = tensor.detach().float().contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensor.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def smooth_images(rng, n, channels, height, width, brightness=0.0):
    """uint8 [n, C, H, W]: a few random sinusoids plus noise, so that images differ in structure."""
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    images = np.empty((n, channels, height, width), np.uint8)
    for i in range(n):
        for c in range(channels):
            f = rng.uniform(1, 12, 4)
            plane = 127 + 60 * np.sin(f[0] * x * 6.28 + f[1] * y * 3.14 + f[2]) + 40 * np.cos(f[3] * y * 6.28 * x)
            plane += brightness + rng.normal(0, 12, (height, width))
            images[i, c] = np.clip(plane, 0, 255).astype(np.uint8)
    return images


def cases(rng):
    return {
        "a": smooth_images(rng, 8, 3, 32, 32),
        "b": smooth_images(rng, 8, 3, 32, 32, brightness=30),
        "grey": smooth_images(rng, 2, 1, 28, 28),
        "tall": smooth_images(rng, 1, 3, 40, 24),
        "large": smooth_images(rng, 1, 3, 320, 400),
    }


def pytorch_inputs(images):
    x = torch.from_numpy(images).float() / 255  # torchvision's ToTensor
    x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)  # pytorch-fid's resize_input
    return 2 * x - 1  # and normalize_input


def tf_inputs(images):
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x
    x = interpolate_bilinear_2d_like_tensorflow1x(torch.from_numpy(images).float(), size=(299, 299),
                                                  align_corners=False)
    return (x - 128) / 128


def clean_inputs(images):
    from cleanfid.resize import make_resizer
    resize = make_resizer("PIL", False, "bicubic", (299, 299))
    resized = np.stack([resize(image.transpose(1, 2, 0)).transpose(2, 0, 1) for image in images])
    x = torch.from_numpy(np.ascontiguousarray(resized)).float()
    return (x - 128) / 128  # clean-fid's InceptionV3W: x - 128, then / 128


def rgb(images):
    return np.repeat(images, 3, axis=1) if images.shape[1] == 1 else images


def main(out):
    import pytorch_fid.inception as pfi
    from pytorch_fid.fid_score import calculate_frechet_distance
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    from torch_fidelity.metric_fid import fid_statistics_to_metric, fid_features_to_statistics
    from torch_fidelity.metric_kid import kid_features_to_metric
    from torch_fidelity.metric_prc import prc_features_to_metric

    os.makedirs(out, exist_ok=True)
    state = random_inception(0).state_dict()
    weights_path = os.path.join(out, REFERENCE_WEIGHTS_NAME)
    torch.save(state, weights_path)
    save_safetensors({k: v for k, v in state.items() if not k.endswith("num_batches_tracked")},
                     os.path.join(out, "weights.safetensors"))

    pfi.load_state_dict_from_url = lambda *args, **kwargs: state  # pytorch-fid has no offline constructor
    pytorch_fid_net = pfi.InceptionV3([3]).eval()
    pytorch_fid_blocks = pfi.InceptionV3([3], resize_input=False, normalize_input=False).eval()
    fidelity = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=weights_path)
    fidelity.eval()

    expected = {}
    features = {}
    with torch.no_grad():
        for name, images in cases(np.random.default_rng(1)).items():
            np.save(os.path.join(out, f"images_{name}.npy"), images)
            three = rgb(images)
            expected[f"input_pytorch_{name}"] = pytorch_inputs(three)
            expected[f"input_tf_{name}"] = tf_inputs(three)
            expected[f"input_clean_{name}"] = clean_inputs(three)
            features["pytorch", name] = pytorch_fid_net(torch.from_numpy(three).float() / 255)[0].flatten(1)
            features["tf", name] = fidelity(torch.from_numpy(three))[0]
            if name not in CLEAN_SKIPS:  # its network is pytorch-fid's, already checked on these
                features["clean", name] = pytorch_fid_blocks(expected[f"input_clean_{name}"])[0].flatten(1)
            for (convention, case), value in features.items():
                if case == name:
                    expected[f"features_{convention}_{name}"] = value
            if name in ("a", "b") and not features["tf", name].std(0).mean().item() > 1e-3:
                sys.exit(f"random Inception features collapsed (set {name})")

    def moments(f):
        f = f.double().numpy()
        return f.mean(0), np.cov(f, rowvar=False)

    mu_a, sigma_a = moments(features["pytorch", "a"])
    mu_b, sigma_b = moments(features["pytorch", "b"])
    np.savez_compressed(os.path.join(out, "stats_pytorch_a.npz"), mu=mu_a, sigma=sigma_a)  # as --save-stats writes
    scalars = {"fid_pytorch": calculate_frechet_distance(mu_a, sigma_a, mu_b, sigma_b)}
    options = {"kid_subsets": 10, "kid_subset_size": 8, "kid_kernel": "poly", "kid_kernel_poly_degree": 3, "kid_kernel_poly_gamma": None,
               "kid_kernel_poly_coef0": 1, "prc_neighborhood": 3, "prc_batch_size": 10000, "save_cpu_ram": False,
               "verbose": False}
    tf_a, tf_b = features["tf", "a"], features["tf", "b"]
    scalars["fid_tf"] = fid_statistics_to_metric(fid_features_to_statistics(tf_a), fid_features_to_statistics(tf_b),
                                                 False)["frechet_inception_distance"]
    kid = kid_features_to_metric(tf_a, tf_b, **options)
    scalars["kid_tf"] = kid["kernel_inception_distance_mean"]
    prc = prc_features_to_metric(tf_b, tf_a, **options)  # generated b against real a
    scalars["precision_tf"], scalars["recall_tf"] = prc["precision"], prc["recall"]
    for key, value in scalars.items():
        expected[key] = torch.tensor(float(value), dtype=torch.float64)
    np.savez(os.path.join(out, "expected.npz"), **{k: v.contiguous().numpy() for k, v in expected.items()})


def read_stats(path):
    with np.load(path) as f:
        mu, sigma = f["mu"][:], f["sigma"][:]
    print(json.dumps({"mu_sum": float(mu.sum()), "sigma_trace": float(np.trace(sigma)),
                      "sigma_sum": float(sigma.sum()), "shape": [int(s) for s in sigma.shape],
                      "dtype": str(sigma.dtype)}))


if __name__ == "__main__":
    torch.set_num_threads(int(os.environ.get("GENBOX_ORACLE_THREADS", "2")))
    if len(sys.argv) == 3 and sys.argv[1] == "read-stats":
        read_stats(sys.argv[2])
    elif len(sys.argv) == 2:
        main(sys.argv[1])
    else:
        sys.exit(__doc__.strip().splitlines()[3])
