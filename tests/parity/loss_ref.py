"""PyTorch references for the loss, optimizer and pseudo-label parity tests (see loss_parity_test.cpp)."""
import os

import numpy as np
import torch
import torch.nn.functional as F

from ref_common import load, main, save


def cross_entropy(folder, ignore_index, weighted):
    logits = load(folder, "logits").requires_grad_(True)
    labels = load(folder, "labels", torch.long)
    weight = load(folder, "weights") if weighted == "1" else None
    loss = F.cross_entropy(logits, labels, weight=weight, ignore_index=int(ignore_index), reduction="mean")
    loss.backward()
    save(folder, "value", loss.reshape(1))
    save(folder, "grad", logits.grad)


def bce_const(folder, target):
    logits = load(folder, "logits").requires_grad_(True)
    loss = F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(target)))
    loss.backward()
    save(folder, "value", loss.reshape(1))
    save(folder, "grad", logits.grad)


def bce_map(folder):
    logits = load(folder, "logits").requires_grad_(True)
    loss = F.binary_cross_entropy_with_logits(logits, load(folder, "target"))
    loss.backward()
    save(folder, "value", loss.reshape(1))
    save(folder, "grad", logits.grad)


def discrepancy(folder):
    a = load(folder, "a").requires_grad_(True)
    b = load(folder, "b").requires_grad_(True)
    loss = (F.softmax(a, dim=1) - F.softmax(b, dim=1)).abs().mean()
    loss.backward()
    save(folder, "value", loss.reshape(1))
    save(folder, "grad_a", a.grad)
    save(folder, "grad_b", b.grad)


def _run_optimizer(folder, make):
    """Two parameters in two groups (lr multipliers 1 and 10); grads g0/g1 hold one slice per step.
    Saves the trajectories p0_out/p1_out (one slice per step)."""
    p0 = load(folder, "p0").requires_grad_(True)
    p1 = load(folder, "p1").requires_grad_(True)
    g0, g1 = load(folder, "g0"), load(folder, "g1")
    opt = make([p0, p1])
    out0, out1 = [], []
    for step in range(g0.shape[0]):
        opt.zero_grad()
        p0.grad = g0[step].clone()
        p1.grad = g1[step].clone()
        opt.step()
        out0.append(p0.detach().clone())
        out1.append(p1.detach().clone())
    save(folder, "p0_out", torch.stack(out0))
    save(folder, "p1_out", torch.stack(out1))


def sgd(folder, lr, momentum, weight_decay, dampening, nesterov):
    lr = float(lr)
    _run_optimizer(folder, lambda ps: torch.optim.SGD(
        [{"params": [ps[0]], "lr": lr}, {"params": [ps[1]], "lr": 10 * lr}], lr=lr, momentum=float(momentum),
        weight_decay=float(weight_decay), dampening=float(dampening), nesterov=nesterov == "1"))


def adam(folder, lr, beta1, beta2, eps, weight_decay):
    lr = float(lr)
    _run_optimizer(folder, lambda ps: torch.optim.Adam(
        [{"params": [ps[0]], "lr": lr}, {"params": [ps[1]], "lr": 10 * lr}], lr=lr,
        betas=(float(beta1), float(beta2)), eps=float(eps), weight_decay=float(weight_decay)))


def pseudo_label(folder, alpha, gamma, momentum, init, max_threshold, steps):
    """IAST thresholds with numpy's percentile, `steps` updates on probs0, probs1, ...; saves the
    thresholds and the labels of the last batch."""
    alpha, gamma, momentum, max_threshold = float(alpha), float(gamma), float(momentum), float(max_threshold)
    probs = [np.load(os.path.join(folder, f"probs{k}.npy")) for k in range(int(steps))]
    theta = np.full(probs[0].shape[1], float(init))
    for p in probs:
        arg = p.argmax(axis=1)
        conf = p.max(axis=1).astype(np.float64)
        for c in range(theta.size):
            x = conf[arg == c]
            if x.size:
                q = 100 * (1 - alpha * theta[c] ** gamma)
                theta[c] = min(momentum * theta[c] + (1 - momentum) * np.percentile(x, q), max_threshold)
    last = probs[-1]
    arg = last.argmax(axis=1)
    labels = np.where(last.max(axis=1) >= theta.astype(last.dtype)[arg], arg, 255).astype(np.int32)
    save(folder, "thresholds", theta)
    save(folder, "labels", labels)


if __name__ == "__main__":
    main({"cross_entropy": cross_entropy, "bce_const": bce_const, "bce_map": bce_map, "discrepancy": discrepancy,
          "sgd": sgd, "adam": adam, "pseudo_label": pseudo_label})
