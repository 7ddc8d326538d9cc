"""PyTorch references for labor's ResNet backbones and the DeepLab-v2 network: torchvision models
with a fixed seed, batch norm made to matter (calibrated running statistics, perturbed, random
affine parameters), exported by tools/export_safetensors.py, and their outputs on the input x.

Ops (FOLDER holds x.npy; writes weights.safetensors, y.npy and layer3.npy):
  resnet FOLDER ARCH [os8]       torchvision ARCH (resnet18, resnet50), evaluation mode; os8:
                                 replace_stride_with_dilation=[False, True, True]
  deeplabv2 FOLDER CLASSES       resnet50 turned into DeepLab-v2 (stride on the first 1×1, layer3/4
                                 dilated 2/4 on every block, ceil-mode max pooling) + the four-branch
                                 ASPP classifier, parameters "backbone.*" and "head.conv2d_list.*"
  torchvision FOLDER ARCH SEED   the tool's own --torchvision export (no changes to the weights)
"""
import os
import subprocess
import sys

import torch
import torch.nn as nn

from ref_common import load, main, save

TOOL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "export_safetensors.py")
sys.path.insert(0, os.path.dirname(TOOL))
from torch_models import DeepLabV2, build_torchvision, resnet_features as features  # noqa: E402


def make_batch_norm_matter(net, seed):
    """Running statistics from a random batch (momentum 1), then perturbed; random weight and bias."""
    g = torch.Generator().manual_seed(seed)
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in bns:
        bn.momentum = 1.0
    net.train()
    with torch.no_grad():
        features(net, torch.randn(2, 3, 64, 96, generator=g))
        for bn in bns:
            std = bn.running_var.sqrt()
            bn.running_mean += 0.2 * std * torch.randn(bn.running_mean.shape, generator=g)
            bn.running_var *= 0.6 + 0.8 * torch.rand(bn.running_var.shape, generator=g)
            bn.weight.copy_(0.5 + torch.rand(bn.weight.shape, generator=g))
            bn.bias.copy_(0.1 * torch.randn(bn.bias.shape, generator=g))
            bn.momentum = 0.1
    net.eval()


def export(folder, state, *tool_args):
    """Saves `state` with torch.save and converts it with the export tool."""
    pth = os.path.join(folder, "weights.pth")
    torch.save(state, pth)
    subprocess.run([sys.executable, TOOL, "--state-dict", pth, "--out", os.path.join(folder, "weights.safetensors"),
                    *tool_args], check=True, stdout=subprocess.DEVNULL)


def save_outputs(folder, y, l3):
    save(folder, "y", y)
    save(folder, "layer3", l3)


def resnet(folder, arch, layout="torchvision"):
    """torchvision ARCH; layout "os8": replace_stride_with_dilation=[False, True, True]."""
    kwargs = {"replace_stride_with_dilation": [False, True, True]} if layout == "os8" else {}
    net = build_torchvision(arch, seed=11, **kwargs)
    make_batch_norm_matter(net, 12)
    # As a DataParallel training script would save it: under "module.", inside {"state_dict": ...}.
    export(folder, {"state_dict": {"module." + k: v for k, v in net.state_dict().items()}}, "--key", "state_dict",
           "--strip-prefix", "module.")
    with torch.no_grad():
        save_outputs(folder, *features(net, load(folder, "x")))


def deeplabv2(folder, classes):
    # Parameter names "backbone.*" (torchvision's fc included) and "head.conv2d_list.*".
    model = DeepLabV2(50, int(classes), seed=21, head_generator=torch.Generator().manual_seed(22), head_bias_std=0.1)
    make_batch_norm_matter(model.backbone, 23)
    export(folder, model.state_dict())
    with torch.no_grad():
        y, l3 = features(model.backbone, load(folder, "x"))
        save_outputs(folder, model.head(y), l3)


def torchvision_export(folder, arch, seed):
    subprocess.run([sys.executable, TOOL, "--torchvision", arch, "--seed", seed, "--out",
                    os.path.join(folder, "weights.safetensors")], check=True, stdout=subprocess.DEVNULL)
    net = build_torchvision(arch, seed=int(seed)).eval()
    with torch.no_grad():
        save_outputs(folder, *features(net, load(folder, "x")))


if __name__ == "__main__":
    main({"resnet": resnet, "deeplabv2": deeplabv2, "torchvision": torchvision_export})
