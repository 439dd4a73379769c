#!/usr/bin/env python3
"""tools/list_sources.py - the file listing of docs/architecture.md, regenerated.

Lists every header of include/fbseg/, every CUDA file of kernels/ and every source of src/ (the
compiled library) with the first sentence of
its header comment, and rewrites the block between <!-- file-listing:begin --> and
<!-- file-listing:end --> of docs/architecture.md (--check: only say whether it is current).
The test "docs: docs/architecture.md lists every file ..." (tests/test_docs.cpp) fails when the
block and the tree disagree, so CI needs no Python for this.

    python3 tools/list_sources.py [--check]
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
BEGIN, END = "<!-- file-listing:begin -->", "<!-- file-listing:end -->"


def first_sentence(path):
    text = []
    for line in open(path, encoding="utf-8").read().split("\n"):
        if not line.startswith("//"):
            break
        t = line[2:].strip()
        if not t:
            if text:
                break
            continue
        text.append(t)
    s = " ".join(text)
    s = re.sub(r"^\S+\.(hpp|cpp|cu|cuh)\s*(-|:)\s*", "", s)  # "fbseg/x.hpp - what it holds"
    m = re.search(r"(.+?[.:;])(\s|$)", s)
    if m:
        s = m.group(1)
    s = s.rstrip(".:;")
    if len(s) > 84:
        s = s[:84].rsplit(" ", 1)[0] + " ..."
    return s


def listing():
    files = []
    for top in ("include/fbseg", "kernels", "src"):
        for dirpath, _, names in os.walk(os.path.join(ROOT, top)):
            for name in names:
                if name.endswith((".hpp", ".cpp", ".cu", ".cuh")):
                    files.append(os.path.relpath(os.path.join(dirpath, name), ROOT))
    files.sort()
    width = max(len(f) for f in files)
    return "\n".join(f.ljust(width) + "  " + first_sentence(os.path.join(ROOT, f)) for f in files)


def main():
    doc_path = os.path.join(ROOT, "docs", "architecture.md")
    doc = open(doc_path, encoding="utf-8").read()
    b, e = doc.index(BEGIN), doc.index(END)
    new = doc[: b + len(BEGIN)] + "\n```text\n" + listing() + "\n```\n" + doc[e:]
    if "--check" in sys.argv:
        print("current" if new == doc else "stale: run python3 tools/list_sources.py")
        return 0 if new == doc else 1
    with open(doc_path, "w", encoding="utf-8") as out:
        out.write(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
