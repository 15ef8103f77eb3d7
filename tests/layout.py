#!/usr/bin/env python3
"""`make layout`: the shape of src/ -- Rust files, the largest ones, and import circles.

A module is a file (`mod.rs` is its folder). An edge A -> B is a `use crate::...` or
`use super::...` path, or an inline `crate::...` path, in A that names B (test modules
and `tests.rs` files are left out). Edges from a module to its own descendants are
declarations and re-exports, not imports, and are left out too. A circle is a
strongly connected component of more than one module.
"""
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "src"
files = {}
all_files = []
for d, _, names in os.walk(root):
    for f in names:
        if not f.endswith(".rs"):
            continue
        path = os.path.join(d, f)
        all_files.append(path)
        parts = os.path.relpath(path, root)[:-3].split("/")
        if parts[-1] in ("mod", "lib", "main"):
            parts = parts[:-1]
        if parts and parts[-1] == "tests":
            continue
        files["::".join(parts)] = path
modules = set(files)


def resolve(path):
    segments = path.split("::")
    for i in range(len(segments), 0, -1):
        candidate = "::".join(segments[:i])
        if candidate in modules:
            return candidate
    return None


def expand(prefix, tree):
    m = re.match(r"^([^{]*)\{(.*)\}$", tree)
    if not m:
        return [prefix + tree]
    head, inner = m.group(1), m.group(2)
    out, depth, current = [], 0, ""
    for ch in inner:
        depth += ch == "{"
        depth -= ch == "}"
        if ch == "," and depth == 0:
            out += expand(prefix + head, current)
            current = ""
        else:
            current += ch
    if current:
        out += expand(prefix + head, current)
    return out


edges = {m: set() for m in modules}
for module, path in files.items():
    source = re.split(r"#\[cfg\(test\)\]\s*mod tests", open(path).read())[0]
    for use in re.finditer(r"\buse\s+(crate|super)::([^;]+);", source, re.S):
        base = "" if use.group(1) == "crate" else "::".join(module.split("::")[:-1])
        for p in expand("", re.sub(r"\s+", "", use.group(2))):
            target = resolve(((base + "::" + p) if base else p).replace("::self", ""))
            if target and target != module:
                edges[module].add(target)
    for inline in re.finditer(r"\bcrate::([a-z_][a-z_0-9]*(?:::[a-z_][a-z_0-9]*)*)", source):
        target = resolve(inline.group(1))
        if target and target != module:
            edges[module].add(target)
for module in modules:
    edges[module] = {t for t in edges[module] if not (module == "" or t.startswith(module + "::"))}

index, low, stack, on_stack, components = {}, {}, [], set(), []
sys.setrecursionlimit(10000)


def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in edges[v]:
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on_stack:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        component = []
        while True:
            w = stack.pop()
            on_stack.discard(w)
            component.append(w)
            if w == v:
                break
        components.append(component)


for v in sorted(modules):
    if v not in index:
        visit(v)
circles = [sorted(c) for c in components if len(c) > 1]
sizes = sorted(((sum(1 for _ in open(p)), p) for p in all_files), reverse=True)
print(f"{len(all_files)} Rust files in {root}; largest: " + ", ".join(f"{p} ({n})" for n, p in sizes[:3]))
over = [f"{p} ({n})" for n, p in sizes if n > 500]
print("over 500 lines: " + (", ".join(over) if over else "none"))
print(f"import circles: {len(circles)}")
for c in circles:
    print("  " + " -> ".join(c))
sys.exit(1 if circles else 0)
