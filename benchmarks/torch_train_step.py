"""The LabOR adaptation iteration of benchmarks/train_gpu_bench.cu in PyTorch, for the comparison in
benchmarks/compare_torch_gpu.py (suite `train`): same networks, batch sizes, losses and optimisers.

  step = make_step("small" | "deeplabv2-r101", device)   # returns a callable running one iteration

One iteration: SGD over the segmenter (momentum 0.9, weight decay 5e-4; heads at 10× the rate),
source cross-entropy (ignore 255) on logits upsampled bilinearly (align_corners=True) to the input
size; target cross-entropy plus 0.001 × BCE(D(softmax(target)), source); the segmenter's step; then
the discriminator's Adam step on ½·BCE(D(p_t), 1) + ½·BCE(D(p_s), 0).
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import torch_models as tm  # noqa: E402

CASES = {
    # name: (classes, batch, height, width)
    "small": (10, 4, 64, 128),
    "deeplabv2-r101": (19, 1, 256, 512),
}


def _freeze_bn(module):
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()
            for p in m.parameters():
                p.requires_grad_(False)


def make_step(name, device="cuda"):
    classes, n, h, w = CASES[name]
    torch.manual_seed(0)
    if name == "small":
        backbone = tm.SmallBackbone()
        head = tm.Aspp(backbone.out_channels, classes, dilations=(1, 2, 4, 6))
        disc = tm.FcDiscriminator(classes, ndf=16)
        seg = tm.Segmenter(backbone, head).to(device).train()
    else:
        net = tm.DeepLabV2(101, classes)
        seg = tm.Segmenter(net.backbone, net.head)
        seg.backbone.forward = lambda x, b=seg.backbone: tm.resnet_features(b, x)[0]
        seg = seg.to(device).train()
        _freeze_bn(seg.backbone)
        disc = tm.FcDiscriminator(classes, ndf=64)
    disc = disc.to(device).train()
    backbone_params = [p for p in seg.backbone.parameters() if p.requires_grad]
    sgd = torch.optim.SGD([{"params": backbone_params}, {"params": seg.head.parameters(), "lr": 2.5e-3}],
                          lr=2.5e-4, momentum=0.9, weight_decay=5e-4)
    adam = torch.optim.Adam(disc.parameters(), lr=1e-4, betas=(0.9, 0.99))
    g = torch.Generator(device="cpu").manual_seed(1)
    xs = torch.randn(n, 3, h, w, generator=g).to(device)
    xt = torch.randn(n, 3, h, w, generator=g).to(device)
    ys = torch.randint(0, classes, (n, h, w), generator=g).to(device)
    yt = torch.randint(0, classes, (n, h, w), generator=g)
    yt[torch.rand(n, h, w, generator=g) < 0.1] = 255
    yt = yt.to(device)

    def up(t):
        return F.interpolate(t, size=(h, w), mode="bilinear", align_corners=True)

    def step():
        sgd.zero_grad(set_to_none=False)
        us = up(seg(xs))
        F.cross_entropy(us, ys, ignore_index=255).backward()
        ps = F.softmax(us.detach(), dim=1)
        ut = up(seg(xt))
        pt = F.softmax(ut, dim=1)
        dt = disc(pt)
        l_adv = F.binary_cross_entropy_with_logits(dt, torch.zeros_like(dt))
        (F.cross_entropy(ut, yt, ignore_index=255) + 0.001 * l_adv).backward()
        sgd.step()
        adam.zero_grad(set_to_none=False)
        d_t = disc(pt.detach())
        d_s = disc(ps)
        loss_d = 0.5 * F.binary_cross_entropy_with_logits(d_t, torch.ones_like(d_t)) + \
            0.5 * F.binary_cross_entropy_with_logits(d_s, torch.zeros_like(d_s))
        loss_d.backward()
        adam.step()
        # labor's step reads its loss values on the host every iteration; so does this one.
        return loss_d.item()

    return step


if __name__ == "__main__":
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: nothing to time")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    for name in CASES:
        s = make_step(name)
        for _ in range(3):
            s()
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(20):
            s()
        stop.record()
        torch.cuda.synchronize()
        print(f"{name}: {start.elapsed_time(stop) / 20:.3f} ms per iteration")
