#!/usr/bin/env python3
"""Fills a round's answers_template.json from label maps: an annotator simulated from ground truth.

usage: answer_from_labels.py TEMPLATE LABELS_DIR OUT.json

For each image of TEMPLATE (written by `labor query` to RUN/rounds/<r>/), reads LABELS_DIR/<name>,
the label PNG with the image's file name (class indices, 255 = ignore), and writes OUT.json with the
label of every queried pixel; `labor answer RUN OUT.json` stores it. Useful to try the workflow on
labeled data before a person labels real images.
"""
import json
import os
import sys

import numpy as np
from PIL import Image


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    template, labels_dir, out = sys.argv[1:]
    doc = json.load(open(template))
    for im in doc["images"]:
        path = os.path.join(labels_dir, os.path.basename(im["file"]))
        lab = np.array(Image.open(path))
        if lab.ndim != 2:
            sys.exit(f"{path}: expected an 8-bit label map, got shape {lab.shape}")
        im["labels"] = [int(lab[y, x]) for y, x in im["pixels"]]
    with open(out, "w") as f:
        json.dump(doc, f)
    print(f"wrote {out}: {sum(len(im['labels']) for im in doc['images'])} labels for {len(doc['images'])} images")


if __name__ == "__main__":
    main()
