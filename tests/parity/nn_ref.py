"""PyTorch references for the nn layers (BatchNorm2d, bilinear upsampling, MaxPool2d, softmax,
LeakyReLU): forward output and gradients for a given upstream gradient, all in float32."""
import torch
import torch.nn.functional as F

from ref_common import load, main, save


def batch_norm(folder, training, eps, momentum):
    """Inputs x, weight, bias, running_mean, running_var, grad_out. Outputs y, dx, dweight, dbias and
    the running statistics after the step (updated in place by F.batch_norm in training mode)."""
    x = load(folder, "x").requires_grad_()
    w = load(folder, "weight").requires_grad_()
    b = load(folder, "bias").requires_grad_()
    rm = load(folder, "running_mean")
    rv = load(folder, "running_var")
    y = F.batch_norm(x, rm, rv, w, b, training=training == "1", momentum=float(momentum), eps=float(eps))
    y.backward(load(folder, "grad_out"))
    save(folder, "y", y)
    save(folder, "dx", x.grad)
    save(folder, "dweight", w.grad)
    save(folder, "dbias", b.grad)
    save(folder, "running_mean_out", rm)
    save(folder, "running_var_out", rv)


def upsample(folder, height, width, align_corners):
    x = load(folder, "x").requires_grad_()
    y = F.interpolate(x, size=(int(height), int(width)), mode="bilinear", align_corners=align_corners == "1")
    y.backward(load(folder, "grad_out"))
    save(folder, "y", y)
    save(folder, "dx", x.grad)


def max_pool(folder, kernel, stride, padding, ceil_mode):
    x = load(folder, "x").requires_grad_()
    y = F.max_pool2d(x, int(kernel), stride=int(stride), padding=int(padding), ceil_mode=ceil_mode == "1")
    y.backward(load(folder, "grad_out"))
    save(folder, "y", y)
    save(folder, "dx", x.grad)


def softmax(folder):
    x = load(folder, "x").requires_grad_()
    y = torch.softmax(x, dim=1)
    y.backward(load(folder, "grad_out"))
    save(folder, "y", y)
    save(folder, "dx", x.grad)


def leaky_relu(folder, slope):
    x = load(folder, "x").requires_grad_()
    y = F.leaky_relu(x, negative_slope=float(slope))
    y.backward(load(folder, "grad_out"))
    save(folder, "y", y)
    save(folder, "dx", x.grad)


def relu(folder):
    x = load(folder, "x").requires_grad_()
    y = F.relu(x)
    y.backward(load(folder, "grad_out"))
    save(folder, "y", y)
    save(folder, "dx", x.grad)


if __name__ == "__main__":
    main({
        "batch_norm": batch_norm,
        "upsample": upsample,
        "max_pool": max_pool,
        "softmax": softmax,
        "leaky_relu": leaky_relu,
        "relu": relu,
    })
