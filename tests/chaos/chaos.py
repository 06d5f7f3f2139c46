#!/usr/bin/python3
"""make chaos: the seed workflow at quickstart scale against the embedded
engine, under injected faults and under SIGKILL, checked with the engine's
own List calls.

  1. baseline  one fault-free run; its report.json MSEs are the reference.
  2. faults    the same run against engines started with --faults
               throttle=0.1,5xx=0.05,drop=0.02,latency=20ms,seed=N.
  3. crash     the runner is SIGKILLed at 40+ points (right after a given
               progress line, or after a given time), resumed, sometimes
               killed again, until the run completes.
  4. state     the state database after a kill, a torn or corrupted WAL, a
               corrupted main file: recovered by SQLite (integrity_check ok,
               resume completes with the same results) or refused with a
               clear error, never silently wrong.

Every check after a run: it completed; exactly one training job per
variant (more only if an earlier attempt Failed), none still in progress;
no endpoint, endpoint config or model left; the engine's request log holds
exactly one successful Create of each kind per variant (what List cannot
show once cleanup deleted it); MSEs equal the baseline's.

Each engine has its own data directory under a temporary directory and
port 0, and is stopped at the end. Exit status 0 only when all passed.

  tests/chaos/chaos.py [--sagerun PATH] [--seeds 1,2,3] [--only PHASE,...]
                       [--keep]
"""
import argparse
import json
import os
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKFLOW = os.path.join(SRC, "workflows", "quickstart.yaml")
AWS = "/usr/bin/aws"
VARIANTS = ("ShardedByS3Key-2", "FullyReplicated-2")
RUN_TIMEOUT = 300

# Kill points: (pattern in a runner line, occurrence, delay in ms after it),
# or ("@", 0, ms after start) for a time-based kill. Grouped by phase, in
# the order the quickstart prints them. A kill point the run finishes
# before is a failure (the count of points exercised must be honest): the
# lines chosen are printed by every run, and a run takes about 6 s.
P = "progress   "
S = "started    "
D = "succeeded  "
SH = "variant[2,ShardedByS3Key]."
FR = "variant[2,FullyReplicated]."
KILL_POINTS = [
    # data preparation
    ("data", S + "bucket", 1, 0),
    ("data", S + "events", 1, 0),
    ("data", P + "events: downloading", 1, 0),
    ("data", P + "profile: reading", 1, 0),
    ("data", D + "events", 1, 0),
    ("data", S + "prepare[1979]", 1, 0),
    ("data", P + "prepare[1979]: merging", 1, 0),
    ("data", P + "prepare[1979]: uploading", 1, 0),
    ("data", P + "test_data: uploading", 1, 0),
    ("data", D + "prepare[1979]", 1, 0),
    # training
    ("train", S + SH + "train", 1, 0),
    ("train", S + FR + "train", 1, 0),
    ("train", P + SH + "train: Starting", 1, 0),
    ("train", P + FR + "train: Starting", 1, 300),
    ("train", S + FR + "train", 1, 2500),
    ("train", S + SH + "train", 1, 3500),
    ("train", P + SH + "train: Starting", 2, 1200),
    ("train", P + SH + "train: Completed", 1, 0),
    ("train", D + FR + "train", 1, 0),
    ("train", S + SH + "timing", 1, 0),
    # model, config, endpoints starting
    ("endpoint", S + SH + "model", 1, 0),
    ("endpoint", D + FR + "model", 1, 0),
    ("endpoint", S + SH + "endpoint_config", 1, 0),
    ("endpoint", D + FR + "endpoint_config", 1, 0),
    ("endpoint", S + SH + "endpoint ", 1, 0),
    ("endpoint", P + FR + "endpoint: Creating", 1, 0),
    ("endpoint", D + SH + "endpoint", 1, 0),
    # evaluation
    ("evaluate", S + SH + "evaluate", 1, 0),
    ("evaluate", P + FR + "evaluate: downloading", 1, 0),
    ("evaluate", P + SH + "evaluate: 1 payloads", 1, 0),
    ("evaluate", D + FR + "evaluate", 1, 0),
    ("evaluate", S + "report", 1, 0),
    # cleanup
    ("cleanup", S + "cleanup", 1, 0),
    ("cleanup", P + "cleanup: StopTrainingJob", 1, 0),
    ("cleanup", P + "cleanup: DeleteEndpoint ", 1, 0),
    ("cleanup", P + "cleanup: waiting for", 1, 0),
    ("cleanup", P + "cleanup: DeleteEndpointConfig", 1, 0),
    ("cleanup", P + "cleanup: DeleteModel", 1, 0),
    # time-based, wherever the run happens to be
    ("time", "@", 0, 50),
    ("time", "@", 0, 700),
    ("time", "@", 0, 1500),
    ("time", "@", 0, 2200),
    ("time", "@", 0, 3000),
    ("time", "@", 0, 3800),
    ("time", "@", 0, 4500),
]

# Killed twice: in the run, then again in the first resume.
DOUBLE_KILLS = [
    ((S + SH + "train", 1, 0), (P + FR + "train: Starting", 1, 800)),
    ((P + "prepare[1979]: uploading", 1, 0), (S + FR + "endpoint ", 1, 0)),
    ((D + SH + "endpoint", 1, 0), (S + "cleanup", 1, 0)),
    ((S + "cleanup", 1, 0), (P + "cleanup: DeleteEndpointConfig", 1, 0)),
    (("@", 0, 2500), ("@", 0, 1500)),
]

# The fault phase's retry budget. The faults fail about 17 % of requests;
# botocore's standard mode (3 attempts, which sagerun follows) then gives
# up on about 0.5 % of requests, a few in every hundred runs of ~60
# requests: a failed step, not a wrong one (resume finishes it). As a user
# on so bad a network would, the suite raises the budget with the knob
# botocore reads too.
FAULT_MAX_ATTEMPTS = "8"

# The engine keeps jobs in flight this long (instances "launching"), so
# kills land while they train.
LAUNCH_SECONDS = "2"


class Failure(Exception):
    pass


def log(msg):
    print(msg, flush=True)


class Engine:
    """One embedded engine: own data dir, port 0, stopped by stop()."""

    def __init__(self, sagerun, root, name, faults=None, launch=None):
        self.sagerun = sagerun
        self.dir = os.path.join(root, name)
        self.env = dict(os.environ)
        self.env["SAGERUN_LOCAL_DIR"] = self.dir
        self.env.pop("SAGERUN_LOCAL_LAUNCH_SECONDS", None)
        if launch:
            self.env["SAGERUN_LOCAL_LAUNCH_SECONDS"] = launch
        argv = [sagerun, "local", "start", "--port", "0", "--data-dir", self.dir]
        if faults:
            argv += ["--faults", faults]
        r = subprocess.run(argv, env=self.env, capture_output=True, text=True)
        if r.returncode != 0:
            raise Failure("engine start: " + r.stderr.strip())
        r = subprocess.run(
            [sagerun, "local", "credentials", "--data-dir", self.dir],
            env=self.env, capture_output=True, text=True)
        self.aws_env = dict(self.env)
        for line in r.stdout.splitlines():
            if line.startswith("export ") and "=" in line:
                k, v = line[7:].split("=", 1)
                self.aws_env[k] = v
        empty = os.path.join(root, "empty")
        open(empty, "w").close()
        self.aws_env["AWS_CONFIG_FILE"] = empty
        self.aws_env["AWS_SHARED_CREDENTIALS_FILE"] = empty
        self.aws_env["AWS_EC2_METADATA_DISABLED"] = "true"
        self.aws_env.pop("AWS_PROFILE", None)
        self.url = self.aws_env.get("AWS_ENDPOINT_URL")
        if not self.url:
            raise Failure("engine: no AWS_ENDPOINT_URL in its credentials")

    def stop(self):
        subprocess.run([self.sagerun, "local", "stop", "--data-dir", self.dir],
                       env=self.env, capture_output=True)

    def lists(self):
        """The engine's own List calls (Debian's CLI 2.9 needs
        --endpoint-url), run side by side."""
        calls = {
            "jobs": ("list-training-jobs", "TrainingJobSummaries"),
            "endpoints": ("list-endpoints", "Endpoints"),
            "configs": ("list-endpoint-configs", "EndpointConfigs"),
            "models": ("list-models", "Models"),
        }
        procs = {}
        for key, (op, _) in calls.items():
            procs[key] = subprocess.Popen(
                [AWS, "sagemaker", op, "--output", "json", "--endpoint-url",
                 self.url], env=self.aws_env, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True)
        out = {}
        for key, p in procs.items():
            so, se = p.communicate(timeout=120)
            if p.returncode != 0:
                raise Failure("aws sagemaker %s: %s" % (calls[key][0],
                                                        se.strip()))
            out[key] = json.loads(so or "{}").get(calls[key][1], [])
        return out


def runner_env(engine):
    env = dict(engine.env)
    env.pop("SAGERUN_LOCAL_LAUNCH_SECONDS", None)
    env.pop("AWS_MAX_ATTEMPTS", None)
    return env


def run_runner(argv, env, cwd, kill=None):
    """Runs the runner; with kill=(pattern, occurrence, delay_ms), SIGKILLs
    it right after the occurrence-th line containing pattern (or delay_ms
    after start for pattern "@"). Returns (status, output, killed) where
    status is the exit code, or None when killed."""
    p = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    start = time.monotonic()
    deadline_kill = None
    if kill and kill[0] == "@":
        deadline_kill = start + kill[2] / 1000.0
    seen = 0
    buf = b""
    lines = []
    killed = False
    fd = p.stdout.fileno()
    while True:
        now = time.monotonic()
        if now - start > RUN_TIMEOUT:
            p.kill()
            p.wait()
            raise Failure("runner still running after %d s" % RUN_TIMEOUT)
        if deadline_kill is not None and now >= deadline_kill:
            p.send_signal(signal.SIGKILL)
            killed = True
            break
        wait = 0.5 if deadline_kill is None else max(0, deadline_kill - now)
        r, _, _ = select.select([fd], [], [], wait)
        if not r:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buf += chunk
        hit = False
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            text = line.decode("utf-8", "replace")
            lines.append(text)
            if kill and kill[0] != "@" and kill[0] in text:
                seen += 1
                if seen == kill[1]:
                    hit = True
                    break
        if hit:
            if kill[2]:
                time.sleep(kill[2] / 1000.0)
            p.send_signal(signal.SIGKILL)
            killed = True
            break
    if killed:
        p.wait()
        p.stdout.close()
        return None, "\n".join(lines), True
    if buf:
        lines.append(buf.decode("utf-8", "replace"))
    p.stdout.close()
    return p.wait(), "\n".join(lines), False


def label(kill):
    pat, _, delay = kill
    if pat == "@":
        return "at %d ms" % delay
    return " ".join(pat.split()) + (" +%d ms" % delay if delay else "")


def run_id_of(output):
    for line in output.splitlines():
        if line.startswith("run ") and " of " in line:
            return line.split()[1]
    return None


def report_mse(cwd, run_id):
    path = os.path.join(cwd, "reports", run_id, "report.json")
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise Failure("report.json of %s: %s" % (run_id, e))
    return [v.get("mse") for v in doc.get("variants", [])]


def check_engine(engine, run_id, allow_failed=True):
    """The engine's List calls: one Completed training job per variant of
    run_id (others only Failed), nothing in progress, no endpoint, config
    or model left."""
    l = engine.lists()
    problems = []
    for v in VARIANTS:
        jobs = [j for j in l["jobs"]
                if j["TrainingJobName"].startswith(v + "-" + run_id)]
        done = [j for j in jobs if j["TrainingJobStatus"] == "Completed"]
        other = [j for j in jobs if j["TrainingJobStatus"] != "Completed"]
        if len(done) != 1:
            problems.append("%d Completed training jobs for %s: %s" % (
                len(done), v, ", ".join(j["TrainingJobName"] for j in jobs)))
        for j in other:
            if not allow_failed or j["TrainingJobStatus"] != "Failed":
                problems.append("training job %s is %s" % (
                    j["TrainingJobName"], j["TrainingJobStatus"]))
    foreign = [j["TrainingJobName"] for j in l["jobs"]
               if run_id not in j["TrainingJobName"]]
    if foreign:
        problems.append("training jobs of no run of ours: " + ", ".join(foreign))
    for key, field in (("endpoints", "EndpointName"),
                       ("configs", "EndpointConfigName"),
                       ("models", "ModelName")):
        if l[key]:
            problems.append("%s left: %s" % (key, ", ".join(
                x[field] for x in l[key])))
    # What List cannot show any more (cleanup deleted it): the engine's
    # request log holds one successful Create per resource it made.
    with open(os.path.join(engine.dir, "engine.log"), errors="replace") as f:
        text = f.read()
    for op in ("CreateTrainingJob", "CreateModel", "CreateEndpointConfig",
               "CreateEndpoint"):
        n = text.count("sagemaker %s POST / -> 200" % op)
        if n != len(VARIANTS):
            problems.append("%d successful %s calls" % (n, op))
    if problems:
        raise Failure("; ".join(problems))
    return len(l["jobs"])


def db_integrity(path, into):
    """Copies the state database as a killed runner left it (with its WAL)
    and opens the copy: SQLite recovers the WAL; integrity_check must say
    ok. Returns (result, what it holds)."""
    os.makedirs(into, exist_ok=True)
    copy = os.path.join(into, "state.db")
    for suffix in ("", "-wal"):
        if os.path.exists(path + suffix):
            shutil.copyfile(path + suffix, copy + suffix)
    con = sqlite3.connect(copy)
    try:
        ok = con.execute("PRAGMA integrity_check").fetchone()[0]
        n = "%d step rows written, %d intents, %d ledger rows" % tuple(
            con.execute(q).fetchone()[0] for q in (
                "SELECT count(*) FROM steps WHERE status != 'pending'",
                "SELECT count(*) FROM journal",
                "SELECT count(*) FROM ledger"))
    finally:
        con.close()
    return ok, n


class Suite:
    def __init__(self, args):
        self.args = args
        self.root = tempfile.mkdtemp(prefix="sagerun-chaos-")
        # A private copy: a rebuild of the tree during the suite must not
        # swap the binary under its engines (they would restart, and a
        # worker of the old one would find no file to exec).
        os.makedirs(os.path.join(self.root, "bin"))
        self.sagerun = os.path.join(self.root, "bin", "sagerun")
        shutil.copy2(os.path.abspath(args.sagerun), self.sagerun)
        self.passed = 0
        self.failed = 0
        self.failures = []
        self.baseline = None
        self.reached = set()
        self.engines = []

    def engine(self, name, **kw):
        e = Engine(self.sagerun, self.root, name, **kw)
        self.engines.append(e)
        return e

    def stop_all(self):
        for e in self.engines:
            e.stop()
        self.engines = []

    def record(self, name, fn):
        t0 = time.monotonic()
        try:
            detail = fn()
            self.passed += 1
            log("ok    %-58s %5.1f s  %s" % (name, time.monotonic() - t0,
                                             detail or ""))
        except Failure as e:
            self.failed += 1
            self.failures.append((name, str(e).splitlines()[0]))
            log("FAIL  %-58s %5.1f s  %s" % (name, time.monotonic() - t0, e))
        finally:
            self.stop_all()

    def workdir(self, name):
        d = os.path.join(self.root, name)
        os.makedirs(d, exist_ok=True)
        return d

    def plain_run(self, name, faults=None, seed_params=()):
        cwd = self.workdir(name)
        e = self.engine(name + "-engine", faults=faults)
        state = os.path.join(cwd, "state.db")
        argv = [self.sagerun, "run", WORKFLOW, "--state", state] + list(
            seed_params)
        env = runner_env(e)
        if faults:
            env["AWS_MAX_ATTEMPTS"] = FAULT_MAX_ATTEMPTS
        status, out, _ = run_runner(argv, env, cwd)
        if status != 0:
            raise Failure("run exited %s:\n%s" % (status, out[-3000:]))
        rid = run_id_of(out)
        jobs = check_engine(e, rid)
        return rid, report_mse(cwd, rid), jobs

    # 1. baseline ---------------------------------------------------------
    def phase_baseline(self):
        def t():
            rid, mse, jobs = self.plain_run("baseline")
            if len(mse) != 2 or not all(isinstance(m, (int, float)) and m > 0
                                        for m in mse):
                raise Failure("baseline MSEs %r" % (mse,))
            self.baseline = mse
            return "MSE %s, %d jobs" % (mse, jobs)
        self.record("baseline: fault-free quickstart", t)

    def same_mse(self, mse):
        if self.baseline is not None and mse != self.baseline:
            raise Failure("MSE %r differs from the fault-free %r" % (
                mse, self.baseline))

    # 2. faults -----------------------------------------------------------
    def phase_faults(self):
        for seed in self.args.seeds:
            spec = "throttle=0.1,5xx=0.05,drop=0.02,latency=20ms,seed=%d" % seed
            def t(spec=spec, seed=seed):
                rid, mse, jobs = self.plain_run("faults-%d" % seed, faults=spec)
                self.same_mse(mse)
                return "MSE %s, %d jobs" % (mse, jobs)
            self.record("faults: " + spec, t)

    # 3. crash ------------------------------------------------------------
    def crash_trial(self, name, kills):
        """kills: the kill point of the run, then of each resume in turn."""
        cwd = self.workdir(name)
        e = self.engine(name + "-engine", launch=LAUNCH_SECONDS)
        env = runner_env(e)
        state = os.path.join(cwd, "state.db")
        argv = [self.sagerun, "run", WORKFLOW, "--state", state]
        rid = None
        resumes = 0
        reached = []
        for i in range(8):
            kill = kills[i] if i < len(kills) else None
            status, out, killed = run_runner(argv, env, cwd, kill)
            rid = rid or run_id_of(out)
            if killed:
                reached.append(kill)
                ok, _ = db_integrity(state, os.path.join(cwd, "db-%d" % i))
                if ok != "ok":
                    raise Failure("state after kill %d: integrity_check %s" %
                                  (i, ok))
            elif kill is not None:
                raise Failure("kill point %r never reached:\n%s" %
                              (kill, out[-2000:]))
            elif status == 0:
                break
            elif status == 2 and "no unfinished run" in out:
                break  # the killed runner had finished it
            else:
                raise Failure("%s exited %s:\n%s" % (argv[1], status,
                                                     out[-3000:]))
            if rid is None:
                # Killed before it printed its run id: the resume finds it.
                pass
            argv = [self.sagerun, "resume", "--state", state]
            resumes += 1
        else:
            raise Failure("no completion after 8 runners")
        if rid is None:
            rid = run_id_of(out)
        r = subprocess.run([self.sagerun, "runs", "--state", state],
                           capture_output=True, text=True, env=env)
        if rid is None:
            rows = r.stdout.splitlines()[1:]
            rid = rows[0].split()[0] if rows else None
        if rid is None or not any(
                l.split()[:1] == [rid] and "succeeded" in l
                for l in r.stdout.splitlines()):
            raise Failure("run %s not succeeded:\n%s" % (rid, r.stdout))
        jobs = check_engine(e, rid)
        mse = report_mse(cwd, rid)
        self.same_mse(mse)
        for k in reached:
            self.reached.add(k)
        return "%d kill(s), %d resume(s), %d jobs" % (len(reached), resumes,
                                                    jobs)

    def phase_crash(self):
        for i, (phase, pat, occ, delay) in enumerate(KILL_POINTS):
            k = (pat, occ, delay)
            self.record("crash[%s]: %s" % (phase, label(k)),
                        lambda k=k, i=i: self.crash_trial("crash-%02d" % i,
                                                          [k]))
        for i, (a, b) in enumerate(DOUBLE_KILLS):
            self.record("crash[twice]: %s, then %s" % (label(a), label(b)),
                        lambda a=a, b=b, i=i: self.crash_trial(
                            "twice-%02d" % i, [a, b]))
        n = len(self.reached)
        if n < 30:
            self.failed += 1
            self.failures.append(("crash", "only %d kill points reached" % n))
            log("FAIL  crash: only %d distinct kill points reached" % n)
        else:
            log("crash: %d distinct kill points reached" % n)

    # 4. state database ---------------------------------------------------
    def phase_state(self):
        self.record("state: torn WAL tail, recovered or refused",
                    self.state_torn_wal)
        self.record("state: corrupted main file is refused",
                    self.state_corrupt_main)

    def killed_state(self, name, kill):
        """A state database as a runner killed at kill left it, with the
        engine it ran against (still running)."""
        cwd = self.workdir(name)
        e = self.engine(name + "-engine", launch=LAUNCH_SECONDS)
        state = os.path.join(cwd, "state.db")
        status, out, killed = run_runner(
            [self.sagerun, "run", WORKFLOW, "--state", state], runner_env(e),
            cwd, kill)
        if not killed:
            raise Failure("kill point %r never reached" % (kill,))
        return cwd, e, state, run_id_of(out)

    def state_torn_wal(self):
        """The WAL cut mid-frame and its last frame's bytes flipped, as an
        interrupted write could leave them: SQLite's checksums drop the torn
        tail (the database is as of an earlier commit), then the resume
        completes and the engine shows no duplicate and nothing left; or
        sagerun refuses the file with a clear message."""
        results = []
        for how in ("truncate", "flip"):
            cwd, e, state, rid = self.killed_state(
                "torn-" + how, (P + SH + "train: Starting", 1, 300))
            wal = state + "-wal"
            _, before = db_integrity(state, os.path.join(cwd, "whole"))
            size = os.path.getsize(wal) if os.path.exists(wal) else 0
            if size < 4096:
                raise Failure("no WAL to tear (%d bytes)" % size)
            # A WAL frame is 24 bytes of header and a page: cut or damage
            # the last committed frames halfway.
            if how == "truncate":
                with open(wal, "r+b") as f:
                    f.truncate(size - 2500)
            else:
                with open(wal, "r+b") as f:
                    f.seek(size - 2000)
                    f.write(b"\xa5" * 64)
            ok, n = db_integrity(state, os.path.join(cwd, "check"))
            if ok != "ok":
                raise Failure("torn WAL (%s): integrity_check %s" % (how, ok))
            env = runner_env(e)
            status, out, _ = run_runner(
                [self.sagerun, "resume", "--state", state], env, cwd)
            if status != 0:
                # Refused: the message must say what is wrong.
                if "state" not in out and "database" not in out:
                    raise Failure("resume after torn WAL failed unclearly:\n"
                                  + out[-2000:])
                results.append("%s: refused (%s)" % (
                    how, out.strip().splitlines()[-1]))
                continue
            check_engine(e, rid)
            self.same_mse(report_mse(cwd, rid))
            results.append("%s: recovered as of an earlier commit (%s; "
                           "untorn: %s), resumed" % (how, n, before))
            e.stop()
        return "; ".join(results)

    def state_corrupt_main(self):
        """Pages of the main file overwritten: status and resume exit
        nonzero with a message naming the file, never a wrong answer."""
        cwd, e, state, rid = self.killed_state(
            "corrupt-main", (S + SH + "endpoint ", 1, 0))
        # Checkpoint the WAL into the file first, so the pages hold it all.
        con = sqlite3.connect(state)
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()
        size = os.path.getsize(state)
        results = []
        for how, offset in (("header", 0), ("page 2", 4096),
                            ("last page", size - 4096)):
            bad = os.path.join(cwd, "bad-%d.db" % offset)
            shutil.copyfile(state, bad)
            with open(bad, "r+b") as f:
                f.seek(offset)
                f.write(bytes((i * 37 + 11) % 256 for i in range(512)))
            for cmd in (["status"], ["resume"]):
                r = subprocess.run([self.sagerun] + cmd + ["--state", bad],
                                   capture_output=True, text=True, cwd=cwd,
                                   env=runner_env(e), timeout=RUN_TIMEOUT)
                msg = (r.stderr.strip() or r.stdout.strip()).splitlines()
                msg = msg[-1] if msg else ""
                if r.returncode == 0:
                    raise Failure("%s on a %s-corrupted state exited 0:\n%s"
                                  % (cmd[0], how, r.stdout[-1500:]))
                if "damaged" not in msg and "not a usable" not in msg:
                    raise Failure("%s on a %s-corrupted state: unclear: %s" %
                                  (cmd[0], how, msg))
            results.append("%s: %s" % (how, msg))
        # The intact file still resumes to the end.
        status, out, _ = run_runner(
            [self.sagerun, "resume", "--state", state], runner_env(e), cwd)
        if status != 0:
            raise Failure("intact state did not resume:\n" + out[-2000:])
        check_engine(e, rid)
        self.same_mse(report_mse(cwd, rid))
        return " | ".join(results)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sagerun", default=os.path.join(SRC, "build", "default",
                                                      "sagerun"))
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--only", default="baseline,faults,crash,state")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory")
    args = ap.parse_args()
    args.seeds = [int(s) for s in args.seeds.split(",") if s]
    if not os.access(AWS, os.X_OK):
        log("chaos: %s is needed for the engine's List calls" % AWS)
        return 1
    def interrupted(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, interrupted)
    s = Suite(args)
    t0 = time.monotonic()
    log("chaos: working in %s" % s.root)
    phases = args.only.split(",")
    try:
        if "baseline" in phases or "faults" in phases or "crash" in phases:
            s.phase_baseline()
        if "faults" in phases:
            s.phase_faults()
        if "crash" in phases:
            s.phase_crash()
        if "state" in phases:
            s.phase_state()
    except KeyboardInterrupt:
        s.failed += 1
        s.failures.append(("chaos", "interrupted"))
    finally:
        s.stop_all()
    for name, why in s.failures:
        log("failed: %s: %s" % (name, why))
    log("chaos: %d passed, %d failed in %.0f s" % (
        s.passed, s.failed, time.monotonic() - t0))
    if s.failed == 0 and not args.keep:
        shutil.rmtree(s.root, ignore_errors=True)
    else:
        log("chaos: kept %s" % s.root)
    return 1 if s.failed else 0


if __name__ == "__main__":
    sys.exit(main())
