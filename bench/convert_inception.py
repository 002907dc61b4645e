"""Converts FID's Inception weights, pytorch-fid's pt_inception-2015-12-05-6726825d.pth (a
torch.save pickle, which LibTorch cannot read), into the safetensors file genbox's FID reads.

usage: python bench/convert_inception.py [IN.pth [OUT.safetensors]]

IN defaults to where pytorch-fid's download lies ($TORCH_HOME/hub/checkpoints/); OUT to where
genbox looks by default ($XDG_CACHE_HOME/genbox/, else ~/.cache/genbox/). Tensor names are kept
(torchvision's Inception3 names); batch-norm counters are dropped. Run it with any Python that
has torch (scripts/setup's venv has).
"""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fid_oracle import save_safetensors  # noqa: E402

NAME = "pt_inception-2015-12-05-6726825d"


def default_input():
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "torch")
    return os.path.join(torch_home, "hub", "checkpoints", NAME + ".pth")


def default_output():
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(cache, "genbox", NAME + ".safetensors")


def main():
    if len(sys.argv) > 3:
        sys.exit(__doc__.strip().splitlines()[3])
    source = sys.argv[1] if len(sys.argv) > 1 else default_input()
    target = sys.argv[2] if len(sys.argv) > 2 else default_output()
    state = torch.load(source, map_location="cpu", weights_only=True)
    tensors = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    save_safetensors(tensors, target + ".part")
    os.replace(target + ".part", target)
    print(f"wrote {target}: {len(tensors)} tensors from {source}")


if __name__ == "__main__":
    main()
