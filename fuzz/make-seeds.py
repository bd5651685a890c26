#!/usr/bin/env python3
"""Writes the named seed inputs of fuzz/corpus/ (the report decoder's libFuzzer corpus).

Seeds: every protocol/examples/report-*.json raw and gzipped, and hostile bodies that each aim at
one refusal path. Inputs that libFuzzer found and `-merge=1` kept sit beside them, named by hash.
Run from anywhere; rewriting a seed with the same content changes nothing.
"""
import glob, gzip, json, os, zlib

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
out = os.path.join(root, "fuzz", "corpus")
os.makedirs(out, exist_ok=True)

def gz(data):
    # mtime=0: the same seed bytes on every run.
    return gzip.compress(data, compresslevel=6, mtime=0)

def write(name, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)

minimal_path = os.path.join(root, "protocol", "examples", "report-minimal.json")
for path in sorted(glob.glob(os.path.join(root, "protocol", "examples", "report-*.json"))):
    data = open(path, "rb").read()
    stem = os.path.basename(path)[: -len(".json")]
    write(f"seed-{stem}.json", data)
    write(f"seed-{stem}.json.gz", gz(data))
    compact = json.dumps(json.loads(data), separators=(",", ":"), sort_keys=True).encode()
    write(f"seed-{stem}-compact.json", compact)

base = json.loads(open(minimal_path, "rb").read())
minimal = json.dumps(base, separators=(",", ":")).encode()

def edited(old, new):
    assert old in minimal, old
    return minimal.replace(old, new, 1)

hostile = {
    # nesting: just inside and past the parser's 64 levels, in an unknown field
    "deep-nesting-60": edited(b'"protocol":1', b'"protocol":1,"x":' + b"[" * 60 + b"]" * 60),
    "deep-nesting-2000": edited(b'"protocol":1', b'"protocol":1,"x":' + b"[" * 2000 + b"]" * 2000),
    # numbers: past UInt64, past Int64, fractions, exponents, leading zeros, minus zero
    "seq-2pow64": edited(b'"seq":1', b'"seq":18446744073709551616'),
    "seq-2pow63": edited(b'"seq":1', b'"seq":9223372036854775808'),
    "sent-at-int64-min": edited(b'"sent_at":1769140860000', b'"sent_at":-9223372036854775808'),
    "observed-at-exponent": edited(b'"observed_at":1769140800000', b'"observed_at":1.7691408e12'),
    "huge-number-unknown-field": edited(b'"protocol":1', b'"protocol":1,"x":1' + b"0" * 400 + b"e99999"),
    "leading-zero": edited(b'"seq":1', b'"seq":01'),
    "minus-zero": edited(b'"seq":1', b'"seq":-0'),
    "protocol-2": edited(b'"protocol":1', b'"protocol":2'),
    # strings: bad UTF-8, overlong encoding, lone surrogates, control characters, long kind
    "bad-utf8": edited(b'"gapwatch-agent"', b'"gapwatch-\xff\xfe"'),
    "overlong-utf8": edited(b'"gapwatch-agent"', b'"gapwatch-\xc0\xaf"'),
    "lone-surrogate": edited(b'"gapwatch-agent"', b'"gapwatch-\\ud800"'),
    "escaped-nul": edited(b'"gapwatch-agent"', b'"gapwatch-\\u0000"'),
    "long-kind": edited(b'"kind":"heartbeat"', b'"kind":"' + b"k" * 3000 + b'"'),
    "duplicate-keys": edited(b'"seq":1', b'"seq":1,"seq":2'),
    "nulls": edited(b'"labels":{}', b'"labels":null,"service":null'),
    "not-json": b"\x00\x01\x02garbage",
    "empty": b"",
}
for name, data in hostile.items():
    write(f"seed-{name}.json", data)

packed = gz(minimal)
write("seed-gzip-truncated.gz", packed[: len(packed) // 2])
write("seed-gzip-bad-crc.gz", packed[:-8] + bytes([packed[-8] ^ 0xFF]) + packed[-7:])
write("seed-gzip-trailing-bytes.gz", packed + b"xx")
write("seed-gzip-two-members.gz", packed + packed)
write("seed-gzip-header-only.gz", packed[:10])
write("seed-gzip-deep-nesting.gz", gz(hostile["deep-nesting-2000"]))
# bombs: 100 KB of spaces passes the 70 KB small limit; 9 MiB passes the 8 MiB inflate limit
write("seed-gzip-100k-whitespace.gz", gz(minimal + b" " * 100_000))
write("seed-gzip-9mib-bomb.gz", gz(b" " * (9 << 20)))
# raw deflate and zlib framing: not gzip
write("seed-zlib-not-gzip.gz", zlib.compress(minimal))
