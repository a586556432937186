#!/usr/bin/env python3
"""Driver for integration/bench-profile.sh: one create+start+delete (and one
`run`) of /bin/true under `strace -f -tt -T`, summarised per step.

Runs inside the private mount namespace set up by bench-profile.sh. strace is
started with -D (tracer as detached grandchild), so the runtime stays a direct
child of this driver: we see exactly when `create` returns, while strace keeps
following the container process through `start` until it exits. Those later
lines of the create trace are reported as their own step.
"""
import argparse
import collections
import ctypes
import json
import os
import re
import shutil
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
LINE = re.compile(r"^(\d+)\s+(\d\d):(\d\d):(\d\d\.\d+)\s+(.*)$")
RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>")
CALL = re.compile(r"^(\w+)\(")
DUR = re.compile(r"<(\d+\.\d+)>\s*$")
EXIT = re.compile(r"^\+\+\+ (exited with|killed by)")
CLONES = {"clone", "clone3", "fork", "vfork"}


def parse(path):
    """-> list of events (pid, t, kind, name, dur, text)."""
    ev = []
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.match(line.rstrip("\n"))
            if not m:
                continue
            pid = int(m.group(1))
            t = int(m.group(2)) * 3600 + int(m.group(3)) * 60 + float(m.group(4))
            rest = m.group(5)
            if rest.startswith("---"):
                ev.append((pid, t, "signal", rest.split()[1] if len(rest.split()) > 1 else "?", None, rest))
                continue
            if EXIT.match(rest):
                ev.append((pid, t, "exit", None, None, rest))
                continue
            d = DUR.search(rest)
            dur = float(d.group(1)) if d else None
            r = RESUMED.match(rest)
            if r:
                ev.append((pid, t, "resumed", r.group(1), dur, rest))
                continue
            c = CALL.match(rest)
            if c:
                kind = "unfinished" if "<unfinished ...>" in rest else "call"
                ev.append((pid, t, kind, c.group(1), dur, rest))
    return ev


def summarize(title, events, wall_ms=None, top=10):
    calls = collections.Counter()
    total = collections.Counter()
    peak = collections.Counter()
    execs = collections.Counter()
    pids = set()
    ts = []
    for pid, t, kind, name, dur, text in events:
        pids.add(pid)
        if kind in ("call", "unfinished", "resumed"):
            ts.append(t)
        if kind in ("call", "unfinished"):
            calls[name] += 1
            if name in ("execve", "execveat"):
                m = re.match(r'\w+\((?:\d+, )?"([^"]*)"', text)
                target = m.group(1) if m else "?"
                if name == "execveat" and target == "":
                    target = "<fd: self re-exec>"
                execs[target] += 1
        if kind in ("call", "resumed") and dur is not None:
            total[name] += dur
            peak[name] = max(peak[name], dur)
    span = (max(ts) - min(ts)) * 1000 if ts else 0.0
    out = []
    out.append("== %s" % title)
    head = []
    if wall_ms is not None:
        head.append("wall %.2f ms (under strace)" % wall_ms)
    head.append("first->last syscall %.2f ms" % span)
    head.append("%d syscalls" % sum(calls.values()))
    head.append("%d tasks" % len(pids))
    head.append("execve %d" % (calls["execve"] + calls["execveat"]))
    head.append("clone %d" % sum(calls[c] for c in CLONES))
    out.append("   " + ", ".join(head))
    if execs:
        out.append("   executed: " + ", ".join("%s x%d" % (k, v) for k, v in execs.most_common()))
    if total:
        out.append("   %-22s %7s %11s %10s" % ("top syscalls by time", "calls", "total ms", "max ms"))
        for name, tt in total.most_common(top):
            out.append("   %-22s %7d %11.3f %10.3f" % (name, calls[name], tt * 1000, peak[name] * 1000))
    top_count = ", ".join("%s %d" % kv for kv in calls.most_common(8))
    out.append("   most frequent: " + top_count)
    return "\n".join(out), {
        "title": title, "wall_ms": wall_ms, "span_ms": span, "syscalls": sum(calls.values()),
        "tasks": len(pids), "execve": calls["execve"] + calls["execveat"],
        "clone": sum(calls[c] for c in CLONES),
        "top_by_time": [{"syscall": n, "calls": calls[n], "total_ms": v * 1000, "max_ms": peak[n] * 1000}
                        for n, v in total.most_common(top)],
        "executed": dict(execs)}


class Profiler:
    def __init__(self, a):
        self.a = a
        self.name, _, self.path = a.runtime.partition("=")
        self.root = os.path.join(a.workdir, "state", self.name)
        self.traces = os.path.join(a.workdir, "traces")
        os.makedirs(self.root, exist_ok=True)
        os.makedirs(self.traces, exist_ok=True)
        self.bundle = os.path.join(a.workdir, "bundle-true")
        self.live = []
        self.n = 0
        self.strace = shutil.which("strace") or "/usr/bin/strace"

    def rt(self, *args):
        return [self.path, "--root", self.root] + list(args)

    def cid(self, what):
        self.n += 1
        return "%s-%s-%s-%d" % (self.a.run_id, self.name, what, self.n)

    def run(self, argv, trace=None, capture=False):
        if trace:
            argv = [self.strace, "-f", "-tt", "-T", "-D", "-s", "128", "-o", trace] + argv
        # stderr goes to a file, never a pipe: the container process inherits
        # it and would keep a pipe open.
        with open(os.path.join(self.a.workdir, "stderr.log"), "ab+") as log:
            off = log.tell()
            t0 = time.perf_counter_ns()
            try:
                p = subprocess.run(argv, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                                   stderr=log, timeout=60)
            except subprocess.TimeoutExpired:
                raise SystemExit("profile: `%s` timed out" % " ".join(argv[-4:]))
            dt = (time.perf_counter_ns() - t0) / 1e6
            if p.returncode != 0:
                log.seek(off)
                raise SystemExit("profile: `%s` failed (%d): %s" % (
                    " ".join(argv[-4:]), p.returncode, log.read().decode(errors="replace").strip()[-400:]))
        return dt, p.stdout

    def wait_stopped(self, cid):
        t0 = time.time()
        while time.time() - t0 < 10:
            _, out = self.run(self.rt("state", cid), capture=True)
            try:
                st = json.loads(out)
            except ValueError:
                raise SystemExit("profile: `%s state %s` printed no JSON: %r" % (self.name, cid, out[:200]))
            if st.get("status") == "stopped":
                return
            time.sleep(0.005)
        raise SystemExit("profile: container %s did not stop" % cid)

    def reap_all(self, timeout=10):
        """Wait for strace (detached grandchild, re-parented to us) and orphans."""
        end = time.time() + timeout
        while time.time() < end:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                time.sleep(0.01)
        print("profile: warning: some tracer/child processes did not exit", file=sys.stderr)

    def lifecycle(self, traced):
        cid = self.cid("lc")
        self.live.append(cid)
        tr = (lambda s: os.path.join(self.traces, "%s.trace" % s)) if traced else (lambda s: None)
        pidfile = os.path.join(self.a.workdir, cid + ".pid")
        t_create, _ = self.run(self.rt("create", "--bundle", self.bundle, "--pid-file", pidfile, cid),
                               tr("create"))
        t_start, _ = self.run(self.rt("start", cid), tr("start"))
        self.wait_stopped(cid)
        t_delete, _ = self.run(self.rt("delete", cid), tr("delete"))
        self.live.remove(cid)
        self.reap_all()
        cid2 = self.cid("run")
        self.live.append(cid2)
        t_run, _ = self.run(self.rt("run", "--bundle", self.bundle, cid2), tr("run"))
        self.live.remove(cid2)
        self.reap_all()
        return {"create": t_create, "start": t_start, "delete": t_delete, "run": t_run}

    def main(self):
        print("profile: %s (%s)" % (self.name, self.path))
        self.lifecycle(False)  # warm-up (page cache, binary) and sanity check
        walls = self.lifecycle(True)
        reports = []
        ev = parse(os.path.join(self.traces, "create.trace"))
        # The runtime process is the first task in the trace (strace -D).
        top = ev[0][0] if ev else None
        cut = next((t for pid, t, kind, *_ in ev if pid == top and kind == "exit"), None)
        if cut is None:
            cut = float("inf")
        reports.append(summarize("create (until `%s create` exited)" % self.name,
                                 [e for e in ev if e[1] <= cut], walls["create"]))
        rest = [e for e in ev if e[1] > cut]
        if rest:
            reports.append(summarize("container process after create returned "
                                     "(waits for start, then execs /bin/true)", rest))
        for step in ("start", "delete", "run"):
            reports.append(summarize(step, parse(os.path.join(self.traces, step + ".trace")),
                                     walls[step]))
        print("(untraced timings: use integration/bench.sh; strace inflates every syscall)")
        for text, _ in reports:
            print()
            print(text)
        if self.a.json:
            with open(self.a.json, "w") as f:
                json.dump({"runtime": self.name, "path": self.path,
                           "steps": [d for _, d in reports]}, f, indent=2)
            print("\nJSON written to %s" % self.a.json)
        if self.a.keep_traces:
            os.makedirs(self.a.keep_traces, exist_ok=True)
            for fn in os.listdir(self.traces):
                shutil.copy(os.path.join(self.traces, fn),
                            os.path.join(self.a.keep_traces, "%s-%s" % (self.name, fn)))
            print("raw traces copied to %s" % self.a.keep_traces)

    def cleanup(self):
        for cid in list(self.live):
            subprocess.run(self.rt("delete", "-f", cid), stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        self.reap_all(timeout=5)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--runtime", required=True, help="NAME=PATH")
    ap.add_argument("--run-id", default="wp%d" % os.getpid())
    ap.add_argument("--json")
    ap.add_argument("--keep-traces")
    a = ap.parse_args()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    import signal

    def on_term(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_term)
    p = Profiler(a)
    try:
        p.main()
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        p.cleanup()


if __name__ == "__main__":
    sys.exit(main())
