#!/usr/bin/env python3
"""A model directory with random weights of another model's shapes, for throughput checks where the real weights
cannot travel (the GPU check carries SmolLM2's config, tokenizer and tensor list, not its 270 MB of weights).
  random_weights.py manifest MODEL_DIR MANIFEST.json    tensor names, shapes and dtypes of MODEL_DIR/*.safetensors
  random_weights.py make MANIFEST.json OUT_DIR          OUT_DIR/model.safetensors: N(0, 0.02), norm weights 1"""
import json
import struct
import sys
from pathlib import Path


def header(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n))


def manifest(model_dir, out):
    tensors = {}
    for f in sorted(Path(model_dir).glob("*.safetensors")):
        for name, info in header(f).items():
            if name != "__metadata__":
                tensors[name] = {"shape": info["shape"], "dtype": info["dtype"]}
    Path(out).write_text(json.dumps(tensors, indent=1))
    print(f"{len(tensors)} tensors -> {out}")


def make(manifest_path, out_dir):
    import torch
    from safetensors.torch import save_file

    dtypes = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}
    gen = torch.Generator().manual_seed(0)
    tensors = {}
    for name, info in json.loads(Path(manifest_path).read_text()).items():
        if name.endswith("norm.weight"):
            t = torch.ones(info["shape"])
        else:
            t = torch.randn(info["shape"], generator=gen) * 0.02
        tensors[name] = t.to(dtypes[info["dtype"]])
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(Path(out_dir) / "model.safetensors"), metadata={"format": "pt"})
    print(f"{len(tensors)} random tensors -> {out_dir}/model.safetensors")


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("manifest", "make"):
        sys.exit(__doc__)
    (manifest if sys.argv[1] == "manifest" else make)(sys.argv[2], sys.argv[3])
