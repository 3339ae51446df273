#!/usr/bin/python3
"""make layers: fails when a public name of src/ does not carry its module's prefix.

A module is one source file; its public names are
  * the global symbols its object file defines (`nm -g --defined-only` on
    BUILD/src/.../<module>.o: functions and data that other files can link to), and
  * the `static inline` functions of its header (<module>.h), which every
    includer sees.
Each must start with one of the module's prefixes, derived from the file name:
  * the file name itself: `store_auth.c` -> `store_auth_`;
  * its first word when the name has several: `store_auth.c` -> `store_`,
    `h_meta.c` -> `h_` (the handlers), `task_quadratic.c` -> `task_`;
  * each of these without a plural `s`: `sessions.c` -> `session_`,
    `layers.c` -> `layer_`, `tasks.c` -> `task_`.
A name that fits none of them is refused, unless EXCEPTIONS below lists it
(a module with a short prefix of its own, or a name that must wait for a move).

Before the tree, it checks itself: a throw-away module with an unprefixed
function, an unprefixed global variable and an unprefixed `static inline`
function in its header must each be refused, and a prefixed function and a
`static` helper accepted.  Needs the objects built (the `layers` target of the
Makefile builds them first).  Standard library, `cc` and `nm` only.  Exit
status 1 on any violation, each printed as file: message.

Usage: check_prefixes.py [--build DIR]   (default: build)
"""
import os
import shutil
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# module (file name without .c/.h) -> {allowed prefix or exact name: why}.
# Keep this short: a new entry needs a reason a reader accepts.
EXCEPTIONS = {
    "main": {"main": "the C entry point"},
    "mpi_meta": {"main": "optirsd-mpi's entry point (src/cli/mpi/)"},
    "errors": {"err_": "the error module's short prefix (its codes are ERR_*)"},
    "jwriter": {"jw_": "the JSON writer's short prefix"},
    "vecmath": {"vm_": "the vector kernels' short prefix (vm_f32 lanes)"},
    "evalsuite": {"eval_": "the evaluation suite's short prefix"},
    "session": {"sessions_": "the registry (struct sessions) lives with its sessions"},
    "session_timers": {"sessions_": "the registry's timers (struct sessions)"},
}

STATIC_INLINE = re.compile(r"^\s*static\s+inline\b[^(;{=]*?\b([A-Za-z_]\w*)\s*\(", re.M)


def prefixes(module):
    """The prefixes a module's public names may start with (see the docstring)."""
    words = [module]
    first = module.split("_")[0]
    if first != module:
        words.append(first)
    out = set()
    for w in words:
        out.add(w + "_")
        if w.endswith("s") and len(w) > 1:
            out.add(w[:-1] + "_")
    return out


def allowed(module, name):
    if any(name.startswith(p) for p in prefixes(module)):
        return True
    for ok in EXCEPTIONS.get(module, {}):
        if name == ok or (ok.endswith("_") and name.startswith(ok)):
            return True
    return False


def strip_comments(text):
    return re.sub(r"/\*.*?\*/|//[^\n]*", " ", text, flags=re.S)


def exported(obj):
    """The global symbols obj defines: [(type letter, name)]."""
    out = subprocess.run(["nm", "-g", "--defined-only", obj], check=True,
                         capture_output=True, text=True).stdout
    syms = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            syms.append((parts[-2], parts[-1]))
    return syms


def check_tree(root, build):
    """(modules checked, violations) of root/src with objects under build/src."""
    sources, headers = [], []
    for d, _, names in os.walk(os.path.join(root, "src")):
        for n in sorted(names):
            rel = os.path.relpath(os.path.join(d, n), root)
            if n.endswith(".c"):
                sources.append(rel)
            elif n.endswith(".h"):
                headers.append(rel)
    errors = []
    for rel in sorted(sources):
        module = os.path.splitext(os.path.basename(rel))[0]
        obj = os.path.join(build, os.path.splitext(rel)[0] + ".o")
        if not os.path.exists(obj):
            if rel.startswith(os.path.join("src", "cli", "mpi", "")) and not shutil.which("mpicc"):
                continue  # built only where mpicc is (Makefile: MPI_BIN)
            errors.append("%s: no object %s (build first: make all)" % (rel, obj))
            continue
        for kind, name in exported(obj):
            if not allowed(module, name):
                errors.append("%s: public name %s (nm %s) lacks the module prefix (%s)"
                              % (rel, name, kind, " or ".join(sorted(prefixes(module)))))
    for rel in sorted(headers):
        module = os.path.splitext(os.path.basename(rel))[0]
        with open(os.path.join(root, rel), encoding="utf-8") as f:
            text = strip_comments(f.read())
        for name in STATIC_INLINE.findall(text):
            if name.isupper():      # a macro that builds the name (lopt_fast_kern.h's KS)
                continue
            if not allowed(module, name):
                errors.append("%s: static inline %s lacks the module prefix (%s)"
                              % (rel, name, " or ".join(sorted(prefixes(module)))))
    return sources, errors


# Checks the checker: (file, text, a fragment of the expected message or None
# when the file must pass).
SELF_TESTS = [
    ("src/server/foo_bar.c", "int baz(void) { return 0; }\n", "public name baz"),
    ("src/server/foo_bar.c", "int quux_table[4];\n", "public name quux_table"),
    ("src/server/foo_bar.h", "static inline int qux(void) { return 1; }\n", "static inline qux"),
    ("src/server/foo_bar.c", "int foo_bar_ok(void) { return 0; }\nint foo_ok(void) { return 1; }\n"
                             "static int helper(void) { return 2; }\n"
                             "int foo_use(void) { return helper(); }\n", None),
    ("src/server/items.c", "int item_count(void) { return 0; }\n", None),
]


def self_test():
    problems = []
    for rel, text, want in SELF_TESTS:
        with tempfile.TemporaryDirectory() as root:
            path = os.path.join(root, rel)
            os.makedirs(os.path.dirname(path))
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            if rel.endswith(".h"):      # the header's module needs an object too
                with open(path[:-2] + ".c", "w", encoding="utf-8") as f:
                    f.write("")
            build = os.path.join(root, "build")
            c = os.path.splitext(rel)[0] + ".c"
            obj = os.path.join(build, os.path.splitext(rel)[0] + ".o")
            os.makedirs(os.path.dirname(obj))
            subprocess.run(["cc", "-c", os.path.join(root, c), "-o", obj], check=True)
            _, errors = check_tree(root, build)
        if want is None and errors:
            problems.append("self-test: %s with %r was refused: %r" % (rel, text.strip(), errors))
        if want is not None and not any(want in e for e in errors):
            problems.append("self-test: %s with %r was not refused (%r expected, got %r)"
                            % (rel, text.strip(), want, errors))
    return problems


def main(argv):
    build = os.path.join(ROOT, "build")
    if len(argv) == 3 and argv[1] == "--build":
        build = os.path.join(ROOT, argv[2])
    elif len(argv) != 1:
        print(__doc__.strip().splitlines()[-1])
        return 2
    errors = self_test()
    sources, found = check_tree(ROOT, build)
    errors += found
    for e in errors:
        print(e)
    print("prefixes: %d modules checked, %s" % (
        len(sources), "%d violation(s)" % len(errors) if errors else "ok"))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
