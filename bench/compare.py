"""genbox against its PyTorch reference, side by side, on this machine: `scripts/bench`.

For each experiment and thread count the two sides run as separate processes, interleaved
(genbox first in even rounds, the reference first in odd ones) and repeated, so that a slow
moment of a noisy machine lands on both sides alike. Each figure is the median over rounds and
each ratio the median of the rounds' genbox/reference ratios. Peak memory is the process's
maximum resident set size (getrusage of the child), which includes loading the data.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# (key in both sides' JSON, label, higher is better)
METRICS = {
    "nice": [("train_examples_per_s", "train examples/s", True), ("samples_per_s", "samples/s", True)],
    "rf_dit": [("train_images_per_s", "train images/s", True),
               ("sample_images_per_s", "sampling images/s (CFG)", True)],
    "detr": [("train_images_per_s", "train images/s", True), ("inference_images_per_s", "inference images/s", True),
             ("matcher_ms_64x100_cpu_1_thread", "matcher ms, 64x100, 1 thread", False)],
}
STEPS = {"nice": 40, "rf_dit": 30, "detr": 10}


def run_measured(command):
    """Like run, but with the child's peak RSS, read from wait4's rusage."""
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
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", default="build/bin", help="folder with genbox's programs")
    parser.add_argument("--python", default=sys.executable, help="the Python whose torch runs the reference")
    parser.add_argument("--experiments", default="nice,rf_dit,detr")
    parser.add_argument("--threads", default="1,2", help="CPU thread counts, comma-separated")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=0, help="timed steps per run; 0: each experiment's own")
    args = parser.parse_args()

    rows = []
    for experiment in args.experiments.split(","):
        if experiment not in METRICS:
            sys.exit(f"bench: unknown experiment '{experiment}' (nice, rf_dit, detr)")
        steps = args.steps or STEPS[experiment]
        for threads in (int(t) for t in args.threads.split(",")):
            ours = [os.path.join(args.bin, experiment), "bench", f"device.threads={threads}", "device.device=cpu",
                    "--steps", str(steps)]
            theirs = [args.python, os.path.join(HERE, "run_reference.py"), experiment, "--threads", str(threads),
                      "--steps", str(steps)]
            rounds = []
            for r in range(args.rounds):
                if r % 2 == 0:
                    g = run_measured(ours)
                    p = run_measured(theirs)
                else:
                    p = run_measured(theirs)
                    g = run_measured(ours)
                rounds.append((g, p))
            metrics = METRICS[experiment] + [("peak_rss_mib", "peak memory MiB", False)]
            for key, label, higher_better in metrics:
                g_values = [g[key] for g, _ in rounds]
                p_values = [p[key] for _, p in rounds]
                row = {"experiment": experiment, "threads": threads, "metric": key, "label": label,
                       "higher_is_better": higher_better, "genbox": statistics.median(g_values),
                       "reference": statistics.median(p_values),
                       "ratio": statistics.median(a / b for a, b in zip(g_values, p_values)),
                       "genbox_rounds": g_values, "reference_rounds": p_values}
                rows.append(row)
                print(json.dumps(row), flush=True)
            if "efficiency" in rounds[0][0]:
                row = {"experiment": experiment, "threads": threads, "metric": "matmul_efficiency",
                       "label": "train step / plain matmul GFLOP/s", "higher_is_better": True,
                       "genbox": statistics.median(g["efficiency"] for g, _ in rounds), "reference": None,
                       "ratio": None, "plain_matmul_gflops": statistics.median(
                           g["plain_matmul_gflops"] for g, _ in rounds)}
                rows.append(row)
                print(json.dumps(row), flush=True)

    print()
    print(f"| experiment | threads | figure | genbox | PyTorch | genbox/PyTorch |")
    print(f"| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        ref = "" if row["reference"] is None else number(row["reference"])
        ratio = "" if row["ratio"] is None else f"{row['ratio']:.2f}x"
        print(f"| {row['experiment']} | {row['threads']} | {row['label']} | {number(row['genbox'])} | {ref} | {ratio} |")


def number(value):
    """Thousands without decimals, smaller figures with three significant digits."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


if __name__ == "__main__":
    main()
