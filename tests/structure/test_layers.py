#!/usr/bin/env python3
"""Issue #19: the build enforces the layers. Each source folder is one CMake library (or the
`beampipe` executable for src/cli) whose sources are listed by name, and which links the
libraries below it explicitly. This test reads those CMakeLists.txt files and fails when

  * a library's CMakeLists.txt uses file(GLOB) for its sources,
  * a .cpp file in a folder is in no library (it would silently not be built),
  * a file includes a project header whose library its own library does not link, directly or
    through the libraries it links (a lower layer reaching up, or a dependency left implicit).

Headers belong to the folder they sit in; a header is checked with its folder's libraries."""
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FOLDERS = ["src/util", "events", "src/domain", "src/archive", "src/store", "projections",
           "src/adapters", "src/services", "actors", "src/api", "src/app", "src/cli"]

COMMAND = re.compile(r"\b(add_library|add_executable|target_link_libraries|file)\s*\(([^)]*)\)", re.S)
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)

failures = []
owner = {}        # source path (relative to ROOT) -> target
links = {}        # target -> beampipe targets it links
folder_targets = {}  # folder -> targets defined there

for folder in FOLDERS:
    cmake = os.path.join(ROOT, folder, "CMakeLists.txt")
    if not os.path.exists(cmake):
        failures.append(f"{folder}: no CMakeLists.txt (each folder is its own library)")
        continue
    text = re.sub(r"#[^\n]*", "", open(cmake).read())
    folder_targets[folder] = []
    for kind, body in COMMAND.findall(text):
        words = body.split()
        if kind == "file":
            if words and words[0].startswith("GLOB") and "schema" not in body:
                failures.append(f"{folder}/CMakeLists.txt: file({words[0]}) for sources; list them")
            continue
        target = words[0]
        if kind in ("add_library", "add_executable"):
            folder_targets[folder].append(target)
            links.setdefault(target, set())
            for w in words[1:]:
                if w.endswith(".cpp"):
                    owner[os.path.normpath(os.path.join(folder, w))] = target
        else:
            links.setdefault(target, set()).update(
                w for w in words[1:] if w.startswith("beampipe_"))


def closure(target):
    seen, todo = set(), [target]
    while todo:
        t = todo.pop()
        if t in seen:
            continue
        seen.add(t)
        todo.extend(links.get(t, ()))
    return seen


def folder_of(path):
    for folder in FOLDERS:
        if path.startswith(folder + "/"):
            return folder
    return None


def resolve(including_dir, name):
    for base in (including_dir, "src", ""):
        candidate = os.path.normpath(os.path.join(base, name))
        if os.path.exists(os.path.join(ROOT, candidate)):
            return candidate
    return None


for folder in FOLDERS:
    for dirpath, _, files in os.walk(os.path.join(ROOT, folder)):
        rel_dir = os.path.relpath(dirpath, ROOT)
        for name in sorted(files):
            if not name.endswith((".cpp", ".hpp")):
                continue
            path = os.path.join(rel_dir, name)
            if name.endswith(".cpp"):
                if path not in owner:
                    failures.append(f"{path}: in no library of {folder}/CMakeLists.txt")
                    continue
                mine = [owner[path]]
            else:
                mine = folder_targets.get(folder, [])
            reach = set().union(*(closure(t) for t in mine)) if mine else set()
            for inc in INCLUDE.findall(open(os.path.join(ROOT, path), errors="replace").read()):
                target_path = resolve(rel_dir, inc)
                other = folder_of(target_path) if target_path else None
                if other is None or other == folder:
                    continue
                theirs = folder_targets.get(other, [])
                if theirs and not any(t in reach for t in theirs):
                    failures.append(f"{path}: includes {inc}, but {'/'.join(mine)} does not link "
                                    f"{'/'.join(theirs)} ({other} is not below {folder})")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print(f"layers: {len(owner)} sources in {sum(len(t) for t in folder_targets.values())} targets, "
      "every include reaches a linked library")
