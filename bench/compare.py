"""genbox against its PyTorch reference, side by side, on this machine: `scripts/bench`.

For each experiment and thread count the two sides run as separate processes, interleaved
(genbox first in even rounds, the reference first in odd ones) and repeated, so that a slow
moment of a noisy machine lands on both sides alike. Each figure is the median over rounds and
each ratio the median of the rounds' genbox/reference ratios. Peak memory is the process's
maximum resident set size (getrusage of the child), which includes loading the data.

--precisions runs nice, rf_dit and detr in each device.precision given (fp32, bf16, fp16) on both
sides: genbox's device.precision against the reference under torch.autocast("cpu", dtype). bf16
is fast only on CPUs with native bf16 instructions (lscpu: avx512_bf16 or amx_bf16); elsewhere
ATen's bf16 kernels are generic loops (PyTorch's side) and genbox takes bf16 through its fp32
kernels, so neither side gains over fp32. The bench says so.

The "images" rows time preparing a folder of images (build/bin/bench_images: list, decode, fit,
write the prepared-set cache; then a second start from the cache; then the decoder alone on bytes
in memory) against one epoch of torchvision's ImageFolder + DataLoader (2 workers) over the same
folder (bench/image_folder.py), for 50,000 32 x 32 PNGs and 2,000 512 x 384 JPEGs fitted to
64 x 64 by ADM's centre crop. The folders are generated once under --image-dir.

The "vae" rows time SD3's VAE (its config, random weights, made once under --image-dir by
bench/vae_oracle.py) encoding and decoding one 256 x 256 image (--vae-size) (build/bin/bench_vae) against
diffusers' AutoencoderKL (bench/vae_reference.py), in each --precisions value.

The "fid" rows time FID's Inception features of --fid-images 32 x 32 PNGs resized to 299 (`fid
bench`, the pytorch convention, against pytorch-fid's InceptionV3 on the same decoded images,
bench/fid_reference.py), and the whole `fid score` of two such folders (a process: weights,
decoding, features, statistics, the matrix square root; features not cached) against pytorch-fid's
calculate_fid_given_paths, both with the same random weights (real ones are not on these machines:
the speed is the same).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# (key in both sides' JSON, label, higher is better)
METRICS = {
    "nice": [("train_examples_per_s", "train examples/s", True), ("samples_per_s", "samples/s", True)],
    "rf_dit": [("train_images_per_s", "train images/s", True),
               ("sample_images_per_s", "sampling images/s (CFG)", True)],
    "detr": [("train_images_per_s", "train images/s", True), ("inference_images_per_s", "inference images/s", True),
             ("matcher_ms_64x100_cpu_1_thread", "matcher ms, 64x100, 1 thread", False)],
}
METRICS["nice_rgb32"] = METRICS["nice"]
METRICS["rf_dit_rgb32"] = METRICS["rf_dit"]
STEPS = {"nice": 40, "rf_dit": 30, "detr": 10, "nice_rgb32": 20, "rf_dit_rgb32": 20}
# The *_rgb32 rows: the same programs on 3 x 32 x 32 images (CIFAR-10's binary layout, made once
# under --image-dir with random pixels), flips off on both sides.
RGB32 = ["data.dataset=cifar10", "data.hflip=off"]
# name: (image_folder.py command that makes it, images, size genbox and torchvision fit them to)
IMAGE_SETS = {"png50k": ("make", 50000, 32, "50,000 32x32 PNGs"),
              "jpeg2k": ("make-jpeg", 2000, 64, "2,000 512x384 JPEGs to 64x64")}


CPUS = set()  # "model (ATen capability)" of every genbox bench line seen


def run_measured(command):
    """Like run, but with the child's peak RSS, read from wait4's rusage."""
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = child.stdout.read()
    err = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        sys.exit(f"bench: {' '.join(command)} failed ({child.returncode}):\n{err.strip()}")
    lines = [l for l in out.splitlines() if l.startswith("{")]
    if not lines:
        sys.exit(f"bench: {' '.join(command)} printed no JSON line:\n{err.strip()}")
    result = json.loads(lines[-1])
    result["peak_rss_mib"] = usage.ru_maxrss / 1024.0
    result["wall_s"] = time.perf_counter() - start
    if "cpu_model" in result:
        CPUS.add(f"{result['cpu_model']} ({result['cpu_capability']})")
    return result


def paired_row(experiment, precision, threads, key, label, higher_is_better, rounds):
    """One figure of both sides over (genbox, reference) rounds: medians and the median ratio; printed as JSON."""
    g_values = [g[key] for g, _ in rounds]
    p_values = [p[key] for _, p in rounds]
    row = {"experiment": experiment, "precision": precision, "threads": threads, "metric": key, "label": label,
           "higher_is_better": higher_is_better, "genbox": statistics.median(g_values),
           "reference": statistics.median(p_values),
           "ratio": statistics.median(a / b for a, b in zip(g_values, p_values)),
           "genbox_rounds": g_values, "reference_rounds": p_values}
    print(json.dumps(row), flush=True)
    return row


def interleaved(ours, theirs, rounds):
    """(genbox, reference) results per round, genbox first in even rounds and second in odd ones."""
    results = []
    for r in range(rounds):
        if r % 2 == 0:
            g = run_measured(ours)
            p = run_measured(theirs)
        else:
            p = run_measured(theirs)
            g = run_measured(ours)
        results.append((g, p))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", default="build/bin", help="folder with genbox's programs")
    parser.add_argument("--python", default=sys.executable, help="the Python whose torch runs the reference")
    parser.add_argument("--experiments", default="nice,rf_dit,detr")
    parser.add_argument("--threads", default="1,2", help="CPU thread counts, comma-separated")
    parser.add_argument("--precisions", default="fp32", help="device.precision values, comma-separated")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=0, help="timed steps per run; 0: each experiment's own")
    parser.add_argument("--vae-size", type=int, default=256,
                        help="image side of the vae rows (64 makes PyTorch's bf16 on a CPU without native bf16 bearable)")
    parser.add_argument("--fid-images", type=int, default=5000, help="images per folder of the fid rows")
    parser.add_argument("--image-dir", default=os.path.join(os.path.expanduser(os.environ.get(
        "XDG_CACHE_HOME", "~/.cache")), "genbox", "bench-images"), help="where the image rows' folders are made")
    args = parser.parse_args()

    rows = []
    for experiment in args.experiments.split(","):
        if experiment == "images":
            rows += image_rows(args)
            continue
        if experiment == "fid":
            rows += fid_rows(args)
            continue
        if experiment == "vae":
            rows += vae_rows(args)
            continue
        if experiment not in METRICS:
            sys.exit(f"bench: unknown experiment '{experiment}' ({', '.join(list(METRICS) + ['images', 'fid', 'vae'])})")
        steps = args.steps or STEPS[experiment]
        program, overrides = experiment, []
        if experiment.endswith("_rgb32"):
            program = experiment[:-len("_rgb32")]
            overrides = RGB32 + ["data.root=" + synthetic_cifar10(args)]
        for precision, threads in ((p, int(t)) for p in args.precisions.split(",") for t in args.threads.split(",")):
            keys = overrides + [f"device.precision={precision}"]
            ours = [os.path.join(args.bin, program), "bench", f"device.threads={threads}", "device.device=cpu",
                    "--steps", str(steps)] + keys
            theirs = [args.python, os.path.join(HERE, "run_reference.py"), program, "--threads", str(threads),
                      "--steps", str(steps)] + keys
            rounds = interleaved(ours, theirs, args.rounds)
            metrics = METRICS[experiment] + [("peak_rss_mib", "peak memory MiB", False)]
            for key, label, higher_better in metrics:
                rows.append(paired_row(experiment, precision, threads, key, label, higher_better, rounds))
            if "efficiency" in rounds[0][0]:
                row = {"experiment": experiment, "precision": precision, "threads": threads,
                       "metric": "matmul_efficiency",
                       "label": "train step / plain matmul GFLOP/s", "higher_is_better": True,
                       "genbox": statistics.median(g["efficiency"] for g, _ in rounds), "reference": None,
                       "ratio": None, "plain_matmul_gflops": statistics.median(
                           g["plain_matmul_gflops"] for g, _ in rounds)}
                rows.append(row)
                print(json.dumps(row), flush=True)

    print()
    print(f"CPU: {', '.join(sorted(CPUS)) or 'not reported'}")
    if "bf16" in args.precisions.split(",") and not native_bf16():
        print("bf16: this CPU has no native bf16 instructions (lscpu lists neither avx512_bf16 nor amx_bf16): "
              "PyTorch's bf16 autocast runs ATen's generic bf16 kernels, genbox takes bf16 through its fp32 kernels "
              "(common/cpu_bf16.hpp), and neither gains over fp32; the bf16-over-fp32 figures need such a CPU "
              "(AMD Zen 4 or later, Intel Cooper Lake, Sapphire Rapids or later)")
    print(f"| experiment | precision | threads | figure | genbox | PyTorch | genbox/PyTorch |")
    print(f"| --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        ref = "" if row["reference"] is None else number(row["reference"])
        ratio = "" if row["ratio"] is None else f"{row['ratio']:.2f}x"
        print(f"| {row['experiment']} | {row.get('precision', 'fp32')} | {row['threads']} | {row['label']} | "
              f"{number(row['genbox'])} | {ref} | {ratio} |")


def native_bf16():
    """Whether the CPU computes bf16 natively (the flags lscpu shows, from /proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = next((line.split(":", 1)[1].split() for line in cpuinfo if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def synthetic_cifar10(args):
    folder = os.path.join(args.image_dir, "cifar10-random")
    if not os.path.isdir(folder):
        subprocess.run([args.python, os.path.join(HERE, "image_folder.py"), "make-cifar", folder + ".part"], check=True)
        os.rename(folder + ".part", folder)
    return folder


def image_rows(args):
    """Preparing a folder with genbox on both cores against a torchvision epoch with 2 workers."""
    rows = []
    script = os.path.join(HERE, "image_folder.py")
    for name, (make, count, size, label) in IMAGE_SETS.items():
        folder = os.path.join(args.image_dir, name)
        if not os.path.isdir(folder):
            print(f"bench: making {folder} ({label})", flush=True)
            subprocess.run([args.python, script, make, folder + ".part", str(count)], check=True)
            os.rename(folder + ".part", folder)
        ours = [os.path.join(args.bin, "bench_images"), folder, "--size", str(size), "--threads", "2"]
        theirs = [args.python, script, "torchvision", folder, str(size)]
        rounds = interleaved(ours, theirs, args.rounds)
        for key, ref_key, what in [("prepare_s", "epoch_s", f"prepare {label}, s (torchvision: one epoch)"),
                                   ("reload_s", None, "second start, from the cache, s"),
                                   ("decode_only_s", "pillow_decode_s",
                                    "decode alone, s (genbox 2 threads; Pillow 1 process)")]:
            g_values = [g[key] for g, _ in rounds]
            row = {"experiment": "images", "threads": 2, "metric": f"{name}_{key}", "label": what,
                   "higher_is_better": False, "genbox": statistics.median(g_values), "genbox_rounds": g_values,
                   "reference": None, "ratio": None}
            if ref_key:
                p_values = [p[ref_key] for _, p in rounds]
                row.update(reference=statistics.median(p_values), reference_rounds=p_values,
                           ratio=statistics.median(a / b for a, b in zip(g_values, p_values)))
            rows.append(row)
            print(json.dumps(row), flush=True)
        prepare = statistics.median(g["prepare_s"] / g["decode_only_s"] for g, _ in rounds)
        row = {"experiment": "images", "threads": 2, "metric": f"{name}_prepare_over_decode",
               "label": "prepare / decode alone", "higher_is_better": False, "genbox": prepare,
               "reference": None, "ratio": None}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def fid_rows(args):
    """FID's features and a whole two-folder score, genbox against pytorch-fid, at each thread count."""
    rows = []
    image_script, reference = os.path.join(HERE, "image_folder.py"), os.path.join(HERE, "fid_reference.py")
    folders = []
    for seed in (0, 1):
        folder = os.path.join(args.image_dir, f"fid-{args.fid_images}-{seed}")
        if not os.path.isdir(folder):
            subprocess.run([args.python, image_script, "make-flat", folder + ".part", str(args.fid_images), str(seed)],
                           check=True)
            os.rename(folder + ".part", folder)
        folders.append(folder)
    weights = os.path.join(args.image_dir, "fid-random-inception.pth")
    converted = weights.replace(".pth", ".safetensors")  # genbox's copy, made as users make theirs
    if not os.path.exists(weights):
        subprocess.run([args.python, reference, "weights", weights + ".part"], check=True)
        os.rename(weights + ".part", weights)
    if not os.path.exists(converted):
        subprocess.run([args.python, os.path.join(HERE, "convert_inception.py"), weights, converted], check=True)
    fid = os.path.join(args.bin, "fid")
    for threads in (int(t) for t in args.threads.split(",")):
        keys = [f"fid.weights={converted}", "fid.input=pytorch", f"device.threads={threads}", "device.device=cpu"]
        ours = [fid, "bench", folders[0]] + keys
        theirs = [args.python, reference, "features", folders[0], weights, "--threads", str(threads)]
        score_ours = [fid, "score", folders[0], folders[1], "output.format=json", "fid.cache_dir=none"] + keys
        score_theirs = [args.python, reference, "score", folders[0], folders[1], weights, "--threads", str(threads)]
        features = interleaved(ours, theirs, args.rounds)
        scores = interleaved(score_ours, score_theirs, args.rounds)
        # The score is the whole process on both sides, from start to exit.
        for key, label, pairs, better in [
                ("images_per_s", f"Inception features of {args.fid_images:,} 32x32 images, images/s", features, True),
                ("wall_s", f"`fid score` of two {args.fid_images:,}-image folders, s", scores, False)]:
            rows.append(paired_row("fid", "fp32", threads, key, label, better, pairs))
        overhead = [g["wall_s"] / g["features_s"] for g, _ in scores]
        row = {"experiment": "fid", "threads": threads, "metric": "score_over_features",
               "label": "`fid score` / its feature time", "higher_is_better": False,
               "genbox": statistics.median(overhead), "reference": None, "ratio": None}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def vae_rows(args):
    """SD3's VAE (random weights) encoding and decoding one --vae-size image: genbox against diffusers."""
    rows = []
    folder = os.path.join(args.image_dir, "vae-sd3-random")
    if not os.path.isdir(folder):
        subprocess.run([args.python, os.path.join(HERE, "vae_oracle.py"), "--sd3", folder + ".part"], check=True)
        os.rename(folder + ".part", folder)
    for precision, threads in ((p, int(t)) for p in args.precisions.split(",") for t in args.threads.split(",")):
        size = str(args.vae_size)
        keys = ["--size", size, "--batch", "1", "--threads", str(threads), "--precision", precision, "--repeats", "2"]
        ours = [os.path.join(args.bin, "bench_vae"), folder] + keys
        theirs = [args.python, os.path.join(HERE, "vae_reference.py"), folder] + keys
        rounds = interleaved(ours, theirs, args.rounds)
        for key, label, better in [("encode_images_per_s", f"SD3 VAE encode, {size}x{size} images/s", True),
                                   ("decode_images_per_s", f"SD3 VAE decode, {size}x{size} images/s", True),
                                   ("peak_rss_mib", "peak memory MiB", False)]:
            rows.append(paired_row("vae", precision, threads, key, label, better, rounds))
    return rows


def number(value):
    """Thousands without decimals, smaller figures with three significant digits."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


if __name__ == "__main__":
    main()
