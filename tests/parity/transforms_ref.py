"""PyTorch references for the data transforms: F.interpolate bilinear (align_corners=False) of a
C×H×W image and mode="nearest" of an H×W label map, to a given size."""
import torch.nn.functional as F

from ref_common import load, main, save


def resize(folder, height, width):
    size = (int(height), int(width))
    x = load(folder, "x")
    save(folder, "y", F.interpolate(x[None], size=size, mode="bilinear", align_corners=False)[0])
    labels = load(folder, "labels")
    save(folder, "labels_out", F.interpolate(labels[None, None], size=size, mode="nearest")[0, 0])


if __name__ == "__main__":
    main({"resize": resize})
