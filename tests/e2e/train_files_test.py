#!/usr/bin/env python3
"""labor_train on image/label files: the folder: and list: dataset kinds end to end.

usage: train_files_test.py LABOR_TRAIN

Writes the quick benchmark as PNG folders and list files (--export-data), runs the quick schedule
on them through folder: (source, target test) and list: (target pool) specs, and checks that
LabOR-SPL beats source-only on the target test split within SPL's budget. Then bad file input:
each must end with one "labor_train: error: ..." line naming the problem and a non-zero exit.
Unlabeled specs (images:, an image-only list:) are refused with exactly one error line, before the
--out folder is created.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

BIN = sys.argv[1]
failures = []


def run(*args):
    p = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=900)
    return p.returncode, p.stdout, p.stderr


def expect_error(name, args, needles):
    rc, _, err = run(*args)
    lines = [l for l in err.splitlines() if l.strip()]
    ok = rc == 1 and lines and lines[-1].startswith("labor_train: error: ")
    ok = ok and all(n in lines[-1] for n in needles)
    if not ok:
        failures.append(f"{name}: exit {rc}, stderr: {err.strip()[-400:]}")


with tempfile.TemporaryDirectory() as tmp:
    data = os.path.join(tmp, "data")
    rc, out, err = run("--preset", "quick", "--export-data", data)
    if rc != 0:
        sys.exit(f"--export-data failed ({rc}): {err}")
    for split, count in (("source", 160), ("target_pool", 48), ("target_test", 48), ("target_val", 24)):
        for sub in ("images", "labels"):
            n = len(os.listdir(os.path.join(data, split, sub)))
            if n != count:
                failures.append(f"{split}/{sub}: {n} files, expected {count}")
        with open(os.path.join(data, split + ".txt")) as fh:
            lines = [l.split() for l in fh if l.strip()]
        if len(lines) != count or any(len(l) != 2 for l in lines):
            failures.append(f"{split}.txt: expected {count} 'image label' lines")

    src = f"folder:{data}/source/images:{data}/source/labels"
    pool = f"list:{data}/target_pool.txt"
    test = f"folder:{data}/target_test/images:{data}/target_test/labels"
    val = f"folder:{data}/target_val/images:{data}/target_val/labels"
    files = ["--source", src, "--target", pool, "--target-test", test, "--target-val", val, "--num-classes", "10"]
    out_dir = os.path.join(tmp, "out")
    rc, out, err = run("--preset", "quick", *files, "--out", out_dir, "--quiet")
    if rc != 0:
        failures.append(f"run on files: exit {rc}: {err.strip()[-600:]}")
    else:
        with open(os.path.join(out_dir, "results.json")) as fh:
            res = json.load(fh)
        m = {x["name"]: x for x in res["methods"]}
        print(out)
        if not m["labor_spl"]["miou"] > m["source_only"]["miou"]:
            failures.append(f"labor_spl {m['labor_spl']['miou']:.1f} <= source_only {m['source_only']['miou']:.1f}")
        if not 0 < m["labor_spl"]["labeled_fraction"] <= 0.05:
            failures.append(f"labor_spl labeled {m['labor_spl']['labeled_fraction']}, expected (0, 0.05]")
        if len(res["classes"]) != 10 or len(m["uda"]["per_class_iou"]) != 10:
            failures.append("expected 10 classes in results.json")
        if res["config"]["data"].get("target") != pool:
            failures.append("results.json config does not record the target spec")
        if "test mIoU on the 48 held-out target test images" not in out:
            failures.append("the closing line does not state the 48 test images of the file dataset")
        if "val mIoU on the 24 target validation images" not in out or "| val mIoU | test mIoU |" not in out:
            failures.append("the table or the closing line does not show the 24 validation images")
        if not all(isinstance(x.get("val_miou"), float) and 0 < x["val_miou"] <= 100 for x in res["methods"]):
            failures.append(f"expected a validation mIoU in (0, 100] for every row: {res['methods']}")
        if res["config"]["data"].get("target_val") != val:
            failures.append("results.json config does not record the validation spec")

    # --help describes the defaults as they are.
    rc, helptext, _ = run("--help")
    flat = " ".join(helptext.split())
    if rc != 0 or "presets use 1" not in flat or "is an error" not in flat or "become 255" in flat:
        failures.append(f"--help: --lambda-weight's default or --label-map's unmapped values misdescribed:\n{helptext}")

    # Bad input: every problem is named.
    quick = ["--preset", "quick", "--out", os.path.join(tmp, "bad"), "--quiet"]
    expect_error("unknown kind", [*quick, "--source", "zip:x", "--target", pool, "--target-test", test,
                                  "--num-classes", "10"], ["zip"])
    expect_error("missing folder", [*quick, "--source", f"folder:{tmp}/nope:{tmp}/nope2", "--target", pool,
                                    "--target-test", test, "--num-classes", "10"], ["nope"])
    expect_error("target without source", [*quick, "--target", pool], ["--source"])
    expect_error("source without target", [*quick, "--source", src, "--num-classes", "10"], ["--target"])
    # A corrupt label file and an image/label size mismatch in copies of the test split.
    bad = os.path.join(tmp, "bad_test")
    shutil.copytree(os.path.join(data, "target_test"), bad)
    with open(os.path.join(bad, "labels", "0003.png"), "r+b") as fh:
        fh.truncate(20)
    expect_error("truncated label PNG", [*quick, "--source", src, "--target", pool, "--num-classes", "10",
                                         "--target-test", f"folder:{bad}/images:{bad}/labels"], ["0003.png"])
    shutil.copy(os.path.join(data, "source", "labels", "0000.png"), os.path.join(bad, "labels", "0003.png"))
    os.remove(os.path.join(bad, "images", "0005.png"))
    expect_error("image without label", [*quick, "--source", src, "--target", pool, "--num-classes", "10",
                                         "--target-test", f"folder:{bad}/images:{bad}/labels"], ["0005"])
    # Image data that fails to decode only when it is read (the PNG header is fine, the pixel data
    # truncated): the error names the file and --out gets no empty checkpoints/ labels/ visuals/.
    broken = os.path.join(tmp, "broken_source")
    shutil.copytree(os.path.join(data, "source"), broken)
    for name in os.listdir(os.path.join(broken, "images")):
        path = os.path.join(broken, "images", name)
        raw = open(path, "rb").read()
        idat = raw.index(b"IDAT") - 4  # the chunk's length field
        open(path, "wb").write(raw[:idat + 8 + 6])
    fresh = os.path.join(tmp, "broken_out")
    rc, _, err = run("--preset", "quick", "--out", fresh, "--quiet", "--num-classes", "10", "--source",
                     f"folder:{broken}/images:{broken}/labels", "--target", pool, "--target-test", test)
    lines = [l for l in err.splitlines() if l.strip()]
    if not (rc == 1 and lines and lines[-1].startswith("labor_train: error: ") and ".png" in lines[-1]):
        failures.append(f"undecodable source images: exit {rc}, stderr: {err.strip()[-400:]}")
    if os.path.exists(fresh):
        made = [os.path.relpath(os.path.join(r, d), fresh) for r, ds, _ in os.walk(fresh) for d in ds]
        failures.append(f"undecodable source images: --out {fresh} was created (folders: {made})")

    # Unlabeled data: the comparison's simulated annotator needs labels. Refused at once, one line,
    # nothing written (a fresh --out that must not appear).
    with open(os.path.join(data, "target_images.txt"), "w") as fh:  # the pool's images, one path a line
        fh.writelines(f"target_pool/images/{n}\n" for n in os.listdir(os.path.join(data, "target_pool", "images")))
    unlabeled = [
        ("--target", f"images:{data}/target_pool/images", "got unlabeled images"),
        ("--target-test", f"images:{data}/target_test/images", "got unlabeled images"),
        ("--source", f"images:{data}/source/images", "got unlabeled images"),
        ("--target", f"list:{data}/target_images.txt", "image-only list"),
    ]
    for k, (flag, spec, got) in enumerate(unlabeled):
        fresh = os.path.join(tmp, f"unlabeled_out_{k}")
        args = {"--source": src, "--target": pool, "--target-test": test, flag: spec}
        rc, _, err = run("--preset", "quick", "--out", fresh, "--quiet", "--num-classes", "10",
                         *[x for kv in args.items() for x in kv])
        lines = [l for l in err.splitlines() if l.strip()]
        want = f"labor_train: error: {flag} '{spec}': expected a labeled dataset"
        if not (rc == 1 and len(lines) == 1 and lines[0].startswith(want) and got in lines[0]
                and "labor" in lines[0].split(";")[-1]):
            failures.append(f"unlabeled {flag} {spec}: exit {rc}, stderr: {err.strip()[-400:]}")
        if os.path.exists(fresh):
            failures.append(f"unlabeled {flag} {spec}: --out {fresh} was created")

    # A validation split that shares images with the pool or the test split measures nothing.
    for name, spec, other in (("validation = test split", test, "--target-test"),
                              ("validation = pool", pool, "--target")):
        expect_error(name, [*quick, "--source", src, "--target", pool, "--target-test", test, "--target-val", spec,
                            "--num-classes", "10"], ["--target-val", "apart from " + other + "'s"])
    expect_error("test = pool", [*quick, "--source", src, "--target", pool, "--target-test", pool,
                                 "--num-classes", "10"], ["--target-test", "apart from --target's"])
    expect_error("unlabeled validation", [*quick, "--source", src, "--target", pool, "--target-test", test,
                                          "--target-val", f"images:{data}/target_val/images", "--num-classes", "10"],
                 ["--target-val", "expected a labeled dataset"])

    expect_error("labels outside the classes", [*quick, "--source", src, "--target", pool, "--target-test", test,
                                                "--num-classes", "3"], ["png"])

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("labor_train on folder: and list: data, unlabeled data refused: ok")
