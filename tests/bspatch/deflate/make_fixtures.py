#!/usr/bin/env python3
"""make_fixtures.py - writes the deflate fixtures of this folder and their manifest.

The fixtures feed tests/bspatch/test_bspatch_deflate.c (bsp_dfl_find, bsp_dfl_expand and the
encoder, bit for bit) and tests/bsdiff/test_bsdiff_deflate.c (deflate-aware patches of the
PAIRS). Everything is deterministic: content comes from seeded PRNGs, every gzip mtime and zip
date is fixed, and the gzip/zip containers are written here byte by byte. The outputs are
committed: ctest never runs this script. Run it again only to change the fixtures:

    python3 tests/bspatch/deflate/make_fixtures.py [--bsdiff BUILD/bsdiff/bsdiff]

With --bsdiff it also (re)makes the golden deflate-aware patches (*.bsdelta) of the pairs,
which the bspatch test applies (the device build has no bsdiff). Another zlib may compress the
same content to other bytes: then make the golden patches again too.

zlib's blocks hold at most 32 Ki symbols, so streams that zlib cannot produce (a literal run
longer than 65,536, codes 15 bits long, non-zero padding bits, length 258 spelled as code 284
plus 31) come from the small deflate writer below; every stream is checked by inflating it
with zlib before it is written.

The manifest (fixtures.txt) says what the tests must find:
  file NAME RANGE...      the deflate streams bsp_dfl_find must report, in order, as
                          OFFSET+LENGTH; a RANGE written !OFFSET+LENGTH is a valid deflate
                          stream that the module must refuse (find skips it, expand fails)
  pair LABEL OLD NEW      an old/new pair for deflate-aware patches
  patch NAME OLD NEW      a golden deflate-aware patch turning OLD into NEW
"""
import argparse
import gzip
import io
import os
import random
import struct
import subprocess
import sys
import tarfile
import zipfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
MTIME = 1700000000  # every gzip member and tar entry
DOS_TIME, DOS_DATE = 0x6000, 0x5821  # 12:00:00, 2024-01-01

WORDS = ("static const return if else for while int unsigned char void struct size_t "
         "uint64_t NULL buf len off patch old new stream block header deflate inflate "
         "bytes bits code table error check write read sink source the a of to in").split()


def text(rng, size, width=72):
    """Source-like text: lines of words from a small vocabulary."""
    out, line = [], []
    total = 0
    while total < size:
        w = rng.choice(WORDS)
        if rng.random() < 0.05:
            w = "%s_%d" % (w, rng.randrange(1000))
        line.append(w)
        if sum(len(x) + 1 for x in line) > width or rng.random() < 0.08:
            s = "    " * rng.randrange(3) + " ".join(line) + ";\n"
            out.append(s)
            total += len(s)
            line = []
    return "".join(out).encode()[:size]


# ---------------------------------------------------------------- zlib streams

def zdeflate(data, level=6, strategy=zlib.Z_DEFAULT_STRATEGY, mem=8, wbits=15, flushes=()):
    """Raw deflate by zlib; flushes: (offset, mode) pairs, a flush after data[:offset]."""
    c = zlib.compressobj(level, zlib.DEFLATED, -wbits, mem, strategy)
    out, pos = [], 0
    for off, mode in flushes:
        out.append(c.compress(data[pos:off]))
        out.append(c.flush(mode))
        pos = off
    out.append(c.compress(data[pos:]))
    out.append(c.flush(zlib.Z_FINISH))
    return b"".join(out)


# ---------------------------------------------------------------- a small deflate writer

LEN_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99,
            115, 131, 163, 195, 227, 258]
LEN_EXTRA = [0] * 8 + [1] * 4 + [2] * 4 + [3] * 4 + [4] * 4 + [5] * 4 + [0]
DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025,
             1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
DIST_EXTRA = [0, 0, 0, 0] + [i // 2 for i in range(2, 28)]
CLEN_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]
FIXED_LIT = [8] * 144 + [9] * 112 + [7] * 24 + [8] * 8
FIXED_DIST = [5] * 30


class Bits:
    """LSB-first bit writer."""

    def __init__(self):
        self.acc, self.n, self.out = 0, 0, bytearray()

    def put(self, v, n):
        self.acc |= v << self.n
        self.n += n
        while self.n >= 8:
            self.out.append(self.acc & 255)
            self.acc >>= 8
            self.n -= 8

    def code(self, c, n):  # a Huffman codeword, most significant bit first
        self.put(int(format(c, "0%db" % n)[::-1], 2) if n else 0, n)

    def pad(self, value=0):
        k = (8 - self.n % 8) % 8
        self.put(value & ((1 << k) - 1), k)


def canonical(lengths):
    count = [0] * 16
    for l in lengths:
        count[l] += 1
    count[0] = 0
    nxt, code = [0] * 16, 0
    for l in range(1, 16):
        code = (code + count[l - 1]) << 1
        nxt[l] = code
    codes = []
    for l in lengths:
        codes.append(nxt[l] if l else 0)
        if l:
            nxt[l] += 1
    return codes


def huff_lengths(freq, limit=15):
    """Complete code lengths (at most limit) for the symbols with a non-zero frequency."""
    syms = [s for s, f in enumerate(freq) if f]
    lengths = [0] * len(freq)
    if len(syms) == 1:
        lengths[syms[0]] = 1
        return lengths
    nodes = [(freq[s], i, [s]) for i, s in enumerate(syms)]
    depth = {s: 0 for s in syms}
    tie = len(nodes)
    while len(nodes) > 1:
        nodes.sort()
        (f1, _, a), (f2, _, b) = nodes[0], nodes[1]
        for s in a + b:
            depth[s] += 1
        nodes = nodes[2:] + [(f1 + f2, tie, a + b)]
        tie += 1
    for s in syms:
        lengths[s] = min(depth[s], limit)
    full = 1 << limit
    kraft = sum(1 << (limit - lengths[s]) for s in syms)
    while kraft > full:  # too long codes were clamped: lengthen the deepest shorter ones
        s = max((s for s in syms if lengths[s] < limit), key=lambda s: lengths[s])
        lengths[s] += 1
        kraft -= 1 << (limit - lengths[s])
    while kraft < full:  # zlib refuses incomplete codes: shorten the deepest ones
        s = max(syms, key=lambda s: (lengths[s], s))
        kraft += 1 << (limit - lengths[s])
        lengths[s] -= 1
    return lengths


def len_sym(length, alt258=False):
    if length == 258 and alt258:
        return 284, 31
    for i in range(28, -1, -1):
        if length >= LEN_BASE[i] and (i != 27 or length < 258) and (i != 28 or length == 258):
            return 257 + i, length - LEN_BASE[i]
    raise ValueError(length)


def dist_sym(dist):
    for i in range(29, -1, -1):
        if dist >= DIST_BASE[i]:
            return i, dist - DIST_BASE[i]
    raise ValueError(dist)


def replay(tokens, window):
    """The bytes tokens stand for, after window (the bytes before this block)."""
    out = bytearray(window)
    for t in tokens:
        if isinstance(t, int):
            out.append(t)
        else:
            length, dist = t[0], t[1]
            for _ in range(length):
                out.append(out[-dist])
    return bytes(out[len(window):])


def write_huffman_block(bw, tokens, final, dynamic, lengths=None):
    """A fixed or dynamic block; tokens: literal ints or (length, distance[, alt258]); a dynamic
    block's code lengths come from the token counts unless given."""
    if dynamic:
        lf, df = [0] * 286, [0] * 30
        lf[256] = 1
        for t in tokens:
            if isinstance(t, int):
                lf[t] += 1
            else:
                lf[len_sym(t[0], len(t) > 2)[0]] += 1
                df[dist_sym(t[1])[0]] += 1
        ll, dl = huff_lengths(lf), huff_lengths(df) if any(df) else [0] * 30
        if lengths:
            ll, dl = lengths
        nl = max(257, max(s for s in range(286) if ll[s]) + 1)
        nd = max(1, max([s + 1 for s in range(30) if dl[s]] or [1]))
        seq = ll[:nl] + dl[:nd]
        cf = [0] * 19
        for l in seq:
            cf[l] += 1
        cl = huff_lengths(cf, 7)
        nc = max(4, max(i for i in range(19) if cl[CLEN_ORDER[i]]) + 1)
        bw.put(final | 4, 3)
        bw.put(nl - 257, 5)
        bw.put(nd - 1, 5)
        bw.put(nc - 4, 4)
        for i in range(nc):
            bw.put(cl[CLEN_ORDER[i]], 3)
        cc = canonical(cl)
        for l in seq:
            bw.code(cc[l], cl[l])
        lit_len, dist_len = ll + [0, 0], dl
    else:
        bw.put(final | 2, 3)
        lit_len, dist_len = FIXED_LIT, FIXED_DIST
    lc, dc = canonical(lit_len), canonical(dist_len)
    for t in tokens:
        if isinstance(t, int):
            bw.code(lc[t], lit_len[t])
            continue
        s, ex = len_sym(t[0], len(t) > 2)
        bw.code(lc[s], lit_len[s])
        bw.put(ex, LEN_EXTRA[s - 257])
        d, dx = dist_sym(t[1])
        bw.code(dc[d], dist_len[d])
        bw.put(dx, DIST_EXTRA[d])
    bw.code(lc[256], lit_len[256])


def write_stored_block(bw, data, final, pad=0):
    bw.put(final, 3)
    bw.pad(pad)
    bw.put(len(data), 16)
    bw.put(len(data) ^ 0xFFFF, 16)
    for b in data:
        bw.put(b, 8)


def own_deflate(blocks, final_pad=0):
    """blocks: ('fixed'|'dynamic', tokens) or ('stored', data, pad). Returns (stream, data)."""
    bw, data = Bits(), b""
    for i, blk in enumerate(blocks):
        final = int(i == len(blocks) - 1)
        if blk[0] == "stored":
            write_stored_block(bw, blk[1], final, blk[2])
            data += blk[1]
        else:
            write_huffman_block(bw, blk[1], final, blk[0] == "dynamic", *blk[2:])
            data += replay(blk[1], data[-32768:])
    bw.pad(final_pad)
    return bytes(bw.out), data


def long_code_block(rng):
    """A dynamic block whose codes run from 1 to 15 bits (both alphabets), and tokens using
    every codeword of them: ('dynamic', tokens, (literal/length lengths, distance lengths))."""
    ll, dl = [0] * 286, [0] * 30
    chain = [97, 98, 99, 100, 101, 257, 102, 258, 103, 265, 104, 270, 105, 280, 256, 284]
    for i, s in enumerate(chain):
        ll[s] = min(i + 1, 15)
    dchain = [0, 1, 3, 5, 8, 10, 13, 15, 17, 19, 21, 23, 25, 26, 27, 28]
    for i, d in enumerate(dchain):
        dl[d] = min(i + 1, 15)
    lits = [s for s in chain if s < 256]
    lcodes = [s for s in chain if s > 256]
    toks, pos = [rng.choice(lits) for _ in range(200)], 200
    while pos < 30000:  # enough bytes before the far distances of codes 27 and 28
        li = rng.choice(lcodes) - 257
        d = rng.choice(dchain[:6])
        n = LEN_BASE[li] + rng.randrange((1 << LEN_EXTRA[li]) - (li == 27))  # 258 is code 285
        toks += [(n, DIST_BASE[d] + rng.randrange(1 << DIST_EXTRA[d])), rng.choice(lits)]
        pos += n + 1
    for _ in range(3):  # every codeword of both codes, and every literal again
        for s in lcodes:
            for d in dchain:
                li = s - 257
                n = LEN_BASE[li] + rng.randrange((1 << LEN_EXTRA[li]) - (li == 27))
                toks.append((n, DIST_BASE[d] + rng.randrange(1 << DIST_EXTRA[d])))
                toks += lits
    return "dynamic", toks, (ll, dl)


def greedy_tokens(data):
    """Literals and matches found by a plain hash-chain-free greedy matcher."""
    last, toks, i = {}, [], 0
    while i < len(data):
        key = data[i:i + 3]
        j = last.get(key)
        last[key] = i
        if j is not None and len(key) == 3 and i - j <= 32768:
            n = 3
            while i + n < len(data) and n < 258 and data[j + n] == data[i + n]:
                n += 1
            toks.append((n, i - j))
            i += n
        else:
            toks.append(data[i])
            i += 1
    return toks


# ---------------------------------------------------------------- containers

def check_stream(stream, data):
    d = zlib.decompressobj(-15)
    got = d.decompress(stream)
    if got != data or not d.eof or d.unused_data:
        sys.exit("make_fixtures: a deflate stream does not inflate to its data")


def gz_member(stream, data, name=None, comment=None, extra=None, hcrc=False, os_byte=3,
              xfl=0):
    """A gzip member around stream; returns (bytes, offset of the stream in them)."""
    check_stream(stream, data)
    flg = (2 if hcrc else 0) | (4 if extra is not None else 0) | (8 if name else 0) | \
        (16 if comment else 0)
    h = bytearray(b"\x1f\x8b\x08" + bytes([flg]) + struct.pack("<I", MTIME) + bytes([xfl, os_byte]))
    if extra is not None:
        h += struct.pack("<H", len(extra)) + extra
    if name:
        h += name + b"\0"
    if comment:
        h += comment + b"\0"
    if hcrc:
        h += struct.pack("<H", zlib.crc32(h) & 0xFFFF)
    trailer = struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)
    return bytes(h) + stream + trailer, len(h)


def gzip_file(members, garbage=b""):
    """members: (stream, data[, header options]); returns (bytes, ranges)."""
    out, ranges = b"", []
    for m in members:
        blob, off = gz_member(m[0], m[1], **(m[2] if len(m) > 2 else {}))
        ranges.append((len(out) + off, len(m[0])))
        out += blob
    out += garbage
    if not garbage:
        if gzip.decompress(out) != b"".join(m[1] for m in members):
            sys.exit("make_fixtures: a gzip file does not decompress")
    return out, ranges


def zip_file(entries):
    """entries: dicts name, data, and optionally method (8), stream (own deflate bytes),
    level, descriptor (flag bit 3), extra. Returns (bytes, ranges)."""
    out, central, ranges = bytearray(), bytearray(), []
    for e in entries:
        name, data = e["name"].encode(), e["data"]
        method = e.get("method", 8)
        comp = data if method == 0 else e.get("stream") or zdeflate(data, e.get("level", 6))
        if method == 8:
            check_stream(comp, data)
        desc, extra = e.get("descriptor", False), e.get("extra", b"")
        crc, flag = zlib.crc32(data), 8 if e.get("descriptor", False) else 0
        off = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flag, method, DOS_TIME, DOS_DATE,
                           0 if desc else crc, 0 if desc else len(comp),
                           0 if desc else len(data), len(name), len(extra)) + name + extra
        if method == 8:
            ranges.append((len(out), len(comp)))
        out += comp
        if desc:
            out += struct.pack("<IIII", 0x08074B50, crc, len(comp), len(data))
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, flag, method, DOS_TIME,
                               DOS_DATE, crc, len(comp), len(data), len(name), 0, 0, 0, 0, 0,
                               off) + name
    n = len(entries)
    out += central + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(central),
                                 len(out), 0)
    with zipfile.ZipFile(io.BytesIO(bytes(out))) as z:
        if z.testzip() is not None or [z.read(e["name"]) for e in entries] != \
                [e["data"] for e in entries]:
            sys.exit("make_fixtures: a zip file does not read back")
    return bytes(out), ranges


def tar_bytes(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, data in files:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime, ti.mode, ti.uname, ti.gname = len(data), MTIME, 0o644, "", ""
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def edit_lines(data, rng, count):
    lines = data.split(b"\n")
    for _ in range(count):
        i = rng.randrange(len(lines))
        lines[i] = b"    changed: " + lines[i][::-1]
    return b"\n".join(lines)


# ---------------------------------------------------------------- the fixtures

def singles():
    """(name, bytes, ranges, refused ranges) of the files checked one by one."""
    rng = random.Random(1)
    t8 = text(rng, 8000)
    fx = []

    def gz(fname, stream, data, **hdr):
        blob, rg = gzip_file([(stream, data, hdr)])
        fx.append((fname, blob, rg, []))

    for level in (1, 6, 9):
        gz("gz_level%d.gz" % level, zdeflate(t8, level), t8)
    gz("gz_level0_stored.gz", zdeflate(t8[:3000], 0), t8[:3000])
    gz("gz_fixed.gz", zdeflate(t8, 6, zlib.Z_FIXED), t8)
    gz("gz_huffman_only.gz", zdeflate(t8, 6, zlib.Z_HUFFMAN_ONLY), t8)
    gz("gz_rle.gz", zdeflate(t8, 6, zlib.Z_RLE), t8)
    gz("gz_filtered.gz", zdeflate(t8, 6, zlib.Z_FILTERED), t8)
    gz("gz_memlevel1.gz", zdeflate(t8, 6, mem=1), t8)
    gz("gz_memlevel9.gz", zdeflate(t8, 9, mem=9), t8)
    gz("gz_window512.gz", zdeflate(t8, 9, wbits=9), t8)
    # far matches: the repeat sits 30,000 bytes back
    far = text(random.Random(2), 30000)
    gz("gz_far_matches.gz", zdeflate(far + far[:2000], 9), far + far[:2000])
    gz("gz_all_header_fields.gz", zdeflate(t8[:2000], 6), t8[:2000], name=b"fixture.txt",
       comment=b"a comment", extra=b"AB\x04\x00wxyz", hcrc=True)
    gz("gz_empty_extra_field.gz", zdeflate(t8[:500], 6), t8[:500], extra=b"")
    gz("gz_empty_input.gz", zdeflate(b"", 6), b"")
    gz("gz_one_byte.gz", zdeflate(b"x", 9), b"x")
    # flushes leave empty stored blocks (sync/full) and empty fixed blocks (partial, block)
    fl = ((1000, zlib.Z_SYNC_FLUSH), (1001, zlib.Z_SYNC_FLUSH), (2500, zlib.Z_FULL_FLUSH),
          (4000, zlib.Z_PARTIAL_FLUSH), (5000, zlib.Z_BLOCK), (6000, zlib.Z_PARTIAL_FLUSH))
    gz("gz_flushes.gz", zdeflate(t8, 6, flushes=fl), t8)
    # stored, fixed and dynamic blocks in one stream: zlib streams joined at full flushes
    a, b, c = t8[:1500], t8[1500:3000], t8[3000:6000]
    mixed = (zdeflate(a, 0, flushes=((len(a), zlib.Z_FULL_FLUSH),))[:-5] +
             zdeflate(b, 6, zlib.Z_FIXED, flushes=((len(b), zlib.Z_FULL_FLUSH),))[:-2] +
             zdeflate(c, 9))
    gz("gz_mixed_blocks.gz", mixed, a + b + c)

    two_a, two_b = t8[:3000], t8[3000:]
    blob, rg = gzip_file([(zdeflate(two_a, 9), two_a, {"name": b"one"}), (zdeflate(two_b, 1), two_b)])
    fx.append(("gz_two_members.gz", blob, rg, []))
    blob, rg = gzip_file([(zdeflate(t8, 6), t8)], garbage=b"\0" * 300 + b"trailing garbage\n")
    fx.append(("gz_trailing_garbage.gz", blob, rg, []))

    # own streams: non-zero padding bits, 15-bit codes, every length and distance code
    rng = random.Random(3)
    data = text(rng, 3000)
    toks = greedy_tokens(data)
    s, d = own_deflate([("fixed", toks[:400]), ("stored", b"stored bytes", 0x1F),
                        ("dynamic", toks[400:]), ("stored", b"", 0x7F)], final_pad=0xFF)
    gz("own_padding_bits.gz", s, d)
    s, d = own_deflate([long_code_block(random.Random(11)),
                        ("dynamic", [(258, 1)] + list(range(256)) + greedy_tokens(data))])
    gz("own_long_codes.gz", s, d)
    s, d = own_deflate([("fixed", [97, 98, 99, (258, 3, True), 100])])
    blob, rg = gzip_file([(s, d)])
    fx.append(("own_len258_code284.gz", blob, [], rg))  # valid, but spelled two ways: refused

    # zip archives
    rng = random.Random(4)
    entries = [{"name": "a/deflated%d.txt" % i, "data": text(rng, 1500 + 700 * i),
                "level": (1, 6, 9)[i % 3]} for i in range(3)]
    entries.insert(1, {"name": "a/stored.txt", "data": text(rng, 900), "method": 0})
    entries.append({"name": "a/extra_field.txt", "data": text(rng, 1200),
                    "extra": struct.pack("<HHBI", 0x5455, 5, 1, MTIME)})
    entries.append({"name": "a/empty.txt", "data": b""})
    blob, rg = zip_file(entries)
    fx.append(("zip_deflated_stored.zip", blob, rg, []))
    entries = [{"name": "d%d.txt" % i, "data": text(rng, 2000), "descriptor": True,
                "method": 0 if i == 2 else 8} for i in range(4)]
    blob, rg = zip_file(entries)
    fx.append(("zip_data_descriptors.zip", blob, rg, []))
    # literal runs of 65,536 and more in one block (zlib's blocks stop at 32 Ki symbols):
    # 'a' and 'b' only, without matches, under a dynamic code a=1, b=2, end=2 bits
    entries = []
    for n in (65535, 65536, 65537, 140000):
        lits = [98 if rng.random() < 0.125 else 97 for _ in range(n)]
        s, d = own_deflate([("dynamic", lits)])
        entries.append({"name": "run%d.bin" % n, "data": d, "stream": s})
    entries.insert(2, {"name": "between.txt", "data": b"stored between", "method": 0})
    blob, rg = zip_file(entries)
    fx.append(("zip_long_literal_runs.zip", blob, rg, []))
    return fx


def pairs():
    """(label, old name, old bytes, old ranges, new name, new bytes, new ranges)."""
    out = []
    rng = random.Random(5)
    files = [("src/file%02d.c" % i, text(rng, 16000 + 500 * i)) for i in range(12)]
    old_tar = tar_bytes(files)
    files[1] = (files[1][0], edit_lines(files[1][1], random.Random(6), 4))
    new_tar = tar_bytes(files)
    o, orng = gzip_file([(zdeflate(old_tar, 6), old_tar)])
    n, nrng = gzip_file([(zdeflate(new_tar, 6), new_tar)])
    out.append(("tar", "pair_tar_old.tar.gz", o, orng, "pair_tar_new.tar.gz", n, nrng))

    rng = random.Random(7)
    entries = [{"name": "app/res/entry%02d.txt" % i, "data": text(rng, 1500 + 50 * i),
                "level": 9 if i % 4 else 6, "method": 0 if i == 7 else 8} for i in range(20)]
    o, orng = zip_file(entries)
    entries[12]["data"] = edit_lines(entries[12]["data"], random.Random(8), 3)
    n, nrng = zip_file(entries)
    out.append(("zip", "pair_zip_old.zip", o, orng, "pair_zip_new.zip", n, nrng))

    a, b = text(random.Random(9), 6000), bytes(random.Random(10).choices(b"0123456789\n", k=6000))
    o, orng = gzip_file([(zdeflate(a, 9), a)])
    n, nrng = gzip_file([(zdeflate(b, 1), b)])
    out.append(("gz", "pair_gz_old.gz", o, orng, "pair_gz_new.gz", n, nrng))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bsdiff", help="bsdiff program: also make the golden patches")
    args = ap.parse_args()
    lines = ["# made by make_fixtures.py; see its header for the format"]

    def put(name, blob):
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(blob)

    def rtext(rg, refused=()):
        return " ".join(["%d+%d" % r for r in rg] + ["!%d+%d" % r for r in refused])

    total = 0
    for name, blob, rg, refused in singles():
        put(name, blob)
        total += len(blob)
        lines.append(("file %s %s" % (name, rtext(rg, refused))).rstrip())
    golden = []
    for label, on, o, orng, nn, n, nrng in pairs():
        for name, blob, rg in ((on, o, orng), (nn, n, nrng)):
            put(name, blob)
            total += len(blob)
            lines.append("file %s %s" % (name, rtext(rg)))
        lines.append("pair %s %s %s" % (label, on, nn))
        if label != "gz":
            golden.append(("golden_%s.bsdelta" % label, on, nn))
    for patch, on, nn in golden:
        path = os.path.join(HERE, patch)
        if args.bsdiff:
            subprocess.run([args.bsdiff, os.path.join(HERE, on), os.path.join(HERE, nn), path],
                           check=True)
        if not os.path.exists(path):
            sys.exit("make_fixtures: %s is missing: run again with --bsdiff" % patch)
        with open(path, "rb") as f:
            if f.read(64)[57] != 1:
                sys.exit("make_fixtures: %s is not deflate-aware (header byte 57)" % patch)
        total += os.path.getsize(path)
        lines.append("patch %s %s %s" % (patch, on, nn))
    with open(os.path.join(HERE, "fixtures.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("make_fixtures: %d files, %d bytes" % (len(lines) - 1, total))


if __name__ == "__main__":
    main()
