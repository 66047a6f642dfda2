#!/usr/bin/env python3
"""bench/harness.py - bsdelta's side-by-side benchmark (run through bench/run.sh, `make bench`).

For every corpus case it runs our bsdiff/bspatch and Debian's bsdiff 4.3, xdelta3 and zstd,
checks every applied output byte for byte, and writes docs/BENCHMARKS.md with one table per
metric, the machine, the tool versions, the exact commands and an SVG chart. Further sections:
in-process micro-benchmarks (bsdelta-microbench), apply throughput on synthetic edits of real
data (1/10/100 MB), and the adversarial generator's inputs. Python 3 standard library only.

Each tool runs as a child of bsdelta-bench-exec, which reports that child's wall time and peak
RSS from wait4(): measured from Python directly, every child would inherit the interpreter's
RSS (Linux keeps peak RSS across exec).
"""

import argparse
import datetime
import fnmatch
import glob
import hashlib
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "bench" / "out"  # git-ignored: caches, quick-run output, work files
DEBIAN_BSDIFF = "/usr/bin/bsdiff"
DEBIAN_BSPATCH = "/usr/bin/bspatch"
ADV_KINDS = ["runs", "periodic", "every7", "random", "shift1", "edits"]


# ----------------------------------------------------------------------------- utilities

def die(msg, code=2):
    sys.stderr.write(f"bench: error: {msg}\n")
    sys.exit(code)


def parse_size(s):
    m = re.fullmatch(r"(\d+)([kKmMgG]?)", s.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"bad size '{s}' (e.g. 16M)")
    mult = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m.group(2).lower()]
    return int(m.group(1)) * mult


def size_label(n):
    for unit, mult in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= mult and n % mult == 0:
            return f"{n // mult}{unit}"
    return str(n)


def same_bytes(a, b, chunk=1 << 20):
    """Byte-exact comparison of two files (no caching, unlike filecmp)."""
    try:
        if os.path.getsize(a) != os.path.getsize(b):
            return False
        with open(a, "rb") as fa, open(b, "rb") as fb:
            while True:
                x, y = fa.read(chunk), fb.read(chunk)
                if x != y:
                    return False
                if not x:
                    return True
    except OSError:
        return False


def median(v):
    return statistics.median(v) if v else None


# A run under SHORT_WALL seconds is the noisiest kind (a scheduler hiccup on the shared machine
# is a large share of it) and the cheapest to repeat: when the first of several runs is that
# short, every tool alike gets SHORT_RUNS runs instead, and the median of those is reported.
SHORT_WALL = 1.0
SHORT_RUNS = 9


def more_runs(n, wall):
    """The run count after a run of `wall` seconds, when n runs were asked for."""
    return max(n, SHORT_RUNS) if n >= 3 and wall < SHORT_WALL else n


def cmd_output(argv):
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=30)
        return r.stdout.decode("utf-8", "replace").strip()
    except (OSError, subprocess.SubprocessError):
        return ""


class Progress:
    """One status line on stderr: rewritten in place on a terminal, one line per step in logs."""

    def __init__(self):
        self.t0 = time.monotonic()
        self.tty = sys.stderr.isatty()
        self.live = False

    def elapsed(self):
        s = int(time.monotonic() - self.t0)
        return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"

    def step(self, msg):
        line = f"bench [{self.elapsed()}] {msg}"
        if self.tty:
            cols = shutil.get_terminal_size((120, 20)).columns
            sys.stderr.write("\r\033[K" + line[: cols - 1])
            self.live = True
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def log(self, msg):
        if self.live:
            sys.stderr.write("\r\033[K")
            self.live = False
        sys.stderr.write(f"bench [{self.elapsed()}] {msg}\n")
        sys.stderr.flush()


# ----------------------------------------------------------------------------- running a child

class Runner:
    """Runs one command under bsdelta-bench-exec and returns its measurements."""

    def __init__(self, helper, logdir):
        self.helper = helper
        self.logdir = Path(logdir)
        self.n = 0

    def run(self, argv, timeout):
        self.n += 1
        res = self.logdir / f"run{self.n}.res"
        log = self.logdir / f"run{self.n}.log"
        argv = [str(a) for a in argv]
        with open(log, "wb") as lf:
            # The helper enforces the timeout; the margin here only guards against a hung helper.
            subprocess.run([str(self.helper), "-t", str(timeout), "-o", str(res), "--"] + argv,
                           stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT,
                           timeout=timeout + 60, check=False)
        fields = {}
        try:
            for tok in res.read_text().split():
                k, _, v = tok.partition("=")
                fields[k] = v
        except OSError:
            fields = {"status": "execfail", "code": "-1"}
        out = log.read_bytes()[-16000:].decode("utf-8", "replace").strip()
        log.unlink(missing_ok=True)
        res.unlink(missing_ok=True)
        status = fields.get("status", "execfail")
        code = int(fields.get("code", "-1"))
        r = {
            "ok": status == "exited" and code == 0,
            "timeout": status == "timeout",
            "wall": float(fields.get("wall", "nan")),
            "cpu": float(fields.get("user", "0")) + float(fields.get("sys", "0")),
            "rss": int(fields.get("maxrss_kb", "0")) * 1024,
            "status": status,
            "code": code,
            "output": out,
            "argv": argv,
        }
        if not r["ok"] and not r["timeout"]:
            r["why"] = (f"{status} {code}" if status != "exited" else f"exit status {code}") + \
                (f": {out.splitlines()[-1]}" if out else "")
        return r


def find_helper(build, workdir, progress):
    h = build / "bench" / "bsdelta-bench-exec"
    if h.is_file() and os.access(h, os.X_OK):
        return h
    # Build directories configured before bench/ existed: compile the helper ourselves.
    out = Path(workdir) / "bsdelta-bench-exec"
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        die(f"{h} not built and no C compiler found")
    progress.log(f"{h} not built; compiling bench/rusage_exec.c with {cc}")
    subprocess.run([cc, "-std=c11", "-O2", "-o", str(out), str(ROOT / "bench" / "rusage_exec.c")],
                   check=True)
    return out


# ----------------------------------------------------------------------------- tools

class Tools:
    """Command templates of every diff and apply variant. {OLD} {NEW} {PATCH} {OUT} are filled
    in per case; the same templates are printed in the document."""

    def __init__(self, build):
        self.build = build
        self.bsdiff = build / "bsdiff" / "bsdiff"
        self.bspatch = build / "bspatch" / "bspatch"
        self.microbench = build / "bench" / "bsdelta-microbench"
        self.gen = build / "corpus" / "bsdelta-gen-adversarial"
        self.have_bsdiff = os.access(self.bsdiff, os.X_OK)
        self.have_bspatch = os.access(self.bspatch, os.X_OK)
        bd, bp = str(self.bsdiff), str(self.bspatch)
        # key, label, argv template, available, same patch as (thread-count invariance).
        # xdelta3 runs with -D: by default it gunzips gzip inputs (our .tgz case) and re-gzips
        # the output, which then differs from the real new file.
        self.diff = [
            ("bsdelta", "bsdelta (ours)", [bd, "--format", "bsdelta", "{OLD}", "{NEW}", "{PATCH}"],
             self.have_bsdiff, None),
            ("bsdelta-zstd", "bsdelta zstd (ours)",
             [bd, "--format", "bsdelta", "--compressor", "zstd", "{OLD}", "{NEW}", "{PATCH}"],
             self.have_bsdiff, None),
            ("bsdelta-raw", "bsdelta --deflate off",
             [bd, "--format", "bsdelta", "--deflate", "off", "{OLD}", "{NEW}", "{PATCH}"],
             self.have_bsdiff, None),
            ("bsdelta-j1", "bsdelta -j1", [bd, "--format", "bsdelta", "-j", "1", "{OLD}", "{NEW}", "{PATCH}"],
             self.have_bsdiff, "bsdelta"),
            ("bsdiff40", "BSDIFF40 (ours)", [bd, "--format", "bsdiff40", "{OLD}", "{NEW}", "{PATCH}"],
             self.have_bsdiff, None),
            ("bsdiff40-j1", "BSDIFF40 -j1", [bd, "--format", "bsdiff40", "-j", "1", "{OLD}", "{NEW}", "{PATCH}"],
             self.have_bsdiff, "bsdiff40"),
            ("bsdiff43", "bsdiff 4.3", [DEBIAN_BSDIFF, "{OLD}", "{NEW}", "{PATCH}"],
             os.access(DEBIAN_BSDIFF, os.X_OK), None),
            ("xdelta3", "xdelta3 -9", ["xdelta3", "-9", "-D", "-e", "-f", "-s", "{OLD}", "{NEW}", "{PATCH}"],
             shutil.which("xdelta3") is not None, None),
            ("zstd", "zstd -19 --long=31", ["zstd", "-q", "-19", "--long=31", "-f", "--patch-from={OLD}",
                                            "{NEW}", "-o", "{PATCH}"],
             shutil.which("zstd") is not None, None),
        ]
        # key, label, patch made by, argv template, available
        self.apply = [
            ("bspatch:bsdelta", "bspatch (ours) ← bsdelta", "bsdelta", [bp, "{OLD}", "{OUT}", "{PATCH}"],
             self.have_bspatch),
            ("bspatch:bsdelta-zstd", "bspatch (ours) ← bsdelta zstd", "bsdelta-zstd",
             [bp, "{OLD}", "{OUT}", "{PATCH}"], self.have_bspatch),
            ("bspatch:bsdelta-raw", "bspatch (ours) ← bsdelta --deflate off", "bsdelta-raw",
             [bp, "{OLD}", "{OUT}", "{PATCH}"], self.have_bspatch),
            ("bspatch:bsdiff40", "bspatch (ours) ← our BSDIFF40", "bsdiff40", [bp, "{OLD}", "{OUT}", "{PATCH}"],
             self.have_bspatch),
            ("bspatch43:bsdiff40", "bspatch 4.3 ← our BSDIFF40", "bsdiff40",
             [DEBIAN_BSPATCH, "{OLD}", "{OUT}", "{PATCH}"], os.access(DEBIAN_BSPATCH, os.X_OK)),
            ("bspatch:bsdiff43", "bspatch (ours) ← bsdiff 4.3", "bsdiff43", [bp, "{OLD}", "{OUT}", "{PATCH}"],
             self.have_bspatch),
            ("bspatch43", "bspatch 4.3 ← bsdiff 4.3", "bsdiff43", [DEBIAN_BSPATCH, "{OLD}", "{OUT}", "{PATCH}"],
             os.access(DEBIAN_BSPATCH, os.X_OK)),
            ("xdelta3", "xdelta3 -d", "xdelta3", ["xdelta3", "-d", "-D", "-f", "-s", "{OLD}", "{PATCH}", "{OUT}"],
             shutil.which("xdelta3") is not None),
            ("zstd", "zstd -d --long=31", "zstd", ["zstd", "-q", "-d", "--long=31", "-f", "--patch-from={OLD}",
                                                   "{PATCH}", "-o", "{OUT}"],
             shutil.which("zstd") is not None),
        ]

    def diff_tool(self, key):
        return next(t for t in self.diff if t[0] == key)

    def apply_tool(self, key):
        return next(t for t in self.apply if t[0] == key)

    @staticmethod
    def fill(template, **kw):
        out = []
        for a in template:
            for k, v in kw.items():
                a = a.replace("{" + k + "}", str(v))
            out.append(a)
        return out

    def versions(self):
        def deb(pkg):
            return cmd_output(["dpkg-query", "-W", "-f=${Version}", pkg]) or "?"
        git = cmd_output(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]) or "?"
        dirty = cmd_output(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"])
        ours = f"git {git}{' (work tree modified)' if dirty else ''}"
        v = {}
        v["bsdiff (ours)"] = (cmd_output([str(self.bsdiff), "--version"]).splitlines() or ["?"])[0] + \
            f", {ours}" if self.have_bsdiff else "not built"
        v["bspatch (ours)"] = (cmd_output([str(self.bspatch), "--version"]).splitlines() or ["?"])[0] + \
            f", {ours}" if self.have_bspatch else "not built"
        v["bsdiff/bspatch 4.3"] = f"Debian package bsdiff {deb('bsdiff')}"
        v["xdelta3"] = f"Debian package xdelta3 {deb('xdelta3')}"
        v["zstd"] = f"Debian package zstd {deb('zstd')}"
        return v


# ----------------------------------------------------------------------------- one case

class Bench:
    def __init__(self, args, tools, runner, progress, work):
        self.args = args
        self.tools = tools
        self.runner = runner
        self.progress = progress
        self.work = Path(work)
        self.failures = []

    def fail(self, where, why):
        self.failures.append(f"{where}: {why}")
        self.progress.log(f"FAIL {where}: {why}")

    def run_case(self, label, old, new, diff_keys, apply_keys, runs, timeout, ext_runs=None,
                 micro=False):
        """Diffs and applies one old/new pair with every selected tool.

        Returns {"diff": {key: rec}, "apply": {key: rec}, "micro": {...}} where rec holds
        status ("ok", "timeout", "fail", "n/a"), medians and, for diffs, the patch size."""
        cdir = self.work / re.sub(r"[^A-Za-z0-9_.-]", "_", label)
        shutil.rmtree(cdir, ignore_errors=True)
        cdir.mkdir(parents=True)
        new_size = os.path.getsize(new)
        out = {"diff": {}, "apply": {}, "micro": None}
        patches = {}
        for key in diff_keys:
            key_, tlabel, tmpl, avail, same_as = self.tools.diff_tool(key)
            if not avail:
                out["diff"][key] = {"status": "n/a"}
                continue
            n = runs if (ext_runs is None or key.startswith(("bsdelta", "bsdiff40"))) else ext_runs
            patch = cdir / f"{key}.patch"
            rec = {"status": "ok", "wall": [], "cpu": [], "rss": []}
            i = -1
            while i + 1 < n:
                i += 1
                self.progress.step(f"{label}: diff {tlabel} run {i + 1}/{n}")
                tmp = cdir / f"{key}.{i}.patch"
                r = self.runner.run(self.tools.fill(tmpl, OLD=old, NEW=new, PATCH=tmp), timeout)
                if r["timeout"]:
                    rec["status"] = "timeout"
                    self.progress.log(f"{label}: {tlabel} timed out after {timeout:.0f} s")
                    break
                if not r["ok"] or not tmp.is_file():
                    rec["status"] = "fail"
                    self.fail(f"{label} diff {tlabel}", r.get("why", "no patch written"))
                    break
                rec["wall"].append(r["wall"])
                rec["cpu"].append(r["cpu"])
                rec["rss"].append(r["rss"])
                n = more_runs(n, r["wall"])
                if i == 0:
                    tmp.replace(patch)
                else:
                    if not same_bytes(tmp, patch):
                        rec["nondeterministic"] = True
                        if key.startswith(("bsdelta", "bsdiff40")):
                            rec["status"] = "fail"
                            self.fail(f"{label} diff {tlabel}", "two runs gave different patches")
                    tmp.unlink()
            if rec["status"] == "timeout" and rec["wall"]:
                rec["status"] = "ok"  # a later run timed out: keep the ones that finished
                rec["partial"] = True
            if rec["status"] == "ok":
                rec["bytes"] = patch.stat().st_size
                patches[key] = patch
                if same_as and same_as in patches and not same_bytes(patch, patches[same_as]):
                    rec["status"] = "fail"
                    self.fail(f"{label} diff {tlabel}",
                              f"patch differs from {self.tools.diff_tool(same_as)[1]}'s "
                              "(must be identical for every thread count)")
            out["diff"][key] = rec
        for key in apply_keys:
            key_, tlabel, src, tmpl, avail = self.tools.apply_tool(key)
            if not avail or src not in patches:
                st = out["diff"].get(src, {}).get("status", "n/a")
                out["apply"][key] = {"status": "n/a" if st in ("n/a", "ok") else st}
                continue
            n = runs if (ext_runs is None or src.startswith(("bsdelta", "bsdiff40"))) else ext_runs
            rec = {"status": "ok", "wall": [], "cpu": [], "rss": []}
            target = cdir / "out"
            i = -1
            while i + 1 < n:
                i += 1
                self.progress.step(f"{label}: apply {tlabel} run {i + 1}/{n}")
                target.unlink(missing_ok=True)
                r = self.runner.run(self.tools.fill(tmpl, OLD=old, OUT=target, PATCH=patches[src]),
                                    timeout)
                if r["timeout"]:
                    rec["status"] = "timeout"
                    break
                if not r["ok"]:
                    rec["status"] = "fail"
                    self.fail(f"{label} apply {tlabel}", r.get("why", "failed"))
                    break
                if not same_bytes(target, new):
                    rec["status"] = "fail"
                    self.fail(f"{label} apply {tlabel}", "output differs from the new file")
                    break
                rec["wall"].append(r["wall"])
                rec["cpu"].append(r["cpu"])
                rec["rss"].append(r["rss"])
                n = more_runs(n, r["wall"])
            target.unlink(missing_ok=True)
            out["apply"][key] = rec
        if micro:
            out["micro"] = self.micro(label, old, new, patches.get("bsdiff43"), runs, timeout)
        if not self.args.keep:
            shutil.rmtree(cdir, ignore_errors=True)
        for recs in (out["diff"], out["apply"]):
            for rec in recs.values():
                if rec.get("wall"):
                    rec["wall_med"] = median(rec["wall"])
                    rec["cpu_med"] = median(rec["cpu"])
                    rec["rss_med"] = median(rec["rss"])
        out["new_size"] = new_size
        out["old_size"] = os.path.getsize(old)
        return out

    def micro(self, label, old, new, patch43, runs, timeout):
        mb = self.tools.microbench
        if not os.access(mb, os.X_OK):
            return None
        self.progress.step(f"{label}: micro-benchmark ({runs} runs)")
        argv = [mb, "-r", str(runs), old, new] + ([patch43] if patch43 else [])
        r = self.runner.run(argv, timeout * 4)
        if not r["ok"]:
            self.fail(f"{label} micro-benchmark", r.get("why", "timeout"))
            return None
        res = {}
        # The helper's log holds the tail of the output; rerun-free parse of "label\tX MB/s\t..."
        for line in r["output"].splitlines():
            parts = [p.strip() for p in line.split("\t")]
            if len(parts) >= 3 and parts[1].endswith("MB/s"):
                res[parts[0]] = (float(parts[1].split()[0]), float(parts[2].split()[0]))
            elif parts[0] == "diff.stats" and len(parts) > 1:
                res.setdefault("stats", []).append(parts[1])
        return res


# ----------------------------------------------------------------------------- corpus

def corpus_cases(args, progress):
    fetch = ROOT / "corpus" / "fetch.sh"
    if not fetch.is_file():
        progress.log("corpus/fetch.sh not found: no corpus cases")
        return []
    sel = ["--quick"] if args.quick else []
    listing = cmd_output([str(fetch), "--list"] + sel).splitlines()[1:]
    names = [ln.split()[0] for ln in listing if ln.strip()]
    if args.case:
        names = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in args.case)]
        if not names:
            return []
        sel = []
        for n in names:
            sel += ["--case", n]
    progress.log(f"fetching the corpus: corpus/fetch.sh {' '.join(sel)}")
    r = subprocess.run([str(fetch)] + sel, stdin=subprocess.DEVNULL, stdout=sys.stderr.fileno())
    if r.returncode == 3 and args.quick:
        progress.log("WARNING: the npm registry cannot be reached; using the cases already cached")
    elif r.returncode != 0:
        die(f"corpus/fetch.sh failed (exit status {r.returncode})", 1)
    paths = subprocess.run([str(fetch), "--paths"] + sel, stdout=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, check=True).stdout.decode()
    cases = []
    for ln in paths.splitlines():
        f = ln.split("\t")
        if len(f) == 5:
            cases.append({"name": f[0], "category": f[1], "old": f[2], "new": f[3], "size": int(f[4])})
    return cases


# ----------------------------------------------------------------------------- synthetic data

def source_files(kind):
    """Real data of this machine, in a stable order: shared libraries, or source text."""
    if kind == "bin":
        pats = ["/usr/lib/x86_64-linux-gnu/*.so*", "/usr/lib/*-linux-gnu/*.so*", "/usr/lib64/*.so*",
                "/usr/lib/*.so*", "/usr/bin/*"]
    else:
        pats = ["/usr/include/**/*.h", "/usr/lib/python3*/**/*.py", "/usr/share/perl/**/*.pm",
                "/usr/share/perl5/**/*.pm"]
    seen, files = set(), []
    for p in pats:
        for f in sorted(glob.glob(p, recursive=True)):
            if os.path.islink(f) or not os.path.isfile(f):
                continue
            rp = os.path.realpath(f)
            if rp in seen:
                continue
            if kind == "bin":
                try:
                    with open(f, "rb") as fh:
                        if fh.read(4) != b"\x7fELF":
                            continue
                except OSError:
                    continue
            seen.add(rp)
            files.append(f)
    return files


def gather(kind, size):
    buf = bytearray()
    for f in source_files(kind):
        try:
            with open(f, "rb") as fh:
                buf += fh.read(size - len(buf))
        except OSError:
            continue
        if len(buf) >= size:
            return bytes(buf)
    return None


def realistic_edit(data, binary, seed):
    """A new version of data, as a release would change it: a few block moves, then about 64
    edit sites per MiB: inserts (of bytes found elsewhere), deletes, small replacements and,
    in binaries, relocation-like regions where every few 32-bit words shift by a constant
    (in text, lines that gain a suffix)."""
    rng = random.Random(seed)
    n = len(data)
    # Block moves: swap two adjacent blocks, twice.
    for _ in range(2):
        a = rng.randrange(0, n // 2)
        b = a + rng.randrange(1, max(2, n // 40))
        c = min(n, b + rng.randrange(1, max(2, n // 40)))
        data = data[:a] + data[b:c] + data[a:b] + data[c:]
    nsites = max(8, n // (16 * 1024))
    sites = sorted(rng.sample(range(n), nsites))
    out, prev = [], 0
    for p in sites:
        if p < prev:
            continue
        out.append(data[prev:p])
        op = rng.random()
        if op < 0.3:  # insert a piece of the file found elsewhere (code and text repeat)
            k = rng.randint(1, 400)
            s = rng.randrange(0, n - k)
            out.append(data[s:s + k])
            prev = p
        elif op < 0.5:  # delete
            prev = min(n, p + rng.randint(1, 400))
        elif op < 0.7:  # small replacement
            k = rng.randint(1, 64)
            if binary:
                out.append(bytes(rng.getrandbits(8) for _ in range(k)))
            else:
                out.append(bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz_0123456789 ") for _ in range(k)))
            prev = min(n, p + k)
        else:
            L = rng.randint(1024, 16384)
            seg = bytearray(data[p:p + L])
            if binary:  # relocations: addresses after a moved symbol shift by delta
                delta = rng.choice([8, 16, 32, 48, 64, 4096, -16, -32])
                step = rng.choice([8, 16, 24, 32])
                for i in range(0, len(seg) - 3, step):
                    v = (int.from_bytes(seg[i:i + 4], "little") + delta) & 0xFFFFFFFF
                    seg[i:i + 4] = v.to_bytes(4, "little")
                out.append(bytes(seg))
            else:
                lines = bytes(seg).split(b"\n")
                every = rng.randint(3, 12)
                for j in range(0, len(lines), every):
                    lines[j] += b" /* v2 */"
                out.append(b"\n".join(lines))
            prev = min(n, p + L)
    out.append(data[prev:])
    return b"".join(out)


def fresh(target, *deps):
    """True when target exists and is newer than every existing dependency."""
    if not os.path.isfile(target):
        return False
    t = os.path.getmtime(target)
    return all(not os.path.exists(d) or os.path.getmtime(d) <= t for d in deps)


def synthetic_inputs(args, progress):
    """Builds (once, cached in bench/out/synthetic/) old/new pairs of the requested sizes."""
    d = OUT_DIR / "synthetic"
    d.mkdir(parents=True, exist_ok=True)
    items = []
    for kind in ("bin", "text"):
        for size in args.synth_sizes:
            name = f"synth-{kind}-{size_label(size)}"
            if args.case and not any(fnmatch.fnmatchcase(name, p) for p in args.case):
                continue
            old, new = d / f"{name}.old", d / f"{name}.new"
            if not (old.is_file() and new.is_file()):
                progress.step(f"{name}: building from this machine's "
                              f"{'shared libraries' if kind == 'bin' else 'headers and sources'}")
                data = gather(kind, size)
                src = "real data"
                if data is None:
                    if kind == "bin":
                        progress.log(f"{name}: not enough shared-library data on this machine; skipped")
                        continue
                    # Not enough text installed: the generator's JS-like text instead.
                    gen = args.tools.gen
                    if not os.access(gen, os.X_OK):
                        progress.log(f"{name}: not enough text and no generator; skipped")
                        continue
                    subprocess.run([str(gen), "edits", str(size), str(old) + ".tmp", str(new) + ".tmp"],
                                   check=True)
                    os.replace(str(old) + ".tmp", old)
                    os.replace(str(new) + ".tmp", new)
                    src = "generated"
                else:
                    newdata = realistic_edit(data, kind == "bin", seed=size)
                    old.write_bytes(data)
                    new.write_bytes(newdata)
                (d / f"{name}.src").write_text(src)
            src = (d / f"{name}.src").read_text() if (d / f"{name}.src").is_file() else "real data"
            items.append({"name": name, "kind": kind, "old": str(old), "new": str(new), "src": src})
    return items


def make_patch(bench, label, key, old, new, patch, timeout, builder):
    """Makes (or reuses) a cached patch with diff tool key; returns (path, seconds or None)."""
    if fresh(patch, old, new, builder):
        return patch, None
    _, tlabel, tmpl, avail, _ = bench.tools.diff_tool(key)
    if not avail:
        return None, None
    bench.progress.step(f"{label}: making the patch with {tlabel} (once)")
    tmp = f"{patch}.{os.getpid()}.tmp"
    r = bench.runner.run(bench.tools.fill(tmpl, OLD=old, NEW=new, PATCH=tmp), timeout)
    if r["timeout"]:
        bench.progress.log(f"{label}: {tlabel} timed out after {timeout:.0f} s")
        return None, None
    if not r["ok"]:
        bench.fail(f"{label} diff {tlabel}", r.get("why", "failed"))
        return None, None
    os.replace(tmp, patch)
    return patch, r["wall"]


def synthetic_apply(bench, items, runs, timeout):
    """Issue 2: apply throughput and peak RSS of our bspatch vs Debian's on the same BSDIFF40
    patch (made by bsdiff 4.3), and of our bspatch on BSDELTA."""
    results = []
    variants = [("bspatch:bsdiff43", "bsdiff43"), ("bspatch43", "bsdiff43"), ("bspatch:bsdelta", "bsdelta")]
    for it in items:
        old, new = it["old"], it["new"]
        base = Path(new).with_suffix("")
        res = {"item": it, "new_size": os.path.getsize(new), "patch": {}, "apply": {}}
        patches = {}
        for key, builder in (("bsdiff43", DEBIAN_BSDIFF), ("bsdelta", str(bench.tools.bsdiff))):
            p, secs = make_patch(bench, it["name"], key, old, new, Path(f"{base}.{key}.patch"),
                                 max(timeout, 1800), builder)
            if p:
                patches[key] = p
                res["patch"][key] = os.path.getsize(p)
        cdir = bench.work / it["name"]
        cdir.mkdir(parents=True, exist_ok=True)
        target = cdir / "out"
        for key, src in variants:
            _, tlabel, _, tmpl, avail = bench.tools.apply_tool(key)
            if not avail or src not in patches:
                res["apply"][key] = {"status": "n/a"}
                continue
            rec = {"status": "ok", "wall": [], "rss": []}
            for i in range(runs):
                bench.progress.step(f"{it['name']}: apply {tlabel} run {i + 1}/{runs}")
                target.unlink(missing_ok=True)
                r = bench.runner.run(bench.tools.fill(tmpl, OLD=old, OUT=target, PATCH=patches[src]), timeout)
                if not r["ok"]:
                    rec["status"] = "timeout" if r["timeout"] else "fail"
                    if not r["timeout"]:
                        bench.fail(f"{it['name']} apply {tlabel}", r.get("why", "failed"))
                    break
                if not same_bytes(target, new):
                    rec["status"] = "fail"
                    bench.fail(f"{it['name']} apply {tlabel}", "output differs from the new file")
                    break
                rec["wall"].append(r["wall"])
                rec["rss"].append(r["rss"])
            target.unlink(missing_ok=True)
            if rec["wall"]:
                rec["wall_med"] = median(rec["wall"])
                rec["rss_med"] = median(rec["rss"])
            res["apply"][key] = rec
        shutil.rmtree(cdir, ignore_errors=True)
        results.append(res)
    return results


def adversarial(bench, args):
    """Issue 3: the generator's adversarial kinds at one size, for the diff tools."""
    gen = bench.tools.gen
    if not os.access(gen, os.X_OK):
        bench.progress.log(f"{gen} not built: adversarial section skipped")
        return None
    d = OUT_DIR / "adversarial"
    d.mkdir(parents=True, exist_ok=True)
    size = args.adv_size
    out = []
    for kind in ADV_KINDS:
        name = f"adv-{kind}-{size_label(size)}"
        if args.case and not any(fnmatch.fnmatchcase(name, p) for p in args.case):
            continue
        old, new = d / f"{name}.old", d / f"{name}.new"
        if not (fresh(old, gen) and fresh(new, gen)):
            bench.progress.step(f"{name}: generating")
            subprocess.run([str(gen), kind, str(size), str(old), str(new)], check=True,
                           stdin=subprocess.DEVNULL)
        # One group per diff tool with the patcher that checks its patch. bsdiff 4.3 is the one
        # expected to blow up: its own (shorter) timeout; like the other external tools it runs
        # once, our bsdiff gets the full count.
        groups = [(["bsdelta", "bsdelta-j1"], ["bspatch:bsdelta"]),
                  (["bsdelta-zstd"], ["bspatch:bsdelta-zstd"]),
                  (["bsdiff40"], ["bspatch:bsdiff40"]),
                  (["bsdiff43"], ["bspatch43"]),
                  (["xdelta3"], ["xdelta3"]),
                  (["zstd"], ["zstd"])]
        res = {}
        for keys, apply_keys in groups:
            ours = keys[0].startswith(("bsdelta", "bsdiff40"))
            timeout = args.adv_timeout if keys[0] == "bsdiff43" else args.timeout
            r = bench.run_case(name, str(old), str(new), keys, apply_keys,
                               args.runs if ours else 1, timeout,
                               micro=keys[0] == "bsdelta" and args.micro)
            if r.get("micro"):
                res["micro"] = r["micro"]
            res.update(r["diff"])
            res.update({"apply:" + k: v for k, v in r["apply"].items()})
            res["new_size"] = r["new_size"]
        out.append({"name": name, "kind": kind, "res": res})
    return out


# ----------------------------------------------------------------------------- machine

def machine_info():
    info = {}
    try:
        cpu = Path("/proc/cpuinfo").read_text()
        m = re.search(r"^model name\s*:\s*(.+)$", cpu, re.M)
        info["CPU"] = m.group(1).strip() if m else platform.processor() or "?"
    except OSError:
        info["CPU"] = platform.processor() or "?"
    info["Cores (online)"] = str(os.cpu_count())
    try:
        mem = Path("/proc/meminfo").read_text()
        kb = int(re.search(r"MemTotal:\s*(\d+)", mem).group(1))
        info["RAM"] = f"{kb / 1048576:.1f} GiB"
    except (OSError, AttributeError):
        info["RAM"] = "?"
    info["Kernel"] = f"{platform.system()} {platform.release()} {platform.machine()}"
    try:
        info["OS"] = "Debian " + Path("/etc/debian_version").read_text().strip()
    except OSError:
        info["OS"] = platform.platform()
    info["Python"] = platform.python_version()
    return info


# ----------------------------------------------------------------------------- formatting

def fsec(t):
    if t is None:
        return "—"
    if t >= 100:
        return f"{t:.0f}"
    if t >= 10:
        return f"{t:.1f}"
    if t >= 0.1:
        return f"{t:.2f}"
    return f"{t:.3f}"


def fmib(b):
    return "—" if b is None else f"{b / 1048576:.1f}"


def fbytes(b):
    return "—" if b is None else f"{b:,}"


def fratio(x, ref):
    if x is None or not ref:
        return ""
    r = x / ref
    return f" ({r:.3f}×)" if r < 0.1 else f" ({r:.2f}×)"


def cell(rec, field, fmt, ref):
    st = rec.get("status", "n/a") if rec else "n/a"
    if st == "timeout" and not rec.get("wall"):
        return "timeout"
    if st == "fail":
        return "**FAIL**"
    if st != "ok" or rec.get(field) is None:
        return "n/a"
    return fmt(rec[field]) + fratio(rec[field], ref) + (" (partial)" if rec.get("partial") else "")


def md_table(header, rows, align=None):
    align = align or ["---"] + ["---:"] * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- SVG chart

MARKERS = {
    "bsdelta": ("#d62728", "circle"),
    "bsdelta-zstd": ("#8c564b", "circle"),
    "bsdiff40": ("#ff7f0e", "square"),
    "bsdiff43": ("#1f77b4", "diamond"),
    "xdelta3": ("#2ca02c", "triangle"),
    "zstd": ("#9467bd", "cross"),
}


def svg_marker(shape, x, y, color, title):
    t = f"<title>{title}</title>"
    if shape == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{color}" fill-opacity="0.8">{t}</circle>'
    if shape == "square":
        return f'<rect x="{x - 4.5:.1f}" y="{y - 4.5:.1f}" width="9" height="9" fill="{color}" fill-opacity="0.8">{t}</rect>'
    if shape == "diamond":
        return (f'<polygon points="{x:.1f},{y - 6:.1f} {x + 6:.1f},{y:.1f} {x:.1f},{y + 6:.1f} {x - 6:.1f},{y:.1f}" '
                f'fill="{color}" fill-opacity="0.8">{t}</polygon>')
    if shape == "triangle":
        return (f'<polygon points="{x:.1f},{y - 6:.1f} {x + 6:.1f},{y + 5:.1f} {x - 6:.1f},{y + 5:.1f}" '
                f'fill="{color}" fill-opacity="0.8">{t}</polygon>')
    return (f'<path d="M{x - 5:.1f},{y - 5:.1f} L{x + 5:.1f},{y + 5:.1f} M{x - 5:.1f},{y + 5:.1f} '
            f'L{x + 5:.1f},{y - 5:.1f}" stroke="{color}" stroke-width="2.5">{t}</path>')


def chart_svg(points, labels, title, xlabel, ylabel):
    """points: [(tool_key, x, y, title, group)], both axes log scale. The markers of one group
    (a case) are joined by a faint line and the group is named beside its bsdiff 4.3 marker."""
    W, H, L, R, T, B = 900, 560, 80, 200, 50, 60
    pw, ph = W - L - R, H - T - B
    pts = [p for p in points if p[1] and p[2] and p[1] > 0 and p[2] > 0]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2:.0f}" y="24" text-anchor="middle" font-size="15">{title}</text>']
    if not pts:
        out.append(f'<text x="{W / 2:.0f}" y="{H / 2:.0f}" text-anchor="middle">no data</text></svg>')
        return "\n".join(out)
    import math
    lx = [math.log10(p[1]) for p in pts]
    ly = [math.log10(p[2]) for p in pts]
    x0, x1 = math.floor(min(lx)), math.ceil(max(lx))
    y0, y1 = math.floor(min(ly)), math.ceil(max(ly))
    x1 = max(x1, x0 + 1)
    y1 = max(y1, y0 + 1)

    def X(v):
        return L + (math.log10(v) - x0) / (x1 - x0) * pw

    def Y(v):
        return T + ph - (math.log10(v) - y0) / (y1 - y0) * ph

    out.append(f'<rect x="{L}" y="{T}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>')
    for e in range(x0, x1 + 1):
        x = X(10 ** e)
        out.append(f'<line x1="{x:.1f}" y1="{T}" x2="{x:.1f}" y2="{T + ph}" stroke="#ddd"/>')
        out.append(f'<text x="{x:.1f}" y="{T + ph + 18}" text-anchor="middle">{10 ** e:g}</text>')
        for m in range(2, 10):
            if e < x1:
                xm = X(m * 10 ** e)
                out.append(f'<line x1="{xm:.1f}" y1="{T + ph}" x2="{xm:.1f}" y2="{T + ph - 4}" stroke="#888"/>')
    for e in range(y0, y1 + 1):
        y = Y(10 ** e)
        out.append(f'<line x1="{L}" y1="{y:.1f}" x2="{L + pw}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{L - 6}" y="{y + 4:.1f}" text-anchor="end">{10 ** e:g}</text>')
    out.append(f'<text x="{L + pw / 2:.0f}" y="{H - 18}" text-anchor="middle">{xlabel}</text>')
    out.append(f'<text transform="translate(22,{T + ph / 2:.0f}) rotate(-90)" text-anchor="middle">{ylabel}</text>')
    groups = {}
    for p in pts:
        groups.setdefault(p[4], []).append(p)
    for g, gp in groups.items():
        gp = sorted(gp, key=lambda p: p[1])
        if len(gp) > 1:
            d = " ".join(f"{X(p[1]):.1f},{Y(p[2]):.1f}" for p in gp)
            out.append(f'<polyline points="{d}" fill="none" stroke="#bbb" stroke-width="1"/>')
        anchor = next((p for p in gp if p[0] == "bsdiff43"), gp[-1])
        out.append(f'<text x="{X(anchor[1]) + 8:.1f}" y="{Y(anchor[2]) - 6:.1f}" font-size="9" '
                   f'fill="#666">{g}</text>')
    for key, x, y, t, _ in pts:
        color, shape = MARKERS.get(key, ("#333", "circle"))
        out.append(svg_marker(shape, X(x), Y(y), color, t))
    ly_ = T + 10
    for key, lab in labels:
        if key not in {p[0] for p in pts}:
            continue
        color, shape = MARKERS.get(key, ("#333", "circle"))
        out.append(svg_marker(shape, L + pw + 20, ly_, color, lab))
        out.append(f'<text x="{L + pw + 32}" y="{ly_ + 4}">{lab}</text>')
        ly_ += 22
    out.append("</svg>")
    return "\n".join(out)


# ----------------------------------------------------------------------------- document

MICRO_COLS = [("diff.bsdelta.hash", "hash"), ("diff.bsdelta.sort", "sort"), ("diff.bsdelta.scan", "scan"),
              ("diff.bsdelta.compress", "compress"), ("diff.bsdelta.total", "diff total (bsdelta)"),
              ("diff.bsdiff40.total", "diff total (BSDIFF40)"), ("apply.bsdelta", "apply bsdelta"),
              ("apply.bsdiff40", "apply our BSDIFF40"), ("apply.file1", "apply bsdiff 4.3's patch")]


def micro_section(w, tools, items, title):
    """items: [(name, parsed microbench output or None)]."""
    items = [(n, m) for n, m in items if m]
    if not items:
        return
    w(title)
    w("")
    w("`bsdelta-microbench -r RUNS OLD NEW [PATCH43]` (bench/microbench.c): each diff stage as reported "
      "by `bsd_get_stats` (hash = hashing and block pre-match, MB/s of old+new; sort = suffix array, "
      "MB/s of old, `—` when the block pre-match made it unnecessary; scan = matching with the "
      "compression that overlaps it, MB/s of new; compress = what is left after the scan), and "
      "apply through `bspatch.h` with a memory source and sink, MB/s of new. MB = 10^6 bytes; "
      "median of the runs; default thread count.")
    w("")
    present = [(k, lab) for k, lab in MICRO_COLS if any(k in m for _, m in items)]
    rows = []
    for n, m in items:
        row = [n]
        for k, _ in present:
            v = m.get(k)
            row.append("—" if v is None or v[0] == 0 else f"{v[0]:.1f}")
        rows.append(row)
    w(md_table(["MB/s"] + [lab for _, lab in present], rows))
    w("")
    if not any("diff.bsdelta.total" in m for _, m in items):
        w("The bsdiff library was not part of this build: apply only.")
        w("")


def targets_section(w, corpus, synth, adv):
    """The issues' measurable targets, evaluated on this run (informative: never fails it)."""
    rows = []

    def add(issue, what, ok, detail):
        rows.append([issue, what, "n/a" if ok is None else ("yes" if ok else "**no**"), detail])

    def val(c, section, k, f):
        r = c["res"][section].get(k, {})
        return r.get(f) if r.get("status") == "ok" else None

    def dv(c, k, f):
        return val(c, "diff", k, f)

    def sums(section, k, ref, f):
        """k's and ref's totals of f over the corpus cases where both have one, and their count."""
        both = [c for c in corpus if val(c, section, k, f) and val(c, section, ref, f)]
        return (sum(val(c, section, k, f) for c in both), sum(val(c, section, ref, f) for c in both),
                len(both))

    both = [c for c in corpus if dv(c, "bsdiff40", "bytes") and dv(c, "bsdiff43", "bytes")]
    if both:
        worse = [c["name"] for c in both if dv(c, "bsdiff40", "bytes") > dv(c, "bsdiff43", "bytes")]
        add("3", "our BSDIFF40 patch ≤ bsdiff 4.3's on every pair", not worse,
            f"larger on: {', '.join(worse)}" if worse else f"{len(both)} pairs")
        r = sum(dv(c, "bsdiff40", "bytes") for c in both) / sum(dv(c, "bsdiff43", "bytes") for c in both)
        add("3", "our BSDIFF40 total ≤ 0.95 × bsdiff 4.3's", r <= 0.95, f"{r:.3f}×")
    ours, ref, n = sums("diff", "bsdelta", "bsdiff43", "bytes")
    if n:
        r = ours / ref
        add("3", "our BSDELTA (bzip2) total ≤ 0.92 × bsdiff 4.3's", r <= 0.92, f"{r:.3f}×")
    if any("bsdelta-raw" in c["res"]["diff"] for c in corpus):
        ours, ref, n = sums("diff", "bsdelta-raw", "bsdiff43", "bytes")
        add("—", "our BSDELTA (bzip2) total with --deflate off, against bsdiff 4.3's (informative, "
            "no target)", None, f"{ours / ref:.3f}× ({n} pairs)" if n else "no pair with both patches")
    if any("bsdelta-zstd" in c["res"]["diff"] for c in corpus):
        ours, ref, n = sums("diff", "bsdelta-zstd", "bsdiff43", "bytes")
        add("—", "our BSDELTA (zstd) total against bsdiff 4.3's (informative, no target)", None,
            f"{ours / ref:.3f}× ({n} pairs)" if n else "no pair with both patches")
    if any("bspatch:bsdelta-zstd" in c["res"]["apply"] for c in corpus):
        ours, ref, n = sums("apply", "bspatch:bsdelta-zstd", "bspatch:bsdelta", "wall_med")
        add("—", "our bspatch: apply time of BSDELTA zstd against BSDELTA bzip2 (sum of medians; "
            "informative, no target)", None,
            f"{ours / ref:.2f}× ({fsec(ours)} s against {fsec(ref)} s, {n} pairs)" if n
            else "no pair where both applied")
    big = [c for c in corpus if c["res"]["new_size"] >= 8_000_000]
    if big:
        bad, worst, unknown = [], 0.0, []
        for c in big:
            ours, ref = dv(c, "bsdelta", "wall_med"), dv(c, "bsdiff43", "wall_med")
            if ours is None:
                unknown.append(c["name"])
                continue
            if ref is None:  # bsdiff 4.3 timed out: its time is at least the timeout
                continue
            near = dv(c, "bsdiff43", "bytes") is not None and dv(c, "bsdiff43", "bytes") < 0.01 * c["res"]["new_size"]
            lim = 1 / 50 if near else 1 / 10
            worst = max(worst, ours / ref)
            if ours > lim * ref:
                bad.append(f"{c['name']} {ours / ref:.3f}× (limit {'1/50' if near else '1/10'})")
        add("3", "diff time ≤ 1/10 of bsdiff 4.3's on pairs ≥ 8 MB (≤ 1/50 when near-identical: "
            "bsdiff 4.3 patch < 1 % of new)", None if unknown and not bad else not bad,
            "; ".join(bad) if bad else f"worst {worst:.3f}×" + (f"; no data: {', '.join(unknown)}" if unknown else ""))
    rss = [c for c in corpus if dv(c, "bsdelta", "rss_med")]
    if rss:
        bad = []
        for c in rss:
            lim = 5 * c["res"]["old_size"] + c["res"]["new_size"] + (64 << 20)
            for k in ("bsdelta", "bsdelta-j1", "bsdiff40", "bsdiff40-j1"):
                v = dv(c, k, "rss_med")
                if v and v > lim:
                    bad.append(f"{c['name']} {k} {v / 1048576:.0f} MiB > {lim / 1048576:.0f}")
        add("3", "diff peak RSS ≤ 5 × old + new + 64 MiB on every pair", not bad, "; ".join(bad) or "all pairs")
    if adv:
        rnd = next((a for a in adv if a["kind"] == "random"), None)
        rt = rnd["res"].get("bsdelta", {}).get("wall_med") if rnd else None
        if rt:
            ratios = {a["kind"]: a["res"].get("bsdelta", {}).get("wall_med") for a in adv}
            bad = [f"{k} {v / rt:.1f}×" for k, v in ratios.items() if v and v > 5 * rt]
            miss = [k for k, v in ratios.items() if not v]
            add("3", "no adversarial input > 5 × the random pair's diff time", None if miss else not bad,
                "; ".join(bad) if bad else f"worst {max(v / rt for v in ratios.values() if v):.1f}×")
    if synth:
        big = [x for x in synth if x["new_size"] >= 90_000_000]
        for key, lab in (("bspatch:bsdiff43", "BSDIFF40"), ("bspatch:bsdelta", "BSDELTA")):
            vals = [(x["item"]["name"], x["apply"].get(key, {}).get("rss_med")) for x in big]
            vals = [(n, v) for n, v in vals if v]
            if vals:
                worst = max(v for _, v in vals)
                add("2", f"our bspatch peak RSS ≤ 16 MiB on ~100 MB ({lab})", worst <= 16 << 20,
                    ", ".join(f"{n}: {v / 1048576:.1f} MiB" for n, v in vals))
    if not rows:
        return
    w("## Targets of the issues, on this run")
    w("")
    w("Informative (a benchmark run never fails on them); measured on this machine in this run.")
    w("")
    w(md_table(["issue", "target", "met", "detail"], rows, ["---", "---", "---", "---"]))
    w("")


def write_document(args, path, chart_path, meta, corpus, synth, adv, failures, pkgrel=None, device=None):
    tools = args.tools
    dlabels = {t[0]: t[1] for t in tools.diff}
    alabels = {t[0]: t[1] for t in tools.apply}
    size_keys = ["bsdelta", "bsdelta-zstd", "bsdelta-raw", "bsdiff40", "bsdiff43", "xdelta3", "zstd"]
    time_keys = ["bsdelta", "bsdelta-zstd", "bsdelta-raw", "bsdelta-j1", "bsdiff40", "bsdiff40-j1", "bsdiff43",
                 "xdelta3", "zstd"]
    apply_keys = [t[0] for t in tools.apply]
    L = []
    w = L.append
    w("# Benchmarks")
    w("")
    w(f"Written by `bench/run.sh` (`make bench`) on {meta['date']}; do not edit by hand. "
      f"{'**Quick run (CI smoke test): small cases only, not for quoting.** ' if args.quick else ''}"
      f"Timings are the median of {args.runs} run(s) per tool and case ({SHORT_RUNS} when "
      f"{args.runs} or more were asked for and a run took under {SHORT_WALL:g} s: short runs are "
      "the noisiest and the cheapest to repeat) "
      f"(the synthetic apply section: {args.apply_runs}); every applied output was compared byte for byte "
      "with the real new file. Wall time and peak RSS are those of the tool's own process, from "
      "`wait4()` on that child (`bench/rusage_exec.c`). Work files (patches, outputs) live in "
      f"`{meta['workfs']}`, so our bspatch's fsync of its output costs nothing there.")
    w("")
    w(f"Run: {meta['elapsed']}; load average at start {meta['load0']}, at end {meta['load1']}"
      " (other work on the machine makes times noisy; sizes are exact).")
    w("")
    w("## Machine")
    w("")
    w(md_table(["", ""], [[k, v] for k, v in meta["machine"].items()], ["---", "---"]))
    w("")
    w("## Tools")
    w("")
    w(md_table(["tool", "version"], [[k, v] for k, v in meta["versions"].items()], ["---", "---"]))
    w("")
    w("## Commands")
    w("")
    w(f"Diff (`OLD NEW PATCH`) and apply (`OLD PATCH OUT`); `BUILD` is the CMake build directory "
      f"(`make bench`: `build`; this run: `{os.path.relpath(tools.build, ROOT) if str(tools.build).startswith(str(ROOT)) else tools.build}`).")
    w("")
    w("```")

    def show(tmpl):
        return " ".join("BUILD" + a[len(str(tools.build)):] if a.startswith(str(tools.build)) else a for a in tmpl)
    for key, lab, tmpl, avail, _ in tools.diff:
        w(f"{lab:22} " + show(tmpl))
    for key, lab, src, tmpl, avail in tools.apply:
        w(f"{lab:30} " + show(tmpl))
    w("```")
    w("")
    w("`bsdelta (ours)` is BSDELTA with its default compressor, bzip2; `bsdelta zstd (ours)` the same "
      "format with `--compressor zstd` (default level 19); both are deflate-aware where both files hold "
      "deflate streams (the `.tgz` and deflated-zip pairs; docs/FORMAT.md), and `bsdelta --deflate off` "
      "is the default made without that, to show what it is worth. "
      "`bsdelta -j1` and `BSDIFF40 -j1` must write the same bytes as the default thread count "
      "(checked); apply rows name the patcher and whose patch it applies. Ratios in parentheses are "
      "to bsdiff 4.3 (apply: to bspatch 4.3 on bsdiff 4.3's patch). `timeout`: stopped after "
      f"{args.timeout:.0f} s; `n/a`: tool not built or not installed. xdelta3 runs with `-D`: "
      "without it, it gunzips gzip inputs (the `.tgz` case) and re-gzips the output, which then "
      "differs from the real new file.")
    w("")
    w(f"Reproduce: `make bench` (the whole corpus; {'this run: ' + meta['argv']})."
      if not args.quick else f"Reproduce: `make bench-quick` ({meta['argv']}).")
    w("")
    if corpus:
        w("## Real pairs (corpus/manifest.tsv)")
        w("")
        w(md_table(["case", "category", "old bytes", "new bytes"],
                   [[c["name"], c["category"], fbytes(c["res"]["old_size"]), fbytes(c["res"]["new_size"])]
                    for c in corpus], ["---", "---", "---:", "---:"]))
        w("")
        w("![patch size against diff time, every tool and case](" + os.path.relpath(chart_path, Path(path).parent) + ")")
        w("")

        def table(title, section, keys, labels, field, fmt, refkey, note=""):
            w(f"### {title}")
            w("")
            if note:
                w(note)
                w("")
            rows = []
            tot = {k: 0 for k in keys}
            totref = {k: 0 for k in keys}
            complete = {k: True for k in keys}
            for c in corpus:
                recs = c["res"][section]
                ref = recs.get(refkey, {}).get(field) if recs.get(refkey, {}).get("status") == "ok" else None
                row = [c["name"]]
                for k in keys:
                    rec = recs.get(k)
                    row.append(cell(rec, field, fmt, ref))
                    if rec and rec.get("status") == "ok" and rec.get(field) is not None:
                        tot[k] += rec[field]
                        if ref is not None:
                            totref[k] += ref
                        else:
                            complete[k] = False
                    else:
                        complete[k] = False
                rows.append(row)
            if field != "rss_med":
                trow = ["**total**"]
                for k in keys:
                    if tot[k] == 0:
                        trow.append("—")
                    else:
                        trow.append(f"**{fmt(tot[k])}**" + fratio(tot[k], totref[k]) + ("" if complete[k] else " (incomplete)"))
                rows.append(trow)
            else:
                trow = ["**max**"]
                for k in keys:
                    vals = [c["res"][section].get(k, {}).get(field) for c in corpus
                            if c["res"][section].get(k, {}).get("status") == "ok"]
                    vals = [v for v in vals if v is not None]
                    trow.append(f"**{fmt(max(vals))}**" if vals else "—")
                rows.append(trow)
            w(md_table(["case"] + [labels[k] for k in keys], rows))
            w("")

        table("Patch size (bytes)", "diff", size_keys, dlabels, "bytes", fbytes, "bsdiff43",
              "Totals: ratio of the tool's total to bsdiff 4.3's total over the same cases.")
        table("Diff wall time (s)", "diff", time_keys, dlabels, "wall_med", fsec, "bsdiff43")
        table("Diff peak RSS (MiB)", "diff", time_keys, dlabels, "rss_med", fmib, "bsdiff43")
        table("Apply wall time (s)", "apply", apply_keys, alabels, "wall_med", fsec, "bspatch43")
        table("Apply peak RSS (MiB)", "apply", apply_keys, alabels, "rss_med", fmib, "bspatch43")

        micro_section(w, tools, [(c["name"], c["res"].get("micro")) for c in corpus],
                      "## Micro-benchmarks (in process, memory I/O)")

    if synth:
        w("## Apply throughput on synthetic edits of real data")
        w("")
        w("New files of about 1, 10 and 100 MB made from this machine's real data (`bin`: shared libraries "
          "concatenated; `text`: C headers and Python/Perl sources concatenated) by release-like edits "
          "(`realistic_edit` in bench/harness.py: two block moves, then about 64 edit sites per MiB — "
          "inserts, deletes, small replacements, and relocation-like runs of shifted 32-bit words or "
          "lines that gain a suffix). Patches made once (cached in bench/out/synthetic/): BSDIFF40 by "
          "bsdiff 4.3, BSDELTA by our bsdiff. MB/s of new file, median of "
          f"{args.apply_runs} runs; peak RSS of the patcher process.")
        w("")
        rows = []
        for s in synth:
            row = [s["item"]["name"] + ("" if s["item"]["src"] == "real data" else " (generated)"),
                   fbytes(s["new_size"]), fbytes(s["patch"].get("bsdiff43")), fbytes(s["patch"].get("bsdelta"))]
            for key in ("bspatch:bsdiff43", "bspatch43", "bspatch:bsdelta"):
                rec = s["apply"].get(key, {})
                if rec.get("status") == "ok" and rec.get("wall_med"):
                    row.append(f"{s['new_size'] / 1e6 / rec['wall_med']:.0f} MB/s, {fmib(rec['rss_med'])} MiB")
                else:
                    row.append({"fail": "**FAIL**", "timeout": "timeout"}.get(rec.get("status"), "n/a"))
            rows.append(row)
        w(md_table(["input", "new bytes", "BSDIFF40 patch", "BSDELTA patch", "bspatch (ours) ← BSDIFF40",
                    "bspatch 4.3 ← BSDIFF40", "bspatch (ours) ← BSDELTA"], rows))
        w("")

    if adv:
        w("## Adversarial inputs (bsdelta-gen-adversarial)")
        w("")
        w(f"`bsdelta-gen-adversarial KIND {size_label(args.adv_size)} OLD NEW` (seed 1). Our bsdiff: median of "
          f"{args.runs} runs; the other tools one run each, bsdiff 4.3 with a {args.adv_timeout:.0f} s "
          "timeout. Each patch applied once and checked. Cells: diff wall time in s, patch bytes, peak "
          "RSS in MiB. `× random`: our bsdelta's diff time over its time on the `random` pair of the same "
          "size (the bsdiff issue asks for at most 5×).")
        w("")
        rnd = next((a for a in adv if a["kind"] == "random"), None)
        rt = rnd["res"].get("bsdelta", {}).get("wall_med") if rnd else None
        keys = ["bsdelta", "bsdelta-zstd", "bsdelta-j1", "bsdiff40", "bsdiff43", "xdelta3", "zstd"]
        rows = []
        for a in adv:
            row = [a["name"]]
            for k in keys:
                rec = a["res"].get(k, {})
                st = rec.get("status", "n/a")
                if st == "ok" and rec.get("wall_med") is not None:
                    row.append(f"{fsec(rec['wall_med'])} s, {fbytes(rec.get('bytes'))} B, {fmib(rec['rss_med'])} MiB")
                else:
                    row.append({"fail": "**FAIL**", "timeout": f"timeout (>{args.adv_timeout if k == 'bsdiff43' else args.timeout:.0f} s)"}.get(st, "n/a"))
            t = a["res"].get("bsdelta", {}).get("wall_med")
            row.append(f"{t / rt:.2f}×" if t and rt else "—")
            rows.append(row)
        w(md_table(["input"] + [dlabels[k] for k in keys] + ["× random"], rows))
        w("")
        micro_section(w, tools, [(a["name"], a["res"].get("micro")) for a in adv],
                      "### Diff stages on the adversarial inputs")

    targets_section(w, corpus, synth, adv)

    if pkgrel is not None:
        w("## pkgtool release")
        w("")
        w("`bench/pkgtool_release_bench.sh --build BUILD` (issue 5's two figures): (a) the patch of a "
          "release made from deflated zips, which pkgtool re-packs into canonical stored bundles, against "
          "our bsdiff between the two stored zips of the same package (goal ≤ 2×) and between the "
          "deflated zips themselves (what a tool without re-packing ships); (b) a release of a ~10 MB "
          "bundle against 5 retained bundles (diff, verify by applying, write) against one bsdiff of "
          "that size (goal ≤ 4×).")
        w("")
        w("```")
        w(pkgrel.rstrip())
        w("```")
        w("")

    if device is not None:
        w("## Device update (pkgtool update over HTTP)")
        w("")
        w("`bench/device_update_bench.sh --build BUILD` (issue 6's device figure): peak RSS and wall time "
          "of `pkgtool update` taking a ~20 MB bundle of three real files (typescript.js, the esbuild "
          "binary, react-dom.js) from one signed release to the next, served by a local nginx, by patch "
          "and by full bundle, with the up-to-date check (index and signature only: libcurl and OpenSSL "
          "start-up) as the floor and, for reference, our bspatch on the same patch and bspatch 4.3 on "
          "bsdiff 4.3's patch between the same bundles; every update is checked file by file against the "
          "new tree (goal: < 32 MiB).")
        w("")
        w(device.rstrip())
        w("")

    w("## Failures")
    w("")
    if failures:
        w("**This run had failures** (wrong output, tool error, or patches that differ between thread counts):")
        w("")
        for f in failures:
            w(f"- {f}")
    else:
        w("None: every tool that ran succeeded and every applied output matched the new file byte for byte.")
    w("")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("\n".join(L))


# ----------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(
        prog="bench/run.sh",
        description="Side-by-side benchmark of bsdelta against bsdiff 4.3, xdelta3 and zstd; writes "
                    "docs/BENCHMARKS.md (see docs/BENCHMARKS.md for what is measured).")
    ap.add_argument("--build", default="build", help="CMake build directory (default: build)")
    ap.add_argument("--quick", action="store_true",
                    help="small cases only, few runs, output under bench/out/quick/ (CI smoke test)")
    ap.add_argument("--runs", type=int, help="timed runs per tool and case (default 3; --quick: 1)")
    ap.add_argument("--apply-runs", type=int, help="runs per patcher in the synthetic apply section, "
                                                   "and per row of the device section (default 5; "
                                                   "--quick: 2)")
    ap.add_argument("--out", help="markdown file to write (default docs/BENCHMARKS.md; --quick: "
                                  "bench/out/quick/BENCHMARKS.md); the chart is written beside it")
    ap.add_argument("--case", action="append", default=[],
                    help="only cases whose name matches this glob (repeatable; corpus names, "
                         "synth-bin-10M, adv-every7-16M, ...)")
    ap.add_argument("--timeout", type=float, help="seconds per tool run before it counts as a timeout "
                                                  "(default 600; --quick: 120)")
    ap.add_argument("--adv-size", type=parse_size, help="size of the adversarial inputs (default 16M; "
                                                        "--quick: 1M)")
    ap.add_argument("--adv-timeout", type=float, help="timeout for bsdiff 4.3 on adversarial inputs "
                                                      "(default 300; --quick: 20)")
    ap.add_argument("--synth-sizes", help="sizes of the synthetic apply inputs (default 1M,10M,100M; "
                                          "--quick: 1M)")
    ap.add_argument("--sections", help="comma-separated subset of corpus,micro,synthetic,adversarial,"
                                       "pkgtool,device (default: all; --quick: all but pkgtool and "
                                       "device); device: pkgtool update of a ~20 MB bundle over HTTP "
                                       "(peak RSS, issue 6), --apply-runs runs")
    ap.add_argument("--workdir", help="where patches and outputs are written (default: a directory "
                                      "in /dev/shm when it has room, else bench/out/work)")
    ap.add_argument("--keep", action="store_true", help="keep the work files of each case")
    args = ap.parse_args()

    q = args.quick
    args.runs = args.runs if args.runs is not None else (1 if q else 3)
    args.apply_runs = args.apply_runs if args.apply_runs is not None else (2 if q else 5)
    args.timeout = args.timeout if args.timeout is not None else (120.0 if q else 600.0)
    args.adv_size = args.adv_size if args.adv_size is not None else (1 << 20 if q else 16 << 20)
    args.adv_timeout = args.adv_timeout if args.adv_timeout is not None else (20.0 if q else 300.0)
    args.synth_sizes = [parse_size(s) for s in (args.synth_sizes or ("1M" if q else "1M,10M,100M")).split(",")]
    if args.sections is None:
        args.sections = "corpus,micro,synthetic,adversarial" + ("" if q else ",pkgtool,device")
    sections = set(s.strip() for s in args.sections.split(",") if s.strip())
    args.micro = "micro" in sections
    bad = sections - {"corpus", "micro", "synthetic", "adversarial", "pkgtool", "device"}
    if bad:
        die(f"unknown section(s): {', '.join(sorted(bad))}")
    if args.runs < 1 or args.apply_runs < 1:
        die("--runs and --apply-runs must be at least 1")
    default_out = ROOT / "docs" / "BENCHMARKS.md"
    out = Path(args.out) if args.out else (OUT_DIR / "quick" / "BENCHMARKS.md" if q else default_out)
    out = out.resolve()
    if out == default_out and (args.runs < 3 or args.apply_runs < 5):
        die("the committed document needs --runs >= 3 and --apply-runs >= 5 (use --out elsewhere "
            "for shorter trials)")
    if q and out.parent == (ROOT / "docs"):
        die("--quick never writes into docs/ (use --out under bench/out/)")
    chart = out.parent / "bench-chart.svg"

    build = Path(args.build)
    if not build.is_absolute():
        build = (Path.cwd() / build).resolve()
    if not build.is_dir():
        die(f"build directory {build} not found (make build, or pass --build)")
    progress = Progress()
    t_start = time.time()
    load0 = " ".join(f"{x:.2f}" for x in os.getloadavg())

    # Work area: tmpfs when it has room (no disk noise, fsync free), else bench/out/work.
    if args.workdir:
        work_root = Path(args.workdir)
        work_root.mkdir(parents=True, exist_ok=True)
    else:
        work_root = OUT_DIR / "work"
        try:
            st = os.statvfs("/dev/shm")
            if st.f_bavail * st.f_frsize > (4 << 30) and os.access("/dev/shm", os.W_OK):
                work_root = Path("/dev/shm")
        except OSError:
            pass
        work_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bsdelta-bench.", dir=work_root))
    fs = cmd_output(["stat", "-f", "-c", "%T", str(work)]) or "?"
    try:
        helper = find_helper(build, work, progress)
        runner = Runner(helper, work)
        tools = Tools(build)
        args.tools = tools
        for miss in [t[1] for t in tools.diff if not t[3]] + [t[1] for t in tools.apply if not t[4]]:
            progress.log(f"note: {miss} unavailable (not built / not installed): reported as n/a")
        bench = Bench(args, tools, runner, progress, work)

        corpus = []
        if "corpus" in sections:
            cases = corpus_cases(args, progress)
            if not cases and not args.case:
                progress.log("WARNING: no corpus case available")
            for i, c in enumerate(cases):
                progress.log(f"case {i + 1}/{len(cases)}: {c['name']} ({c['category']}, new {c['size']:,} bytes)")
                c["res"] = bench.run_case(c["name"], c["old"], c["new"], [t[0] for t in tools.diff],
                                          [t[0] for t in tools.apply], args.runs, args.timeout,
                                          micro="micro" in sections)
                corpus.append(c)
        synth = None
        if "synthetic" in sections:
            items = synthetic_inputs(args, progress)
            synth = synthetic_apply(bench, items, args.apply_runs, args.timeout)
        adv = adversarial(bench, args) if "adversarial" in sections else None
        pkgrel = None
        if "pkgtool" in sections:
            progress.log("pkgtool release figures: bench/pkgtool_release_bench.sh")
            r = subprocess.run([str(ROOT / "bench" / "pkgtool_release_bench.sh"), "--build", str(build)],
                               capture_output=True, text=True)
            if r.returncode != 0:
                bench.failures.append(f"pkgtool_release_bench.sh failed: {r.stderr.strip()[-500:]}")
            else:
                pkgrel = r.stdout
        device = None
        if "device" in sections:
            progress.log("device update figures: bench/device_update_bench.sh")
            r = subprocess.run([str(ROOT / "bench" / "device_update_bench.sh"), "--build", str(build),
                                "--runs", str(args.apply_runs)],
                               capture_output=True, text=True, env=dict(os.environ, TMPDIR=str(work)))
            if r.returncode != 0:
                bench.failures.append(f"device_update_bench.sh failed: {r.stderr.strip()[-500:]}")
            else:
                device = r.stdout

        # Chart: patch size (% of new) against diff time, one marker per tool and case.
        pts = []
        for c in corpus:
            for key in ("bsdelta", "bsdelta-zstd", "bsdiff40", "bsdiff43", "xdelta3", "zstd"):
                rec = c["res"]["diff"].get(key, {})
                if rec.get("status") == "ok" and rec.get("wall_med"):
                    pts.append((key, rec["wall_med"], 100.0 * rec["bytes"] / c["res"]["new_size"],
                                f"{c['name']}: {tools.diff_tool(key)[1]}, {rec['wall_med']:.3g} s, "
                                f"{rec['bytes']:,} bytes", c["name"]))
        labels = [(k, tools.diff_tool(k)[1]) for k in ("bsdelta", "bsdelta-zstd", "bsdiff40", "bsdiff43", "xdelta3", "zstd")]
        out.parent.mkdir(parents=True, exist_ok=True)
        if corpus:
            chart.write_text(chart_svg(pts, labels, "Patch size vs diff time (real pairs; lower left is better)",
                                       "diff wall time (s, log scale)", "patch size (% of new file, log scale)"))
        el = int(time.time() - t_start)
        meta = {
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine_info(),
            "versions": tools.versions(),
            "load0": load0,
            "load1": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "elapsed": f"{el // 60} min {el % 60} s",
            "workfs": f"{work_root} ({fs})",
            "argv": "bench/run.sh " + " ".join(sys.argv[1:]),
        }
        write_document(args, out, chart, meta, corpus, synth, adv, bench.failures, pkgrel, device)
        progress.log(f"wrote {os.path.relpath(out, Path.cwd())}" + (f" and {os.path.relpath(chart, Path.cwd())}" if corpus else "")
                     + f" in {meta['elapsed']}")
        if bench.failures:
            progress.log(f"FAILED: {len(bench.failures)} failure(s):")
            for f in bench.failures:
                sys.stderr.write(f"  {f}\n")
            return 1
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.stderr.write("\nbench: interrupted\n")
        sys.exit(130)
