#!/usr/bin/env python3
"""Load a segmenter exported by labor (models::export_segmenter) as a PyTorch module.

The safetensors file holds the weights under torchvision-style names ("backbone.conv1.weight",
"head.conv2d_list.0.bias", ...) and, in its __metadata__, "labor_model": a JSON description of the
network (the fields are documented in include/labor/models/export.hpp). load() builds that network
from tools/torch_models.py (SmallBackbone or LaborResNet + Aspp inside a Segmenter) and loads the
weights strictly: every tensor of the network must be in the file with the same shape, and the file
may hold nothing else; otherwise LoadError lists every problem. The module is returned in evaluation
mode; model(x) maps N×3×H×W normalised images to N×C×h×w logits at the backbone's resolution,
exactly as labor's Segmenter::forward does.

As a script it predicts one image: the PNG is read as RGB in [0, 1], normalised as the export's
"input" field says (labor's default, (x − 0.5)/0.25, without it), the logits are upsampled
bilinearly to the image size ("align_corners", default true as labor's trainer) and the argmax is
written as an 8-bit grayscale PNG of class indices. Without --image it prints the architecture.

The safetensors reader is self-contained (no safetensors package); its writer counterpart is
tools/export_safetensors.py. Needs torch, and PIL or torchvision for the PNG files.

Examples:
  load_labor_model.py model.safetensors
  load_labor_model.py model.safetensors --image in.png --out pred.png
  python3 -c "import sys; sys.path.insert(0, 'tools'); import load_labor_model as l; m = l.load('model.safetensors')"
"""
import argparse
import json
import os
import struct
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_models  # noqa: E402


class LoadError(ValueError):
    """A file that is not a labor export, or whose weights do not match the network it describes."""


DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
          "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
          "BOOL": torch.bool}

# At most this many problems are spelled out in a LoadError.
MAX_LISTED = 20


def read_safetensors(path):
    """(tensors by name, metadata dict) of the safetensors file `path`; LoadError for a file that is
    truncated or not in the format."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise LoadError(f"{path}: not a safetensors file (shorter than 8 bytes)")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise LoadError(f"{path}: truncated: header of {n} bytes, file of {len(data)}")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise LoadError(f"{path}: header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise LoadError(f"{path}: header: expected a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    buffer = memoryview(data)[8 + n:]
    tensors = {}
    for name, entry in header.items():
        try:
            dtype = DTYPES[entry["dtype"]]
            shape = [int(d) for d in entry["shape"]]
            begin, end = (int(o) for o in entry["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise LoadError(f"{path}: tensor {name!r}: bad header entry {entry!r}") from None
        numel = 1
        for d in shape:
            numel *= d
        itemsize = torch.empty((), dtype=dtype).element_size()
        if not 0 <= begin <= end <= len(buffer) or end - begin != numel * itemsize:
            raise LoadError(f"{path}: tensor {name!r}: data_offsets [{begin}, {end}] do not hold "
                            f"{entry['dtype']} {shape} inside a buffer of {len(buffer)} bytes")
        if numel == 0:
            tensors[name] = torch.empty(shape, dtype=dtype)
        else:
            tensors[name] = torch.frombuffer(bytearray(buffer[begin:end]), dtype=dtype).reshape(shape)
    return tensors, metadata


def _field(arch, key, what):
    if key not in arch:
        raise LoadError(f"architecture: {what}: missing field {key!r} (have {sorted(arch)})")
    return arch[key]


# DeepLab-v2's ResNet layout (models::resnet_options(depth, ResNetLayout::deeplabv2)), for the
# "deeplabv2-resnet" shorthand.
RESNET_BLOCKS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}


def _deeplabv2_fields(arch):
    depth = _field(arch, "depth", "backbone 'deeplabv2-resnet'")
    if depth not in RESNET_BLOCKS:
        raise LoadError(f"architecture: depth: expected one of {sorted(RESNET_BLOCKS)}, got {depth!r}")
    return {"block": "basic" if depth < 50 else "bottleneck", "blocks": RESNET_BLOCKS[depth],
            "base_channels": arch.get("base_channels", 64), "image_channels": arch.get("image_channels", 3),
            "strides": (1, 2, 1, 1), "first_dilations": (1, 1, 2, 4), "dilations": (1, 1, 2, 4),
            "stride_in_1x1": True, "ceil_mode": True}


def build(arch):
    """The torch_models.Segmenter an architecture description (a dict) describes, randomly
    initialised; LoadError for an unknown backbone or head or a missing field."""
    if not isinstance(arch, dict):
        raise LoadError(f"architecture: expected a JSON object, got {arch!r}")
    if arch.get("format", 1) != 1:
        raise LoadError(f"architecture: format: expected 1, got {arch['format']!r} (a newer labor?)")
    kind = _field(arch, "backbone", "network")
    if kind == "small":
        what = "backbone 'small'"
        backbone = torch_models.SmallBackbone(tuple(_field(arch, "channels", what)),
                                              output_stride=arch.get("output_stride", 4))
    elif kind in ("resnet", "deeplabv2-resnet"):
        what = f"backbone {kind!r}"
        f = _deeplabv2_fields(arch) if kind == "deeplabv2-resnet" else arch
        backbone = torch_models.LaborResNet(
            _field(f, "block", what), tuple(_field(f, "blocks", what)), base_channels=_field(f, "base_channels", what),
            in_channels=f.get("image_channels", 3),
            strides=tuple(_field(f, "strides", what)), first_dilations=tuple(_field(f, "first_dilations", what)),
            dilations=tuple(_field(f, "dilations", what)), stride_in_1x1=bool(_field(f, "stride_in_1x1", what)),
            ceil_mode=bool(_field(f, "ceil_mode", what)))
    else:
        raise LoadError(f"architecture: backbone: expected 'small', 'resnet' or 'deeplabv2-resnet', got {kind!r}")
    head = arch.get("head", "aspp")
    if head != "aspp":
        raise LoadError(f"architecture: head: expected 'aspp', got {head!r}")
    features = backbone.out_channels
    if arch.get("feature_channels", features) != features:
        raise LoadError(f"architecture: feature_channels: expected {features} (the backbone's output), "
                        f"got {arch['feature_channels']!r}")
    classes = _field(arch, "num_classes", "head 'aspp'")
    dilations = tuple(arch.get("aspp_dilations", (6, 12, 18, 24)))
    return torch_models.Segmenter(backbone, torch_models.Aspp(features, classes, dilations=dilations))


def load_strict(model, tensors, source="file"):
    """Copies `tensors` (name → tensor) into `model`, checking first that they are exactly the model's
    state: every key present with its shape and a floating-point dtype, no other key. Batch norm's
    num_batches_tracked may be absent (labor has none) and is then left as it is. Raises LoadError
    naming `source` and listing the problems; the model is then unchanged."""
    state = model.state_dict()
    optional = {k for k in state if k.endswith("num_batches_tracked")}
    problems = []
    for k, v in state.items():
        if k not in tensors:
            if k not in optional:
                problems.append(f"missing {k!r}")
            continue
        t = tensors[k]
        if tuple(t.shape) != tuple(v.shape):
            problems.append(f"{k!r} is {list(t.shape)}, expected {list(v.shape)}")
        elif k not in optional and not t.is_floating_point():
            problems.append(f"{k!r} is {t.dtype}, expected a floating-point tensor")
    problems += [f"unexpected {k!r}" for k in tensors if k not in state]
    if problems:
        listed = problems[:MAX_LISTED]
        more = f", and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        raise LoadError(f"{source}: does not match the network its metadata describes "
                        f"({len(problems)} problem{'s' if len(problems) != 1 else ''}): {', '.join(listed)}{more}")
    merged = dict(state)
    merged.update({k: t.to(state[k].dtype) for k, t in tensors.items()})
    model.load_state_dict(merged, strict=True)


def load(path):
    """The network exported to `path` by labor's models::export_segmenter, weights loaded strictly,
    in evaluation mode; its description is kept as `model.labor_architecture`."""
    tensors, metadata = read_safetensors(path)
    if "labor_model" not in metadata:
        raise LoadError(f"{path}: no 'labor_model' in __metadata__ (have {sorted(metadata)}): "
                        "not written by labor's models::export_segmenter")
    try:
        arch = json.loads(metadata["labor_model"])
    except json.JSONDecodeError as e:
        raise LoadError(f"{path}: __metadata__ 'labor_model' is not valid JSON ({e})") from None
    try:
        model = build(arch)
    except LoadError as e:
        raise LoadError(f"{path}: {e}") from None
    load_strict(model, tensors, path)
    model.labor_architecture = arch
    return model.eval()


def normalize(image, arch):
    """A 3×H×W RGB image in [0, 1] normalised as the architecture's "input" field says (labor's
    data::Normalization; its default (x − 0.5)/0.25 when the field is absent)."""
    n = arch.get("input", {})
    mean = torch.tensor(n.get("mean", (0.5, 0.5, 0.5)), dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(n.get("std", (0.25, 0.25, 0.25)), dtype=torch.float32).view(3, 1, 1)
    x = image.flip(0) if n.get("bgr", False) else image
    return (x * float(n.get("input_scale", 1.0)) - mean) / std


def predict(model, image):
    """Class indices (H×W, int64) of a 3×H×W RGB image in [0, 1]."""
    arch = getattr(model, "labor_architecture", {})
    with torch.no_grad():
        logits = model(normalize(image, arch).unsqueeze(0))
        logits = F.interpolate(logits, size=image.shape[1:], mode="bilinear",
                               align_corners=bool(arch.get("align_corners", True)))
    return logits.argmax(1)[0]


def read_rgb(path):
    """A PNG (or any image PIL reads) as a 3×H×W float tensor in [0, 1]."""
    try:
        from PIL import Image
        import numpy as np

        with Image.open(path) as im:
            array = np.asarray(im.convert("RGB"), dtype=np.uint8)
        t = torch.from_numpy(array.copy()).permute(2, 0, 1)
    except ImportError:
        import torchvision.io

        t = torchvision.io.read_image(path, torchvision.io.ImageReadMode.RGB)
    return t.to(torch.float32) / 255.0


def write_gray(path, labels):
    """An H×W tensor of values in [0, 255] as an 8-bit grayscale PNG."""
    if labels.min() < 0 or labels.max() > 255:
        raise SystemExit(f"load_labor_model: {path}: labels outside [0, 255] cannot be written as 8-bit PNG")
    labels = labels.to(torch.uint8)
    try:
        from PIL import Image

        Image.fromarray(labels.numpy(), mode="L").save(path)
    except ImportError:
        import torchvision.io

        torchvision.io.write_png(labels.unsqueeze(0), path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog=__doc__[__doc__.index("As a script"):],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="safetensors file written by models::export_segmenter")
    ap.add_argument("--image", help="PNG image to segment")
    ap.add_argument("--out", help="where to write the predicted labels (8-bit grayscale PNG); needs --image")
    args = ap.parse_args(argv)
    if args.out and not args.image:
        ap.error("--out needs --image")
    try:
        model = load(args.model)
    except (LoadError, OSError) as e:
        raise SystemExit(f"load_labor_model: {e}") from None
    if not args.image:
        n = sum(p.numel() for p in model.parameters())
        print(f"{args.model}: {json.dumps(model.labor_architecture)} ({n} parameters)")
        return 0
    labels = predict(model, read_rgb(args.image))
    if args.out:
        write_gray(args.out, labels)
        print(f"wrote {args.out} ({labels.shape[0]}×{labels.shape[1]})")
    else:
        print(f"{args.image}: class counts {torch.bincount(labels.flatten()).tolist()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
