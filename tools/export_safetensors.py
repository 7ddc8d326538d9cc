#!/usr/bin/env python3
"""Export PyTorch weights to a safetensors file that labor's io::load_weights reads.

Two sources:
  --torchvision NAME   a torchvision model built by name (resnet18, resnet34, resnet50, resnet101,
                       ...), randomly initialised after torch.manual_seed(--seed), or with
                       torchvision's pretrained weights with --weights (only where torchvision
                       finds them offline, in its cache);
  --state-dict FILE    a checkpoint saved with torch.save: a state dict, or a dict holding one under
                       --key (e.g. "state_dict", "model"); --strip-prefix removes a prefix such as
                       "module." from every key that starts with it.

Floating-point tensors are written as F32, integer ones (batch norm's num_batches_tracked) as I64,
all contiguous, little-endian, row-major, in the state dict's order. labor's default name mapping
skips torchvision's "fc.*" and "*.num_batches_tracked"; every other key must match the model.

The file is written by hand (8-byte little-endian header size, JSON header padded with spaces to a
multiple of 8, data buffer), so the safetensors package is not needed. Requires torch; torchvision
only with --torchvision. Run it with an interpreter that imports torch (Debian's python3-torch is
installed for /usr/bin/python3, which may not be the python3 on PATH).

Examples:
  export_safetensors.py --torchvision resnet50 --seed 0 --out resnet50.safetensors
  export_safetensors.py --state-dict ckpt.pth --key state_dict --strip-prefix module. --out ckpt.safetensors
"""
import argparse
import json
import struct
import sys

import torch

from torch_models import build_torchvision


def load_state_dict(path, key=None):
    """The state dict in the checkpoint `path` (under `key` when given)."""
    obj = torch.load(path, map_location="cpu")
    if key is not None:
        if not isinstance(obj, dict) or key not in obj:
            raise SystemExit(f"export_safetensors: {path}: key {key!r} not found"
                             + (f" (keys: {sorted(obj)[:20]})" if isinstance(obj, dict) else ""))
        obj = obj[key]
    if hasattr(obj, "state_dict") and not isinstance(obj, dict):
        obj = obj.state_dict()
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        hint = f" (keys: {sorted(obj)[:20]}; pass --key)" if isinstance(obj, dict) else ""
        raise SystemExit(f"export_safetensors: {path}: expected a dict of tensors{hint}")
    return obj


def strip_prefix(state, prefix):
    """`state` with `prefix` removed from the keys that start with it."""
    if not prefix:
        return dict(state)
    out = {}
    for k, v in state.items():
        name = k[len(prefix):] if k.startswith(prefix) else k
        if name in out:
            raise SystemExit(f"export_safetensors: keys {k!r} and {prefix + name!r} both become {name!r}")
        out[name] = v
    return out


def write_safetensors(path, state, metadata=None):
    """Writes the tensors of `state` (name → tensor) to `path`: floats as F32, integers as I64."""
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in state.items():
        t = t.detach().cpu().contiguous()
        if t.is_floating_point():
            dtype, data = "F32", t.to(torch.float32).numpy().astype("<f4").tobytes()
        elif t.dtype in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
            dtype, data = "I64", t.to(torch.int64).numpy().astype("<i8").tobytes()
        else:
            raise SystemExit(f"export_safetensors: tensor {name!r}: unsupported dtype {t.dtype}")
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog=__doc__[__doc__.index("Two sources"):],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--torchvision", metavar="NAME", help="torchvision model name, e.g. resnet50")
    src.add_argument("--state-dict", metavar="FILE", help="checkpoint saved with torch.save")
    ap.add_argument("--seed", type=int, default=0, help="torch.manual_seed before a random init (default 0)")
    ap.add_argument("--weights", action="store_true",
                    help="torchvision's pretrained weights instead of a random init (offline: from its cache)")
    ap.add_argument("--key", help="take the state dict stored under this key of the checkpoint")
    ap.add_argument("--strip-prefix", default="", metavar="PREFIX", help="remove PREFIX (e.g. module.) from keys")
    ap.add_argument("--out", required=True, metavar="FILE", help="safetensors file to write")
    args = ap.parse_args(argv)

    if args.torchvision:
        state = build_torchvision(args.torchvision, args.seed, args.weights).state_dict()
        meta = {"source": f"torchvision.models.{args.torchvision}",
                "init": "pretrained" if args.weights else f"random, seed {args.seed}"}
    else:
        state = load_state_dict(args.state_dict, args.key)
        meta = {"source": args.state_dict}
    state = strip_prefix(state, args.strip_prefix)
    write_safetensors(args.out, state, meta)
    print(f"wrote {len(state)} tensors to {args.out}")


if __name__ == "__main__":
    sys.exit(main())
