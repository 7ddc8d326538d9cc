"""PyTorch side of the export parity tests: segmenters written by labor's models::export_segmenter,
loaded by tools/load_labor_model.py.

Ops (FOLDER holds model.safetensors and the inputs):
  forward FOLDER      load the model strictly, evaluation mode, logits of x.npy → y.npy
  predict FOLDER      the loader run as a script on image.png → pred.png (argmax labels)
  refuse FOLDER       variants of model.safetensors the loader must refuse (a renamed key, a tensor
                      of another shape, a missing key, no metadata, an unknown backbone), written with
                      tools/export_safetensors.py's writer; refusals.json maps each variant to the
                      loader's message (null when it was accepted)
"""
import json
import os
import subprocess
import sys

import torch

from ref_common import load, main, save

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools")
LOADER = os.path.join(TOOLS, "load_labor_model.py")
sys.path.insert(0, TOOLS)
from export_safetensors import write_safetensors  # noqa: E402
from load_labor_model import LoadError, load as load_model, read_safetensors  # noqa: E402


def model_path(folder, name="model"):
    return os.path.join(folder, name + ".safetensors")


def forward(folder):
    model = load_model(model_path(folder))
    if model.training:
        sys.exit("load() returned a model in training mode")
    with torch.no_grad():
        save(folder, "y", model(load(folder, "x")))


def predict(folder):
    subprocess.run([sys.executable, LOADER, model_path(folder), "--image", os.path.join(folder, "image.png"), "--out",
                    os.path.join(folder, "pred.png")], check=True, stdout=subprocess.DEVNULL)


def refuse(folder):
    tensors, metadata = read_safetensors(model_path(folder))
    first_head = next(k for k in tensors if k.startswith("head."))
    bn_mean = next(k for k in tensors if k.endswith("running_mean"))
    arch = json.loads(metadata["labor_model"])

    renamed = {(k.replace("head.conv2d_list.", "head.classifier.") if k == first_head else k): v
               for k, v in tensors.items()}
    reshaped = dict(tensors)
    reshaped[bn_mean] = tensors[bn_mean][:-1]
    missing = {k: v for k, v in tensors.items() if k != bn_mean}
    variants = {
        "renamed": (renamed, metadata),
        "reshaped": (reshaped, metadata),
        "missing": (missing, metadata),
        "no_metadata": (tensors, {"source": "somewhere else"}),
        "unknown_backbone": (tensors, {"labor_model": json.dumps({**arch, "backbone": "vgg16"})}),
    }
    messages = {}
    for name, (state, meta) in variants.items():
        write_safetensors(model_path(folder, name), state, meta)
        try:
            load_model(model_path(folder, name))
            messages[name] = None
        except LoadError as e:
            messages[name] = str(e)
    with open(os.path.join(folder, "refusals.json"), "w") as f:
        json.dump(messages, f)


if __name__ == "__main__":
    main({"forward": forward, "predict": predict, "refuse": refuse})
