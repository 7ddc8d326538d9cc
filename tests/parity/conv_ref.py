"""PyTorch references for Conv2d: output and gradients for a given upstream gradient."""
import torch
import torch.nn.functional as F

from ref_common import load, main, save


def conv2d(folder, stride, padding, dilation, bias):
    x = load(folder, "x").requires_grad_()
    w = load(folder, "weight").requires_grad_()
    b = load(folder, "bias").requires_grad_() if bias == "1" else None
    y = F.conv2d(x, w, b, stride=int(stride), padding=int(padding), dilation=int(dilation))
    gy = load(folder, "grad_out")
    y.backward(gy)
    save(folder, "y", y)
    save(folder, "dx", x.grad)
    save(folder, "dweight", w.grad)
    if b is not None:
        save(folder, "dbias", b.grad)


if __name__ == "__main__":
    main({"conv2d": conv2d})
