"""Load a genbox safetensors export (`<exp> export RUN --safetensors FILE`) in Python.

usage: python bench/load_safetensors.py FILE OUT.pt [BUILD.json]

Reads FILE with a plain reader (json, struct and torch alone: the format is an 8-byte header
length, a JSON header padded to 8 bytes, then the tensors' bytes) and, when the `safetensors`
package is installed, with `safetensors.torch.load_file` too, and requires both to agree. With
BUILD.json, {"experiment": "nice" | "rf_dit" | "detr", "options": {...}, "args": [...]}, builds
that experiment's PyTorch reference model (bench/reference/) from the run's config (the file's
config_toml metadata, flattened to dotted keys, then "options") and loads the tensors into it by
name, strictly. OUT.pt gets {"tensors", "metadata", "readers"}.
"""

import importlib
import json
import os
import struct
import sys
import tomllib

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

MODULES = {"nice": "reference.nice", "rf_dit": "reference.dit", "detr": "reference.detr"}
DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
          "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
          "BOOL": torch.bool}


def read_plain(path):
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    if (8 + length) % 8 != 0:
        raise ValueError(f"{path}: the header of {length} bytes leaves the data unaligned")
    header = json.loads(data[8:8 + length].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    body = data[8 + length:]
    tensors, covered = {}, 0
    for name, info in sorted(header.items(), key=lambda item: item[1]["data_offsets"]):
        begin, end = info["data_offsets"]
        if begin != covered:
            raise ValueError(f"{path}: tensor {name} does not start where the previous one ended")
        dtype = DTYPES[info["dtype"]]
        flat = torch.frombuffer(bytearray(body[begin:end]), dtype=dtype) if end > begin else torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(info["shape"])
        covered = end
    if covered != len(body):
        raise ValueError(f"{path}: {len(body) - covered} bytes after the last tensor")
    return tensors, metadata


def flatten(table, prefix=""):
    out = {}
    for key, value in table.items():
        if isinstance(value, dict):
            out.update(flatten(value, prefix + key + "."))
        else:
            out[prefix + key] = value
    return out


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__.strip().splitlines()[2])
    tensors, metadata = read_plain(sys.argv[1])
    readers = ["plain"]
    try:
        from safetensors import safe_open
        from safetensors.torch import load_file
    except ImportError:
        pass
    else:
        theirs = load_file(sys.argv[1])
        with safe_open(sys.argv[1], framework="pt") as f:
            their_metadata = f.metadata() or {}
        if theirs.keys() != tensors.keys() or their_metadata != metadata:
            raise ValueError("the safetensors package reads other names or metadata than the plain reader")
        for name, tensor in theirs.items():
            if tensor.dtype != tensors[name].dtype or not torch.equal(tensor, tensors[name]):
                raise ValueError(f"the safetensors package reads tensor {name} differently")
        readers.append("safetensors")
    if len(sys.argv) == 4:
        with open(sys.argv[3]) as f:
            build = json.load(f)
        options = flatten(tomllib.loads(metadata["config_toml"]))
        options.update(build.get("options", {}))
        model = importlib.import_module(MODULES[build["experiment"]]).build(options, *build.get("args", []))
        model.load_state_dict(tensors, strict=True)
        for name, tensor in model.state_dict().items():
            if not torch.equal(tensor, tensors[name]):
                raise ValueError(f"the reference model holds other values for {name} than the file")
        readers.append("reference." + build["experiment"])
    torch.save({"tensors": tensors, "metadata": metadata, "readers": readers}, sys.argv[2])


if __name__ == "__main__":
    main()
