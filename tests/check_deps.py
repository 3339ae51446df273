#!/usr/bin/python3
"""make layers: `make run` installs what the daemon needs to build and run,
and nothing that only the tests, the benches or the clients need.

The Makefile passes its lists:
  --run   RUN_PKGS  (what `make run` installs: make deps-run)
  --all   DEB_PKGS  (what `make test` / `make bench` install: make deps)
  --pc    PKGS      (the pkg-config modules the daemon links)
  --libs  the other -l libraries of the daemon's link line (openblas)

Checks:
  1. RUN_PKGS is a subset of DEB_PKGS;
  2. no RUN_PKGS package is a test, bench or client tool (pytest, node,
     chromium, valgrind, torch, optuna, clang, cmocka, nginx, curl, Python,
     OpenMPI…);
  3. every RUN_PKGS package has a reason to be there: a build tool (gcc,
     make, pkg-config), the -dev package that ships the .pc file of a module
     in PKGS or names a library of the link line, or a data package the
     daemon's sources name (src/: dataset-fashion-mnist for meta-training);
  4. every module of PKGS has its .pc file from a RUN_PKGS package (dpkg -S),
     so `make run` on a fresh machine can build.
3 and 4 ask dpkg about installed packages (the build needs them installed).
Standard library only; exit status 1 on any violation, each printed.
"""
import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD_TOOLS = {"gcc", "make", "pkg-config"}
TEST_TOOL = re.compile(r"pytest|^node|^npm|chromium|valgrind|torch|optuna|cmocka|^clang|^llvm|"
                       r"^libclang|nginx|typescript|^python|^curl$|^libcurl|^sqlite3$|^openssl$|"
                       r"^gdb$|playwright|jsonschema|^esbuild|mpi")


def dpkg_files(pkg):
    r = subprocess.run(["dpkg-query", "-L", pkg], capture_output=True, text=True)
    return r.stdout.split("\n") if r.returncode == 0 else None


def pc_file(module):
    r = subprocess.run(["pkg-config", "--variable=pcfiledir", module], capture_output=True, text=True)
    return os.path.join(r.stdout.strip(), module + ".pc") if r.returncode == 0 else None


def pc_owner(path):
    r = subprocess.run(["dpkg-query", "-S", os.path.realpath(path)], capture_output=True, text=True)
    if r.returncode != 0:
        r = subprocess.run(["dpkg-query", "-S", path], capture_output=True, text=True)
    if r.returncode != 0:
        return set()
    owners = r.stdout.strip().split("\n")[0].rsplit(": ", 1)[0]     # "a:amd64, b: /path"
    return {o.strip().split(":")[0] for o in owners.split(",")}


def named_in_sources(pkg):
    for d, _, files in os.walk(os.path.join(ROOT, "src")):
        for f in files:
            if f.endswith((".c", ".h")):
                with open(os.path.join(d, f), encoding="utf-8", errors="replace") as fh:
                    if pkg in fh.read():
                        return True
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", required=True)
    ap.add_argument("--all", required=True)
    ap.add_argument("--pc", required=True)
    ap.add_argument("--libs", default="")
    a = ap.parse_args()
    run, every, modules = a.run.split(), set(a.all.split()), a.pc.split()
    libs = [x[2:] for x in a.libs.split() if x.startswith("-l")]
    errors = []
    if not run:
        errors.append("RUN_PKGS is empty")
    for pkg in run:
        if pkg not in every:
            errors.append(f"{pkg}: in RUN_PKGS but not in DEB_PKGS (make test would not install it)")
        if TEST_TOOL.search(pkg):
            errors.append(f"{pkg}: a test/bench/client tool in RUN_PKGS (move it to DEB_PKGS)")
            continue
        if pkg in BUILD_TOOLS:
            continue
        if pkg.endswith("-dev"):
            files = dpkg_files(pkg)
            if files is None:
                errors.append(f"{pkg}: not installed (make deps-run), cannot tell what it ships")
                continue
            pcs = {os.path.basename(f)[:-3] for f in files if f.endswith(".pc")}
            if not pcs & set(modules) and not any(lib in pkg for lib in libs):
                errors.append(f"{pkg}: ships no .pc of PKGS ({' '.join(modules)}) and names no "
                              f"library of the link line ({' '.join(libs)}): what does the daemon need it for?")
            continue
        if not named_in_sources(pkg):
            errors.append(f"{pkg}: neither a build tool, a -dev library nor named in src/")
    for m in modules:
        path = pc_file(m)
        owners = pc_owner(path) if path else set()
        if not owners & set(run):
            errors.append(f"pkg-config module {m}: its .pc ({path or 'not found'}) comes from "
                          f"{' '.join(sorted(owners)) or 'no package'}, none of RUN_PKGS")
    for e in errors:
        print("check_deps:", e)
    if errors:
        return 1
    print(f"check_deps: make run installs {len(run)} packages ({' '.join(run)}), "
          f"all in make test's {len(every)}; none is a test tool")
    return 0


if __name__ == "__main__":
    sys.exit(main())
