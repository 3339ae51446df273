#!/usr/bin/python3
"""make layers (second half): the documentation stays inside the repository
and in step with the configuration table.

Checks, for every *.md file of the repository (git's tracked and untracked
files, ignored ones and node_modules/ left out):
  1. every relative link [text](target) and <img src="target"> resolves to
     a file or directory of the repository, and never leaves it (no
     `../shared/...`);
  2. a link's #anchor, when it points into a Markdown file, names one of
     that file's headings (GitHub's rule: lower case, punctuation dropped,
     spaces to hyphens);
  3. absolute links are http(s) or mailto only (no file://).
And: every option of the configuration table (src/server/config.c) is
documented as `--name` in docs/operations.md.

Links inside fenced code blocks and inline code are not links.  Standard
library only.  Exit status 1 on any violation, each printed as
file:line: message.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
SRC = re.compile(r"""<(?:img|a)\s[^>]*(?:src|href)=["']([^"']+)["']""")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")


def markdown_files():
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "*.md"], cwd=ROOT,
                         capture_output=True, text=True)
    if out.returncode != 0:   # not a git checkout: walk the tree
        files = []
        for d, dirs, names in os.walk(ROOT):
            dirs[:] = [x for x in dirs if not x.startswith(".") and x != "node_modules" and not x.startswith("build")]
            files += [os.path.relpath(os.path.join(d, n), ROOT) for n in names if n.endswith(".md")]
        return sorted(files)
    return sorted(f for f in out.stdout.split("\n") if f and "node_modules/" not in f)


def prose_lines(text):
    """(line number, line) outside fenced code, with inline code blanked."""
    fenced = False
    for i, line in enumerate(text.split("\n"), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield i, re.sub(r"`[^`]*`", lambda m: " " * len(m.group(0)), line)


def slug(heading):
    s = re.sub(r"`", "", heading).strip().lower()
    s = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", s)       # a link in a heading: its text
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


_anchors = {}


def anchors(path):
    if path not in _anchors:
        seen = {}
        out = set()
        with open(path, encoding="utf-8") as f:
            text = f.read()
        fenced = False
        for line in text.split("\n"):
            if FENCE.match(line):
                fenced = not fenced
                continue
            m = None if fenced else HEADING.match(line)
            if m:
                base = slug(m.group(2))
                k = seen.get(base, 0)
                seen[base] = k + 1
                out.add(base if k == 0 else "%s-%d" % (base, k))
        _anchors[path] = out
    return _anchors[path]


def check_link(md, lineno, target, errors):
    where = "%s:%d" % (md, lineno)
    if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
        if not re.match(r"^(https?|mailto):", target, re.I):
            errors.append("%s: link %s: only http(s) and mailto links may be absolute" % (where, target))
        return
    path, _, anchor = target.partition("#")
    here = os.path.dirname(os.path.join(ROOT, md))
    dest = os.path.normpath(os.path.join(here, path)) if path else os.path.join(ROOT, md)
    if path.startswith("/"):
        errors.append("%s: link %s: use a path relative to the file" % (where, target))
        return
    if os.path.commonpath([dest, ROOT]) != ROOT:
        errors.append("%s: link %s points outside the repository" % (where, target))
        return
    if not os.path.exists(dest):
        errors.append("%s: link %s: no such file in the repository" % (where, target))
        return
    if anchor and dest.endswith(".md") and anchor not in anchors(dest):
        errors.append("%s: link %s: %s has no heading #%s" % (where, target, os.path.relpath(dest, ROOT), anchor))


def check_flags(errors):
    with open(os.path.join(ROOT, "src", "server", "config.c"), encoding="utf-8") as f:
        names = re.findall(r'^\s*\{"([a-z0-9-]+)",\s*CT_', f.read(), re.M)
    if len(names) < 10:
        errors.append("src/server/config.c: could not read the configuration table")
        return
    doc = "docs/operations.md"
    with open(os.path.join(ROOT, doc), encoding="utf-8") as f:
        text = f.read()
    for n in names:
        if "--" + n not in text:
            errors.append("%s: the option --%s (src/server/config.c) is not documented" % (doc, n))


def main():
    errors = []
    files = markdown_files()
    for md in files:
        with open(os.path.join(ROOT, md), encoding="utf-8") as f:
            text = f.read()
        for lineno, line in prose_lines(text):
            for m in list(LINK.finditer(line)) + list(SRC.finditer(line)):
                check_link(md, lineno, m.group(1), errors)
    check_flags(errors)
    for e in errors:
        print(e)
    if errors:
        print("check_docs: %d problem(s)" % len(errors))
        return 1
    print("check_docs: %d Markdown files, links and flags ok" % len(files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
