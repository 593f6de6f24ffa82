#!/usr/bin/env python3
"""Tests of tools/tidy.py: every banned construct is reported, clean code is not.

Usage: tidy_test.py [PATH_TO_TIDY_PY]   (defaults to ../../tools/tidy.py from this file)
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import unittest

_DEFAULT_TIDY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools",
                             "tidy.py")
TIDY_PATH = os.path.abspath(sys.argv.pop(1) if len(sys.argv) > 1 else _DEFAULT_TIDY)


def _load_tidy():
    spec = importlib.util.spec_from_file_location("tidy", TIDY_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["tidy"] = module
    spec.loader.exec_module(module)
    return module


tidy = _load_tidy()

# (code line, rule it must trip, a word the message must contain). Checked as src/x.cc.
BANNED_IN_SRC = [
    # Clocks.
    ("auto t = std::chrono::steady_clock::now();", "seam", "Clock::now()"),
    ("auto t = std::chrono::high_resolution_clock::now();", "seam", "Clock::now()"),
    ("auto t = std::chrono::system_clock::now();", "seam", "Clock::wall_now()"),
    ("using std::chrono::steady_clock;", "seam", "Clock::now()"),
    ("gettimeofday(&tv, nullptr);", "seam", "Clock::wall_now()"),
    ("::clock_gettime(CLOCK_MONOTONIC, &ts);", "seam", "Clock::wall_now()"),
    ("int64_t now = time(nullptr);", "seam", "Clock::wall_now()"),
    ("int64_t now = std::time(nullptr);", "seam", "Clock::wall_now()"),
    ("auto c = std::clock();", "seam", "Clock::wall_now()"),
    # Sleeps.
    ("std::this_thread::sleep_for(std::chrono::milliseconds(5));", "seam",
     "Scheduler::sleep_for"),
    ("std::this_thread::sleep_until(deadline);", "seam", "Scheduler::sleep_for"),
    ("usleep(100);", "seam", "Scheduler::sleep_for"),
    ("sleep(1);", "seam", "Scheduler::sleep_for"),
    ("::sleep(1);", "seam", "Scheduler::sleep_for"),
    ("nanosleep(&ts, nullptr);", "seam", "Scheduler::sleep_for"),
    ("std::this_thread::yield();", "seam", "Scheduler::yield"),
    # Threads.
    ("std::thread worker([] {});", "seam", "Scheduler::spawn"),
    ("std::jthread worker([] {});", "seam", "Scheduler::spawn"),
    ("pthread_create(&id, nullptr, body, nullptr);", "seam", "Scheduler::spawn"),
    ("auto f = std::async(std::launch::async, body);", "seam", "Scheduler::spawn"),
    ("std::future<int> f;", "seam", "Future"),
    ("std::promise<int> p;", "seam", "Future"),
    # Synchronisation.
    ("std::mutex mutex;", "seam", "runtime::Mutex"),
    ("std::shared_mutex mutex;", "seam", "runtime::Mutex"),
    ("std::condition_variable ready;", "seam", "Event"),
    ("std::lock_guard<std::mutex> guard(mutex);", "seam", "runtime::Mutex"),
    ("std::counting_semaphore<4> slots(4);", "seam", "Semaphore"),
    # Randomness.
    ("int x = rand();", "seam", "runtime::Random"),
    ("int x = rand() % 6;", "seam", "runtime::Random"),
    ("srand(42);", "seam", "runtime::Random"),
    ("std::random_device device;", "seam", "runtime::Random"),
    ("std::mt19937 engine(1);", "seam", "runtime::Random"),
    ("std::mt19937_64 engine(1);", "seam", "runtime::Random"),
    ("std::default_random_engine engine;", "seam", "runtime::Random"),
    ("long r = ::random();", "seam", "runtime::Random"),
    ("getrandom(buffer, 8, 0);", "seam", "runtime::Random"),
    # Network.
    ("int fd = ::socket(AF_INET, SOCK_STREAM, 0);", "seam", "runtime::Network"),
    ("int fd = socket(AF_INET, SOCK_STREAM, 0);", "seam", "runtime::Network"),
    ("::connect(fd, address, length);", "seam", "runtime::Network"),
    ("int c = ::accept(fd, nullptr, nullptr);", "seam", "runtime::Network"),
    ("::bind(fd, address, length);", "seam", "runtime::Network"),
    ("::listen(fd, 128);", "seam", "runtime::Network"),
    ("::send(fd, data, size, 0);", "seam", "runtime::Network"),
    ("::recv(fd, data, size, 0);", "seam", "runtime::Network"),
    ("setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);", "seam", "runtime::Network"),
    ("getaddrinfo(host, port, &hints, &result);", "seam", "runtime::Network"),
    ("int e = epoll_create1(0);", "seam", "runtime::Network"),
    ("epoll_wait(e, events, 16, -1);", "seam", "runtime::Network"),
    ("sockaddr_in address{};", "seam", "runtime::Network"),
    ("#include <sys/socket.h>", "seam", "runtime::Network"),
    ("#include <netinet/in.h>", "seam", "runtime::Network"),
    ("#include <netinet/tcp.h>", "seam", "runtime::Network"),
    ("#include <arpa/inet.h>", "seam", "runtime::Network"),
    ("#include <sys/epoll.h>", "seam", "runtime::Network"),
    ("#include <netdb.h>", "seam", "runtime::Network"),
    # Files.
    ('FILE* f = fopen("x", "r");', "seam", "runtime::Disk"),
    ('FILE* f = std::fopen("x", "r");', "seam", "runtime::Disk"),
    ('std::ifstream in("x");', "seam", "runtime::Disk"),
    ('std::ofstream out("x");', "seam", "runtime::Disk"),
    ('std::fstream both("x");', "seam", "runtime::Disk"),
    ('int fd = ::open("x", O_RDONLY);', "seam", "runtime::Disk"),
    ("::read(fd, buffer, size);", "seam", "runtime::Disk"),
    ("::write(fd, buffer, size);", "seam", "runtime::Disk"),
    ("::close(fd);", "seam", "runtime::Disk"),
    ("pread(fd, buffer, size, offset);", "seam", "runtime::Disk"),
    ("auto n = pwrite(fd, buffer, size, offset);", "seam", "runtime::Disk"),
    ("if (fsync(fd) != 0) return;", "seam", "runtime::Disk"),
    ("fdatasync(fd);", "seam", "runtime::Disk"),
    ("::rename(from, to);", "seam", "runtime::Disk"),
    ("::unlink(path);", "seam", "runtime::Disk"),
    ("void* p = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);", "seam", "runtime::Disk"),
    ("namespace fs = std::filesystem;", "seam", "runtime::Disk"),
    ("std::filesystem::remove(path);", "seam", "runtime::Disk"),
    ("#include <fcntl.h>", "seam", "runtime::Disk"),
    ("#include <unistd.h>", "seam", "runtime::Disk"),
    ("#include <fstream>", "seam", "runtime::Disk"),
    ("#include <filesystem>", "seam", "runtime::Disk"),
    ("#include <sys/stat.h>", "seam", "runtime::Disk"),
    # Environment.
    ('const char* home = getenv("HOME");', "seam", "pass configuration explicitly"),
    ('const char* home = std::getenv("HOME");', "seam", "pass configuration explicitly"),
    ('setenv("A", "b", 1);', "seam", "pass configuration explicitly"),
    ("extern char** environ;", "seam", "pass configuration explicitly"),
    # Headers of the other bans.
    ("#include <thread>", "seam", "Scheduler::spawn"),
    ("#include <pthread.h>", "seam", "Scheduler::spawn"),
    ("#include <mutex>", "seam", "runtime::Mutex"),
    ("#include <condition_variable>", "seam", "runtime::Mutex"),
    ("#include <future>", "seam", "Future"),
    ("#include <random>", "seam", "runtime::Random"),
    ("#include <ctime>", "seam", "Clock::wall_now()"),
    ("#include <sys/time.h>", "seam", "Clock::wall_now()"),
    ("#include <csignal>", "seam", "src/runtime/real/"),
    ("::signal(SIGINT, handler);", "seam", "src/runtime/real/"),
    ("sigaction(SIGTERM, &action, nullptr);", "seam", "src/runtime/real/"),
    ("pthread_sigmask(SIG_BLOCK, &set, nullptr);", "seam", "src/runtime/real/"),
    ("::close(fd);", "seam", "runtime::Network"),
    ("::fstatat(dir, name, &st, 0);", "seam", "runtime::Disk"),
    ("::getsockname(fd, address, &length);", "seam", "runtime::Network"),
    ("::clock_gettime(CLOCK_MONOTONIC, &ts);", "seam", "Clock::now()"),
    # Leftover debug output.
    ('std::cout << "here" << std::endl;', "debug-output", "debug output"),
    ('std::cerr << "here\\n";', "debug-output", "debug output"),
    ('std::clog << "here\\n";', "debug-output", "debug output"),
    ('cout << "here";', "debug-output", "debug output"),
    ('printf("x=%d\\n", x);', "debug-output", "debug output"),
    ('std::printf("x=%d\\n", x);', "debug-output", "debug output"),
    ('fprintf(stderr, "x=%d\\n", x);', "debug-output", "debug output"),
    ('std::fprintf(stdout, "x");', "debug-output", "debug output"),
    ('puts("here");', "debug-output", "debug output"),
    ('fmt::print("x={}\\n", x);', "debug-output", "debug output"),
    ('fmt::print(stderr, "x={}\\n", x);', "debug-output", "debug output"),
    ("#include <iostream>", "debug-output", "debug output"),
    # TODO without an issue reference.
    ("// TODO: make this faster", "todo", "TODO(#12)"),
    ("int x = 0;  // TODO fix", "todo", "TODO(#12)"),
    ("/* FIXME: leaks */", "todo", "FIXME(#12)"),
    ("// TODO(someone): no issue", "todo", "TODO(#12)"),
    # Determinism.
    ("std::unordered_map<int, int> counts;", "determinism", "absl::btree_map"),
    ("std::unordered_set<int> seen;", "determinism", "absl::btree_map"),
    ("std::unordered_multimap<int, int> many;", "determinism", "absl::btree_map"),
    ("#include <unordered_map>", "determinism", "absl::btree_map"),
    # Line length.
    ("int x = 0;  // " + "a" * 86, "line-length", "101"),
    ("auto value = compute(" + "argument, " * 9 + "last_argument);", "line-length", "limit"),
    # Opting out needs a reason.
    ("int x = 0;  // tidy: allow()", "allow", "reason"),
    ("int x = rand();  // tidy: allow( )", "allow", "reason"),
]

# Lines that must not be reported anywhere in src/.
CLEAN_IN_SRC = [
    "Instant now = env.clock.now();",
    "WallTime wall = clock.wall_now();",
    "env.scheduler.sleep_for(milliseconds(10));",
    "scheduler.spawn(\"worker\", [] {});",
    "runtime::Mutex mutex;",
    "uint64_t r = env.random.next();",
    "uint64_t r = random.below(6);",
    "Random& random() { return random_; }",
    "runtime::Random& random();",
    "auto stream = network.connect(address, timeout);",
    "auto stream = env.network->connect(address, timeout);",
    "virtual IoResult<std::unique_ptr<Stream>> connect(const Address& address) = 0;",
    "virtual void close() = 0;",
    "virtual IoResult<size_t> read_at(uint64_t offset, std::span<std::byte> buffer) = 0;",
    "IoResult<void> fsync();",
    "file->sync();",
    "file.close();",
    "auto file = disk.open(path, OpenMode::read_write);",
    "Scheduler::sleep_for(d);",
    "void SimNetwork::clog(const std::string& from, const std::string& to, Instant until);",
    "auto clog = clogged_until.find(link);",
    "int epoll_fd_ = -1;",
    "void pump(Connection& connection) { connection.close(); }",
    "weir::runtime::sleep(d);",
    "std::string s = fmt::format(\"{}\", x);",
    "int n = snprintf(buffer, sizeof buffer, \"%d\", x);",
    "int n = std::snprintf(buffer, sizeof buffer, \"%d\", x);",
    "absl::btree_map<int, int> ordered;",
    "absl::flat_hash_map<int, int> lookup;",
    "using Duration = std::chrono::nanoseconds;",
    "#include <chrono>",
    "#include <cstdio>",
    "#include <cstdlib>",
    "#include <atomic>",
    "#include \"runtime/clock.h\"",
    "#include \"runtime/random.h\"",
    "uint64_t big = 1'000'000;",
    "uint64_t mask = 0xFFFF'FFFF;",
    "char quote = '\"'; int r = 0;",
    "// TODO(#12): make this faster",
    "/* FIXME(#3): leaks */",
    # Banned words inside comments and string literals are fine.
    "// Never call rand() or std::this_thread::sleep_for here; see DESIGN.md.",
    "/* std::cout << steady_clock::now(); */",
    "const char* help = \"do not use std::mutex or getenv() or rand()\";",
    "const char* todo = \"TODO without a number, in a string\";",
    "auto raw = R\"(std::thread rand() fopen(\"x\"))\";",
    "auto raw = R\"delim(std::cout << \"x\" )\" )delim\";",
    # Long lines excused by a URL in a comment.
    "// See https://kafka.apache.org/protocol.html#" + "x" * 90,
    # Opt-out with a reason.
    "int x = rand();  // tidy: allow(demonstrating the opt-out)",
    "int x = 0;  // " + "a" * 85,  # Exactly 100 characters.
]


class BannedConstructs(unittest.TestCase):
    def test_each_banned_construct_is_reported(self):
        for line, rule, message_part in BANNED_IN_SRC:
            with self.subTest(line=line):
                violations = tidy.check_text("src/storage/log.cc", line + "\n")
                matching = [v for v in violations if v.rule == rule]
                self.assertTrue(matching, f"not reported: {line!r} (got {violations})")
                self.assertTrue(any(message_part in v.message for v in matching),
                                f"message lacks {message_part!r}: {matching}")
                self.assertTrue(all(v.line == 1 for v in matching))

    def test_banned_constructs_are_reported_in_sim_too(self):
        for line in ("std::mutex m;", "int x = rand();", "std::cout << 1;",
                     "std::unordered_map<int, int> m;"):
            with self.subTest(line=line):
                self.assertTrue(tidy.check_text("sim/network.cc", line + "\n"))

    def test_clean_code_is_not_reported(self):
        for line in CLEAN_IN_SRC:
            with self.subTest(line=line):
                self.assertEqual(tidy.check_text("src/storage/log.cc", line + "\n"), [])

    def test_line_numbers_follow_multiline_comments_and_strings(self):
        text = (
            "/* a comment\n"
            "   over rand() lines */\n"
            "const char* s = R\"(first\n"
            "second std::mutex)\";\n"
            "int x = rand();\n"
        )
        violations = tidy.check_text("src/a.cc", text)
        self.assertEqual([(v.line, v.rule) for v in violations], [(5, "seam")])

    def test_violation_prints_as_path_line_message(self):
        violation = tidy.check_text("src/a.cc", "\n\nstd::mutex m;\n")[0]
        self.assertTrue(str(violation).startswith("src/a.cc:3: [seam] std::mutex: "))


class Exemptions(unittest.TestCase):
    OS_CODE = (
        "#include <sys/socket.h>\n"
        "#include <thread>\n"
        "auto t = std::chrono::steady_clock::now();\n"
        "std::thread worker([] {});\n"
        "int fd = ::socket(AF_INET, SOCK_STREAM, 0);\n"
        "if (fsync(fd) != 0) return;\n"
        "std::unordered_map<int, int> m;\n"
    )

    def test_real_runtime_may_touch_the_os_and_print(self):
        text = self.OS_CODE + "#include <iostream>\nstd::cerr << \"x\";\n"
        self.assertEqual(tidy.check_text("src/runtime/real/epoll.cc", text), [])

    def test_tests_bench_fuzz_tools_may_drive_real_processes(self):
        for path in ("tests/runtime/real_test.cc", "bench/runtime_fibers.cc",
                     "fuzz/protocol_request.cc", "tools/driver.cc"):
            with self.subTest(path=path):
                text = self.OS_CODE + "std::cout << 1;\n"
                self.assertEqual(tidy.check_text(path, text), [])

    def test_runtime_outside_real_is_not_exempt(self):
        self.assertTrue(tidy.check_text("src/runtime/scheduler.cc", "std::mutex m;\n"))
        self.assertTrue(tidy.check_text("src/runtime/realtime.cc", "std::mutex m;\n"))

    def test_line_length_and_todo_apply_everywhere(self):
        text = "// TODO later\nint x = 0;  // " + "a" * 90 + "\n"
        for path in ("tests/a_test.cc", "bench/b.cc", "fuzz/c.cc", "tools/d.cc",
                     "src/runtime/real/e.cc", "sim/main.cc"):
            with self.subTest(path=path):
                rules = sorted(v.rule for v in tidy.check_text(path, text))
                self.assertEqual(rules, ["line-length", "todo"])

    def test_cli_mains_may_print(self):
        text = "#include <iostream>\nstd::cout << 1;\nfmt::print(\"x\");\nprintf(\"x\");\n"
        for path in ("sim/main.cc", "src/server/main.cc", "src/cli/topics.cc"):
            with self.subTest(path=path):
                self.assertEqual(tidy.check_text(path, text), [])
        # A main may print but still may not touch the OS directly.
        self.assertTrue(tidy.check_text("sim/main.cc", "int x = rand();\n"))


class CommandLine(unittest.TestCase):
    def run_tidy(self, files: dict[str, str], clang_format: bool = True):
        with tempfile.TemporaryDirectory() as root:
            if clang_format:
                with open(os.path.join(root, ".clang-format"), "w") as f:
                    f.write("BasedOnStyle: Google\n")
            for path, text in files.items():
                full = os.path.join(root, path)
                os.makedirs(os.path.dirname(full), exist_ok=True)
                with open(full, "w") as f:
                    f.write(text)
            return subprocess.run([sys.executable, TIDY_PATH, root], capture_output=True,
                                  text=True, check=False)

    def test_clean_tree_passes(self):
        result = self.run_tidy({"src/a/b.cc": "int x = 0;\n", "sim/c.h": "#pragma once\n"})
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_violations_fail_with_file_and_line(self):
        result = self.run_tidy({
            "src/a/b.cc": "int x = 0;\nint y = rand();\n",
            "sim/c.h": "#pragma once\n#include <thread>\n",
            "src/d.txt": "rand();\n",  # Not C++: not scanned.
            "src/build/e.cc": "rand();\n",  # A build tree: not scanned.
        })
        self.assertEqual(result.returncode, 1)
        lines = result.stdout.splitlines()
        self.assertEqual(len(lines), 2, result.stdout)
        self.assertTrue(lines[0].startswith("src/a/b.cc:2: [seam] rand: "), lines[0])
        self.assertIn("runtime::Random", lines[0])
        self.assertTrue(lines[1].startswith("sim/c.h:2: [seam] #include <thread>: "), lines[1])

    def test_missing_clang_format_fails(self):
        result = self.run_tidy({"src/a.cc": "int x = 0;\n"}, clang_format=False)
        self.assertEqual(result.returncode, 1)
        self.assertIn(".clang-format", result.stdout)

    def test_scans_every_source_directory_and_suffix(self):
        for path in ("src/a.h", "src/a.cc", "src/a.cpp", "sim/a.cc", "tests/a.cc",
                     "bench/a.cc", "fuzz/a.cc", "tools/a.cc"):
            with self.subTest(path=path):
                result = self.run_tidy({path: "// TODO no issue\n"})
                self.assertEqual(result.returncode, 1)
                self.assertIn(f"{path}:1: [todo]", result.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=1)
