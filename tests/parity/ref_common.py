"""Shared helpers for the PyTorch reference scripts: load inputs and save outputs as .npy."""
import os
import sys

import numpy as np
import torch

torch.set_num_threads(2)
torch.use_deterministic_algorithms(False)


def load(folder, name, dtype=torch.float32):
    return torch.from_numpy(np.load(os.path.join(folder, name + ".npy"))).to(dtype)


def save(folder, name, tensor):
    if isinstance(tensor, torch.Tensor):
        tensor = tensor.detach().cpu().numpy()
    np.save(os.path.join(folder, name + ".npy"), np.ascontiguousarray(tensor))


def main(ops):
    """Dispatch `script.py OP FOLDER ARGS...` to ops[OP](folder, *args)."""
    op, folder, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    if op not in ops:
        sys.exit(f"unknown op {op!r}; known: {sorted(ops)}")
    ops[op](folder, *args)
