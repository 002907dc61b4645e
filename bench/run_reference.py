"""Run one reference bench and print its figures as one JSON line (what `<exp> bench` prints).

usage: python bench/run_reference.py EXPERIMENT --threads N --steps N [key=value ...]
"""

import argparse
import ast
import importlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

MODULES = {"nice": "reference.nice", "rf_dit": "reference.dit", "detr": "reference.detr"}


def value(text):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("experiment", choices=sorted(MODULES))
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("overrides", nargs="*", help="genbox config keys, key=value")
    args = parser.parse_intermixed_args()  # key=value overrides may follow the options
    options = dict((k, value(v)) for k, v in (o.split("=", 1) for o in args.overrides))
    result = importlib.import_module(MODULES[args.experiment]).bench(args.threads, args.steps, options)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
