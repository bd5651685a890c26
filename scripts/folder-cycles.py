#!/usr/bin/env python3
"""Type references between the collector's folders, and the cycles among them.

A folder of Sources/GapwatchCollector depends on another when one of its files names a type
declared in the other. The pipeline should read one way (ingest -> rules -> incidents -> actions
-> notify, storage below, app/http above), so the folder graph must have no cycle.

What counts (Swift is read with a small scanner: comments and string literals are blanked, string
interpolations stay code, braces are counted):
- A declaration is a top-level `struct`, `class`, `enum`, `protocol`, `actor` or `typealias`,
  i.e. one at brace depth 0. Types nested in another type or in an `extension T { }` are members
  of T: code reaches them as `T.Name`, which counts as a reference to T's folder.
- A reference is a capitalised identifier that is not right after a `.` (so `T.Name` counts T, not
  Name). A name that the referencing folder itself declares, at any depth, resolves there (a nested
  `Row` or `CodingKeys` never points at another folder's top-level `Row`).
- `extension T` in folder F is a reference from F to T's folder, like any other use of T.
- Files directly in the root count as folder "(root)".
- A subfolder listed in LAYERS counts as a folder of its own: `HTTP/Controllers` (the API's
  controllers, above `App/`, whose use cases they call) is not `HTTP/` (the request context and
  errors, below `Ingest/` and `App/`, which use them).

Usage: scripts/folder-cycles.py [--edges] [--root Sources/GapwatchCollector] | --self-test
Prints each cycle (strongly connected group of folders) with one reference per edge that closes
it, and exits 1 when there is one.
"""
import os
import re
import sys
import tempfile

KEYWORDS = ('struct', 'class', 'enum', 'protocol', 'actor', 'typealias')
TOKEN = re.compile(r'[A-Za-z_][A-Za-z0-9_]*|[{}.]')


def code_only(text):
    """The text with comments and string contents blanked (newlines kept), interpolations kept."""
    out, i, n = [], 0, len(text)
    # Each entry is an open string: (closing delimiter, raw hashes, parens open in its
    # current interpolation or -1 while inside the string's text).
    strings = []
    while i < n:
        if strings and strings[-1][2] < 0:  # inside a string's text
            close, hashes, _ = strings[-1]
            if text.startswith(close, i):
                strings.pop()
                out.append(' ' * len(close))
                i += len(close)
            elif text.startswith('\\' + hashes + '(', i):
                strings[-1] = (close, hashes, 1)
                out.append(' ' * (len(hashes) + 2))
                i += len(hashes) + 2
            elif text.startswith('\\' + hashes, i) and not hashes:
                out.append('  ')
                i += 2
            else:
                out.append('\n' if text[i] == '\n' else ' ')
                i += 1
            continue
        c = text[i]
        if text.startswith('//', i):
            j = text.find('\n', i)
            j = n if j < 0 else j
            out.append(' ' * (j - i))
            i = j
        elif text.startswith('/*', i):
            depth, j = 0, i
            while j < n:
                if text.startswith('/*', j):
                    depth, j = depth + 1, j + 2
                elif text.startswith('*/', j):
                    depth, j = depth - 1, j + 2
                    if depth == 0:
                        break
                else:
                    j += 1
            out.append(re.sub(r'[^\n]', ' ', text[i:j]))
            i = j
        elif c == '"' or (c == '#' and re.match(r'#+"', text[i:])):
            hashes = re.match(r'#*', text[i:]).group(0)
            quote = '"""' if text.startswith('"""', i + len(hashes)) else '"'
            strings.append((quote + hashes, hashes, -1))
            out.append(' ' * (len(hashes) + len(quote)))
            i += len(hashes) + len(quote)
        else:
            if strings:  # inside an interpolation: track its parentheses
                close, hashes, parens = strings[-1]
                if c == '(':
                    parens += 1
                elif c == ')':
                    parens -= 1
                    if parens == 0:
                        parens = -1
                        c = ' '
                strings[-1] = (close, hashes, parens)
            out.append(c)
            i += 1
    return ''.join(out)


def scan(code):
    """(top-level declared names, all declared names, extended names, referenced names)."""
    top, every, extended, refs = set(), set(), set(), set()
    depth, prev, prev2 = 0, None, None
    for tok in TOKEN.findall(code):
        if tok == '{':
            depth += 1
        elif tok == '}':
            depth = max(0, depth - 1)
        elif tok[0].isupper() and prev != '.':
            if prev in KEYWORDS and prev2 != '.':
                every.add(tok)
                if depth == 0:
                    top.add(tok)
            else:
                refs.add(tok)
                if prev == 'extension':
                    extended.add(tok)
        prev2, prev = prev, tok
    return top, every, extended, refs


LAYERS = ('HTTP/Controllers',)


def folder_of(root, path, layers=LAYERS):
    rel = os.path.relpath(path, root).replace(os.sep, '/')
    for layer in layers:
        if rel.startswith(layer + '/'):
            return layer
    parts = rel.split('/')
    return parts[0] if len(parts) > 1 else '(root)'


def folder_edges(root, layers=LAYERS):
    files = []
    for dirpath, _, names in os.walk(root):
        files += [os.path.join(dirpath, n) for n in names if n.endswith('.swift')]
    declared = {}  # top-level type name -> folder
    local = {}  # folder -> every type name declared in it, at any depth
    scanned = {}
    for path in sorted(files):
        with open(path, encoding='utf-8') as f:
            top, every, extended, refs = scan(code_only(f.read()))
        scanned[path] = refs
        here = folder_of(root, path, layers)
        local.setdefault(here, set()).update(every)
        for name in sorted(top):
            declared.setdefault(name, here)
    edges = {}  # (from, to) -> example "file names Type"
    for path, refs in sorted(scanned.items()):
        here = folder_of(root, path, layers)
        for name in sorted(refs):
            there = declared.get(name)
            if there and there != here and name not in local[here]:
                edges.setdefault((here, there), f'{os.path.relpath(path, root)} names {name}')
    return sorted(set(local) | {f for e in edges for f in e}), edges


def cycles_of(folders, edges):
    graph = {f: sorted({b for (a, b) in edges if a == f}) for f in folders}
    index, low, stack, on, groups, counter = {}, {}, [], set(), [], [0]

    def visit(v):  # Tarjan's strongly connected components
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
    return [g for g in groups if len(g) > 1]


def self_test():
    files = {
        'Storage/Store.swift': 'public struct Store {\n    struct Row { let id: Int }\n    enum CodingKeys {}\n}\n'
                               'extension Store {\n    enum Verdict { case ok }\n}\n'
                               'let note = "uses Rules and \\(Store.self) { here"\n',
        'Rules/Rule.swift': 'struct Rule {\n    enum Verdict { case ok }\n    struct Row {}\n    let store: Store\n'
                            '    let v: Store.Verdict\n}\n/* a Ranker { in a comment */\n'
                            'let sql = """\n    SELECT Alert { FROM x\n    """\n',
        'Notify/Alert.swift': 'final class Alert {\n    let r: Rule\n}\n// Ranker\n',
        'Notify/Ranker.swift': 'struct Ranker { let r = Rule.self }\n',
    }
    with tempfile.TemporaryDirectory() as root:
        for rel, text in files.items():
            os.makedirs(os.path.join(root, os.path.dirname(rel)), exist_ok=True)
            with open(os.path.join(root, rel), 'w', encoding='utf-8') as f:
                f.write(text)
        folders, edges = folder_edges(root)
        got = sorted(edges)
        want = [('Notify', 'Rules'), ('Rules', 'Storage')]
        assert folders == ['Notify', 'Rules', 'Storage'], folders
        assert got == want, f'edges {got}, want {want}'
        assert cycles_of(folders, edges) == []
        with open(os.path.join(root, 'Storage/Back.swift'), 'w', encoding='utf-8') as f:
            f.write('extension Alert {}\n')
        folders, edges = folder_edges(root)
        assert cycles_of(folders, edges) == [['Notify', 'Rules', 'Storage']], cycles_of(folders, edges)
    with tempfile.TemporaryDirectory() as root:
        # A layer above its parent: Rules/Above names Notify, which names Rules.
        files['Rules/Above/Use.swift'] = 'struct Use { let a: Alert }\n'
        for rel, text in files.items():
            os.makedirs(os.path.join(root, os.path.dirname(rel)), exist_ok=True)
            with open(os.path.join(root, rel), 'w', encoding='utf-8') as f:
                f.write(text)
        folders, edges = folder_edges(root, layers=())
        assert cycles_of(folders, edges) == [['Notify', 'Rules']], cycles_of(folders, edges)
        folders, edges = folder_edges(root, layers=('Rules/Above',))
        assert ('Rules/Above', 'Notify') in edges and cycles_of(folders, edges) == [], (sorted(edges), cycles_of(folders, edges))
    print('self-test passed')
    return 0


def main():
    args = sys.argv[1:]
    if '--self-test' in args:
        return self_test()
    root = 'Sources/GapwatchCollector'
    if '--root' in args:
        root = args[args.index('--root') + 1]
    folders, edges = folder_edges(root)
    cycles = cycles_of(folders, edges)
    if '--edges' in args:
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
