"""Tokenizer benchmark: train the 128,256-entry tokenizer on a weighted >= 50 MB sample of
../shared/corpus, compare wall time / peak memory with plain `tokenizers` training on the
same sample, and compare compression on held-out text with reference tokenizers.

    .venv/bin/python benchmarks/tokenizer.py [--sample-mb 50] [--out /tmp/trivium-bench-tokenizer]

Steps (each training runs in its own process; peak memory = highest summed RSS of the
process tree (PSS), sampled every 0.1 s):

1. draw the weighted sample (80 MB by default; STEM/code/agentic up-weighted, 5% of documents held out) and
   write it to sample.jsonl (one row per training piece, repetitions expanded), so every
   trainer reads exactly the same text;
2. plain `tokenizers`: BpeTrainer (128,000 entries) + the same pre-tokenizer + specials;
3. trivium from scratch (`trivium tokenizer train`, counts + Numba kernel): same sample;
4. trivium with the o200k base vocabulary (the reference recipe: its ASCII, Latin, Greek,
   Cyrillic and emoji tokens without CJK, at most 70,000 of them, the most used on the
   sample first), the rest learned: same sample;
   and the same run with the CLI drawing the sample from the corpus itself (must give the
   identical tokenizer);
5. trivium with the same base on the same amount of unweighted general text
   (the commonsense bucket), for the STEM+code comparison;
6. held-out evaluation against Llama-3, DeepSeek-V3, o200k, cl100k and Qwen, per
   bucket and language, with the goals checked; batch-encoding throughput.

Not a timed test: timings on a shared 2-core machine are noisy, so the comparisons are
side by side within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TRIVIUM_SHARED", REPO.parent / "shared"))
# STEM, code and agentic up-weighted; the Chinese commonsense sources (the bulk of the corpus,
# and the easiest to beat Llama-3 on) down-weighted, so more learned merges go elsewhere
DEFAULT_WEIGHTS = ("commonsense=1,stem=2.5,code=10,agentic=1.5,noise=0.3,"
                   "zhwiki=0.4,zh_novels=0.3,zh_poetry=0.15,zh_poetry_alt=0.15,cmrc2018=0.4")
DEFAULT_BASE_KEEP = "ascii,emoji,latin,script:Greek,script:Cyrillic"


# --- process-tree peak memory --------------------------------------------------------


def _pss(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _tree_rss(pid: int) -> int:
    """Memory (bytes) of ``pid`` and its descendants: summed PSS (shared pages split
    between the processes sharing them, so forked workers are not counted twice), RSS
    where PSS is unavailable."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            ppid = int(fields[1])
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
            children.setdefault(ppid, []).append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        pss = _pss(p)
        total += pss if pss is not None else rss.get(p, 0)
        stack.extend(children.get(p, []))
    return total


def run_measured(cmd: list[str], log: Path) -> dict:
    """Run ``cmd``; wall seconds and peak summed RSS of its process tree."""
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=REPO)
        peak = 0
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, _tree_rss(proc.pid))
                stop.wait(0.1)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        rc = proc.wait()
        stop.set()
        th.join()
    wall = time.perf_counter() - t0
    if rc != 0:
        raise RuntimeError(f"{cmd[:3]} failed (rc={rc}); see {log}:\n{log.read_text()[-3000:]}")
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(peak / 2**20, 1)}


# --- child: plain tokenizers ---------------------------------------------------------


def child_plain(sample: str, out_dir: str, vocab_size: int) -> None:
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

    from trivium.tokenizer.pretokenize import build_pre_tokenizer
    from trivium.tokenizer.special_tokens import bpe_size_for, special_tokens

    def texts():
        with open(sample, encoding="utf-8") as fh:
            for line in fh:
                yield json.loads(line)["text"]

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = build_pre_tokenizer()
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=bpe_size_for(vocab_size), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts(), trainer)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t, _ in special_tokens(vocab_size)])
    os.makedirs(out_dir, exist_ok=True)
    tok.save(os.path.join(out_dir, "tokenizer.json"))


def llama3_with_youtu_pretokenizer(path: Path):
    """Llama-3's own vocabulary behind trivium's (Youtu) pre-tokenizer: what the mandated
    pre-tokenization alone costs (single digits, o200k's case-split words) on each bucket."""
    from trivium.tokenizer.evaluate import _hf_eval_tokenizer
    from trivium.tokenizer.pretokenize import build_pre_tokenizer
    from trivium.tokenizer.tiktoken_loader import tiktoken_to_tokenizer

    tok = tiktoken_to_tokenizer(str(path))
    tok.pre_tokenizer = build_pre_tokenizer()
    return _hf_eval_tokenizer("llama3@youtu", tok, "tiktoken-file")


# --- steps ---------------------------------------------------------------------------


def write_sample(corpus: Path, out: Path, spec, *, buckets: set[str] | None = None) -> dict:
    from trivium.tokenizer.sample import ReadStats, discover_files
    from trivium.tokenizer.special_tokens import split_on_special
    from trivium.tokenizer.sample import iter_file_documents, select
    from trivium.tokenizer.train import plan_sample

    files = discover_files([str(corpus)])
    if buckets is not None:
        files = [f for f in files if f.bucket_of(f.source) in buckets]
    rates, _ = plan_sample(files, spec)
    by_bucket: dict[str, int] = {}
    n_rows = 0
    stats = ReadStats()
    with open(out, "w", encoding="utf-8") as fh:
        for f in files:
            for doc in iter_file_documents(f, stats):
                m = select(doc, spec, rates, "train")
                for k in range(m):
                    for j, piece in enumerate(split_on_special(doc.text)):
                        fh.write(json.dumps({"id": f"{doc.id}#{k}#{j}", "text": piece, "source": doc.source},
                                            ensure_ascii=False) + "\n")
                        n_rows += 1
                        by_bucket[doc.bucket] = by_bucket.get(doc.bucket, 0) + len(piece.encode("utf-8"))
    return {"rows": n_rows, "bytes": sum(by_bucket.values()), "bytes_by_bucket": dict(sorted(by_bucket.items()))}


def trivium_cmd(sample: Path, out_dir: Path, vocab_size: int, extra: list[str]) -> list[str]:
    script = Path(sys.executable).parent / "trivium"
    head = [str(script)] if script.exists() else [sys.executable, "-c", "from trivium.flows.cli import main; main()"]
    return head + ["tokenizer", "train", "-i", str(sample), "-o", str(out_dir), "--vocab-size", str(vocab_size),
                   "--quiet", "--json"] + extra


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=str(SHARED / "corpus"))
    ap.add_argument("--tokenizers", default=str(SHARED / "tokenizers"))
    ap.add_argument("--sample-mb", type=float, default=80.0)
    ap.add_argument("--weights", default=DEFAULT_WEIGHTS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--holdout", type=float, default=0.05)
    ap.add_argument("--vocab-size", type=int, default=128_256)
    ap.add_argument("--base", default=None, help="default: <tokenizers>/o200k_base.tiktoken")
    ap.add_argument("--base-keep", default=DEFAULT_BASE_KEEP)
    ap.add_argument("--base-drop", default="cjk")
    ap.add_argument("--base-max", type=int, default=70_000)
    ap.add_argument("--base-select", default="usage", help="usage or rank (see trivium tokenizer train --help)")
    ap.add_argument("--eval-mb-per-source", type=float, default=1.5)
    ap.add_argument("--out", default="/tmp/trivium-bench-tokenizer")
    ap.add_argument("--skip", default="", help="comma list of steps to skip: plain,scratch,self-sample,general")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child-args", nargs="*", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child == "plain":
        child_plain(*args.child_args[:2], int(args.child_args[2]))
        return

    from trivium.tokenizer.evaluate import evaluate, load_eval_tokenizer, relative_tokens, render_table, select_eval_documents
    from trivium.tokenizer.sample import SampleSpec, parse_weights

    corpus, toks_dir, out = Path(args.corpus), Path(args.tokenizers), Path(args.out)
    if not corpus.exists():
        sys.exit(f"{corpus} is absent: the benchmark needs ../shared/corpus")
    out.mkdir(parents=True, exist_ok=True)
    skip = set(filter(None, args.skip.split(",")))
    base = args.base or str(toks_dir / "o200k_base.tiktoken")
    sample_bytes = int(args.sample_mb * 1e6)
    results: dict = {"config": {k: v for k, v in vars(args).items() if not k.startswith("child")}}
    print(f"# trivium tokenizer benchmark ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores)")

    # 1. the weighted sample, written once
    spec = SampleSpec(sample_bytes=sample_bytes, weights=parse_weights(args.weights), seed=args.seed, holdout=args.holdout)
    t0 = time.perf_counter()
    sample = out / "sample.jsonl"
    info = write_sample(corpus, sample, spec)
    print(f"sample: {info['bytes'] / 1e6:.1f} MB in {info['rows']:,} pieces, drawn in {time.perf_counter() - t0:.1f} s; "
          + ", ".join(f"{b} {n / 1e6:.1f} MB" for b, n in info["bytes_by_bucket"].items()))
    results["sample"] = info

    base_args = ["--base", base, "--base-keep", args.base_keep, "--base-max", str(args.base_max),
                 "--base-select", args.base_select]
    if args.base_drop:
        base_args += ["--base-drop", args.base_drop]
    runs: dict[str, dict] = {}
    if "plain" not in skip:
        runs["plain tokenizers"] = run_measured(
            [sys.executable, __file__, "--child", "plain", "--child-args", str(sample), str(out / "plain"), str(args.vocab_size)],
            out / "plain.log")
    if "scratch" not in skip:
        runs["trivium (scratch)"] = run_measured(trivium_cmd(sample, out / "scratch", args.vocab_size, []), out / "scratch.log")
    runs["trivium (o200k base)"] = run_measured(trivium_cmd(sample, out / "trivium", args.vocab_size, base_args), out / "trivium.log")
    # the product path: the CLI samples the corpus itself (documents counted once, with
    # their multiplicity); the same sample, so it must give the same tokenizer
    sample_args = ["--weights", args.weights, "--sample-bytes", str(sample_bytes), "--seed", str(args.seed),
                   "--holdout", str(args.holdout)]
    same = None
    if "self-sample" not in skip:
        runs["trivium (o200k base, samples itself)"] = run_measured(
            trivium_cmd(corpus, out / "trivium_corpus", args.vocab_size, base_args + sample_args), out / "trivium_corpus.log")
        same = (out / "trivium" / "tokenizer.json").read_bytes() == (out / "trivium_corpus" / "tokenizer.json").read_bytes()
    report = json.loads((out / "trivium.log").read_text()[(out / "trivium.log").read_text().index("{"):])
    runs["trivium (o200k base)"].update({k: report.get(k) for k in ("base_tokens", "learned_merges", "padding_entries", "count_s", "merge_s")})
    ref = runs.get("plain tokenizers")
    print("\n## training (same sample, 128,256 ids)")
    for name, r in runs.items():
        rel = f"  ({r['wall_s'] / ref['wall_s']:.2f}x time, {r['peak_rss_mb'] / ref['peak_rss_mb']:.2f}x memory vs plain)" if ref and name != "plain tokenizers" else ""
        print(f"{name:24s} wall {r['wall_s']:7.1f} s   peak RSS {r['peak_rss_mb']:8.1f} MB{rel}")
    r = runs["trivium (o200k base)"]
    print(f"  o200k base: {r['base_tokens']:,} base tokens kept + {r['learned_merges']:,} merges learned, {r['padding_entries']} padding entries; "
          f"count {r['count_s']} s, merges {r['merge_s']} s")
    if same is not None:
        print(f"  sampling from the corpus gives the identical tokenizer.json: {'yes' if same else 'NO'}")
    results["same_tokenizer_from_corpus"] = same
    results["training"] = runs

    # 5. the general-text tokenizer (same code, same base, same size, unweighted commonsense text)
    if "general" not in skip:
        gspec = SampleSpec(sample_bytes=sample_bytes, weights={}, seed=args.seed, holdout=args.holdout)
        ginfo = write_sample(corpus, out / "general.jsonl", gspec, buckets={"commonsense"})
        g = run_measured(trivium_cmd(out / "general.jsonl", out / "general", args.vocab_size, base_args), out / "general.log")
        print(f"general-text tokenizer: {ginfo['bytes'] / 1e6:.1f} MB of commonsense text, wall {g['wall_s']} s")
        results["general"] = {**g, "sample": ginfo}

    # 6. held-out evaluation
    eval_spec = SampleSpec(seed=args.seed, holdout=args.holdout)
    docs = select_eval_documents([str(corpus)], split="heldout", spec=eval_spec,
                                 max_bytes_per_source=int(args.eval_mb_per_source * 1e6))
    docs = [d for d in docs if d.bucket != "noise"] + [d for d in docs if d.bucket == "noise"]
    names = [("trivium", out / "trivium")]
    if "general" not in skip:
        names.append(("general", out / "general"))
    if "scratch" not in skip:
        names.append(("scratch", out / "scratch"))
    baselines = [("llama3", toks_dir / "llama3.tiktoken"), ("deepseek_v3", toks_dir / "deepseek_v3.tokenizer.json"),
                 ("o200k", toks_dir / "o200k_base.tiktoken"), ("cl100k", toks_dir / "cl100k_base.tiktoken"),
                 ("qwen", toks_dir / "qwen.tiktoken")]
    toks = [load_eval_tokenizer(str(p), name=n) for n, p in names + baselines if Path(p).exists()]
    toks.append(llama3_with_youtu_pretokenizer(toks_dir / "llama3.tiktoken"))
    t0 = time.perf_counter()
    res = evaluate(docs, toks)
    eval_s = time.perf_counter() - t0
    total_mb = res["groups"]["all"]["bytes"] / 1e6
    print(f"\n## held-out evaluation: {len(docs):,} documents, {total_mb:.1f} MB (<= {args.eval_mb_per_source} MB per source), {eval_s:.1f} s")
    from rich.console import Console

    console = Console(width=160)
    groups = [g for g in res["groups"] if g.startswith("bucket_lang:") or g in ("all",)]
    console.print(render_table(res, "bytes_per_token", groups))
    rel = relative_tokens(res, "llama3")
    print("tokens relative to llama3 (below 1 = fewer tokens):")
    for g in groups:
        print(f"  {g:34s} " + "  ".join(f"{n} {v:.3f}" for n, v in rel[g].items() if n != "llama3"))
    results["eval"] = res

    # goals
    print("\n## goals (held-out text)")
    goals = []
    for g in groups:
        if g == "all" or "/noise" in g or g.startswith("bucket_lang:noise"):
            continue
        if not (g.endswith("/en") or g.endswith("/zh")):
            continue
        goals.append((f"fewer tokens than llama3 on {g.split(':', 1)[1]}", rel[g]["trivium"] < 1.0,
                      f"{rel[g]['trivium']:.3f}x (Llama-3's own vocabulary behind the Youtu pre-tokenizer: "
                      f"{rel[g]['llama3@youtu']:.3f}x)"))
    zh = [g for g in groups if g.endswith("/zh")]
    for g in zh:
        r_ds = res["groups"][g]["tokenizers"]["trivium"]["tokens"] / res["groups"][g]["tokenizers"]["deepseek_v3"]["tokens"]
        goals.append((f"fewer tokens than deepseek_v3 on {g.split(':', 1)[1]}", r_ds < 1.0, f"{r_ds:.3f}x"))
    if "general" not in skip:
        sc = [g for g in res["groups"] if g in ("bucket:stem", "bucket:code")]
        ours = sum(res["groups"][g]["tokenizers"]["trivium"]["tokens"] for g in sc)
        gen = sum(res["groups"][g]["tokenizers"]["general"]["tokens"] for g in sc)
        goals.append(("STEM+code: >= 10% fewer tokens than the general-text tokenizer", ours <= 0.9 * gen, f"{1 - ours / gen:.1%} fewer"))
    if ref:
        r = runs["trivium (o200k base)"]
        goals.append(("training wall time <= 1.2x plain tokenizers", r["wall_s"] <= 1.2 * ref["wall_s"], f"{r['wall_s'] / ref['wall_s']:.2f}x"))
        goals.append(("training peak memory <= 1.2x plain tokenizers", r["peak_rss_mb"] <= 1.2 * ref["peak_rss_mb"], f"{r['peak_rss_mb'] / ref['peak_rss_mb']:.2f}x"))
    rt = {t.name: res["groups"]["all"]["tokenizers"][t.name]["roundtrip_failures"] for t in toks}
    goals.append(("round trip exact on every held-out document (trivium)", rt["trivium"] == 0, f"{rt['trivium']} failures"))
    for text, ok, detail in goals:
        print(f"[{'PASS' if ok else 'MISS'}] {text}: {detail}")
    results["goals"] = [{"goal": t, "met": ok, "value": d} for t, ok, d in goals]

    # batch encoding throughput
    from trivium.tokenizer.export import load_tokenizer

    tok = load_tokenizer(str(out / "trivium"))
    tok.encode_special_tokens = True
    texts = [d.text for d in docs]
    t0 = time.perf_counter()
    tok.encode_batch_fast(texts, add_special_tokens=False)
    batch_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for t in texts[: max(1, len(texts) // 4)]:
        tok.encode(t, add_special_tokens=False)
    single_s = (time.perf_counter() - t0) * len(texts) / max(1, len(texts) // 4)
    print(f"\n## encoding: batch {total_mb / batch_s:.1f} MB/s on {os.cpu_count()} cores, one-by-one {total_mb / single_s:.1f} MB/s")
    results["encoding"] = {"batch_mb_s": total_mb / batch_s, "single_mb_s": total_mb / single_s}
    (out / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False))
    print(f"\nresults: {out / 'results.json'}")


if __name__ == "__main__":
    main()
