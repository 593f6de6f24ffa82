"""Starts and stops a real `weir server` process for the integration tests.

Every test script takes the path of the `weir` binary as its first argument (meson
passes it), starts a server on 127.0.0.1 with port 0 and a temporary data dir, reads
the bound port from the line the server prints, and stops it by PID: SIGTERM for a
clean stop, SIGKILL for a crash. Exit code 77 tells meson the test was skipped (a
client tool or library is missing).
"""

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SKIP = 77
READY = re.compile(rb"weir server: node (\d+) of cluster (\S+) serving on 127\.0\.0\.1:(\d+), data in (.*)")


def _die_with_parent():
    """In the server's child process: SIGKILL it when the test process dies, so a test
    killed by meson's timeout leaves no server behind (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def _exit_on_sigterm(signum, frame):
    # meson stops a test that runs over its timeout with SIGTERM: unwind, so the
    # `with`/`finally` blocks stop the server and remove its data dir.
    raise SystemExit(f"terminated by signal {signum}")


signal.signal(signal.SIGTERM, _exit_on_sigterm)


def skip(reason):
    print(f"SKIP: {reason}", flush=True)
    sys.exit(SKIP)


def weir_binary():
    if len(sys.argv) < 2:
        sys.exit(f"usage: {sys.argv[0]} path/to/weir [args...]")
    path = os.path.abspath(sys.argv[1])
    if not os.access(path, os.X_OK):
        sys.exit(f"{path} is not an executable weir binary")
    return path


def require_module(name):
    try:
        return __import__(name)
    except ImportError:
        skip(f"python module {name} is not installed")


def require_program(name):
    path = shutil.which(name)
    if path is None:
        skip(f"{name} is not installed")
    return path


class WeirServer:
    """One `weir server` process on a data dir that outlives restarts."""

    def __init__(self, weir, data_dir=None, overrides=(), start_timeout=30.0, no_arguments=False):
        """no_arguments: run `weir server` exactly as a new user first does, with no
        arguments, in a fresh working directory (127.0.0.1:9092, controller on 9093,
        data in ./data)."""
        self.weir = weir
        self.no_arguments = no_arguments
        self._own_dir = data_dir is None
        self.workdir = tempfile.mkdtemp(prefix="weir-integ-cwd-") if no_arguments else None
        if no_arguments:
            data_dir = os.path.join(self.workdir, "data")
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="weir-integ-")
        self.overrides = list(overrides)
        self.start_timeout = start_timeout
        self.proc = None
        self.port = None
        # 0: a free port on every start. A test that restarts the server under a
        # running client sets it to the port it had, so the client reconnects.
        self.listen_port = 0
        self.cluster_id = None
        self.stdout_lines = []
        self.stderr_path = self.data_dir.rstrip("/") + ".stderr"

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        assert self.proc is None, "server already running"
        args = [self.weir, "server"]
        if not self.no_arguments:
            args += ["--override", f"listeners=PLAINTEXT://127.0.0.1:{self.listen_port},CONTROLLER://127.0.0.1:0",
                     "--override", f"log.dirs={self.data_dir}"]
        for o in self.overrides:
            args += ["--override", o]
        self._stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self._stderr,
                                     stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent,
                                     cwd=self.workdir)
        deadline = time.monotonic() + self.start_timeout
        buf = b""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.crash()
                raise RuntimeError(f"weir server did not print its ready line; stderr: {self.stderr_text()}")
            ready, _, _ = select.select([self.proc.stdout], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                code = self.proc.wait()
                self.proc = None
                raise RuntimeError(f"weir server exited with {code} before serving; stderr: {self.stderr_text()}")
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                self.stdout_lines.append(line.decode(errors="replace"))
                m = READY.match(line)
                if m:
                    self.cluster_id = m.group(2).decode()
                    self.port = int(m.group(3))
                    self._rest = buf
                    return self

    def stderr_text(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode(errors="replace")[-4000:]
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=30.0):
        """SIGTERM, then waits; the server must say it stopped cleanly and exit 0."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            raise RuntimeError(f"weir server did not stop within {timeout}s of SIGTERM")
        code = self.proc.returncode
        self.proc = None
        self._stderr.close()
        text = (self._rest + out).decode(errors="replace")
        self.stdout_lines += text.splitlines()
        if code != 0 or "weir server: stopped cleanly" not in text:
            raise RuntimeError(f"unclean stop: exit {code}, stdout {text!r}, stderr {self.stderr_text()}")

    def crash(self):
        """SIGKILL: no flush, no clean-shutdown marker."""
        if self.proc is None:
            return
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.proc.stdout.close()
        self.proc = None
        self._stderr.close()

    def restart(self):
        self.stop()
        return self.start()

    def cleanup(self):
        if self.proc is not None:
            self.crash()
        if self._own_dir and not os.environ.get("WEIR_INTEG_KEEP"):
            shutil.rmtree(self.workdir or self.data_dir, ignore_errors=True)
            try:
                os.unlink(self.stderr_path)
            except OSError:
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()
        return False

    def create_topic(self, topic, partitions=1, configs=()):
        """Creates a topic with weir's own CLI (`weir topic create`)."""
        args = [self.weir, "topic", "create", "--bootstrap-server", self.bootstrap,
                "--topic", topic, "--partitions", str(partitions)]
        for c in configs:
            args += ["--config", c]
        r = subprocess.run(args, capture_output=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"weir topic create {topic}: exit {r.returncode}: "
                               f"{r.stdout.decode(errors='replace')} {r.stderr.decode(errors='replace')}")

    # --- on-disk views -----------------------------------------------------------

    def partition_dir(self, topic, partition):
        return os.path.join(self.data_dir, f"{topic}-{partition}")

    def log_files(self):
        """Every partition's .log file under the data dir: {relative path: bytes}. The
        metadata log (__cluster_metadata-0) is left out: it is the cluster's, and every
        start appends to it (a new leader epoch, the broker's registration)."""
        files = {}
        for root, dirs, names in os.walk(self.data_dir):
            dirs[:] = [d for d in dirs if d != "__cluster_metadata-0"]
            for name in sorted(names):
                if name.endswith(".log"):
                    path = os.path.join(root, name)
                    with open(path, "rb") as f:
                        files[os.path.relpath(path, self.data_dir)] = f.read()
        return files


class Checks:
    """Collects failures so one run reports all of them; exit code 1 if any."""

    def __init__(self):
        self.failures = []
        self.passed = 0

    def check(self, condition, what):
        if condition:
            self.passed += 1
            print(f"ok   {what}", flush=True)
        else:
            self.failures.append(what)
            print(f"FAIL {what}", flush=True)
        return condition

    def equal(self, actual, expected, what):
        ok = actual == expected
        if not ok:
            what = f"{what}: expected {expected!r}, got {actual!r}"
        return self.check(ok, what)

    def finish(self):
        print(f"{self.passed} checks passed, {len(self.failures)} failed", flush=True)
        for f in self.failures:
            print(f"  failed: {f}")
        sys.exit(1 if self.failures else 0)
