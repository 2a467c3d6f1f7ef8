"""Kill-and-resume soak: `trivium curate` killed with SIGKILL at random points, then re-run, N times.

Each cycle starts from a copy of an interrupted run folder state, kills the flow process at a random
moment (uniform over the undisturbed run's wall time), re-runs it to completion, and compares every
committed file (manifest-listed parts and rejects) with the undisturbed run's by sha256. Prints the
resumed runs' wall time next to the undisturbed run's and the count of byte-identical outcomes (goal: N of N).

    .venv/bin/python benchmarks/faults.py --mb 50 --cycles 5
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TRIVIUM_SHARED", REPO.parent / "shared"))
TRIVIUM = Path(sys.executable).parent / "trivium"
SOURCES = ["enwiki", "zhwiki", "code_python", "gsm8k", "stacks_latex", "nltk_news", "web_boilerplate", "sms_spam"]


def build_input(dest: Path, mb: float) -> int:
    """Up to `mb` MB of JSONL from several corpus sources, round robin, as one folder per source."""
    budget, written = int(mb * 1e6), 0
    streams = {}
    for s in SOURCES:
        files = sorted((SHARED / "corpus" / s).glob("*.jsonl.gz"))
        if files:
            streams[s] = (line for f in files for line in gzip.open(f, "rt", encoding="utf-8"))
    outs = {s: (dest / s).mkdir(parents=True, exist_ok=True) or open(dest / s / "part.jsonl", "w") for s in streams}
    while written < budget and streams:
        for s in list(streams):
            line = next(streams[s], None)
            if line is None:
                del streams[s]
                continue
            outs[s].write(line)
            written += len(line.encode())
    for f in outs.values():
        f.close()
    return written


def digest(run: Path) -> dict[str, str]:
    """sha256 of every file a committed manifest lists (and of the manifests' doc counts)."""
    out = {}
    for manifest in sorted(run.glob("*/_manifest.json")):
        m = json.loads(manifest.read_text())
        stage = manifest.parent.name
        out[f"{stage}/counts"] = json.dumps([m["docs_in"], m["docs_out"], m["dropped"], m["quarantined"]])
        for f in m["files"] + m["rejects"]:
            out[f"{stage}/{f['path']}"] = hashlib.sha256((manifest.parent / f["path"]).read_bytes()).hexdigest()
    return out


def curate(inp: Path, run: Path, env: dict, kill_after: float | None = None) -> tuple[float, int]:
    """Run curate; with `kill_after`, SIGKILL its whole process group after that many seconds."""
    start = time.time()
    proc = subprocess.Popen([str(TRIVIUM), "curate", "-i", str(inp), "-o", str(run), "--json"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        proc.wait(timeout=kill_after)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return time.time() - start, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=50.0, help="input size (MB of JSONL)")
    ap.add_argument("--cycles", type=int, default=5, help="kill-and-resume cycles")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="trivium-faults-"))
    inp = work / "input"
    if not inp.exists():
        print(f"input: {build_input(inp, args.mb) / 1e6:.1f} MB under {inp}")
    env = os.environ | {"PREFECT_HOME": str(work / "prefect")}
    ref_wall, rc = curate(inp, work / "reference", env)
    assert rc == 0, "the undisturbed run failed"
    reference = digest(work / "reference")
    print(f"undisturbed run: {ref_wall:.1f} s, {len(reference)} committed files and counts")
    identical = 0
    for cycle in range(args.cycles):
        run = work / f"cycle{cycle}"
        shutil.rmtree(run, ignore_errors=True)
        kill_at = rng.uniform(0.05, 0.95) * ref_wall
        killed_wall, _ = curate(inp, run, env, kill_after=kill_at)
        committed = len(list(run.glob("*/_manifest.json")))
        resumed_wall, rc = curate(inp, run, env)
        same = rc == 0 and digest(run) == reference
        identical += same
        total = killed_wall + resumed_wall
        print(f"cycle {cycle}: killed at {kill_at:5.1f} s ({committed} stages committed), resumed in "
              f"{resumed_wall:5.1f} s; killed + resumed = {total / ref_wall:.2f}x the undisturbed run, "
              f"{'byte-identical' if same else 'DIFFERENT'}")
        shutil.rmtree(run, ignore_errors=True)
    print(f"byte-identical outcomes: {identical} of {args.cycles}")


if __name__ == "__main__":
    main()
