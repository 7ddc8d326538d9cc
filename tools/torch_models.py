"""PyTorch counterparts of labor's paper-scale models, shared by tools/export_safetensors.py, the
parity references (tests/parity/resnet_ref.py) and the benchmark comparison
(benchmarks/compare_torch.py):

  build_torchvision(name, seed)   a torchvision model after torch.manual_seed(seed) (builder
                                  keyword arguments passed on)
  to_deeplabv2(resnet)            a torchvision ResNet-50/101 turned into DeepLab-v2's backbone in place
  Aspp(channels, classes)         DeepLab-v2's classifier: four 3×3 convolutions, dilation = padding
                                  6, 12, 18, 24, with bias, summed
  DeepLabV2(depth, classes)       backbone (torchvision names under "backbone.") + head ("head.")
  SmallBackbone(channels, os)     labor's SmallBackbone (output stride 4 or 8): 3×3/2 stem, three
                                  basic blocks (/2; dilation 2; dilation 4, or /2; /2; dilation 2),
                                  labor's parameter names
  LaborResNet(block, blocks, ...) labor's models::ResNet with any ResNetOptions (basic or bottleneck
                                  blocks, base width, strides, dilations, stride on the 1×1, ceil-mode
                                  pooling), torchvision's names, no classifier; needs no torchvision
  Segmenter(backbone, head)       logits = head(backbone(x))
  FcDiscriminator(classes, ndf)   AdaptSegNet's discriminator: five 4×4/2 convolutions, LeakyReLU 0.2

Requires torch, and torchvision for build_torchvision and DeepLabV2 only.
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
    """labor's SmallBackbone at output stride 4 (default) or 8."""

    def __init__(self, channels=(16, 32, 64, 64), output_stride=4):
        super().__init__()
        if output_stride not in (4, 8):
            raise ValueError(f"SmallBackbone: output_stride: expected 4 or 8, got {output_stride}")
        c, os8 = channels, output_stride == 8
        self.conv1 = nn.Conv2d(3, c[0], 3, 2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c[0])
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = BasicBlock(c[0], c[1], stride=2)
        self.layer2 = BasicBlock(c[1], c[2], stride=2 if os8 else 1, dilation=1 if os8 else 2)
        self.layer3 = BasicBlock(c[2], c[3], dilation=2 if os8 else 4)
        self.out_channels = c[3]

    def forward(self, x):
        return self.layer3(self.layer2(self.layer1(self.relu(self.bn1(self.conv1(x))))))


class Bottleneck(nn.Module):
    """labor's Bottleneck (torchvision's names): 1×1 → BN → ReLU → 3×3 (dilation = padding) → BN → ReLU →
    1×1 to 4·planes → BN, plus the input (through a 1×1 strided convolution and BN when the shape
    changes), then ReLU. The stride sits on the first 1×1 (stride_in_1x1, DeepLab-v2) or the 3×3."""

    expansion = 4

    def __init__(self, cin, planes, stride=1, dilation=1, stride_in_1x1=False):
        super().__init__()
        s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = nn.Conv2d(cin, planes, 1, s1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, s3, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, 4 * planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(4 * planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != 4 * planes:
            self.downsample = nn.Sequential(nn.Conv2d(cin, 4 * planes, 1, stride, bias=False), nn.BatchNorm2d(4 * planes))

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn3(self.conv3(self.relu(self.bn2(self.conv2(y)))))
        return self.relu(y + (x if self.downsample is None else self.downsample(x)))


class LaborResNet(nn.Module):
    """labor's models::ResNet: conv1 (7×7/2) → bn1 → relu → maxpool (3×3/2, pad 1, ceil_mode) →
    layer1..layer4, layer L of blocks[L] blocks of width base·2^L (basic: BasicBlock, output width;
    "bottleneck": Bottleneck, 4× the width); the first block of a layer has strides[L] and
    first_dilations[L], the others stride 1 and dilations[L]. torchvision's parameter names, no fc."""

    def __init__(self, block, blocks, base_channels=64, in_channels=3, strides=(1, 2, 2, 2),
                 first_dilations=(1, 1, 1, 1), dilations=(1, 1, 1, 1), stride_in_1x1=False, ceil_mode=False):
        super().__init__()
        if block not in ("basic", "bottleneck"):
            raise ValueError(f"LaborResNet: block: expected 'basic' or 'bottleneck', got {block!r}")
        self.conv1 = nn.Conv2d(in_channels, base_channels, 7, 2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(base_channels)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, padding=1, ceil_mode=ceil_mode)
        cin = base_channels
        for l in range(4):
            planes, layer = base_channels << l, []
            for b in range(blocks[l]):
                stride, dilation = (strides[l], first_dilations[l]) if b == 0 else (1, dilations[l])
                if block == "basic":
                    layer.append(BasicBlock(cin, planes, stride, dilation))
                    cin = planes
                else:
                    layer.append(Bottleneck(cin, planes, stride, dilation, stride_in_1x1))
                    cin = 4 * planes
            setattr(self, f"layer{l + 1}", nn.Sequential(*layer))
        self.out_channels = cin

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


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
