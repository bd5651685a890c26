#!/usr/bin/env python3
"""Type references between the collector's folders, and the cycles among them.

A folder of Sources/GapwatchCollector depends on another when one of its files names a type
(struct, class, enum, protocol, actor, typealias) declared in the other. The pipeline should read
one way (ingest -> rules -> incidents -> actions -> notify, storage below, app/http above), so
the folder graph must have no cycle.

Usage: scripts/folder-cycles.py [--edges] [--root Sources/GapwatchCollector]
Prints each cycle (strongly connected group of folders) with one reference per edge that closes
it, and exits 1 when there is one. Files directly in the root count as folder "(root)".
"""
import os
import re
import sys

DECL = re.compile(r'^\s*(?:public |internal |private |fileprivate |final |@\w+(?:\([^)]*\))? )*'
                  r'(?:struct|class|enum|protocol|actor|typealias)\s+([A-Z][A-Za-z0-9_]*)', re.M)
IDENT = re.compile(r'\b([A-Z][A-Za-z0-9_]*)\b')
STRING = re.compile(r'"(?:\\.|[^"\\])*"')
COMMENT = re.compile(r'//[^\n]*')


def folder_of(root, path):
    rel = os.path.relpath(path, root)
    parts = rel.split(os.sep)
    return parts[0] if len(parts) > 1 else '(root)'


def main():
    args = sys.argv[1:]
    root = 'Sources/GapwatchCollector'
    if '--root' in args:
        root = args[args.index('--root') + 1]
    show_edges = '--edges' in args
    files = []
    for dirpath, _, names in os.walk(root):
        files += [os.path.join(dirpath, n) for n in names if n.endswith('.swift')]
    declared = {}  # type name -> folder
    texts = {}
    for path in sorted(files):
        text = open(path, encoding='utf-8').read()
        texts[path] = COMMENT.sub('', STRING.sub('""', text))
        for name in DECL.findall(texts[path]):
            declared.setdefault(name, folder_of(root, path))
    edges = {}  # (from, to) -> example "file: Type"
    for path, text in texts.items():
        here = folder_of(root, path)
        for name in set(IDENT.findall(text)):
            there = declared.get(name)
            if there and there != here:
                edges.setdefault((here, there), f'{os.path.relpath(path, root)} names {name}')
    folders = sorted({f for e in edges for f in e} | set(declared.values()))
    graph = {f: sorted({b for (a, b) in edges if a == f}) for f in folders}
    # Tarjan's strongly connected components.
    index, low, stack, on, groups, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            groups.append(sorted(group))

    sys.setrecursionlimit(10000)
    for f in folders:
        if f not in index:
            visit(f)
    cycles = [g for g in groups if len(g) > 1]
    if show_edges:
        for (a, b), why in sorted(edges.items()):
            print(f'{a} -> {b}  ({why})')
    for group in cycles:
        print(f'cycle among {len(group)} folders: {", ".join(group)}')
        members = set(group)
        for (a, b), why in sorted(edges.items()):
            if a in members and b in members:
                print(f'  {a} -> {b}  ({why})')
    print(f'{len(folders)} folders, {len(edges)} folder references, {len(cycles)} cycle(s)')
    return 1 if cycles else 0


if __name__ == '__main__':
    sys.exit(main())
