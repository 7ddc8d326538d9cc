#!/usr/bin/env python3
"""The `labor` workflow end to end on unlabeled target images, with the test as the annotator.

usage: workflow_test.py LABOR LABOR_TRAIN LABOR_WORKFLOW_REFERENCE

The quick benchmark is written as PNGs (labor_train --export-data); its target pool is given to
`labor init` as images: (no labels). Two rounds: `labor query` (PPL) → answers.json written from the
hidden label maps → `labor answer` (twice: the second changes nothing) → `labor adapt`; `labor query`
(SPL) → a folder of labels_<i>.png → `labor answer` → `labor adapt`; then `labor predict`, `labor eval`,
`labor status`. The final mIoU must equal, to the last printed digit, the same two rounds run through
the library with the simulated oracle (labor_workflow_reference). Then every bad input of the
workflow: one "labor: error: ..." line, exit 1, and nothing in the run folder changed.
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

LABOR, LABOR_TRAIN, REFERENCE = sys.argv[1:4]
POINTS, CAP = 20, 0.01
failures = []


def run(*args, binary=LABOR):
    p = subprocess.run([binary, *map(str, args)], capture_output=True, text=True, timeout=900)
    return p.returncode, p.stdout, p.stderr


def ok(*args, binary=LABOR):
    rc, out, err = run(*args, binary=binary)
    if rc != 0:
        sys.exit(f"FAIL: {os.path.basename(binary)} {' '.join(map(str, args))}: exit {rc}\n{err[-2000:]}")
    return out


def snapshot(folder):
    """Every file under `folder` with the hash of its bytes."""
    out = {}
    for root, _, files in os.walk(folder):
        for f in files:
            path = os.path.join(root, f)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, folder)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def expect_error(name, args, needles, run_dir):
    before = snapshot(run_dir)
    rc, _, err = run(*args)
    lines = [l for l in err.splitlines() if l.strip()]
    good = rc == 1 and len(lines) >= 1 and lines[-1].startswith("labor: error: ")
    good = good and all(n in lines[-1] for n in needles)
    if not good:
        failures.append(f"{name}: exit {rc}, stderr: {err.strip()[-500:]}")
    if snapshot(run_dir) != before:
        failures.append(f"{name}: the run folder changed")


def miou(text):
    m = re.search(r"mIoU (\d+\.\d+)", text)
    if not m:
        sys.exit(f"FAIL: no mIoU in:\n{text}")
    return m.group(1)


def label_map(data, pool_file):
    """The hidden label map of a pool image (same file name under labels/)."""
    name = os.path.basename(pool_file)
    return np.array(Image.open(os.path.join(data, "target_pool", "labels", name)))


with tempfile.TemporaryDirectory() as tmp:
    data = os.path.join(tmp, "data")
    ok("--preset", "quick", "--export-data", data, binary=LABOR_TRAIN)
    source = f"folder:{data}/source/images:{data}/source/labels"
    pool_images = f"images:{data}/target_pool/images"
    pool_labeled = f"folder:{data}/target_pool/images:{data}/target_pool/labels"
    test = f"folder:{data}/target_test/images:{data}/target_test/labels"
    init = ["--source", source, "--target", pool_images, "--target-test", test, "--num-classes", 10, "--preset", "quick"]
    run_dir = os.path.join(tmp, "run")

    # --- bad input before any run exists
    rc, _, err = run("adapt", os.path.join(tmp, "nothing"))
    if rc != 1 or "labor init" not in err:
        failures.append(f"adapt without a run: exit {rc}: {err.strip()}")

    ok("init", run_dir, *init)
    ok("init", run_dir, *init)  # the same settings again: nothing to do
    expect_error("init with other settings", ["init", run_dir, *init[:-1], "default"], ["other settings"], run_dir)
    expect_error("adapt before any answers", ["adapt", run_dir, "--quiet"], ["no answers"], run_dir)
    expect_error("query before train", ["query", run_dir, "--quiet"], ["labor train"], run_dir)
    ok("train", run_dir, "--quiet")

    # --- round 1: PPL points answered in JSON
    ok("query", run_dir, "--strategy", "ppl", "--points", POINTS, "--quiet")
    r1 = os.path.join(run_dir, "rounds", "1")
    template = json.load(open(os.path.join(r1, "answers_template.json")))
    pictures = [im["picture"] for im in template["images"] if im["picture"]]
    if not pictures or not all(os.path.exists(os.path.join(r1, p)) for p in pictures):
        failures.append("round 1: the annotator's pictures are missing")
    expect_error("query while round 1 is unanswered", ["query", run_dir, "--quiet"], ["waiting for answers"], run_dir)
    answers = json.loads(json.dumps(template))
    for im in answers["images"]:
        lab = label_map(data, im["file"])
        im["labels"] = [int(lab[y, x]) for y, x in im["pixels"]]
    good = os.path.join(tmp, "answers1.json")
    json.dump(answers, open(good, "w"))

    def bad_answers(name, edit, needles):
        doc = json.loads(json.dumps(answers))
        edit(doc)
        path = os.path.join(tmp, name.replace(" ", "_") + ".json")
        json.dump(doc, open(path, "w"))
        expect_error(name, ["answer", run_dir, path], needles, run_dir)

    def unqueried_pixel(d):
        im = d["images"][0]
        taken = {tuple(p) for p in im["pixels"]}
        free = next((y, x) for y in range(64) for x in range(128) if (y, x) not in taken)
        im["pixels"][0] = list(free)

    bad_answers("pixel not queried", unqueried_pixel, ["pixel 0"])
    bad_answers("image not in the round", lambda d: d["images"][0].__setitem__("index", 999), ["image 999"])
    bad_answers("label out of range", lambda d: d["images"][0]["labels"].__setitem__(0, 10), ["label"])
    bad_answers("another round", lambda d: d.__setitem__("round", 2), ["round 2"])
    bad_answers("query that no longer exists", lambda d: d.__setitem__("query_id", "0000"), ["no longer exists"])
    bad_answers("coordinate above int64", lambda d: d["images"][0]["pixels"][0].__setitem__(0, 2**64 - 1),
                ["expected an integer"])
    # Written by an attacker: 100 000 nested arrays (nlohmann's recursive dump() crashed on them), a
    # round and query_id of nested values, a label that is a 100 000-character string (quoted short).
    deep = "[" * 100000 + "]" * 100000
    nested = os.path.join(tmp, "nested.json")
    open(nested, "w").write('{"images": [{"index": 0, "labels": %s}]}' % deep)
    expect_error("answers nested 100000 deep", ["answer", run_dir, nested], ["nested.json", "nested deeper"], run_dir)
    bad_answers("round of nested arrays", lambda d: d.__setitem__("round", [[[[1]]]]), ["written for round"])
    bad_answers("long string label", lambda d: d["images"][0]["labels"].__setitem__(0, "x" * 100000), ["label"])
    rc, _, err = run("answer", run_dir, os.path.join(tmp, "long_string_label.json"))
    if len(err) > 1000:
        failures.append(f"long string label: the error quotes all of it ({len(err)} characters)")
    # A queries.json tampered with after the selection: refused by name, the round left as it is.
    queries = os.path.join(r1, "queries.json")
    kept = open(queries).read()
    open(queries, "w").write('{"strategy": %s, "images": [], "selected_pixels": 0}' % deep)
    expect_error("queries.json nested 100000 deep", ["answer", run_dir, good], ["queries.json", "nested deeper"],
                 run_dir)
    doc = json.loads(kept)
    doc["images"][0]["height"] = 2**62 + 1
    open(queries, "w").write(json.dumps(doc))
    expect_error("queries.json of an overflowing size", ["answer", run_dir, good], ["queries.json", "size"], run_dir)
    open(queries, "w").write(kept)
    truncated = os.path.join(tmp, "truncated.json")
    open(truncated, "w").write(open(good).read()[:200])
    expect_error("truncated answers.json", ["answer", run_dir, truncated], ["truncated.json"], run_dir)

    ok("answer", run_dir, good)
    stored = snapshot(run_dir)
    out = ok("answer", run_dir, good)
    if "nothing changed" not in out or snapshot(run_dir) != stored:
        failures.append("importing the same answers twice changed the run")
    ok("adapt", run_dir, "--quiet")

    # --- round 2: SPL pixels answered as label PNGs (the whole hidden map; only queried pixels are read)
    ok("query", run_dir, "--strategy", "spl", "--cap", CAP, "--quiet")
    r2 = os.path.join(run_dir, "rounds", "2")
    template2 = json.load(open(os.path.join(r2, "answers_template.json")))
    pngs = os.path.join(tmp, "labels2")
    os.makedirs(pngs)
    for im in template2["images"]:
        Image.fromarray(label_map(data, im["file"])).save(os.path.join(pngs, f"labels_{im['index']}.png"))
    wrong = os.path.join(tmp, "wrong_size")
    shutil.copytree(pngs, wrong)
    Image.fromarray(np.zeros((32, 64), np.uint8)).save(os.path.join(wrong, "labels_0.png"))
    expect_error("label PNG of the wrong size", ["answer", run_dir, wrong], ["labels_0.png", "size"], run_dir)
    ok("answer", run_dir, pngs)
    ok("adapt", run_dir, "--quiet")

    pred = os.path.join(tmp, "pred")
    ok("predict", run_dir, "--images", f"images:{data}/target_test/images", "--out", pred, "--quiet")
    first = np.array(Image.open(os.path.join(pred, "0000.png")))
    if first.shape != (64, 128) or first.max() >= 10 or not os.path.exists(os.path.join(pred, "0000_overlay.png")):
        failures.append(f"predict: unexpected label map {first.shape}, max {first.max()}")
    # The adapted segmenter exported for PyTorch: tools/load_labor_model.py predicts what labor predicts.
    model = os.path.join(tmp, "model.safetensors")
    ok("export", run_dir, "--out", model, "--quiet")
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
    if have_torch:
        tools = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "load_labor_model.py")
        torch_pred = os.path.join(tmp, "torch_pred.png")
        p = subprocess.run([sys.executable, tools, model, "--image", os.path.join(data, "target_test", "images",
                            "0000.png"), "--out", torch_pred], capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            failures.append(f"load_labor_model.py: exit {p.returncode}: {p.stderr[-500:]}")
        else:
            theirs = np.array(Image.open(torch_pred))
            differ = int((theirs != first).sum())
            # Float summation order may flip an argmax where two classes tie to the last bits.
            if theirs.shape != first.shape or differ > first.size // 1000:
                failures.append(f"PyTorch's prediction of the export differs from labor's at {differ} pixels")
    else:
        print("torch not importable: the PyTorch side of the export check is skipped")
    workflow_miou = miou(ok("eval", run_dir, "--quiet"))
    status = ok("status", run_dir)
    if "round 2 (spl)" not in status or "adapted" not in status:
        failures.append(f"status: {status}")

    # --- the same schedule through the library with the simulated oracle
    ref_dir = os.path.join(tmp, "reference")
    ok("init", ref_dir, *init)
    reference_miou = miou(ok(ref_dir, pool_labeled, POINTS, CAP, binary=REFERENCE))
    print(f"workflow mIoU {workflow_miou}, library with the simulated oracle {reference_miou}")
    if workflow_miou != reference_miou:
        failures.append(f"workflow mIoU {workflow_miou} != library {reference_miou}")

    # --- a run folder from another version, or with a changed config
    for name, edit, needle in [
        ("another labor version", lambda j: j.__setitem__("labor_run_config", 99), "another labor version"),
        ("changed config", lambda j: j.__setitem__("seed", 7), "other settings"),
    ]:
        copy = os.path.join(tmp, name.replace(" ", "_"))
        shutil.copytree(run_dir, copy)
        cfg = json.load(open(os.path.join(copy, "run.json")))
        edit(cfg)
        json.dump(cfg, open(os.path.join(copy, "run.json"), "w"))
        expect_error(name, ["eval", copy, "--quiet"], [needle], copy)

if failures:
    print("FAILED:\n  " + "\n  ".join(failures))
    sys.exit(1)
print("workflow: all checks passed")
