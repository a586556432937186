#!/usr/bin/env python3
"""Driver for integration/bench.sh: interleaved OCI runtime micro-benchmarks.

Not meant to be run directly: bench.sh builds the bundles, installs the tools
and enters a private mount namespace first. It expects in --workdir:
  bundle-true/  bundle-true-ro/  bundle-sleep/   (config.json, shared rootfs)
and creates state/<runtime>/ (the runtimes' --root dirs), tmp/ and logs/ there.

Every sample of a measurement is taken for every runtime before the next
sample (A B C, B C A, C A B, ...), so slow drifts of the machine hit all
runtimes alike. Times are wall-clock (perf_counter_ns) around the runtime's
process, including fork/exec of the runtime binary, which is what a caller
(containerd, podman, a shell script) pays.

The driver makes itself a child subreaper, like containerd-shim or conmon: the
container processes of detached containers are re-parented to it and reaped by
it (PID 1 of this machine does not reap orphans).
"""
import argparse
import ctypes
import json
import math
import os
import platform
import resource
import select
import signal
import statistics
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
PF_KTHREAD = 0x00200000
CMD_TIMEOUT = 60


class Failure(Exception):
    pass


def now():
    return time.perf_counter_ns()


def ms(ns):
    return ns / 1e6


def wait_exact(p, timeout):
    """Wait for Popen p to exit, waking the moment it does. Returns its exit
    code; kills it and raises subprocess.TimeoutExpired after `timeout` s.

    Not Popen.wait(timeout): with a timeout, CPython polls waitpid with an
    exponential back-off (0.5 ms doubling to 50 ms), so a process that exits
    at 33 ms is seen at 63.5 ms: every sample would be rounded up to
    7.5/15.5/31.5/63.5 ms steps. A pidfd becomes readable exactly at exit."""
    try:
        fd = os.pidfd_open(p.pid)
    except OSError:
        return p.wait(timeout=timeout)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        if not poller.poll(int(timeout * 1000)):
            p.kill()
            p.wait()
            raise subprocess.TimeoutExpired(p.args, timeout)
    finally:
        os.close(fd)
    return p.wait()


# --layers: (runtime name, ward's relaxations). "w-all" is ward with every
# layer lifted (the spec as given, as runc runs it); "w-X" lifts X only.
LAYER_VARIANTS = [
    ("w-all", ["seccomp=unconfined", "rootfs=writable", "landlock=off", "caps=spec",
               "userns=host", "nnp=spec", "pids=spec", "paths=spec"]),
    ("w-userns", ["userns=host"]),
    ("w-seccomp", ["seccomp=unconfined"]),
    ("w-landlock", ["landlock=off"]),
    ("w-rootfs", ["rootfs=writable"]),
    ("w-paths", ["paths=spec"]),
]


class Runtime:
    def __init__(self, name, path, workdir, args=()):
        self.name = name
        self.path = path
        # Global flags this runtime is always called with (ward's --relax).
        self.args = list(args)
        self.root = os.path.join(workdir, "state", name)
        self.log = os.path.join(workdir, "logs", name + ".stderr")
        self.ok = True
        self.error = None
        self.version = None


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = args.workdir
        self.run_id = args.run_id
        self.quick = args.quick
        self.tmp = os.path.join(self.work, "tmp")
        os.makedirs(self.tmp, exist_ok=True)
        os.makedirs(os.path.join(self.work, "logs"), exist_ok=True)
        self.bundles = {k: os.path.join(self.work, "bundle-" + k)
                        for k in ("true", "true-ro", "sleep")}
        self.runtimes = []
        for spec in args.runtimes.split():
            name, _, path = spec.partition("=")
            rt = Runtime(name, path, self.work)
            os.makedirs(rt.root, exist_ok=True)
            self.runtimes.append(rt)
        if args.layers:
            # ward again with one defence lifted at a time (and all of them):
            # the difference to plain ward is what that layer costs.
            ward = next((rt for rt in self.runtimes if rt.name == "ward"), None)
            if ward is None:
                raise SystemExit("bench: --layers needs a runtime named ward")
            # Without ward's user namespace ward re-executes from a sealed
            # memfd copy of itself (CVE-2019-5736) unless its binary is on a
            # read-only mount, as a packaged /usr often is. The variants run
            # from such a mount (in this private mount namespace) so that they
            # show the layers' cost, not the copy's; said in the output.
            ro = os.path.join(self.work, "ro-ward")
            os.makedirs(ro, exist_ok=True)
            robin = os.path.join(ro, "ward")
            open(robin, "a").close()
            subprocess.check_call(["mount", "--bind", ward.path, robin])
            subprocess.check_call(["mount", "-o", "remount,bind,ro", robin])
            self.layer_note = ("w-* run ward from a read-only bind mount (no sealed copy "
                               "of the binary when ward's user namespace is lifted)")
            for name, relax in LAYER_VARIANTS:
                rt = Runtime(name, robin, self.work,
                             [a for r in relax for a in ("--relax", r)])
                os.makedirs(rt.root, exist_ok=True)
                self.runtimes.append(rt)
        self.live = {}         # (rt.name, cid) -> rt   containers that may exist
        self.counter = 0
        self.results = {}      # key -> {"title","unit","runtimes":{name:{...}}}
        self.order_keys = []
        self.failures = []     # (runtime, measurement, message)
        self.notes = [self.layer_note] if args.layers else []
        self.extra_tables = []  # preformatted side-by-side tables (slab breakdown)
        it = args.iterations
        if self.quick:
            self.cfg = dict(iters=it or 3, rss_iters=it or 3, seq_n=10, seq_reps=2,
                            par_n=4, par_reps=2, idle_n=5, idle_reps=1)
        else:
            self.cfg = dict(iters=it or 30, rss_iters=it or 10, seq_n=100, seq_reps=5,
                            par_n=20, par_reps=10, idle_n=100, idle_reps=6)
        if args.idle_n:
            self.cfg["idle_n"] = args.idle_n

    # ------------------------------------------------------------------ utils
    def cid(self, rt, what):
        self.counter += 1
        return "%s-%s-%s-%d" % (self.run_id, rt.name, what, self.counter)

    def cmd(self, rt, *args):
        # --systemd: every runtime's systemd cgroup driver (runc, crun and ward
        # share the global flag), so each makes and removes a scope per container.
        driver = ["--systemd-cgroup"] if self.args.systemd else []
        return [rt.path] + rt.args + driver + ["--root", rt.root] + list(args)

    def call(self, rt, *args, capture=False, timeout=CMD_TIMEOUT, wrap=None):
        """Run a runtime command; returns (elapsed_ns, stdout). Raises Failure."""
        argv = self.cmd(rt, *args)
        if wrap:
            argv = wrap + argv
        with open(rt.log, "ab") as log:
            off = log.tell()
            t0 = now()
            try:
                # Never give the runtime a pipe for stdio it may hand on to the
                # container process (that would keep the pipe open forever);
                # only state/list output is captured (read after exit: it is
                # far smaller than a pipe buffer).
                p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                                     stderr=log)
                wait_exact(p, timeout)
                dt = now() - t0
                out = p.stdout.read() if capture else None
                if p.stdout:
                    p.stdout.close()
            except subprocess.TimeoutExpired:
                raise Failure("%s: timed out after %ss" % (" ".join(args), timeout))
            except OSError as e:
                raise Failure("%s: %s" % (" ".join(args), e))
        if p.returncode != 0:
            with open(rt.log, "rb") as f:
                f.seek(off)
                err = f.read().decode(errors="replace").strip().splitlines()
            msg = err[-1] if err else ""
            raise Failure("`%s %s` exited %d: %s" % (rt.name, " ".join(args), p.returncode, msg[-300:]))
        return dt, out

    def state(self, rt, cid):
        dt, out = self.call(rt, "state", cid, capture=True)
        try:
            return dt, json.loads(out)
        except ValueError:
            raise Failure("`%s state` printed no JSON: %r" % (rt.name, out[:200]))

    def read_pid(self, pidfile):
        try:
            with open(pidfile) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def reap(self):
        """Reap zombie children (orphaned container processes re-parented to us)."""
        me = os.getpid()
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            st = proc_stat(int(d))
            if st and st["ppid"] == me and st["state"] == "Z":
                try:
                    os.waitpid(int(d), os.WNOHANG)
                except ChildProcessError:
                    pass

    def start_detached(self, rt, bundle, what):
        """create + start a container (untimed helper). Returns (cid, pid)."""
        cid = self.cid(rt, what)
        pidfile = os.path.join(self.tmp, cid + ".pid")
        self.live[(rt.name, cid)] = rt
        self.call(rt, "create", "--bundle", self.bundles[bundle], "--pid-file", pidfile, cid)
        pid = self.read_pid(pidfile)
        if pid is None:
            _, st = self.state(rt, cid)
            pid = st.get("pid")
        self.call(rt, "start", cid)
        return cid, pid

    def remove(self, rt, cid, force=True):
        try:
            if force:
                self.call(rt, "delete", "-f", cid)
            else:
                self.call(rt, "delete", cid)
        finally:
            self.live.pop((rt.name, cid), None)
            try:
                os.unlink(os.path.join(self.tmp, cid + ".pid"))
            except OSError:
                pass

    def active(self):
        return [rt for rt in self.runtimes if rt.ok]

    def rotated(self, i):
        rts = self.active()
        if not rts:
            return []
        k = i % len(rts)
        return rts[k:] + rts[:k]

    # ------------------------------------------------------------ recording
    def declare(self, key, title, unit):
        if key not in self.results:
            self.results[key] = {"title": title, "unit": unit, "runtimes": {}}
            self.order_keys.append(key)

    def add(self, key, rt, value):
        r = self.results[key]["runtimes"].setdefault(rt.name, {"samples": []})
        r["samples"].append(value)

    def fail(self, key, rt, msg):
        r = self.results[key]["runtimes"].setdefault(rt.name, {"samples": []})
        if "error" not in r:
            r["error"] = msg
            self.failures.append((rt.name, key, msg))
            print("bench: %s / %s failed: %s" % (rt.name, key, msg), file=sys.stderr)

    def failed(self, key, rt):
        return "error" in self.results[key]["runtimes"].get(rt.name, {})

    def loop(self, keys, iters, sample):
        """Interleaved loop: sample(rt, i) -> {key: value}; failures per runtime."""
        for i in range(iters):
            for rt in self.rotated(i):
                if all(self.failed(k, rt) for k in keys):
                    continue
                try:
                    vals = sample(rt, i)
                except Failure as e:
                    for k in keys:
                        self.fail(k, rt, str(e))
                    continue
                finally:
                    self.reap()
                for k, v in vals.items():
                    self.add(k, rt, v)

    # --------------------------------------------------------- measurements
    def sanity(self):
        for rt in self.runtimes:
            if not (os.path.isfile(rt.path) and os.access(rt.path, os.X_OK)):
                rt.ok = False
                rt.error = "binary not found or not executable: %s" % rt.path
                continue
            try:
                p = subprocess.run([rt.path, "--version"], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=10)
                first = p.stdout.decode(errors="replace").strip().splitlines()
                rt.version = first[0] if first else "(no version output)"
            except Exception as e:  # noqa: BLE001
                rt.version = "(--version failed: %s)" % e
            try:
                cid = self.cid(rt, "sanity")
                self.live[(rt.name, cid)] = rt
                self.call(rt, "run", "--bundle", self.bundles["true"], cid, timeout=30)
                self.live.pop((rt.name, cid), None)
                # One detached lifecycle too, so a broken create/start/delete is
                # reported once here instead of once per measurement.
                self.lifecycle_sample(rt, "true")
            except Failure as e:
                rt.ok = False
                rt.error = str(e)
            finally:
                self.reap()
        for rt in self.runtimes:
            if not rt.ok:
                print("bench: runtime %s SKIPPED: %s" % (rt.name, rt.error), file=sys.stderr)

    def lifecycle_sample(self, rt, bundle):
        cid = self.cid(rt, "lc")
        pidfile = os.path.join(self.tmp, cid + ".pid")
        self.live[(rt.name, cid)] = rt
        t_create, _ = self.call(rt, "create", "--bundle", self.bundles[bundle],
                                "--pid-file", pidfile, cid)
        pid = self.read_pid(pidfile)
        pidfd = None
        if pid is not None:
            try:
                pidfd = os.pidfd_open(pid)
            except (OSError, AttributeError):
                pidfd = None
        try:
            t_start, _ = self.call(rt, "start", cid)
            t0 = now()
            if pidfd is not None:
                # Sleep until the container process has exited, then reap it
                # (we are its subreaper), then confirm with `state`.
                poller = select.poll()
                poller.register(pidfd, select.POLLIN)
                poller.poll(10000)
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
            polls = 0
            while True:
                _, st = self.state(rt, cid)
                polls += 1
                if st.get("status") == "stopped":
                    break
                if ms(now() - t0) > 10000:
                    raise Failure("container did not stop within 10s (status %s)" % st.get("status"))
            t_wait = now() - t0
        finally:
            if pidfd is not None:
                os.close(pidfd)
        t_delete, _ = self.call(rt, "delete", cid)
        self.live.pop((rt.name, cid), None)
        try:
            os.unlink(pidfile)
        except OSError:
            pass
        return {"create": ms(t_create), "start": ms(t_start), "wait": ms(t_wait),
                "delete": ms(t_delete), "total": ms(t_create + t_start + t_wait + t_delete),
                "state_polls": polls}

    def m_lifecycle(self):
        n = self.cfg["iters"]
        self.declare("lifecycle_rw", "lifecycle create+start+wait+delete /bin/true (rw rootfs)", "ms")
        self.declare("lifecycle_rw.create", "  of which: create", "ms")
        self.declare("lifecycle_rw.start", "  of which: start", "ms")
        self.declare("lifecycle_rw.wait", "  of which: wait until state=stopped", "ms")
        self.declare("lifecycle_rw.delete", "  of which: delete", "ms")
        self.declare("lifecycle_ro", "lifecycle create+start+wait+delete /bin/true (ro rootfs)", "ms")
        keys_rw = ["lifecycle_rw", "lifecycle_rw.create", "lifecycle_rw.start",
                   "lifecycle_rw.wait", "lifecycle_rw.delete"]

        def rw(rt, i):
            r = self.lifecycle_sample(rt, "true")
            return {"lifecycle_rw": r["total"], "lifecycle_rw.create": r["create"],
                    "lifecycle_rw.start": r["start"], "lifecycle_rw.wait": r["wait"],
                    "lifecycle_rw.delete": r["delete"]}

        def ro(rt, i):
            return {"lifecycle_ro": self.lifecycle_sample(rt, "true-ro")["total"]}

        self.loop(keys_rw, n, rw)
        self.loop(["lifecycle_ro"], n, ro)

    def m_run(self):
        self.declare("run", "run /bin/true (foreground)", "ms")
        # CPU time is far less noisy than wall time on a shared host, and it is
        # what bounds the sequential and parallel measurements.
        self.declare("run_cpu", "  CPU of one run (user+sys, runtime and container)", "ms")

        def cpu_ms():
            r = resource.getrusage(resource.RUSAGE_CHILDREN)
            return (r.ru_utime + r.ru_stime) * 1e3

        def s(rt, i):
            cid = self.cid(rt, "run")
            self.live[(rt.name, cid)] = rt
            c0 = cpu_ms()
            dt, _ = self.call(rt, "run", "--bundle", self.bundles["true"], cid)
            cpu = cpu_ms() - c0
            self.live.pop((rt.name, cid), None)
            return {"run": ms(dt), "run_cpu": cpu}
        self.loop(["run", "run_cpu"], self.cfg["iters"], s)

    def m_running(self):
        """exec / state / list against one running `sleep 1000` container."""
        keys = ["exec", "state", "list"]
        self.declare("exec", "exec /bin/true into running container", "ms")
        self.declare("state", "state of running container", "ms")
        self.declare("list", "list (1 running container)", "ms")
        sleepers = {}
        try:
            for rt in self.active():
                try:
                    sleepers[rt.name] = self.start_detached(rt, "sleep", "idle")[0]
                except Failure as e:
                    for k in keys:
                        self.fail(k, rt, "could not start sleep container: %s" % e)

            def one(key, argv_fn, check=None):
                def s(rt, i):
                    if rt.name not in sleepers:
                        raise Failure("no running container")
                    dt, out = self.call(rt, *argv_fn(sleepers[rt.name]), capture=check is not None)
                    if check:
                        check(rt, out)
                    return {key: ms(dt)}
                self.loop([key], self.cfg["iters"], s)

            def check_state(rt, out):
                st = json.loads(out)
                if st.get("status") != "running":
                    raise Failure("state says %r, expected running" % st.get("status"))

            def check_list(rt, out):
                if sleepers[rt.name].encode() not in out:
                    raise Failure("list does not show the running container")

            one("exec", lambda c: ["exec", c, "/bin/true"])
            one("state", lambda c: ["state", c], check_state)
            one("list", lambda c: ["list"], check_list)
        finally:
            for rt in self.runtimes:
                if rt.name in sleepers:
                    try:
                        self.remove(rt, sleepers[rt.name])
                    except Failure as e:
                        self.notes.append("cleanup of %s failed: %s" % (sleepers[rt.name], e))
            self.reap()

    def m_delete_force(self):
        self.declare("delete_f", "delete -f of running container", "ms")

        def s(rt, i):
            cid, _ = self.start_detached(rt, "sleep", "del")
            time.sleep(0.01)
            try:
                dt, _ = self.call(rt, "delete", "-f", cid)
            finally:
                self.live.pop((rt.name, cid), None)
            try:
                os.unlink(os.path.join(self.tmp, cid + ".pid"))
            except OSError:
                pass
            return {"delete_f": ms(dt)}
        self.loop(["delete_f"], self.cfg["iters"], s)

    def m_seq_par(self):
        n, reps = self.cfg["seq_n"], self.cfg["seq_reps"]
        kseq = "seq%d" % n
        self.declare(kseq, "%d sequential runs of /bin/true (total)" % n, "ms")

        def seq(rt, i):
            t = 0
            for _ in range(n):
                cid = self.cid(rt, "seq")
                self.live[(rt.name, cid)] = rt
                dt, _ = self.call(rt, "run", "--bundle", self.bundles["true"], cid)
                self.live.pop((rt.name, cid), None)
                t += dt
            return {kseq: ms(t)}
        self.loop([kseq], reps, seq)

        pn, preps = self.cfg["par_n"], self.cfg["par_reps"]
        kpar = "par%d" % pn
        self.declare(kpar, "%d parallel runs of /bin/true (wall time)" % pn, "ms")

        def par(rt, i):
            procs = []
            with open(rt.log, "ab") as log:
                t0 = now()
                for _ in range(pn):
                    cid = self.cid(rt, "par")
                    self.live[(rt.name, cid)] = rt
                    procs.append((cid, subprocess.Popen(
                        self.cmd(rt, "run", "--bundle", self.bundles["true"], cid),
                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)))
                bad = 0
                for cid, p in procs:
                    try:
                        rc = wait_exact(p, CMD_TIMEOUT)
                    except subprocess.TimeoutExpired:
                        rc = -1
                    if rc != 0:
                        bad += 1
                    else:
                        self.live.pop((rt.name, cid), None)
                dt = now() - t0
            if bad:
                raise Failure("%d of %d parallel runs failed (see %s)" % (bad, pn, rt.log))
            return {kpar: ms(dt)}
        self.loop([kpar], preps, par)

    def m_rss(self):
        self.declare("rss_create", "peak RSS of `create` (GNU time %M)", "KiB")
        out = os.path.join(self.tmp, "time.out")

        def s(rt, i):
            cid = self.cid(rt, "rss")
            self.live[(rt.name, cid)] = rt
            try:
                self.call(rt, "create", "--bundle", self.bundles["sleep"], cid,
                          wrap=["/usr/bin/time", "-f", "%M", "-o", out])
                with open(out) as f:
                    kb = int(f.read().strip().splitlines()[-1])
            finally:
                self.remove(rt, cid)
            return {"rss_create": kb}
        # The same page-cache history for every binary: dropped, then read
        # back by one untimed create. A binary's mapped file pages depend on
        # how its page cache was filled (written by cp or the linker, read by
        # readahead, large folios or not): one ward binary measured 2592 KiB
        # alone and 2852 after the other scenarios without this.
        for rt in self.active():
            drop_page_cache(rt.path)
            try:
                s(rt, -1)
            except Failure:
                pass  # the measured loop reports a runtime that cannot create
            finally:
                self.reap()
        self.loop(["rss_create"], self.cfg["rss_iters"], s)
        self.notes.append(
            "rss: each runtime's binary is dropped from the page cache and read back by one "
            "untimed create first, so every binary's file pages come from the same history")

    def m_idle(self):
        """N idle `sleep` containers per runtime: what the host pays for each,
        and where it goes (meminfo fields, slab caches, what the container
        holds: mounts, superblocks, namespaces, seccomp filters, state files)."""
        n = self.cfg["idle_n"]
        kmem, kcg, kproc, kstart = "idle_mem", "idle_cgmem", "idle_procs", "idle_start"
        kacct = "idle_charged"
        # The robust number: memory cgroup charges of the runtime's processes
        # and of the containers (MemAvailable moves with anything else the
        # host does; the charges do not).
        self.declare(kacct, "host memory charged per idle container (N=%d)" % n, "KiB")
        self.declare(kmem, "host memory per idle container (MemAvailable, N=%d)" % n, "KiB")
        self.declare(kcg, "memory cgroup usage per idle container (N=%d)" % n, "KiB")
        # Kernel-side fields of /proc/meminfo: far less noisy than MemAvailable
        # on a host where other work allocates anonymous memory and page cache.
        for f, title in MEMINFO_FIELDS:
            self.declare("idle." + f, "  of which %s" % title, "KiB")
        self.declare("idle.kernel", "  kernel total (Slab+KernelStack+PageTables+Percpu+Vmalloc)", "KiB")
        self.declare(kproc, "non-container processes left per container (N=%d)" % n, "procs")
        for f, title in HOLD_FIELDS:
            self.declare("idle." + f, "  per container: %s" % title, "count")
        self.declare(kstart, "create+start of %d sleep containers (total)" % n, "ms")
        slab_per_rt = {}


        def s(rt, i):
            time.sleep(2)  # let deferred frees (netns teardown, RCU) of the last runtime settle
            # The runtime's own processes run in a fresh memory cgroup: what
            # they allocate for a container (namespaces, mounts, state files)
            # is charged there or to the container's cgroup, whichever
            # process did it; the sum does not see the rest of the host.
            acct = ChargeCgroup("%s-acct-%s-%d" % (self.run_id, rt.name, i))
            acct.enter()
            before_mem = mem_available()
            before_info = meminfo()
            before_slab = slabinfo()
            before_pids = user_pids()
            before_state = dir_bytes(rt.root)
            cids, pids = [], []
            t0 = now()
            try:
                for _ in range(n):
                    cid, pid = self.start_detached(rt, "sleep", "idle")
                    cids.append(cid)
                    pids.append(pid)
                t_start = now() - t0
                time.sleep(2)
                after_mem = mem_available()
                after_info = meminfo()
                after_slab = slabinfo()
                charged = acct.usage(pids)
                acct.leave()
                cg = cgroup_memory(pids)
                hold = container_holdings(pids)
                hold["state_bytes"] = (dir_bytes(rt.root) - before_state) / max(1, n)
                # Processes that are in a container share its pid namespace.
                nss = set()
                for pid in pids:
                    if pid:
                        try:
                            nss.add(os.readlink("/proc/%d/ns/pid" % pid))
                        except OSError:
                            pass
                # Anything a runtime leaves running (shim, monitor, daemon) is
                # our descendant: we are the child subreaper, so even
                # double-forked processes are re-parented to us. Other
                # processes on the host are not counted.
                extra = []
                for pid in user_pids() - before_pids:
                    if not is_descendant(pid):
                        continue
                    try:
                        ns = os.readlink("/proc/%d/ns/pid" % pid)
                    except OSError:
                        continue
                    if ns not in nss:
                        extra.append(pid)
                if extra:
                    names = {}
                    for p in extra:
                        c = proc_comm(p)
                        names[c] = names.get(c, 0) + 1
                    self.notes.append("%s: %d non-container processes with %d idle containers: %s"
                                      % (rt.name, len(extra), n, names))
            finally:
                acct.leave()
                for cid in cids:
                    try:
                        self.remove(rt, cid)
                    except Failure as e:
                        self.notes.append("cleanup of %s failed: %s" % (cid, e))
                self.reap()
                acct.remove()
            # MemAvailable is host-wide: anything else running on the host (a
            # build next door) shows up here; the cgroup number does not.
            vals = {kmem: (before_mem - after_mem) / n, kproc: len(extra) / n, kstart: ms(t_start)}
            kernel = 0
            for f, _ in MEMINFO_FIELDS:
                d = (after_info.get(f, 0) - before_info.get(f, 0)) / n
                vals["idle." + f] = d
                if f in KERNEL_FIELDS:
                    kernel += d
            vals["idle.kernel"] = kernel
            for f, _ in HOLD_FIELDS:
                if f in hold:
                    vals["idle." + f] = hold[f]
            for cache, b in after_slab.items():
                d = (b - before_slab.get(cache, 0)) / n / 1024
                acc = slab_per_rt.setdefault(rt.name, {})
                acc.setdefault(cache, []).append(d)
            if cg is not None:
                vals[kcg] = cg / 1024 / n
            if charged is not None:
                vals[kacct] = charged / 1024 / n
            return vals
        keys = [kacct, kmem, kcg, "idle.kernel", kproc, kstart] + ["idle." + f for f, _ in MEMINFO_FIELDS] \
            + ["idle." + f for f, _ in HOLD_FIELDS]
        self.loop(keys, self.cfg["idle_reps"], s)
        self.slab_breakdown(slab_per_rt, n)
        self.notes.append(
            "idle: 'host memory charged' sums the memory cgroup charges of a fresh cgroup the "
            "runtime commands ran in and of the containers' cgroups (namespaces, mounts, "
            "processes, page tables, state files on the tmpfs --root), page by page: kernel "
            "memory + anonymous + file pages, not the usage counter, which also holds pages "
            "each CPU charged ahead (+-10 KiB per container between runs); kernel memory allocated "
            "without accounting (superblocks, sysctl tables) is only in the meminfo deltas, "
            "which move with anything else the host does")

    def slab_breakdown(self, slab_per_rt, n):
        """The slab caches that grew most per container, side by side."""
        if not slab_per_rt:
            return
        med = {rt: {c: statistics.median(v) for c, v in caches.items()}
               for rt, caches in slab_per_rt.items()}
        top = set()
        for caches in med.values():
            top.update(c for c, _ in sorted(caches.items(), key=lambda kv: -kv[1])[:10])
        names = [rt.name for rt in self.runtimes if rt.name in med]
        rows = sorted(top, key=lambda c: -max(med[r].get(c, 0) for r in names))
        lines = ["slab caches, KiB per idle container (N=%d, median of runs; top 10 of each runtime):" % n,
                 "  %-28s" % "cache" + "".join("%10s" % r for r in names)]
        for c in rows:
            lines.append("  %-28s" % c[:28] + "".join("%10.1f" % med[r].get(c, 0) for r in names))
        lines.append("  %-28s" % "(all caches)" + "".join(
            "%10.1f" % sum(med[r].values()) for r in names))
        self.extra_tables.append("\n".join(lines))

    # --------------------------------------------------------------- output
    def stats(self):
        base = next((rt for rt in self.runtimes if rt.name == "crun"), None)
        for key in self.order_keys:
            r = self.results[key]
            for name, d in r["runtimes"].items():
                xs = sorted(d["samples"])
                if xs:
                    d["n"] = len(xs)
                    d["median"] = statistics.median(xs)
                    d["p90"] = xs[max(0, math.ceil(0.9 * len(xs)) - 1)]
                    d["min"] = xs[0]
                    d["max"] = xs[-1]
            if base is not None:
                b = r["runtimes"].get(base.name, {}).get("median")
                for name, d in r["runtimes"].items():
                    # No ratio for a zero/negative baseline (memory noise at small N).
                    if b and b > 0 and d.get("median") is not None and d["median"] >= 0:
                        d["vs_crun"] = d["median"] / b

    def print_table(self):
        cfg = self.cfg
        print()
        print("OCI runtime benchmark (%s mode: %d iterations, rotating order; ratio = median / crun median)"
              % ("quick" if self.quick else "full", cfg["iters"]))
        print("host: %s, %d cpus, kernel %s" % (platform.node(), os.cpu_count(), platform.release()))
        for rt in self.runtimes:
            print("  %-10s %s  [%s]%s" % (rt.name, " ".join([rt.path] + rt.args), rt.version or "?",
                                        "" if rt.ok else "  SKIPPED: " + (rt.error or "")))
        print()
        hdr = "%-58s %-10s %4s %12s %12s %9s" % ("measurement", "rt", "n", "median", "p90", "vs crun")
        print(hdr)
        print("-" * len(hdr))
        for key in self.order_keys:
            r = self.results[key]
            first = True
            for rt in self.runtimes:
                d = r["runtimes"].get(rt.name)
                if d is None:
                    continue
                title = r["title"] if first else ""
                first = False
                if d.get("median") is None:
                    print("%-58s %-10s %4s %12s %12s %9s" % (title[:58], rt.name, "-", "FAILED", "", ""))
                    continue
                unit = r["unit"]
                print("%-58s %-10s %4d %12s %12s %9s%s" % (
                    title[:58], rt.name, d["n"], fmt(d["median"], unit), fmt(d["p90"], unit),
                    ("%.2fx" % d["vs_crun"]) if "vs_crun" in d else "",
                    "  (partial: %s)" % d["error"][:60] if "error" in d else ""))
        for t in self.extra_tables:
            print()
            print(t)
        if self.cfg["idle_n"] < 50:
            print("\n(with N=%d idle containers, the MemAvailable noise of the host is larger than "
                  "the signal; use full mode for memory numbers)" % self.cfg["idle_n"])
        if self.notes:
            print()
            for n in self.notes:
                print("note: " + n)
        if self.failures or any(not rt.ok for rt in self.runtimes):
            print()
            print("FAILURES:")
            for rt in self.runtimes:
                if not rt.ok:
                    print("  %s: skipped entirely: %s" % (rt.name, rt.error))
            for name, key, msg in self.failures:
                print("  %s / %s: %s" % (name, key, msg))

    def write_json(self, path):
        doc = {
            "mode": "quick" if self.quick else "full",
            "config": self.cfg,
            "host": {"node": platform.node(), "kernel": platform.release(), "cpus": os.cpu_count()},
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "runtimes": {rt.name: {"path": rt.path, "version": rt.version, "ok": rt.ok,
                                   "error": rt.error} for rt in self.runtimes},
            "results": {k: self.results[k] for k in self.order_keys},
            "failures": [{"runtime": a, "measurement": b, "error": c} for a, b, c in self.failures],
            "notes": self.notes,
            "tables": self.extra_tables,
        }
        with open(path, "w") as f:
            json.dump(doc, f, indent=2)
        print("\nJSON written to %s" % path)

    # ---------------------------------------------------------------- cleanup
    def cleanup(self):
        for (name, cid), rt in list(self.live.items()):
            try:
                self.call(rt, "delete", "-f", cid, timeout=20)
            except Failure:
                pass
            self.live.pop((name, cid), None)
        # Anything else a runtime still lists in its private root.
        for rt in self.runtimes:
            if not os.path.isdir(rt.root) or not os.access(rt.path, os.X_OK):
                continue
            try:
                _, out = self.call(rt, "list", "-q", capture=True, timeout=20)
            except Failure:
                continue
            for cid in out.decode(errors="replace").split():
                try:
                    self.call(rt, "delete", "-f", cid, timeout=20)
                except Failure:
                    pass
        # Last resort for a broken runtime: whatever is still running below us
        # (container processes and anything a runtime left behind are our
        # descendants, we are their subreaper) is killed by PID and reaped.
        left = [p for p in user_pids() if is_descendant(p)]
        if left:
            print("bench: killing %d leftover processes: %s" % (
                len(left), ", ".join("%d(%s)" % (p, proc_comm(p)) for p in left)), file=sys.stderr)
            for p in left:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.2)
        self.reap()

    def main(self):
        t0 = time.time()
        self.sanity()
        if not self.active():
            print("bench: no runtime works; nothing to benchmark", file=sys.stderr)
            return 1
        steps = [("lifecycle", self.m_lifecycle), ("run", self.m_run),
                 ("exec/state/list", self.m_running), ("delete -f", self.m_delete_force),
                 ("sequential/parallel", self.m_seq_par), ("peak RSS", self.m_rss),
                 ("idle containers", self.m_idle)]
        if self.args.only:
            want = set(self.args.only.split(","))
            steps = [(name, fn) for name, fn in steps if fn.__name__[2:] in want]
        for name, fn in steps:
            t = time.time()
            fn()
            print("bench: %-20s done in %5.1fs" % (name, time.time() - t), file=sys.stderr)
        self.stats()
        self.print_table()
        print("\ntotal benchmark time: %.0fs" % (time.time() - t0))
        if self.args.json:
            self.write_json(self.args.json)
        if self.args.strict and (self.failures or any(not rt.ok for rt in self.runtimes)):
            return 1
        return 0


def fmt(v, unit):
    if unit == "ms":
        return "%.2f ms" % v if v < 1000 else "%.2f s" % (v / 1000)
    if unit == "KiB":
        return "%.0f KiB" % v if abs(v) < 10240 else "%.1f MiB" % (v / 1024)
    if unit == "count":
        return "%.2f" % v if v != int(v) else "%d" % v
    return "%.2f" % v


def proc_stat(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(")") + 2:].split()
    return {"state": rest[0], "ppid": int(rest[1]), "flags": int(rest[6])}


def proc_comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return "?"


def user_pids():
    me = os.getpid()
    out = set()
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        pid = int(d)
        if pid == me:
            continue
        st = proc_stat(pid)
        if st and not st["flags"] & PF_KTHREAD and st["state"] != "Z":
            out.add(pid)
    return out


def is_descendant(pid, ancestor=None):
    ancestor = ancestor or os.getpid()
    seen = 0
    while pid > 1 and seen < 64:
        st = proc_stat(pid)
        if st is None:
            return False
        if st["ppid"] == ancestor:
            return True
        pid = st["ppid"]
        seen += 1
    return False


def charged_bytes(cgdir, v2):
    """What a memory cgroup (with its children) is charged, page by page:
    kernel memory plus anonymous and file pages. Not memory.usage_in_bytes
    or memory.current: those also count the pages each CPU holds charged
    ahead for the cgroups that recently allocated there, which moved the
    per-container figure by +-10 KiB between runs of one binary at N=100
    (this sum: +-2 KiB).
    None if unreadable."""
    try:
        with open(os.path.join(cgdir, "memory.stat")) as f:
            st = dict(l.split() for l in f if l.strip())
        if v2:
            return int(st["anon"]) + int(st["file"]) + int(st["kernel"]) + int(st.get("sock", 0))
        with open(os.path.join(cgdir, "memory.kmem.usage_in_bytes")) as f:
            kmem = int(f.read())
        return kmem + int(st["total_rss"]) + int(st["total_cache"])
    except (OSError, ValueError, KeyError):
        return None


def cgroup_memory(pids, exact=False):
    """Sum of memory usage (bytes) of the memory cgroups of the given pids
    (cgroup v1 memory.usage_in_bytes, or v2 memory.current; with exact, what
    charged_bytes counts); None if unknown."""
    total, seen = 0, set()
    for pid in pids:
        if not pid:
            return None
        path = None
        try:
            with open("/proc/%d/cgroup" % pid) as f:
                for line in f:
                    _, ctrls, rel = line.rstrip("\n").split(":", 2)
                    if "memory" in ctrls.split(","):
                        path = "/sys/fs/cgroup/memory%s/memory.usage_in_bytes" % rel
                        break
                    if ctrls == "" and os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
                        path = "/sys/fs/cgroup%s/memory.current" % rel
        except OSError:
            return None
        if path is None or path in seen:
            continue
        seen.add(path)
        if exact:
            b = charged_bytes(os.path.dirname(path), path.endswith("memory.current"))
            if b is None:
                return None
            total += b
            continue
        try:
            with open(path) as f:
                total += int(f.read())
        except (OSError, ValueError):
            return None
    return total


def drop_page_cache(path):
    """Drops `path`'s pages from the page cache (pages still mapped stay)."""
    try:
        fd = os.open(os.path.realpath(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    except OSError:
        pass
    finally:
        os.close(fd)


# /proc/meminfo fields reported per idle container (KiB each).
MEMINFO_FIELDS = [
    ("Slab", "slab (kernel objects)"), ("SUnreclaim", "  slab, unreclaimable"),
    ("KernelStack", "kernel stacks"), ("PageTables", "page tables"),
    ("Percpu", "per-cpu allocations"), ("VmallocUsed", "vmalloc (BPF programs, ...)"),
    ("Shmem", "shmem/tmpfs pages"), ("AnonPages", "anonymous pages"),
    ("Cached", "page cache (incl. shmem)"),
]
KERNEL_FIELDS = ("Slab", "KernelStack", "PageTables", "Percpu", "VmallocUsed")
# What one container holds, read from its init process (mean per container).
HOLD_FIELDS = [
    ("mounts", "mounts in its mount namespace"),
    ("superblocks", "superblocks of its own (not the host's)"),
    ("tmpfs", "  of which tmpfs"),
    ("userns", "own user namespace"),
    ("seccomp_filters", "seccomp filters (Seccomp_filters)"),
    ("state_bytes", "state dir bytes on disk"),
]


def meminfo():
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = int(v.split()[0])
    return out


def slabinfo():
    """Bytes in use per slab cache (active objects x object size)."""
    out = {}
    try:
        with open("/proc/slabinfo") as f:
            for line in f:
                if line.startswith(("slabinfo", "#")):
                    continue
                p = line.split()
                out[p[0]] = out.get(p[0], 0) + int(p[1]) * int(p[3])
    except OSError:
        pass
    return out


def host_devices():
    devs = set()
    with open("/proc/self/mountinfo") as f:
        for line in f:
            devs.add(line.split()[2])
    return devs


def container_holdings(pids):
    """Mean per container of what its init process holds."""
    host = host_devices()
    try:
        host_userns = os.readlink("/proc/self/ns/user")
    except OSError:
        host_userns = None
    tot = {"mounts": 0, "superblocks": 0, "tmpfs": 0, "userns": 0, "seccomp_filters": 0}
    k = 0
    for pid in pids:
        if not pid:
            continue
        try:
            with open("/proc/%d/mountinfo" % pid) as f:
                lines = f.read().splitlines()
            with open("/proc/%d/status" % pid) as f:
                status = f.read()
            userns = os.readlink("/proc/%d/ns/user" % pid)
        except OSError:
            continue
        k += 1
        own = {}
        for line in lines:
            p = line.split()
            fstype = p[p.index("-") + 1]
            if p[2] not in host:
                own[p[2]] = fstype
        tot["mounts"] += len(lines)
        tot["superblocks"] += len(own)
        tot["tmpfs"] += sum(1 for t in own.values() if t == "tmpfs")
        tot["userns"] += 1 if userns != host_userns else 0
        for line in status.splitlines():
            if line.startswith("Seccomp_filters:"):
                tot["seccomp_filters"] += int(line.split()[1])
    return {key: v / k for key, v in tot.items()} if k else {}


def dir_bytes(path):
    total = 0
    for d, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(d, name)).st_blocks * 512
            except OSError:
                pass
    return total


class ChargeCgroup:
    """A cgroup v1 memory cgroup the driver (and so every runtime command it
    starts) runs in while containers are created; None-valued on other hosts."""
    BASE = "/sys/fs/cgroup/memory"

    def __init__(self, name):
        self.path = None
        self.orig = None
        if not os.path.exists(os.path.join(self.BASE, "memory.usage_in_bytes")):
            return
        try:
            with open("/proc/self/cgroup") as f:
                for line in f:
                    _, ctrls, rel = line.rstrip("\n").split(":", 2)
                    if "memory" in ctrls.split(","):
                        self.orig = self.BASE + rel
            path = os.path.join(self.BASE, name)
            os.mkdir(path)
            self.path = path
        except OSError:
            self.path = None

    def enter(self):
        if self.path:
            with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))

    def leave(self):
        if self.path and self.orig:
            try:
                with open(os.path.join(self.orig, "cgroup.procs"), "w") as f:
                    f.write(str(os.getpid()))
            except OSError:
                pass

    def usage(self, pids):
        """Bytes charged to this cgroup (with its children) plus the memory
        cgroups of the containers that are not below it."""
        if not self.path:
            return None
        total = charged_bytes(self.path, False)
        if total is None:
            return None
        rel = self.path[len(self.BASE):]
        outside = [p for p in pids if p and not memcg_of(p).startswith(rel + "/")]
        rest = cgroup_memory(outside, exact=True)
        return None if rest is None else total + rest

    def remove(self):
        if self.path:
            self.leave()
            # v1 moves what is still charged (page cache) to the parent.
            for _ in range(50):
                try:
                    os.rmdir(self.path)
                    break
                except OSError:
                    time.sleep(0.1)
            self.path = None


def memcg_of(pid):
    try:
        with open("/proc/%d/cgroup" % pid) as f:
            for line in f:
                _, ctrls, rel = line.rstrip("\n").split(":", 2)
                if "memory" in ctrls.split(","):
                    return rel
    except OSError:
        pass
    return ""


def mem_available():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    raise RuntimeError("no MemAvailable")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--runtimes", required=True)
    ap.add_argument("--run-id", default="wb%d" % os.getpid())
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--strict", action="store_true")
    ap.add_argument("--systemd", action="store_true")
    ap.add_argument("--json")
    ap.add_argument("--iterations", type=int, default=0)
    ap.add_argument("--only", default="",
                    help="comma separated: lifecycle,run,running,delete_force,seq_par,rss,idle")
    ap.add_argument("--idle-n", type=int, default=0)
    ap.add_argument("--layers", action="store_true",
                    help="add ward with each defence lifted (w-X) and with all lifted (w-all)")
    args = ap.parse_args()

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print("bench: warning: could not become child subreaper", file=sys.stderr)

    def on_term(signum, frame):
        print("\nbench: got signal %d, cleaning up" % signum, file=sys.stderr)
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)

    b = Bench(args)
    try:
        rc = b.main()
    except KeyboardInterrupt:
        print("\nbench: interrupted, cleaning up", file=sys.stderr)
        rc = 130
    finally:
        # Cleanup must not be interrupted by a second Ctrl-C.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        b.cleanup()
    return rc


if __name__ == "__main__":
    sys.exit(main())
