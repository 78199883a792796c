#!/usr/bin/env python3
"""Runs the Concord vs crowd-kit truth-inference benchmark; called by ./run (see ../README.md).

    python suite.py            # settings come from the environment, as ./run documents

Standard library only: the measurements it takes are of other processes. Every command is
run as its own process under `/usr/bin/time -v` (peak RSS, CPU time; wall time is measured
here with a monotonic clock), or, where GNU time is missing, under this script's own
`_measure` helper, which reads the child's peak RSS from getrusage(RUSAGE_CHILDREN).

Writes RUN_DIR/raw.csv (one row per process run), RUN_DIR/summary.md (the tables, also
printed on stdout) and RUN_DIR/SETUP.md (machine, versions, seeds, threads, settings).
"""
import csv
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
ROOT = BENCH.parent
DRIVER = HERE / "crowdkit_bench.py"

# Names as the table shows them.
NAMES = {"mv": "MajorityVote", "wawa": "Wawa", "zbs": "ZeroBasedSkill", "ds": "DawidSkene",
         "ods": "OneCoinDawidSkene", "glad": "GLAD", "mace": "MACE"}


# --------------------------------------------------------------------------- settings

def env_int(name, default):
    v = os.environ.get(name, "")
    return int(v) if v.strip() else default


def env_flag(name):
    return os.environ.get(name, "").strip() not in ("", "0", "false", "no")


class Settings:
    def __init__(self):
        self.quick = env_flag("QUICK")
        self.skip_slow = env_flag("SKIP_SLOW")
        self.timeout = env_int("TIMEOUT", 900)
        self.repeat = max(1, env_int("REPEAT", 3))
        self.repeat_slow = max(1, env_int("REPEAT_SLOW", 1))
        self.ds_iters = env_int("DS_ITERS", 20)
        self.concord_ds_iters = env_int("CONCORD_DS_ITERS", self.ds_iters)
        self.threads = os.environ.get("THREADS", "").strip() or None
        self.python = os.environ.get("PY") or str(BENCH / ".venv" / "bin" / "python")
        self.concord = os.environ.get("CONCORD") or str(ROOT / "target" / "release" / "concord")
        self.work = Path(os.environ.get("WORK") or BENCH / "work")
        self.machine = os.environ.get("MACHINE") or platform.node() or "unknown"
        self.sets = {"100k": self.work / "synth-100k", "1m": self.work / "synth-1m"}
        self.set_order = ["100k"] if self.quick else ["1m", "100k"]
        default = "" if self.quick else "mv,wawa,ods,zbs,glad,mace"
        methods = os.environ.get("METHODS", default).replace(" ", ",").split(",")
        self.methods = [m for m in methods if m and m not in ("ds", "none")]
        unknown = [m for m in self.methods if m not in NAMES or m == "ds"]
        if unknown:
            sys.exit(f"suite.py: METHODS: unknown {unknown}; expected some of mv,wawa,ods,zbs,glad,mace")
        gnu_time = Path("/usr/bin/time")
        self.gnu_time = str(gnu_time) if gnu_time.exists() and _is_gnu_time(gnu_time) else None


def _is_gnu_time(path):
    try:
        r = subprocess.run([str(path), "-V"], capture_output=True, text=True, timeout=10)
        return "GNU" in (r.stdout + r.stderr)
    except (OSError, subprocess.SubprocessError):
        return False


# --------------------------------------------------------------------------- measuring

def load1():
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def measure(cfg, cmd, timeout=None):
    """Runs cmd as its own process; returns status, wall/user/sys seconds, peak RSS, output."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "usage"
        if cfg.gnu_time:
            wrapped = [cfg.gnu_time, "-v", "-o", str(report), *cmd]
        else:
            wrapped = [sys.executable, str(Path(__file__).resolve()), "_measure", str(report), "--", *cmd]
        la = load1()
        t0 = time.perf_counter()
        p = subprocess.Popen(wrapped, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
        try:
            out, err = p.communicate(timeout=timeout)
            status = "ok" if p.returncode == 0 else "err"
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, err = p.communicate()
            status = "timeout"
        wall = time.perf_counter() - t0
        usage = parse_usage(report.read_text() if report.exists() else "")
        if usage.get("user_s") is not None and usage.get("sys_s") is not None:
            usage["cpu_s"] = usage["user_s"] + usage["sys_s"]
    return {"status": status, "rc": p.returncode, "wall_s": wall, "stdout": out, "stderr": err,
            "load1": la, **usage}


def parse_usage(text):
    """GNU time -v output, or the `_measure` helper's JSON."""
    text = text.strip()
    if text.startswith("{"):
        return json.loads(text)

    def grab(label):
        m = re.search(re.escape(label) + r":\s*([0-9.]+)", text)
        return float(m.group(1)) if m else None

    rss = grab("Maximum resident set size (kbytes)")
    return {"user_s": grab("User time (seconds)"), "sys_s": grab("System time (seconds)"),
            "peak_rss_mb": rss / 1024.0 if rss is not None else None}


def measure_helper(report, cmd):
    """`suite.py _measure REPORT -- CMD...`: the fallback when GNU time is missing."""
    import resource
    rc = subprocess.call(cmd)
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    Path(report).write_text(json.dumps({"user_s": ru.ru_utime, "sys_s": ru.ru_stime,
                                        "peak_rss_mb": ru.ru_maxrss / 1024.0}))
    return rc


def last_json(text):
    """The JSON document at the end of a command's stdout."""
    text = text.strip()
    for start in (text.rfind("\n{"), text.rfind("\n["), 0):
        if start < 0:
            continue
        try:
            return json.loads(text[start:])
        except ValueError:
            continue
    raise ValueError(f"no JSON in output: {text[-300:]!r}")


# --------------------------------------------------------------------------- the two sides

class Bench:
    def __init__(self, cfg, run_dir):
        self.cfg = cfg
        self.run_dir = run_dir
        self.out_dir = cfg.work / "out"
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.raw = []
        self.results = {}  # (set, measure, method) -> dict

    def log(self, msg):
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    def record(self, set_name, side, method, kind, run, res, **extra):
        row = {"set": set_name, "side": side, "method": method, "kind": kind, "run": run,
               "status": res["status"], "wall_s": res.get("wall_s"), "user_s": res.get("user_s"),
               "sys_s": res.get("sys_s"), "peak_rss_mb": res.get("peak_rss_mb"),
               "load1": res.get("load1")}
        row.update(extra)
        self.raw.append(row)
        self.flush_raw()
        return row

    def flush_raw(self):
        cols = ["set", "side", "method", "kind", "run", "status", "n_iter", "tol", "fit_s",
                "iterations", "accuracy", "wall_s", "user_s", "sys_s", "peak_rss_mb", "load1",
                "note"]
        with open(self.run_dir / "raw.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
            w.writeheader()
            for r in self.raw:
                w.writerow({k: fmt_raw(r.get(k)) for k in cols})

    # ---- crowd-kit
    def crowdkit(self, set_name, method, kind, repeat, n_iter=None, tol=None, output=None):
        """Runs `crowdkit_bench.py fit` `repeat` times; returns the list of parsed runs."""
        labels = self.cfg.sets[set_name] / "labels.csv"
        runs = []
        for i in range(1, repeat + 1):
            cmd = [self.cfg.python, str(DRIVER), "fit", method, str(labels)]
            if n_iter is not None:
                cmd += ["--n-iter", str(n_iter)]
            if tol is not None:
                cmd += [f"--tol={tol}"]
            if output is not None:
                cmd += ["-o", str(output)]
            self.log(f"crowd-kit {NAMES[method]} {kind} on {set_name} (run {i}/{repeat})")
            res = measure(self.cfg, cmd, timeout=self.cfg.timeout)
            info = {}
            note = ""
            if res["status"] == "ok":
                info = last_json(res["stdout"])
            elif res["status"] == "timeout":
                note = f"killed after {self.cfg.timeout} s"
            else:
                note = last_line(res["stderr"])
            res.update(info)
            self.record(set_name, "crowd-kit", method, kind, i, res, n_iter=n_iter, tol=tol,
                        fit_s=info.get("fit_s"), iterations=info.get("iterations"), note=note)
            runs.append(res)
            if res["status"] != "ok":
                break  # a timeout or an error will not go better the second time
        return runs

    # ---- Concord
    def concord_cmd(self, *args):
        cmd = [self.cfg.concord]
        if self.cfg.threads:
            cmd += ["--threads", self.cfg.threads]
        return cmd + list(args)

    def concord_eval(self, set_name, method, kind, repeat, n_iter=None, tol=None):
        d = self.cfg.sets[set_name]
        runs = []
        for i in range(1, repeat + 1):
            cmd = self.concord_cmd("evaluate", str(d / "labels.csv"), "--truth", str(d / "truth.csv"),
                                   "--methods", method, "--json")
            if n_iter is not None:
                cmd += ["--max-iter", str(n_iter)]
            if tol is not None:
                cmd += ["--tol", str(tol)]
            self.log(f"Concord {method} {kind} on {set_name} (run {i}/{repeat})")
            res = measure(self.cfg, cmd)
            info, note = {}, ""
            if res["status"] == "ok":
                rows = [r for r in last_json(res["stdout"]) if r["method"] == method]
                info = {"fit_s": rows[0]["seconds"], "iterations": rows[0]["iterations"],
                        "accuracy": rows[0]["accuracy"]}
            else:
                note = last_line(res["stderr"])
                if "unknown method" in res["stderr"]:
                    res["status"] = "n/a"
                    note = f"concord has no method {method!r} on this branch"
            res.update(info)
            self.record(set_name, "concord", method, kind, i, res, n_iter=n_iter, tol=tol,
                        note=note, **info)
            runs.append(res)
            if res["status"] != "ok":
                break
        return runs

    def concord_aggregate(self, set_name, method, repeat, output):
        labels = self.cfg.sets[set_name] / "labels.csv"
        runs = []
        for i in range(1, repeat + 1):
            cmd = self.concord_cmd("aggregate", str(labels), "--method", method, "-o", str(output))
            self.log(f"Concord aggregate {method} process on {set_name} (run {i}/{repeat})")
            res = measure(self.cfg, cmd)
            note = ""
            if res["status"] != "ok":
                note = last_line(res["stderr"])
                if "unknown method" in res["stderr"]:
                    res["status"] = "n/a"
                    note = f"concord has no method {method!r} on this branch"
            self.record(set_name, "concord", method, "process", i, res, note=note)
            runs.append(res)
            if res["status"] != "ok":
                break
        return runs

    def score(self, set_name, output, other=None):
        truth = self.cfg.sets[set_name] / "truth.csv"
        if not Path(output).exists():
            return {}
        cmd = [sys.executable, str(DRIVER), "score", str(truth), str(output)]
        if other is not None and Path(other).exists():
            cmd.append(str(other))
        r = subprocess.run(cmd, capture_output=True, text=True, check=True)
        return json.loads(r.stdout)

    # ---- the measurements
    def ds_forced(self, set_name):
        cfg = self.cfg
        slow = set_name == "1m"
        ck = self.crowdkit(set_name, "ds", "forced", cfg.repeat_slow if slow else cfg.repeat,
                           n_iter=cfg.ds_iters, tol="-inf")
        cc = self.concord_eval(set_name, "ds", "forced", cfg.repeat, n_iter=cfg.concord_ds_iters, tol=0)
        self.results[(set_name, "ds_forced")] = {"ck": ck, "cc": cc}

    def method(self, set_name, method, ck_repeat):
        """Correctness first (both sides write labels; accuracy and agreement), then timings."""
        ck_out = self.out_dir / f"{set_name}-{method}-crowdkit.csv"
        cc_out = self.out_dir / f"{set_name}-{method}-concord.csv"
        for f in (ck_out, cc_out):
            f.unlink(missing_ok=True)
        cc_proc = self.concord_aggregate(set_name, method, 1, cc_out)
        ck = self.crowdkit(set_name, method, "fit", ck_repeat, output=ck_out)
        ck_ok = bool(ck) and ck[0]["status"] == "ok"
        check = {}
        if ck_ok:
            check["ck"] = self.score(set_name, ck_out, cc_out)
        if cc_proc and cc_proc[0]["status"] == "ok":
            check["cc"] = self.score(set_name, cc_out, ck_out if ck_ok else None)
        cc = self.concord_eval(set_name, method, "fit", self.cfg.repeat)
        if cc_proc and cc_proc[0]["status"] == "ok" and method == "ds" and self.cfg.repeat > 1:
            cc_proc += self.concord_aggregate(set_name, method, self.cfg.repeat - 1, cc_out)
        self.results[(set_name, method)] = {"ck": ck, "cc": cc, "cc_proc": cc_proc, "check": check}

    def run_all(self):
        cfg = self.cfg
        for s in cfg.set_order:
            self.ds_forced(s)
            self.method(s, "ds", cfg.repeat)
            for m in ("mv", "wawa", "ods"):
                if m in cfg.methods:
                    self.method(s, m, cfg.repeat)
            if s != "100k":
                continue  # ZBS, GLAD, MACE: crowd-kit takes minutes to hours on 1M labels
            if "zbs" in cfg.methods:
                self.method(s, "zbs", cfg.repeat_slow)
            for m in ("glad", "mace"):
                if m not in cfg.methods:
                    continue
                if cfg.skip_slow:
                    self.log(f"SKIP_SLOW: {NAMES[m]} is not run")
                    self.results[(s, m)] = {"skipped": True}
                else:
                    self.method(s, m, cfg.repeat_slow)


def last_line(text):
    lines = [l for l in (text or "").strip().splitlines() if l.strip()]
    return lines[-1][:300] if lines else ""


def fmt_raw(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return v


# --------------------------------------------------------------------------- summary

def median_of(runs, key):
    vals = [r[key] for r in runs if r.get("status") == "ok" and r.get(key) is not None]
    return statistics.median(vals) if vals else None


def status_of(runs):
    if not runs:
        return "not run"
    bad = [r["status"] for r in runs if r["status"] != "ok"]
    return bad[0] if bad else "ok"


def secs(v):
    if v is None:
        return "–"
    if v >= 100:
        return f"{v:.0f} s"
    if v >= 1:
        return f"{v:.2f} s"
    if v >= 0.001:
        return f"{v * 1000:.3g} ms"
    return f"{v * 1e6:.3g} µs"


def ratio_str(r, lower_bound=False):
    if r is None:
        return "n/a"
    s = f"{r:,.0f}×" if r >= 100 else f"{r:.1f}×" if r >= 10 else f"{r:.2f}×"
    return ("> " if lower_bound else "") + s


class Cell:
    """One side of one table row: a display string and the number the ratio is taken of."""

    def __init__(self, runs, key, per=None, fmt=secs, timeout=None):
        self.status = status_of(runs)
        self.value = median_of(runs, key)
        self.iters = median_of(runs, "iterations")
        self.n = sum(1 for r in runs if r.get("status") == "ok")
        if self.value is not None and per:
            it = self.iters if per == "iterations" else per
            self.value = self.value / it if it else None
        self.lower_bound = False
        if self.status == "timeout" and timeout:
            self.value, self.lower_bound = float(timeout), True
            self.text = f"> {timeout} s (timeout)"
        elif self.status == "ok":
            self.text = fmt(self.value)
        else:
            self.text = self.status

    def with_iters(self):
        if self.status == "ok" and self.iters:
            return f"{self.text} ({self.iters:.0f} it)"
        return self.text


def mb(v):
    return "–" if v is None else f"{v:,.0f} MB"


def summary(bench):
    cfg, res = bench.cfg, bench.results
    rows = []  # set, measure, ck, cc, ratio, target, verdict

    def add(set_name, what, ck, cc, target=None, note=""):
        r = None
        if ck.value is not None and cc.value not in (None, 0) and cc.status == "ok":
            r = ck.value / cc.value
        verdict = ""
        if target is not None:
            if r is None:
                verdict = "not measured"
            elif r >= target:
                verdict = "met"
            elif ck.lower_bound:
                verdict = "unknown (crowd-kit timed out)"
            else:
                verdict = "NOT met"
        rows.append([LABEL[set_name], what, ck.text, cc.text, ratio_str(r, ck.lower_bound), f"≥ {target:,}×" if target else "", verdict, note])

    big = "1m"
    for s in cfg.set_order:
        tgt = (lambda t: t if s == big else None)
        f = res.get((s, "ds_forced"))
        if f:
            ck = Cell(f["ck"], "fit_s", per="iterations")
            cc = Cell(f["cc"], "fit_s", per="iterations")
            add(s, f"DawidSkene, seconds per EM iteration (forced: crowd-kit {cfg.ds_iters}, "
                   f"Concord {cfg.concord_ds_iters} iterations)", ck, cc, tgt(100))
        d = res.get((s, "ds"))
        if d:
            ck = Cell(d["ck"], "fit_s", timeout=cfg.timeout)
            cc = Cell(d["cc"], "fit_s")
            ck.text, cc.text = ck.with_iters(), cc.with_iters()
            add(s, "DawidSkene, full fit to own convergence (defaults)", ck, cc, tgt(20))
            ckp = Cell(d["ck"], "wall_s", timeout=cfg.timeout)
            ccp = Cell(d["cc_proc"], "wall_s")
            cpu = [median_of(runs, "cpu_s") for runs in (d["ck"], d["cc_proc"])]
            note = ("CPU time (user+sys): crowd-kit " + secs(cpu[0]) + ", Concord " + secs(cpu[1])
                    if None not in cpu else "")
            add(s, "DawidSkene, whole process (crowd-kit: import + read_csv + fit + write; "
                   "`concord aggregate`)", ckp, ccp, tgt(10), note)
            ckm = Cell(d["ck"], "peak_rss_mb", fmt=mb)
            ccm = Cell(d["cc_proc"], "peak_rss_mb", fmt=mb)
            add(s, "DawidSkene, peak memory of that process (ratio = crowd-kit ÷ Concord)", ckm, ccm,
                tgt(4))
        for m in ("mv", "wawa", "ods", "zbs", "glad", "mace"):
            e = res.get((s, m))
            if not e:
                continue
            target = 1000 if (s == "100k" and m in ("zbs", "glad", "mace")) else None
            if e.get("skipped"):
                rows.append([LABEL[s], f"{NAMES[m]}, fit", "skipped (SKIP_SLOW)", "–", "n/a",
                             f"≥ {target:,}×" if target else "", "not measured", ""])
                continue
            ck = Cell(e["ck"], "fit_s", timeout=cfg.timeout)
            cc = Cell(e["cc"], "fit_s")
            ck.text, cc.text = ck.with_iters(), cc.with_iters()
            add(s, f"{NAMES[m]}, fit", ck, cc, target)

    acc_rows = []
    for s in cfg.set_order:
        for m in ("ds", "mv", "wawa", "ods", "zbs", "glad", "mace"):
            e = res.get((s, m))
            if not e or e.get("skipped"):
                continue
            chk = e.get("check", {})
            ck_acc = chk.get("ck", {}).get("accuracy")
            cc_acc = median_of(e["cc"], "accuracy")
            cc_file_acc = chk.get("cc", {}).get("accuracy")
            agree = chk.get("ck", {}).get("agreement")
            delta = None if ck_acc is None or cc_acc is None else (cc_acc - ck_acc) * 100
            if delta is None:
                verdict = "not measured"
            elif abs(delta) <= 0.1 + 1e-9:
                verdict = "within 0.1"
            elif delta > 0:
                verdict = "Concord higher"
            else:
                verdict = "Concord LOWER"
            ck_text = f"{ck_acc:.4f}" if ck_acc is not None else status_of(e["ck"])
            cc_text = f"{cc_acc:.4f}" if cc_acc is not None else status_of(e["cc"])
            if cc_acc is not None and cc_file_acc is not None and abs(cc_acc - cc_file_acc) > 1e-12:
                cc_text += f" (aggregate output: {cc_file_acc:.4f})"
            acc_rows.append([LABEL[s], NAMES[m], ck_text, cc_text,
                             "–" if delta is None else f"{round(delta, 3) + 0.0:+.3f}",
                             "–" if agree is None else f"{agree * 100:.2f} %", verdict])

    out = []
    loads = [r["load1"] for r in bench.raw if r.get("load1") is not None]
    cores = os.cpu_count() or 1
    if loads and max(loads) > cores:
        out.append(f"**Busy machine:** 1-minute load average {min(loads):.1f}–{max(loads):.1f} on "
                   f"{cores} cores during the measurements (other processes were running): wall "
                   "times are inflated and noisy, crowd-kit's and Concord's alike. Rerun on an idle "
                   "machine before drawing conclusions from the ratios.\n")
    out.append("## Speed and memory (median of runs; ratio = crowd-kit ÷ Concord, higher is better for Concord)\n")
    out.append(md_table(["set", "measure", "crowd-kit", "Concord", "ratio", "target", "verdict", "note"], rows))
    out.append("\n## Accuracy (truth from make_synthetic.py; Δ = Concord − crowd-kit in points; "
               "agreement = items where both sides give the same label)\n")
    out.append(md_table(["set", "method", "crowd-kit", "Concord", "Δ points", "agreement", "verdict"],
                        acc_rows))
    return "\n".join(out) + "\n"


LABEL = {"1m": "1M labels", "100k": "100k labels"}


def md_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- setup record

def sh(cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        return (r.stdout or r.stderr).strip()
    except (OSError, subprocess.SubprocessError) as e:
        return f"unavailable ({e})"


def setup_md(cfg, started, load_start, load_end, elapsed):
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, AttributeError):
        pass
    py_versions = sh([cfg.python, "-c", (
        "import importlib.metadata as m, platform, json\n"
        "d = {'python': platform.python_version()}\n"
        "for p in ['crowd-kit','pandas','numpy','scikit-learn','scipy']:\n"
        "    d[p] = m.version(p)\n"
        "try:\n"
        "    import threadpoolctl, numpy\n"
        "    d['blas'] = '; '.join(f\"{i['internal_api']} {i.get('version')} ({i['num_threads']} threads, {i.get('architecture')})\" for i in threadpoolctl.threadpool_info())\n"
        "except Exception as e:\n"
        "    d['blas'] = str(e)\n"
        "print(json.dumps(d))")])
    try:
        v = json.loads(py_versions)
    except ValueError:
        v = {"python": py_versions}
    git = sh(["git", "-C", str(ROOT), "rev-parse", "HEAD"])
    dirty = sh(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"])
    threads = cfg.threads or f"default (rayon: one per core = {os.cpu_count()})"
    lines = [
        f"# Setup of this run",
        "",
        f"- date (UTC): {started:%Y-%m-%d %H:%M:%S}; took {elapsed / 60:.1f} min",
        f"- machine: {cfg.machine}; CPU: {cpu}; cores: {os.cpu_count()}; memory: {mem}",
        f"- kernel: {platform.system()} {platform.release()}",
        f"- load average (1 min) at start: {load_start:.2f}, at end: {load_end:.2f}"
        + ("  — **the machine was busy: timings are noisy**" if max(load_start, load_end) > (os.cpu_count() or 1) else ""),
        f"- Concord: `{sh([cfg.concord, '--version'])}` at commit {git}{' (with uncommitted changes)' if dirty else ''}; "
        f"built with `cargo build --release -p concord-cli`",
        f"- {sh(['rustc', '-V'])}; {sh(['cargo', '-V'])}",
        f"- Python {v.get('python')}; crowd-kit {v.get('crowd-kit')}; pandas {v.get('pandas')}; "
        f"numpy {v.get('numpy')}; scikit-learn {v.get('scikit-learn')}; scipy {v.get('scipy')}",
        f"- BLAS (threadpoolctl): {v.get('blas')}",
        f"- OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, "
        f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE', '(unset)')}",
        f"- threads: Concord {threads}; crowd-kit one Python process (BLAS threads as above)",
        "- seeds: data `make_synthetic.py --seed 42`; Concord `--seed 0` (its default); crowd-kit MACE "
        "`random_state=0`, `np.random.seed(0)` before every fit",
        "- data: `python make_synthetic.py DIR --annotators 200 --classes 4 --per-item 10 --seed 42` with "
        "`--items 100000` (1M labels, bench/work/synth-1m) and `--items 10000` (100k labels, bench/work/synth-100k)",
        f"- settings: QUICK={int(cfg.quick)} SKIP_SLOW={int(cfg.skip_slow)} TIMEOUT={cfg.timeout} "
        f"REPEAT={cfg.repeat} REPEAT_SLOW={cfg.repeat_slow} DS_ITERS={cfg.ds_iters} "
        f"CONCORD_DS_ITERS={cfg.concord_ds_iters} METHODS={','.join(cfg.methods) or '(DS only)'}",
        f"- memory and CPU time measured with: {'GNU time (`/usr/bin/time -v`)' if cfg.gnu_time else 'getrusage(RUSAGE_CHILDREN) of a helper process'}; "
        "wall time with Python's `time.perf_counter` around the process",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main

def main():
    if len(sys.argv) > 1 and sys.argv[1] == "_measure":
        # suite.py _measure REPORT -- CMD...
        report, cmd = sys.argv[2], sys.argv[4:]
        return measure_helper(report, cmd)
    cfg = Settings()
    for s in cfg.set_order:
        for f in ("labels.csv", "truth.csv"):
            if not (cfg.sets[s] / f).exists():
                sys.exit(f"suite.py: {cfg.sets[s] / f} is missing (./run generates it)")
    for exe in (cfg.python, cfg.concord):
        if not Path(exe).exists():
            sys.exit(f"suite.py: {exe} is missing (./run builds it)")
    started = dt.datetime.now(dt.timezone.utc)
    runs = Path(os.environ.get("RUNS") or BENCH / "runs")
    base = f"{started:%Y-%m-%d}-{cfg.machine}" + ("-quick" if cfg.quick else "")
    run_dir = runs / base
    n = 2
    while run_dir.exists():
        run_dir = runs / f"{base}-{n}"
        n += 1
    run_dir.mkdir(parents=True)
    load_start = load1()
    if load_start > (os.cpu_count() or 1):
        print(f"suite.py: warning: load average {load_start:.1f} on {os.cpu_count()} cores; "
              "timings will be noisy", file=sys.stderr)
    t0 = time.perf_counter()
    bench = Bench(cfg, run_dir)
    try:
        bench.run_all()
    except KeyboardInterrupt:
        print("suite.py: interrupted; writing what was measured", file=sys.stderr)
    elapsed = time.perf_counter() - t0
    setup = setup_md(cfg, started, load_start, load1(), elapsed)
    (run_dir / "SETUP.md").write_text(setup)
    text = summary(bench)
    title = (f"# Concord vs crowd-kit: truth inference, {started:%Y-%m-%d} on {cfg.machine}"
             + (" (QUICK)" if cfg.quick else "") + "\n\n")
    (run_dir / "summary.md").write_text(title + text + "\n" + setup)
    print(title + text)
    print(f"Saved {run_dir.relative_to(ROOT) if run_dir.is_relative_to(ROOT) else run_dir}/"
          "{raw.csv,summary.md,SETUP.md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
