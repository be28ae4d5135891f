#!/usr/bin/env python3
"""Sums a perf report's self time by component (kernel TCP, wake-ups, the
allocator, tokio, hyper, the Redis client, librdkafka, ...), so a flat profile
of a few hundred small symbols says where a request's CPU goes.
  perf report -i perf.data --stdio --no-children --sort dso,sym -g none | bench/profiles/components.py
"""
import collections
import re
import sys

CRATES = [
    ("tokio", "tokio runtime"), ("mio", "tokio runtime"),
    ("hyper", "hyper (HTTP)"), ("h2", "hyper (HTTP)"), ("http", "hyper (HTTP)"),
    ("axum", "axum + tower (routing, middleware)"), ("tower", "axum + tower (routing, middleware)"),
    ("redis", "redis client"), ("combine", "redis client"), ("sha1_smol", "redis client"),
    ("serde", "serde / serde_json"), ("serde_json", "serde / serde_json"),
    ("jsonwebtoken", "JWT check"), ("sha2", "JWT check"), ("hmac", "JWT check"), ("base64", "JWT check"),
    ("futures_util", "futures combinators"), ("std::sys::sync", "std locks and condvars"),
    ("rdkafka", "rdkafka (Rust side)"), ("harmony", "harmony"), ("metrics", "metrics"),
    ("tracing", "tracing"), ("core::fmt", "formatting"), ("alloc::fmt", "formatting"),
    ("uuid", "uuid / ulid"), ("ulid", "uuid / ulid"), ("hashlink", "local copy (hashlink)"),
    ("mimalloc", "allocator"),
]


def component(dso, kind, sym):
    if kind == "k":
        if re.search(r"tcp|ip_|skb|net_|napi|sock|dev_queue|softirq|inet|recv|loopback|nf_|sk_", sym):
            return "kernel: TCP/IP on loopback (both ends of every write)"
        if re.search(r"_raw_spin_unlock_irq|futex|schedule|switch|wake|enqueue|dequeue|select_task|update_curr|idle|pick_next", sym):
            return "kernel: wake-ups and context switches"
        if re.search(r"epoll|poll", sym):
            return "kernel: epoll/poll"
        return "kernel: other (syscall entry/exit, memory)"
    if re.search(r"^rd_|^rdk|^snappy|^lz4|^crc32", sym):
        return "librdkafka (producer threads)"
    if re.search(r"^_?mi_|mimalloc", sym):
        return "allocator"
    if "libc" in dso:
        if re.search(r"malloc|free|realloc|calloc|_int_|unlink_chunk|tcache|consolidate", sym):
            return "allocator"
        if re.search(r"mem(move|cpy|set|cmp)|str", sym):
            return "memcpy / memcmp"
        return "libc: other (syscall stubs, locks)"
    if dso == "[vdso]":
        return "clock reads (vdso)"
    for prefix, name in CRATES:
        if re.search(r"(^|[<&\s(])" + re.escape(prefix) + r"::", sym):
            return name
    return "other user space (small crates, unresolved)"


totals = collections.Counter()
for line in sys.stdin:
    row = re.match(r"\s+([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*)", line)
    if row:
        pct, dso, kind, sym = row.groups()
        totals[component(dso, kind, sym)] += float(pct)
for name, pct in totals.most_common():
    if pct >= 1:
        print(f"{pct:6.1f}%  {name}")
