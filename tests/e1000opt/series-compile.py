#!/usr/bin/env python3
"""Check that every commit of a patch series builds, not only the last one.

usage: series-compile.py TREE BASE BUILDDIR SRCDIR QEMU

TREE is a git tree with the series applied on top of the tag/commit BASE.
BUILDDIR is a configured and built QEMU tree whose compile_commands.json
names its sources under SRCDIR; QEMU is the binary built there from the
same series.

At every commit, each C file that the series changes (and that the build
compiles) is compiled with the build's own command line plus -Werror,
against that commit's sources and the build's generated headers.  Then
every symbol those objects need must be defined by one of them or by a
file the series does not touch (the binary's symbols minus what the
touched files define at the end of the series) or come from a shared
library: that is the link, without linking all of QEMU for each commit.
A function declared and used before the patch that defines it fails the
second check; one used before it is declared fails the first.
"""
import json
import os
import shlex
import subprocess
import sys
import tempfile


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def syms(obj, undefined):
    flags = ["-u"] if undefined else ["-g", "--defined-only"]
    out = run(["nm", *flags, obj])
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if not parts:
            continue
        names.add(parts[-1].split("@")[0])
    return names


def main():
    tree, base, builddir, srcdir, qemu = sys.argv[1:6]
    srcdir = os.path.realpath(srcdir)
    entries = {}
    for e in json.load(open(os.path.join(builddir, "compile_commands.json"))):
        path = os.path.realpath(os.path.join(e["directory"], e["file"]))
        if path.startswith(srcdir + "/"):
            entries.setdefault(os.path.relpath(path, srcdir), e)

    git = ["git", "-C", tree]
    head = run(git + ["rev-parse", "HEAD"]).strip()
    commits = run(git + ["rev-list", "--reverse", f"{base}..{head}"]).split()
    changed = run(git + ["diff", "--name-only", base, head, "--", "*.c"]).split()
    files = [f for f in changed if f in entries]
    if not files:
        sys.exit("series-compile: the series changes no C file the build compiles")

    headers = run(git + ["diff", "--name-only", base, head, "--", "*.h"]).split()
    objdir = tempfile.mkdtemp(prefix="series-compile.")
    # An object is reused only while neither its source nor any header the
    # series changes differs: (file, its blob, the changed headers' blobs).
    cache = {}

    def compile_one(f, commit):
        key = (f, blob(commit, f), tuple(blob(commit, h) for h in headers))
        if key in cache:
            return cache[key]
        e = entries[f]
        argv = shlex.split(e["command"]) if "command" in e else list(e["arguments"])
        out = os.path.join(objdir, f"{len(cache)}.o")
        new = []
        skip = 0
        for a in argv:
            if skip:
                skip -= 1
                continue
            if a in ("-MD", "-MMD"):
                continue
            if a in ("-MQ", "-MF", "-MT", "-o"):
                skip = 1
                continue
            if a == "-c":
                continue
            if os.path.realpath(os.path.join(e["directory"], a)) == os.path.join(srcdir, f):
                continue
            new.append(a.replace(srcdir, tree))
        new += ["-Werror", "-o", out, "-c", os.path.join(tree, f)]
        r = subprocess.run(new, cwd=e["directory"], capture_output=True, text=True)
        if r.returncode != 0:
            return None, r.stderr
        cache[key] = (out, "")
        return cache[key]

    def blob(commit, f):
        r = subprocess.run(git + ["rev-parse", "-q", "--verify", f"{commit}:{f}"],
                           capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else None

    # What the untouched part of QEMU and the shared libraries provide.
    bin_def = syms(qemu, False)
    bin_undef = syms(qemu, True)
    if len(bin_def) < 1000:
        sys.exit(f"series-compile: {qemu} has no symbol table")
    run(git + ["checkout", "-q", "--detach", head])
    final_def = set()
    for f in files:
        obj, err = compile_one(f, head)
        if obj is None:
            sys.exit(f"series-compile: {f} does not compile at the end of the series:\n{err}")
        final_def |= syms(obj, False)
    provided = (bin_def - final_def) | bin_undef | {"_GLOBAL_OFFSET_TABLE_"}

    try:
        for i, c in enumerate(commits, 1):
            subj = run(git + ["log", "-1", "--format=%s", c]).strip()
            run(git + ["checkout", "-q", "--detach", c])
            defined, needed, built = set(), {}, 0
            for f in files:
                if blob(c, f) is None:
                    continue
                obj, err = compile_one(f, c)
                if obj is None:
                    print(f"patch {i} ({subj}): {f} does not compile:\n{err}")
                    return 1
                built += 1
                defined |= syms(obj, False)
                for s in syms(obj, True):
                    needed.setdefault(s, f)
            missing = sorted(s for s in needed if s not in defined and s not in provided)
            if missing:
                print(f"patch {i} ({subj}): undefined at link time: " +
                      ", ".join(f"{s} (used by {needed[s]})" for s in missing))
                return 1
            print(f"patch {i}: {built} files compile and link ({subj})")
    finally:
        run(git + ["checkout", "-q", "--detach", head])
        subprocess.run(["rm", "-rf", objdir])
    return 0


if __name__ == "__main__":
    sys.exit(main())
