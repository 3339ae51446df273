#!/usr/bin/python3
"""make layers: fails when a source file includes upward across the layers.

The layers, lowest first (a layer may include its own headers and those of
the layers below it, never those above):

    core     src/core/** (its rooms opt/, lopt/, meta/, tasks/ and the top)
    data     src/data/
    storage  src/storage/
    service  src/service/  (sessions, jobs, specs: never sees HTTP)
    server   src/server/   (transport: HTTP, the daemon's start-up, the job queue)
    cli      src/cli/      (the optirsd entry point and its subcommands, on top)

Checks, for every .c and .h under src/:
  1. every `#include "x.h"` names a header of the tree (sources include
     headers by file name: each room is on the include path) whose layer is
     not above the including file's layer;
  2. header file names are unique across src/ (a flat include name must
     resolve to exactly one file);
  3. `#include <...>`: core uses only the C standard library, cblas, the x86
     intrinsics and zlib (for crc32 only); data adds zlib and pthreads;
     storage adds SQLite, libpq (the cluster database) and POSIX; service adds cJSON (never
     libmicrohttpd or libuv: those are transport); server and cli may use
     anything;
  4. core does no I/O: no file, environment or thread calls.

Before the tree, it checks itself: a server file including a cli header (and
a few other known violations) in a throw-away tree must be refused.
The Makefile backs this up with per-layer include paths (the compiler cannot
find a header of a layer above).  Standard library only.  Exit status 1 on
any violation, each printed as file:line: message.
"""
import os
import re
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAYERS = ["core", "data", "storage", "service", "server", "cli"]

C_STD = {
    "assert.h", "complex.h", "ctype.h", "errno.h", "fenv.h", "float.h", "inttypes.h", "iso646.h",
    "limits.h", "locale.h", "math.h", "setjmp.h", "signal.h", "stdalign.h", "stdarg.h",
    "stdatomic.h", "stdbool.h", "stddef.h", "stdint.h", "stdio.h", "stdlib.h", "stdnoreturn.h",
    "string.h", "tgmath.h", "time.h", "uchar.h", "wchar.h", "wctype.h",
}
CORE_SYS = C_STD | {"cblas.h", "immintrin.h", "xmmintrin.h", "emmintrin.h", "zlib.h"}
DATA_SYS = CORE_SYS | {"pthread.h"}
POSIX = {"pthread.h", "unistd.h", "fcntl.h", "dirent.h", "sys/stat.h", "sys/types.h",
         "sys/time.h", "sys/random.h", "sys/file.h", "poll.h"}
STORAGE_SYS = DATA_SYS | POSIX | {"sqlite3.h", "libpq-fe.h"}
SERVICE_SYS = STORAGE_SYS | {"cjson/cJSON.h"}
ALLOWED_SYS = {"core": CORE_SYS, "data": DATA_SYS, "storage": STORAGE_SYS,
               "service": SERVICE_SYS, "server": None, "cli": None}

# Calls src/core must not make (file, environment, process and thread APIs).
CORE_FORBIDDEN = re.compile(
    r"\b(fopen|freopen|fread|fwrite|fgets|fputs|fprintf|printf|puts|fflush|remove|rename|tmpfile|"
    r"open|openat|close|read|write|opendir|mmap|getenv|setenv|system|exit|abort|"
    r"gz[a-z]+|pthread_[a-z_]+|thrd_[a-z_]+|mtx_[a-z_]+)\s*\(")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def layer_of(rel):
    parts = rel.split(os.sep)
    return parts[1] if len(parts) > 2 and parts[0] == "src" and parts[1] in LAYERS else None


def strip_comments(text):
    """Comments and string literals blanked out, line structure kept."""
    def blank(m):
        return re.sub(r"[^\n]", " ", m.group(0))
    return re.sub(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"', blank, text, flags=re.S)


def check_tree(root):
    """(files checked, violations) of the tree under root/src."""
    files = []
    for d, _, names in os.walk(os.path.join(root, "src")):
        for n in sorted(names):
            if n.endswith((".c", ".h")):
                rel = os.path.relpath(os.path.join(d, n), root)
                if layer_of(rel):
                    files.append(rel)
    errors = []
    headers = {}
    for rel in files:
        if rel.endswith(".h"):
            base = os.path.basename(rel)
            if base in headers:
                errors.append("%s: header name also used by %s (include names must be unique)"
                              % (rel, headers[base]))
            headers.setdefault(base, rel)
    for rel in sorted(files):
        own = layer_of(rel)
        with open(os.path.join(root, rel), encoding="utf-8") as f:
            text = f.read()
        for ln, line in enumerate(text.splitlines(), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            kind, name = m.groups()
            if kind == '"':
                target = headers.get(os.path.basename(name))
                if not target:
                    errors.append("%s:%d: #include \"%s\" is no header of src/" % (rel, ln, name))
                    continue
                tl = layer_of(target)
                if LAYERS.index(tl) > LAYERS.index(own):
                    errors.append("%s:%d: upward include: %s (%s) includes \"%s\" (%s)"
                                  % (rel, ln, own, rel, name, tl))
            else:
                allowed = ALLOWED_SYS[own]
                if allowed is not None and name not in allowed:
                    errors.append("%s:%d: <%s> is not allowed in %s (see tests/check_layers.py)"
                                  % (rel, ln, name, own))
        if own == "core":
            code = strip_comments(text)
            for ln, line in enumerate(code.splitlines(), 1):
                m = CORE_FORBIDDEN.search(line)
                if m and not re.search(r"\.\s*$|->\s*$", line[:m.start()]):
                    errors.append("%s:%d: %s() in src/core (core does no I/O)" % (rel, ln, m.group(1)))
    return files, errors


# Checks that must fail: (file, its text, a fragment of the expected message).
# The checker runs on a throw-away tree holding each file and the headers it
# names; a check that cannot fail is a defect.
SELF_TESTS = [
    ("src/server/x.c", '#include "cli_t.h"\n', "upward include: server"),      # server < cli
    ("src/service/x.c", '#include "server_t.h"\n', "upward include: service"),
    ("src/service/x.c", "#include <uv.h>\n", "<uv.h> is not allowed in service"),
    ("src/core/x.c", "void f(void) { fopen(0, 0); }\n", "fopen() in src/core"),
]
SELF_HEADERS = {"src/cli/cli_t.h": "", "src/server/server_t.h": ""}


def self_test():
    """Problems found in the checker itself (empty when it works)."""
    problems = []
    for rel, text, want in SELF_TESTS:
        with tempfile.TemporaryDirectory() as root:
            for r, t in list(SELF_HEADERS.items()) + [(rel, text)]:
                os.makedirs(os.path.dirname(os.path.join(root, r)), exist_ok=True)
                with open(os.path.join(root, r), "w", encoding="utf-8") as f:
                    f.write(t)
            _, errors = check_tree(root)
        if not any(want in e for e in errors):
            problems.append("self-test: %s with %r was not refused (%r expected, got %r)"
                            % (rel, text.strip(), want, errors))
    return problems


def main():
    errors = self_test()
    files, found = check_tree(ROOT)
    errors += found
    for e in errors:
        print(e)
    print("layers: %d files checked (%s), %s" % (
        len(files), " < ".join(LAYERS), "%d violation(s)" % len(errors) if errors else "ok"))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
