"""PyTorch counterparts of labor's paper-scale models, shared by tools/export_safetensors.py, the
parity references (tests/parity/resnet_ref.py) and the benchmark comparison
(benchmarks/compare_torch.py):

  build_torchvision(name, seed)   a torchvision model after torch.manual_seed(seed) (builder
                                  keyword arguments passed on)
  to_deeplabv2(resnet)            a torchvision ResNet-50/101 turned into DeepLab-v2's backbone in place
  Aspp(channels, classes)         DeepLab-v2's classifier: four 3×3 convolutions, dilation = padding
                                  6, 12, 18, 24, with bias, summed
  DeepLabV2(depth, classes)       backbone (torchvision names under "backbone.") + head ("head.")
  SmallBackbone(channels)         labor's SmallBackbone (output stride 4): 3×3/2 stem, three basic
                                  blocks (/2; dilation 2; dilation 4), labor's parameter names
  Segmenter(backbone, head)       logits = head(backbone(x))
  FcDiscriminator(classes, ndf)   AdaptSegNet's discriminator: five 4×4/2 convolutions, LeakyReLU 0.2

Requires torch, and torchvision for anything but Aspp.
"""
import torch
import torch.nn as nn


def build_torchvision(name, seed=0, pretrained=False, **kwargs):
    """torchvision.models.<name>(**kwargs) after torch.manual_seed(seed), or with its default
    pretrained weights."""
    import torchvision

    builder = getattr(torchvision.models, name, None)
    if builder is None or not callable(builder):
        raise SystemExit(f"unknown torchvision model {name!r}")
    torch.manual_seed(seed)
    if pretrained:
        try:
            return builder(weights="DEFAULT", **kwargs)
        except Exception as e:  # no network here: only a cached download works
            raise SystemExit(f"pretrained weights for {name} not available ({e})")
    return builder(**kwargs)


def resnet_features(net, x):
    """A torchvision ResNet up to layer4 (no pooling, no fc): (layer4 output, layer3 output)."""
    x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
    l3 = net.layer3(net.layer2(net.layer1(x)))
    return net.layer4(l3), l3


def to_deeplabv2(net):
    """torchvision ResNet-50/101 → DeepLab-v2's backbone, in place, same parameters and names: stride
    of layer2 on the first 1×1 convolution, layer3 and layer4 with stride 1 and dilation (= padding)
    2 and 4 on every block, ceil-mode max pooling."""
    net.maxpool.ceil_mode = True
    for name, dilation in (("layer2", 1), ("layer3", 2), ("layer4", 4)):
        layer = getattr(net, name)
        first = layer[0]
        stride = 2 if name == "layer2" else 1
        first.conv1.stride, first.conv2.stride = (stride, stride), (1, 1)
        first.downsample[0].stride = (stride, stride)
        for block in layer:
            block.conv2.dilation = block.conv2.padding = (dilation, dilation)
    return net


class Aspp(nn.Module):
    """DeepLab-v2's classifier; weights N(0, 0.01), biases 0 (or N(0, bias_std) when given)."""

    def __init__(self, channels, classes, generator=None, bias_std=0.0, dilations=(6, 12, 18, 24)):
        super().__init__()
        self.conv2d_list = nn.ModuleList(
            [nn.Conv2d(channels, classes, 3, padding=d, dilation=d, bias=True) for d in dilations])
        with torch.no_grad():
            for conv in self.conv2d_list:
                conv.weight.copy_(0.01 * torch.randn(conv.weight.shape, generator=generator))
                conv.bias.copy_(bias_std * torch.randn(conv.bias.shape, generator=generator))

    def forward(self, x):
        return sum(conv(x) for conv in self.conv2d_list)


class DeepLabV2(nn.Module):
    """DeepLab-v2: ResNet-`depth` backbone (DeepLab-v2 layout) and the ASPP classifier."""

    def __init__(self, depth, classes, seed=0, head_generator=None, head_bias_std=0.0):
        super().__init__()
        self.backbone = to_deeplabv2(build_torchvision(f"resnet{depth}", seed=seed))
        self.head = Aspp(2048, classes, head_generator, head_bias_std)

    def forward(self, x):
        return self.head(resnet_features(self.backbone, x)[0])


class BasicBlock(nn.Module):
    """labor's BasicBlock: 3×3 (stride, dilation) → BN → ReLU → 3×3 (dilation) → BN, plus the input
    (through a 1×1 strided convolution and BN when the shape changes), then ReLU."""

    def __init__(self, cin, cout, stride=1, dilation=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(y + (x if self.downsample is None else self.downsample(x)))


class SmallBackbone(nn.Module):
    """labor's SmallBackbone at output stride 4."""

    def __init__(self, channels=(16, 32, 64, 64)):
        super().__init__()
        c = channels
        self.conv1 = nn.Conv2d(3, c[0], 3, 2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c[0])
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = BasicBlock(c[0], c[1], stride=2)
        self.layer2 = BasicBlock(c[1], c[2], dilation=2)
        self.layer3 = BasicBlock(c[2], c[3], dilation=4)
        self.out_channels = c[3]

    def forward(self, x):
        return self.layer3(self.layer2(self.layer1(self.relu(self.bn1(self.conv1(x))))))


class Segmenter(nn.Module):
    def __init__(self, backbone, head):
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, x):
        return self.head(self.backbone(x))


class FcDiscriminator(nn.Module):
    """Five 4×4 convolutions with stride 2 and padding 1 (C → ndf → 2ndf → 4ndf → 8ndf → 1) with
    LeakyReLU(0.2) between them."""

    def __init__(self, classes, ndf=64):
        super().__init__()
        widths = [classes, ndf, 2 * ndf, 4 * ndf, 8 * ndf, 1]
        layers = []
        for i in range(5):
            layers.append(nn.Conv2d(widths[i], widths[i + 1], 4, 2, padding=1))
            if i < 4:
                layers.append(nn.LeakyReLU(0.2))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)
