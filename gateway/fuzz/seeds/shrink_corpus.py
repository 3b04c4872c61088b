#!/usr/bin/env python3
"""Rebuilds corpus/<target> as a small set that keeps most edge coverage.

`cargo fuzz cmin` keeps every file that adds a feature (hundreds here), more
than this repo keeps. This measures each candidate's edges alone (one libFuzzer
merge per file, counters off), keeps the hand-made seeds (seed-*), then adds
greedily the file that covers the most edges not yet covered, until MAX_FILES
or no gain.

usage (from gateway/fuzz, after `RUSTC_BOOTSTRAP=1 cargo fuzz build`):
  seeds/shrink_corpus.py TARGET MAX_FILES [MORE_DIRS...]
e.g. seeds/shrink_corpus.py event_parse 150 target/corpus/event_parse
"""
import os, shutil, subprocess, sys, tempfile

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.normpath(os.path.join(here, ".."))
target, cap, more = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
binary = os.path.join(root, "target/x86_64-unknown-linux-gnu/release", target)
corpus = os.path.join(root, "corpus", target)

def edges(path, work):
    for d in ("in", "out"):
        shutil.rmtree(os.path.join(work, d), ignore_errors=True)
        os.makedirs(os.path.join(work, d))
    shutil.copy(path, os.path.join(work, "in"))
    ctl = os.path.join(work, "ctl")
    if os.path.exists(ctl):
        os.remove(ctl)  # an existing control file would make libFuzzer resume
    subprocess.run([binary, "-merge=1", "-use_counters=0", "-merge_control_file=" + ctl,
                    os.path.join(work, "out"), os.path.join(work, "in")],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for line in open(ctl):
        if line.startswith("COV "):
            return set(line.split()[2:])
    return set()

candidates = {}
for d in [corpus] + more:
    for name in sorted(os.listdir(d)):
        candidates.setdefault(name, os.path.join(d, name))  # same name = same content (sha1)
with tempfile.TemporaryDirectory() as work:
    cov = {name: edges(path, work) for name, path in candidates.items()}
total = set().union(*cov.values())
chosen = [n for n in cov if n.startswith("seed-")]
covered = set().union(*(cov[n] for n in chosen)) if chosen else set()
size = lambda n: os.path.getsize(candidates[n])
while len(chosen) < cap:
    rest = [n for n in cov if n not in chosen]
    best = max(rest, key=lambda n: (len(cov[n] - covered), -size(n)), default=None)
    if best is None or not cov[best] - covered:
        break
    chosen.append(best)
    covered |= cov[best]
with tempfile.TemporaryDirectory() as keep:
    for n in chosen:
        shutil.copy(candidates[n], os.path.join(keep, n))
    shutil.rmtree(corpus)
    shutil.copytree(keep, corpus)
print(f"{target}: {len(chosen)} files, {sum(size(n) for n in chosen)} bytes, "
      f"{len(covered)}/{len(total)} edges of {len(cov)} candidates")
