"""Evaluate a case exported by genbox's oracle tests with the PyTorch reference.

usage: python bench/oracle.py CASE.pt OUT.pt

CASE.pt (written by the test with torch::pickle_save) holds {"experiment", "options", "state",
"inputs"}; OUT.pt gets the reference's outputs and gradients, a dict of tensors by name.
"""

import importlib
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

MODULES = {"nice": "reference.nice", "rf_dit": "reference.dit", "detr": "reference.detr"}


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[2])
    torch.set_num_threads(1)
    case = torch.load(sys.argv[1], weights_only=False)
    outputs = importlib.import_module(MODULES[case["experiment"]]).oracle(case)
    torch.save({name: tensor.detach().contiguous() for name, tensor in outputs.items()}, sys.argv[2])


if __name__ == "__main__":
    main()
