#!/usr/bin/env python3
"""labor_train's command line on bad input, and resuming from checkpoints (also inside a stage).

usage: train_cli_test.py LABOR_TRAIN QUICK_OUT

QUICK_OUT is the folder of a finished `labor_train --preset quick` run (the e2e fixture). Every bad
input must end with one "labor_train: error: ..." line and a non-zero exit, leaving the folder's
files byte for byte as they were; a rerun with some checkpoints deleted must retrain exactly those
stages and print the same table.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

BIN, QUICK = sys.argv[1], sys.argv[2]
failures = []


def run(*args):
    p = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=600)
    return p.returncode, p.stdout, p.stderr


def snapshot(folder):
    out = {}
    for root, _, files in os.walk(folder):
        for f in files:
            path = os.path.join(root, f)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, folder)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def expect_error(name, args, code, needles, folder=None):
    before = snapshot(folder) if folder else None
    rc, _, err = run(*args)
    lines = [l for l in err.splitlines() if l.strip()]
    ok = rc == code and lines and lines[-1].startswith("labor_train: error: ")
    ok = ok and all(n in lines[-1] for n in needles)
    if folder and snapshot(folder) != before:
        ok = False
        err += "\n(the output folder changed)"
    if not ok:
        failures.append(f"{name}: exit {rc} (expected {code}), stderr: {err.strip()[-400:]}")


def gpu_present():
    """Whether an NVIDIA GPU is visible (then --device cuda may legitimately run)."""
    try:
        return subprocess.run(["nvidia-smi", "-L"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def methods(folder):
    with open(os.path.join(folder, "results.json")) as fh:
        return json.load(fh)["methods"]


with tempfile.TemporaryDirectory() as tmp:
    expect_error("unknown flag", ["--bogus"], 2, ["bogus"])
    expect_error("unknown preset", ["--preset", "fast", "--out", os.path.join(tmp, "x")], 1, ["--preset", "fast"])
    expect_error("zero budget", ["--points", "0", "--out", os.path.join(tmp, "x")], 1, ["--points", "> 0"])
    expect_error("negative cap", ["--spl-cap", "-0.5", "--out", os.path.join(tmp, "x")], 1, ["--spl-cap"])
    expect_error("unknown device", ["--device", "tpu", "--out", os.path.join(tmp, "x")], 1, ["--device", "tpu"])
    # --device cuda where it cannot run (a build without nvcc, or no GPU): one clear error, nothing written.
    if not gpu_present():
        expect_error("cuda without a GPU", ["--device", "cuda", "--out", os.path.join(tmp, "gpu")], 1,
                     ["--device cuda"])
        if os.path.exists(os.path.join(tmp, "gpu")):
            failures.append("cuda without a GPU: the output folder was created")
    expect_error("zero iterations", ["--adapt-iters", "0", "--out", os.path.join(tmp, "x")], 1, ["iterations"])
    expect_error("no source images", ["--source-images", "0", "--out", os.path.join(tmp, "x")], 1, ["image counts"])
    expect_error("palette shift", ["--palette-shift", "2", "--out", os.path.join(tmp, "x")], 1, ["palette_shift"])
    expect_error("unknown model", ["--model", "deeplabv2-r7", "--out", os.path.join(tmp, "x")], 1, ["--model", "r7"])
    expect_error("bad crop", ["--crop", "64by64", "--out", os.path.join(tmp, "x")], 1, ["--crop", "64by64"])
    expect_error("bad scale", ["--scale", "1.5,0.5", "--out", os.path.join(tmp, "x")], 1, ["--scale"])
    missing = os.path.join(tmp, "nope.safetensors")
    expect_error("missing weights", ["--preset", "quick", "--weights", missing, "--out", os.path.join(tmp, "w"),
                                     "--quiet"], 1, ["nope.safetensors"])
    if os.path.exists(os.path.join(tmp, "w")):
        failures.append("missing weights: the output folder was created")
    if os.path.exists(os.path.join(tmp, "x")):
        failures.append("a rejected command line created its output folder")
    afile = os.path.join(tmp, "a_file")
    with open(afile, "w") as fh:
        fh.write("keep me\n")
    expect_error("output is a file", ["--preset", "quick", "--out", afile], 1, ["--out", "file"])
    with open(afile) as fh:
        if fh.read() != "keep me\n":
            failures.append("output is a file: the file was overwritten")

    # A corrupt checkpoint and a checkpoint of other settings: refused, nothing touched.
    corrupt = os.path.join(tmp, "corrupt")
    shutil.copytree(QUICK, corrupt)
    ck = os.path.join(corrupt, "checkpoints", "uda.safetensors")
    with open(ck, "r+b") as fh:
        fh.truncate(os.path.getsize(ck) // 2)
    expect_error("corrupt checkpoint", ["--preset", "quick", "--out", corrupt, "--quiet"], 1, ["uda.safetensors"],
                 corrupt)
    other = os.path.join(tmp, "other")
    shutil.copytree(QUICK, other)
    expect_error("mismatched checkpoint", ["--preset", "quick", "--seed", "7", "--out", other, "--quiet"], 1,
                 ["other settings"], other)

    # Resume: drop the last two stages' checkpoints; the rerun trains only them and gives the same table.
    resume = os.path.join(tmp, "resume")
    shutil.copytree(QUICK, resume)
    for stage in ("entropy", "target_supervised"):
        os.remove(os.path.join(resume, "checkpoints", stage + ".safetensors"))
    rc, out, err = run("--preset", "quick", "--out", resume, "--quiet")
    if rc != 0:
        failures.append(f"resume: exit {rc}: {err.strip()[-400:]}")
    else:
        resumed = [l for l in err.splitlines() if "resumed" in l]
        trained = [l.split("]")[0][1:] for l in err.splitlines() if l.startswith("[") and "resumed" not in l]
        # source_only, uda, selector_r1, the five selections, labor_spl, labor_ppl, random, ripu_region.
        if len(resumed) != 12 or sorted(s for s in trained if s not in ("data",)) != ["entropy", "target_supervised"]:
            failures.append(f"resume: expected 12 resumed stages and 2 trained, got:\n{err}")
        if methods(resume) != methods(QUICK):
            failures.append("resume: results.json methods differ from the uninterrupted run")
        if "| labor_spl |" not in out:
            failures.append("resume: no table printed")

    # Interrupted inside a stage: with --checkpoint-every, the run killed after UDA's first
    # mid-stage checkpoint resumes at that iteration (weights, SGD momentum, Adam moments, batches)
    # and gives the same table as the uninterrupted run.
    ck = os.path.join(tmp, "interrupted")
    args = ["--preset", "quick", "--out", ck, "--quiet", "--checkpoint-every", "30"]
    partial = os.path.join(ck, "checkpoints", "uda.partial.safetensors")
    proc = subprocess.Popen([BIN, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while not os.path.exists(partial) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    proc.kill()
    proc.wait()
    if not os.path.exists(partial):
        failures.append("interrupted: no uda.partial.safetensors was written before the run ended")
    else:
        rc, out, err = run(*args)
        if rc != 0:
            failures.append(f"interrupted: rerun exit {rc}: {err.strip()[-400:]}")
        else:
            if "[uda] resuming at iteration" not in err + out:
                failures.append(f"interrupted: the rerun did not resume inside the UDA stage:\n{err}")
            if methods(ck) != methods(QUICK):
                failures.append("interrupted: results.json methods differ from the uninterrupted run")
            left = [f for f in os.listdir(os.path.join(ck, "checkpoints")) if ".partial" in f]
            if left:
                failures.append(f"interrupted: mid-stage checkpoints left after the run: {left}")

    # --rounds 2: each labeled method spends its budget in two rounds; a table per method and round,
    # the labeled share growing from round 1 to round 2, and round 2 never re-selecting a pixel
    # (the cumulative store holds as many pixels as the two rounds selected).
    rounds = os.path.join(tmp, "rounds")
    rc, out, err = run("--preset", "quick", "--rounds", "2", "--source-iters", "3", "--uda-iters", "3",
                       "--selector-iters", "3", "--adapt-iters", "3", "--out", rounds, "--quiet")
    if rc != 0:
        failures.append(f"rounds: exit {rc}: {err.strip()[-400:]}")
    else:
        for m in ("labor_ppl", "labor_spl", "random", "entropy", "ripu_region"):
            if f"| {m} round 1 |" not in out or f"| {m} round 2 |" not in out:
                failures.append(f"rounds: no per-round rows for {m}")
        marks = {}
        for r in (1, 2):
            with open(os.path.join(rounds, "checkpoints", f"selection_labor_ppl_r{r}.json")) as fh:
                marks[r] = json.load(fh)
        if not all(0 < marks[r]["points_per_image"] <= 20 for r in (1, 2)):
            failures.append(f"rounds: PPL's 40 points per image are not split in two rounds of at most 20: {marks}")
        ppl = next(m for m in methods(rounds) if m["name"] == "labor_ppl")
        total = marks[1]["points_per_image"] + marks[2]["points_per_image"]
        if abs(ppl["points_per_image"] - total) > 1e-9:
            failures.append(f"rounds: labor_ppl labeled {ppl['points_per_image']} points per image, the rounds "
                            f"selected {total}: a pixel was selected twice")
    expect_error("zero rounds", ["--rounds", "0", "--out", os.path.join(tmp, "x")], 1, ["--rounds"])

    # --curve: every strategy at every budget for two seeds; the labels each took match its budget,
    # the tables and curve.json hold every cell with one value per seed, and a rerun resumes every
    # stage and writes the same curve.json.
    curve = os.path.join(tmp, "curve")
    tiny = ["--preset", "quick", "--source-iters", "3", "--uda-iters", "3", "--selector-iters", "3",
            "--adapt-iters", "3", "--quiet"]
    curve_args = [*tiny, "--curve", "--curve-points", "5", "--curve-fractions", "0.005", "--seeds", "0,1",
                  "--out", curve]
    strategies = ["labor_spl", "labor_ppl", "random", "entropy", "margin", "ripu_region", "ripu_pixel"]
    rc, out, err = run(*curve_args)
    if rc != 0:
        failures.append(f"curve: exit {rc}: {err.strip()[-400:]}")
    else:
        with open(os.path.join(curve, "curve.json")) as fh:
            first = fh.read()
        doc = json.loads(first)
        cells = {(c["strategy"], c["budget"]): c for c in doc["cells"]}
        budgets = [5, round(0.005 * 64 * 128)]
        if doc["seeds"] != 2 or sorted(cells) != sorted((m, b) for m in strategies for b in budgets):
            failures.append(f"curve: expected every strategy at budgets {budgets}, got {sorted(cells)}")
        for (m, b), c in cells.items():
            vals = c["val_miou"] + c["test_miou"]
            if len(c["val_miou"]) != 2 or len(c["test_miou"]) != 2 or not all(0 <= v <= 100 for v in vals):
                failures.append(f"curve: {m} at {b}: expected 2 seeds of mIoU in [0, 100], got {c}")
            got = c["points_per_image"]
            if m in ("random", "entropy", "margin", "ripu_pixel") and got != [b, b]:
                failures.append(f"curve: {m} at {b}: labeled {got} points per image")
            if m in ("labor_spl", "labor_ppl") and not all(0 < g <= b for g in got):
                failures.append(f"curve: {m} at {b}: labeled {got} points per image, expected (0, {b}]")
            if m == "ripu_region" and not all(0 < g <= -(-b // 9) * 9 for g in got):
                failures.append(f"curve: ripu_region at {b}: labeled {got}, expected at most ceil({b}/9) windows")
        for seed in (0, 1):
            if not os.path.exists(os.path.join(curve, f"seed_{seed}", "labels", "ripu_pixel_k5.lstore")):
                failures.append(f"curve: no label store for seed {seed}")
        for needle in ("Validation mIoU over 2 seeds", "Test mIoU over 2 seeds", "| best on validation |",
                       "target_supervised: ", " ± "):
            if needle not in out:
                failures.append(f"curve: the printed tables lack '{needle}'")
        with open(os.path.join(curve, "curve.svg")) as fh:
            svg = fh.read()
        if svg.count("<polyline") != len(strategies) or svg.count("<polygon") != len(strategies):
            failures.append("curve: curve.svg does not draw a line and a band per strategy")
        rc, out, err = run(*curve_args)
        resumed = [l for l in err.splitlines() if "resumed" in l]
        with open(os.path.join(curve, "curve.json")) as fh:
            again = fh.read()
        # Per seed: source_only, uda, selector_r1, and per cell a selection and an adaptation.
        if rc != 0 or again != first or len(resumed) != 2 * (3 + 2 * len(cells)) + 2:
            failures.append(f"curve rerun: exit {rc}, {len(resumed)} resumed, same curve.json: {again == first}")
    bad = os.path.join(tmp, "curve_bad")
    expect_error("curve strategy", [*tiny, "--curve", "--curve-strategies", "random,best", "--out", bad], 1,
                 ["--curve-strategies", "'best'"])
    expect_error("curve budget", [*tiny, "--curve", "--curve-points", "0", "--out", bad], 1, ["--curve-points", "0"])
    expect_error("curve fraction", [*tiny, "--curve", "--curve-fractions", "1.5", "--out", bad], 1,
                 ["--curve-fractions", "1.5"])
    expect_error("curve seeds", [*tiny, "--curve", "--seeds", "1,x", "--out", bad], 1, ["--seeds", "1,x"])
    expect_error("curve seed twice", [*tiny, "--curve", "--seeds", "0,1,0", "--out", bad], 1,
                 ["--seeds", "distinct", "0 twice"])
    expect_error("curve option alone", [*tiny, "--curve-points", "5", "--out", bad], 1, ["--curve-points", "--curve"])
    if os.path.exists(bad):
        failures.append("a rejected --curve command line created its output folder")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("labor_train command line: all checks passed")
