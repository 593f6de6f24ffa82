#!/usr/bin/env python3
"""tidy: weir's style check, run as a meson test (suite 'tidy').

Like TigerBeetle's tidy.zig, it reads the source tree and fails on things a compiler
accepts but weir does not:

  seam         Code in src/ and sim/ (except src/runtime/real/) touches the OS -- clocks,
               threads, sockets, files, randomness, environment, sleeps -- instead of the
               runtime seam (DESIGN.md section 1). Each ban names its replacement.
  line-length  Lines longer than 100 characters (a line whose comment holds a URL is
               excused).
  debug-output std::cout, std::cerr, printf(...), fprintf(stderr, ...), puts(...) and
               <iostream> in src/ and sim/, except in CLI mains (main.cc, src/cli/) and
               src/runtime/real/.
  todo         A TODO or FIXME comment without an issue reference: write TODO(#12).
  determinism  std::unordered_map / std::unordered_set in src/ and sim/ (except
               src/runtime/real/).

String literals and comments are blanked before code rules match, so a comment or a
message that mentions rand() is fine; the todo rule reads comments only.

A line opts out of every rule with a comment `// tidy: allow(<reason>)`; the reason is
required.

Usage: tidy.py [SOURCE_ROOT] [--list-rules]
Exit status 0 when clean, 1 with one `path:line: [rule] message` per violation.
Python 3 standard library only (runs on Debian 12's /usr/bin/python3).
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from typing import Callable, Iterable, Iterator

LINE_LENGTH_MAX = 100
SCANNED_DIRECTORIES = ("src", "sim", "tests", "bench", "fuzz", "tools")
SCANNED_SUFFIXES = (".h", ".cc", ".cpp")
# Directories never descended into (build trees a developer may keep inside the source).
SKIPPED_DIRECTORY_NAMES = {".git", "build", "builddir", "subprojects", "__pycache__"}

ALLOW_PATTERN = re.compile(r"tidy:\s*allow\s*\(([^)]*)\)")
URL_PATTERN = re.compile(r"\b[a-z][a-z0-9+.-]*://\S")
TODO_PATTERN = re.compile(r"\b(TODO|FIXME)\b(?!\(#\d+\))")


@dataclasses.dataclass(frozen=True)
class Violation:
    path: str  # Relative to the source root, '/'-separated.
    line: int  # 1-based.
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: [{self.rule}] {self.message}"


# --- Lexing: split each line into code (literals blanked) and comment text. ------------


@dataclasses.dataclass
class Lines:
    raw: list[str]
    code: list[str]
    comment: list[str]


def split_code_and_comments(text: str) -> Lines:
    """Returns, per line, the code with string/char literal contents and comments blanked,
    and the comment text. Handles // and /* */ comments, escapes, raw strings
    (R"delim(...)delim" with any encoding prefix) and digit separators (1'000'000)."""
    code: list[str] = []
    comment: list[str] = []
    i = 0
    n = len(text)

    def previous_token() -> str:
        # The identifier or number that ends right before position i in `code`.
        j = len(code)
        while j > 0 and (code[j - 1].isalnum() or code[j - 1] in "_."):
            j -= 1
        return "".join(code[j:])

    def take_comment(end: int) -> None:
        # text[i:end] is a comment: its characters go to `comment`, its line breaks to
        # both lists (so line numbers stay aligned), and the code sees one space.
        for ch in text[i:end]:
            if ch == "\n":
                code.append("\n")
                comment.append("\n")
            else:
                comment.append(ch)
        code.append(" ")

    while i < n:
        c = text[i]
        if c == "/" and text.startswith("//", i):
            end = text.find("\n", i)
            if end < 0:
                end = n
            # A backslash at the end of a // comment continues it (rare; honoured anyway).
            while end < n and end > 0 and text[end - 1] == "\\":
                next_end = text.find("\n", end + 1)
                end = n if next_end < 0 else next_end
            take_comment(end)
            i = end
        elif c == "/" and text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            take_comment(end)
            i = end
        elif c == '"':
            prefix = previous_token()
            if prefix in ("R", "u8R", "uR", "UR", "LR"):
                open_paren = text.find("(", i + 1)
                delimiter = text[i + 1 : open_paren] if open_paren >= 0 else ""
                terminator = ")" + delimiter + '"'
                end = text.find(terminator, open_paren + 1) if open_paren >= 0 else -1
                end = n if end < 0 else end + len(terminator)
            else:
                end = i + 1
                while end < n and text[end] != '"' and text[end] != "\n":
                    end += 2 if text[end] == "\\" else 1
                end = min(end + 1, n)
            code.append('"')
            for ch in text[i + 1 : end - 1]:
                if ch == "\n":
                    code.append("\n")
                    comment.append("\n")
            code.append('"')
            i = end
        elif c == "'":
            token = previous_token()
            if token and token[0].isdigit():
                # A digit separator inside a number literal.
                code.append(c)
                i += 1
                continue
            end = i + 1
            while end < n and text[end] != "'" and text[end] != "\n":
                end += 2 if text[end] == "\\" else 1
            end = min(end + 1, n)
            code.append("''")
            i = end
        else:
            code.append(c)
            if c == "\n":
                comment.append("\n")
            i += 1

    raw_lines = text.split("\n")
    code_lines = "".join(code).split("\n")
    comment_lines = "".join(comment).split("\n")
    assert len(code_lines) == len(raw_lines), (len(code_lines), len(raw_lines))
    assert len(comment_lines) == len(raw_lines), (len(comment_lines), len(raw_lines))
    return Lines(raw=raw_lines, code=code_lines, comment=comment_lines)


# --- Where each rule applies. -----------------------------------------------------------


def is_real_runtime(path: str) -> bool:
    return path.startswith("src/runtime/real/")


def in_seam_scope(path: str) -> bool:
    """The seam and determinism rules: src/ and sim/, except the real backend."""
    return (path.startswith("src/") or path.startswith("sim/")) and not is_real_runtime(path)


def may_print(path: str) -> bool:
    """CLI mains and the real backend may write to stdout and stderr."""
    return (
        os.path.basename(path) == "main.cc"
        or path.startswith("src/cli/")
        or is_real_runtime(path)
    )


def in_debug_output_scope(path: str) -> bool:
    return (path.startswith("src/") or path.startswith("sim/")) and not may_print(path)


def everywhere(path: str) -> bool:
    return True


# --- Code rules. --------------------------------------------------------------------------

REPLACE_MONOTONIC = "use Clock::now() from the node's Env (runtime/clock.h)"
REPLACE_WALL = "use Clock::wall_now() from the node's Env (runtime/clock.h)"
REPLACE_EITHER_CLOCK = (
    "use Clock::wall_now() (or Clock::now() for a monotonic reading) from the node's Env "
    "(runtime/clock.h)")
REPLACE_SLEEP = "use Scheduler::sleep_for / sleep_until (runtime/scheduler.h)"
REPLACE_YIELD = "use Scheduler::yield (runtime/scheduler.h)"
REPLACE_THREAD = "use Scheduler::spawn (fibers, runtime/scheduler.h)"
REPLACE_FUTURE = "use runtime::Future / Promise (runtime/sync.h)"
REPLACE_SYNC = "use runtime::Mutex / Event (runtime/sync.h)"
REPLACE_SEMAPHORE = "use runtime::Semaphore (runtime/sync.h)"
REPLACE_RANDOM = "use the node's runtime::Random (runtime/random.h)"
REPLACE_NETWORK = "use runtime::Network (runtime/network.h)"
REPLACE_DISK = "use runtime::Disk (runtime/disk.h)"
REPLACE_DISK_OR_NETWORK = (
    "use runtime::Disk (runtime/disk.h) or runtime::Network (runtime/network.h)")
REPLACE_ENV = "pass configuration explicitly"
REPLACE_SIGNAL = "signals are handled in src/runtime/real/ only"
REPLACE_UNORDERED = (
    "use absl::btree_map or absl::flat_hash_map with no order-dependent iteration"
)
REPLACE_DEBUG = "remove leftover debug output (only main.cc and src/cli/ may print)"

# A call of a free function `name(`: bare, `::name(` or `std::name(`, but not a member
# call (`x.name(`, `p->name(`), not another namespace's or class's (`Foo::name(`), and not
# a declaration (`void name(`, `Result<T> name(`).
_KEYWORDS_BEFORE_CALL = {
    "return", "co_return", "co_await", "co_yield", "throw", "else", "do", "case",
    "sizeof", "decltype", "noexcept", "not", "and", "or",
}


def _free_call(names: str) -> Callable[[str], Iterator[str]]:
    pattern = re.compile(r"(?<![\w.>:])((?:std)?::)?\b(" + names + r")\s*\(")

    def match(code: str) -> Iterator[str]:
        for m in pattern.finditer(code):
            if not m.group(1):
                before = code[: m.start()].rstrip()
                word = re.search(r"(\w+)$", before)
                if word and word.group(1) not in _KEYWORDS_BEFORE_CALL:
                    continue  # `Type name(`: a declaration of our own function.
                if before.endswith(">") and not before.endswith("->"):
                    continue  # `Result<T> name(`.
                if re.search(r"[\w>][&*]+$", before):
                    continue  # `Random& name(`, `char* name(`.
            yield m.group(2)

    return match


def _global_call(names: str) -> Callable[[str], Iterator[str]]:
    """Only the globally qualified form `::name(`, for names our own interfaces reuse as
    methods (read, write, open, close, connect...)."""
    pattern = re.compile(r"(?<![\w:>)\]])::(" + names + r")\s*\(")
    return lambda code: (m.group(1) for m in pattern.finditer(code))


def _token(pattern_text: str) -> Callable[[str], Iterator[str]]:
    pattern = re.compile(pattern_text)
    return lambda code: (m.group(0) for m in pattern.finditer(code))


@dataclasses.dataclass(frozen=True)
class CodeRule:
    rule: str
    find: Callable[[str], Iterable[str]]
    replacement: str
    applies: Callable[[str], bool]
    what: str  # For --list-rules and docs.


@dataclasses.dataclass(frozen=True)
class Hazard:
    """One thing the seam (or determinism, or quiet output) forbids, with everything
    that finds it: the code forms, each named for --list-rules, and the headers that
    exist only for it. CODE_RULES and the include check are both read off HAZARDS, so
    a hazard's replacement and scope are written once."""
    rule: str
    replacement: str
    applies: Callable[[str], bool]
    forms: tuple[tuple[Callable[[str], Iterator[str]], str], ...]
    headers: tuple[str, ...] = ()


def _seam(replacement: str, *forms: tuple[Callable[[str], Iterator[str]], str],
          headers: tuple[str, ...] = ()) -> Hazard:
    return Hazard("seam", replacement, in_seam_scope, forms, headers)


_NETWORK_CALLS = ("socket|socketpair|connect|accept4?|bind|listen|send|sendto|sendmsg|recv|"
                  "recvfrom|recvmsg|shutdown|poll|getsockname|getpeername|ppoll|select|pselect|"
                  "setsockopt|getsockopt|getaddrinfo")
_DISK_CALLS = ("open|read|write|readv|writev|stat|fstat|lstat|statx|unlink|rename|remove|mkdir|"
               "rmdir|truncate|sync|syncfs|access|link|symlink|readlink|chmod|fchmod|chown|"
               "fchown|(?:open|mkdir|unlink|rename|fstat|link|symlink|readlink|faccess|fchmod|"
               "fchown|utimens)at2?|fdopendir|scandir")

HAZARDS: list[Hazard] = [
    # Time.
    _seam(REPLACE_MONOTONIC,
          (_token(r"\b(steady_clock|high_resolution_clock)\b"),
           "std::chrono::steady_clock, high_resolution_clock")),
    _seam(REPLACE_WALL,
          (_token(r"\b(system_clock|utc_clock|tai_clock|gps_clock|file_clock)\b"),
           "std::chrono::system_clock (and utc/tai/gps/file)"),
          (_free_call(r"gettimeofday|ftime|timespec_get"), "gettimeofday, ftime, timespec_get"),
          (_token(r"(?<![\w.>:])(?:(?:std)?::)?\btime\s*\(\s*(?:nullptr|NULL|0|&\s*\w+)\s*\)"),
           "time(nullptr)"),
          (_token(r"\bstd::(?:time|clock)\s*\("), "std::time(, std::clock("),
          headers=("sys/time.h", "sys/timeb.h")),
    _seam(REPLACE_EITHER_CLOCK, (_free_call(r"clock_gettime"), "clock_gettime"),
          headers=("ctime", "time.h")),
    # Sleeping and yielding.
    _seam(REPLACE_SLEEP,
          (_token(r"\bthis_thread::sleep_(?:for|until)\b"),
           "std::this_thread::sleep_for / sleep_until"),
          (_free_call(r"sleep|usleep|nanosleep|clock_nanosleep"), "sleep(, usleep(, nanosleep(")),
    _seam(REPLACE_YIELD,
          (_token(r"\bthis_thread::yield\b|(?<![\w.>:])(?:::)?\bsched_yield\s*\("),
           "std::this_thread::yield, sched_yield")),
    # Threads and their synchronisation.
    _seam(REPLACE_THREAD,
          (_token(r"\bstd::(?:thread|jthread|async)\b|\bpthread_(?!sigmask|kill)\w+"),
           "std::thread, std::jthread, std::async, pthread_*"),
          headers=("thread", "pthread.h", "sched.h")),
    _seam(REPLACE_FUTURE,
          (_token(r"\bstd::(?:future|shared_future|promise|packaged_task)\b"),
           "std::future, std::promise, std::packaged_task"),
          headers=("future",)),
    _seam(REPLACE_SYNC,
          (_token(r"\bstd::(?:recursive_|timed_|recursive_timed_|shared_|shared_timed_)?mutex\b"
                  r"|\bstd::condition_variable(?:_any)?\b"
                  r"|\bstd::(?:lock_guard|unique_lock|scoped_lock|shared_lock|latch|barrier)\b"),
           "std::mutex, std::condition_variable, std lock types"),
          headers=("mutex", "shared_mutex", "condition_variable", "latch", "barrier")),
    _seam(REPLACE_SEMAPHORE,
          (_token(r"\bstd::(?:counting|binary)_semaphore\b|\bsem_(?:wait|post|init)\b"),
           "std::counting_semaphore, sem_*"),
          headers=("semaphore", "semaphore.h")),
    # Randomness.
    _seam(REPLACE_RANDOM,
          (_free_call(r"rand|srand|rand_r|srandom|drand48|lrand48|arc4random\w*|getrandom|"
                      r"getentropy"), "rand(, srand(, drand48(, getrandom("),
          (_global_call(r"random"), "::random("),
          (_token(r"\b(?:random_device|mt19937(?:_64)?|minstd_rand0?|ranlux\w+|"
                  r"default_random_engine|knuth_b|mersenne_twister_engine)\b"),
           "std::random_device, std::mt19937, std engines"),
          headers=("random", "sys/random.h")),
    # Network: names our own interfaces reuse as methods only in the `::name(` form.
    _seam(REPLACE_NETWORK,
          (_global_call(_NETWORK_CALLS), "::socket(, ::connect(, ::accept(, ::send( ..."),
          (_free_call(r"socket|socketpair|accept4|setsockopt|getsockopt|getaddrinfo|getnameinfo|"
                      r"gethostbyname|inet_pton|inet_ntop"),
           "socket(, setsockopt(, getaddrinfo( ..."),
          (_token(r"\bepoll_(?:create1?|ctl|p?wait2?|event|data|data_t)\b"
                  r"|\bsockaddr(?:_in6?|_storage|_un)?\b"), "epoll_*, struct sockaddr"),
          headers=("sys/socket.h", "netinet/*", "arpa/*", "netdb.h", "sys/epoll.h", "poll.h",
                   "sys/poll.h", "sys/select.h", "sys/un.h", "ifaddrs.h", "net/*")),
    # Files.
    _seam(REPLACE_DISK,
          (_free_call(r"fopen|fdopen|freopen|tmpfile|mkstemp|pread|pwrite|preadv|pwritev|pread64|"
                      r"pwrite64|fsync|fdatasync|sync_file_range|fallocate|posix_fallocate|"
                      r"ftruncate|lseek|opendir|readdir|closedir|mmap|munmap|msync|openat|"
                      r"unlinkat|renameat2?"), "fopen(, pread(, pwrite(, fsync(, mmap( ..."),
          (_global_call(_DISK_CALLS), "::open(, ::read(, ::write(, ::fstatat( ..."),
          (_token(r"\bstd::(?:ifstream|ofstream|fstream|filebuf|wifstream|wofstream|wfstream|"
                  r"filesystem)\b|\bio_uring\w*"),
           "std::ifstream/ofstream/fstream, std::filesystem"),
          headers=("fstream", "filesystem", "fcntl.h", "unistd.h", "sys/stat.h", "dirent.h",
                   "sys/mman.h", "sys/uio.h", "sys/file.h", "liburing.h", "linux/*",
                   "sys/ioctl.h")),
    _seam(REPLACE_DISK_OR_NETWORK,
          (_global_call(r"close|dup[23]?|fcntl|ioctl|pipe2?|eventfd|timerfd_\w+"),
           "::close(, ::dup(, ::fcntl(, ::pipe(")),
    # Environment and signals.
    _seam(REPLACE_ENV,
          (_free_call(r"getenv|secure_getenv|setenv|unsetenv|putenv|clearenv"),
           "getenv(, setenv( ..."),
          (_token(r"(?<![\w.>:])\benviron\b"), "environ")),
    _seam(REPLACE_SIGNAL,
          (_free_call(r"sigaction|sigprocmask|sigwait|signalfd|pthread_sigmask|pthread_kill"),
           "sigaction(, sigprocmask(, signalfd("),
          (_global_call(r"signal|raise|kill"), "::signal(, ::raise(, ::kill("),
          headers=("csignal", "signal.h")),
    # Determinism.
    Hazard("determinism", REPLACE_UNORDERED, in_seam_scope,
           ((_token(r"\bunordered_(?:multi)?(?:map|set)\b"),
             "std::unordered_map, std::unordered_set"),),
           headers=("unordered_map", "unordered_set")),
    # Debug output.
    Hazard("debug-output", REPLACE_DEBUG, in_debug_output_scope,
           ((_token(r"\bstd::w?(?:cout|cerr|clog)\b|(?<![\w.>:])\bw?(?:cout|cerr)\b"),
             "std::cout, std::cerr, std::clog"),
            (_free_call(r"printf|puts|putchar|perror|vprintf"), "printf(, puts(, perror("),
            (_token(r"(?<![\w.>:])(?:(?:std)?::)?\b(?:fprintf|fputs|vfprintf|fputc|fwrite)"
                    r"\s*\([^;]*\b(?:stderr|stdout)\b|\bfmt::print(?:ln)?\s*\("),
             "fprintf(stderr, fputs(.., stdout), fmt::print(")),
           headers=("iostream",)),
]

CODE_RULES: list[CodeRule] = [
    CodeRule(hazard.rule, find, hazard.replacement, hazard.applies, what)
    for hazard in HAZARDS for find, what in hazard.forms
]
INCLUDE_PATTERN = re.compile(r"^\s*#\s*include\s*<([^>]+)>")


def _classify_include(header: str, path: str) -> tuple[str, str] | None:
    for hazard in HAZARDS:
        if not hazard.applies(path):
            continue
        for banned in hazard.headers:
            prefix = banned.endswith("/*") and header.startswith(banned[:-1])
            if header == banned or prefix:
                return hazard.rule, hazard.replacement
    return None


# --- Checking. ----------------------------------------------------------------------------


def check_text(path: str, text: str) -> list[Violation]:
    """Checks one file's contents; `path` is relative to the source root ('/'-separated)
    and decides which rules apply."""
    violations: list[Violation] = []
    lines = split_code_and_comments(text)
    for index, (raw, code, comment) in enumerate(zip(lines.raw, lines.code, lines.comment)):
        number = index + 1
        allow = ALLOW_PATTERN.search(comment)
        if allow:
            if allow.group(1).strip():
                continue
            violations.append(Violation(path, number, "allow",
                                        "tidy: allow(...) needs a reason in the parentheses"))

        length = len(raw.rstrip("\r"))
        if length > LINE_LENGTH_MAX and not URL_PATTERN.search(comment):
            violations.append(Violation(path, number, "line-length",
                                        f"line is {length} characters, the limit is "
                                        f"{LINE_LENGTH_MAX}"))

        todo = TODO_PATTERN.search(comment)
        if todo:
            violations.append(Violation(path, number, "todo",
                                        f"{todo.group(1)} needs an issue reference, e.g. "
                                        f"{todo.group(1)}(#12)"))

        include = INCLUDE_PATTERN.match(code)
        if include:
            header = include.group(1).strip()
            found = _classify_include(header, path)
            if found:
                violations.append(Violation(path, number, found[0],
                                            f"#include <{header}>: {found[1]}"))
            continue

        reported: set[tuple[str, str]] = set()
        for rule in CODE_RULES:
            if not rule.applies(path):
                continue
            for hit in rule.find(code):
                hit = " ".join(hit.split())
                if (rule.rule, hit) in reported:
                    continue
                reported.add((rule.rule, hit))
                violations.append(Violation(path, number, rule.rule,
                                            f"{hit.rstrip('( ')}: {rule.replacement}"))
    return violations


def source_files(root: str) -> list[str]:
    files: list[str] = []
    for top in SCANNED_DIRECTORIES:
        base = os.path.join(root, top)
        if not os.path.isdir(base):
            continue
        for directory, subdirectories, names in os.walk(base):
            subdirectories[:] = sorted(d for d in subdirectories
                                       if d not in SKIPPED_DIRECTORY_NAMES
                                       and not d.startswith("."))
            for name in sorted(names):
                if name.endswith(SCANNED_SUFFIXES):
                    relative = os.path.relpath(os.path.join(directory, name), root)
                    files.append(relative.replace(os.sep, "/"))
    return files


def check_tree(root: str) -> list[Violation]:
    violations: list[Violation] = []
    if not os.path.isfile(os.path.join(root, ".clang-format")):
        violations.append(Violation(".clang-format", 1, "clang-format",
                                    ".clang-format is missing at the source root"))
    for relative in source_files(root):
        with open(os.path.join(root, relative), encoding="utf-8", errors="replace") as f:
            violations.extend(check_text(relative, f.read()))
    return violations


def main(argv: list[str]) -> int:
    arguments = argv[1:]
    if "--list-rules" in arguments:
        for rule in CODE_RULES:
            print(f"[{rule.rule}] {rule.what}: {rule.replacement}")
        return 0
    if len(arguments) > 1 or any(a.startswith("-") for a in arguments):
        print("usage: tidy.py [SOURCE_ROOT] [--list-rules]", file=sys.stderr)
        return 2
    root = arguments[0] if arguments else os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))
    if not os.path.isdir(root):
        print(f"tidy: {root} is not a directory", file=sys.stderr)
        return 2
    violations = check_tree(root)
    for violation in violations:
        print(violation)
    if violations:
        print(f"tidy: {len(violations)} violation(s); a line may opt out with "
              f"`// tidy: allow(<reason>)`", file=sys.stderr)
        return 1
    print(f"tidy: {len(source_files(root))} files clean")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
