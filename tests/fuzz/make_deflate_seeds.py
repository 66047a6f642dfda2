#!/usr/bin/env python3
"""make_deflate_seeds.py - writes the deflate seeds of the fuzz corpora: gzip and zip files and
their expansions for corpus/deflate, and deflate-aware patches (made by the real bsdiff) of the
deflate-holding old files of fuzz_olds.h for corpus/bsdelta. Run by hand, then merge the corpora
(libFuzzer -merge=1) so they stay small:

  make_deflate_seeds.py seeds BUILD_DIR OUT_DEFLATE OUT_BSDELTA
      BUILD_DIR: a normal build (bsdiff/bsdiff and tests/fuzz/fuzz_make_seeds).
  make_deflate_seeds.py print-olds
      prints the byte arrays of fuzz_olds.h's deflate olds (version 0 of each recipe below);
      the committed arrays, not this output, are what the seeds are made against.

zlib's output may differ between zlib versions; the seeds only need to be valid files, and
the patches are made against the old bytes read back from fuzz_make_seeds --old.
"""
import gzip
import io
import os
import random
import subprocess
import sys
import zipfile
import zlib

DATE = (2024, 1, 2, 3, 4, 6)


def text(seed, lines, edit=0):
    """Config-file-like text: repetitive enough for long matches, varied enough for dynamic
    Huffman blocks. edit changes a few lines."""
    rnd = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "server", "client", "timeout", "retry",
             "path", "/usr/lib/app", "enabled", "disabled", "level", "cache", "mirror"]
    out = []
    for i in range(lines):
        k = rnd.choice(words)
        v = rnd.choice(words) + str(rnd.randrange(100))
        if edit and i % 7 == edit % 7:
            v = "changed%d-%s" % (edit, v)
        out.append("%s_%d = %s\n" % (k, i, v))
    return "".join(out).encode()


def deflate_raw(data, level=6, strategy=zlib.Z_DEFAULT_STRATEGY, wbits=-15, memlevel=8):
    c = zlib.compressobj(level, zlib.DEFLATED, wbits, memlevel, strategy)
    return c.compress(data) + c.flush()


def gz_member(data, level=6, strategy=zlib.Z_DEFAULT_STRATEGY, name=None, extra=None,
              comment=None, hcrc=False):
    """A gzip member with mtime 0 and the optional header fields set as asked."""
    flg = (2 if hcrc else 0) | (4 if extra is not None else 0) | (8 if name else 0) | \
        (16 if comment else 0)
    h = bytearray(b"\x1f\x8b\x08" + bytes([flg]) + b"\0\0\0\0" + b"\0\xff")
    if extra is not None:
        h += len(extra).to_bytes(2, "little") + extra
    if name:
        h += name + b"\0"
    if comment:
        h += comment + b"\0"
    if hcrc:
        h += (zlib.crc32(bytes(h)) & 0xffff).to_bytes(2, "little")
    trailer = (zlib.crc32(data) & 0xffffffff).to_bytes(4, "little") + \
        (len(data) & 0xffffffff).to_bytes(4, "little")
    return bytes(h) + deflate_raw(data, level, strategy) + trailer


def zip_file(entries):
    """entries: (name, data, method, level)."""
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        for name, data, method, level in entries:
            zi = zipfile.ZipInfo(name, DATE)
            zi.compress_type = method
            z.writestr(zi, data, compress_type=method, compresslevel=level)
    return b.getvalue()


# The deflate olds of fuzz_bsdelta (fuzz_olds.h, selectors 0xF0 + i) and the new files the
# patches turn them into: recipe(v), v = 0 for the old.
def old0(v):
    return gz_member(text(10, 40, v), 9, name=b"app.conf")


def old1(v):
    ents = [("a.txt", text(11, 24, v), zipfile.ZIP_DEFLATED, 6),
            ("b.txt", b"short entry, fixed Huffman %d\n" % v, zipfile.ZIP_DEFLATED, 6),
            ("c.bin", bytes(range(40)), zipfile.ZIP_STORED, None)]
    if v >= 2:
        ents.append(("d.txt", text(12, 6, v), zipfile.ZIP_DEFLATED, 9))
    return zip_file(ents)


def old2(v):
    return (gz_member(text(13, 8, v), 0) + gz_member(text(14, 8, v), 6, zlib.Z_FIXED) +
            gz_member(text(15, 10, v), 6, zlib.Z_HUFFMAN_ONLY))


OLDS = [old0, old1, old2]


def print_olds():
    for i, f in enumerate(OLDS):
        d = f(0)
        print("static const unsigned char fuzz_deflate_old%d[%d] = {" % (i, len(d)))
        for j in range(0, len(d), 16):
            print("    " + ", ".join("0x%02x" % c for c in d[j:j + 16]) + ",")
        print("};")


def deflate_files():
    """The file seeds of fuzz_deflate."""
    t = text(20, 60)
    rnd = random.Random(21)
    noise = bytes(rnd.randrange(256) for _ in range(3000))
    runs = b"a" * 2000 + b"ab" * 600 + bytes(300) + t[:500]
    fs = {}
    for lvl in (0, 1, 6, 9):
        fs["gz-l%d" % lvl] = gz_member(t, lvl)
    for sname, s in (("filtered", zlib.Z_FILTERED), ("huffman", zlib.Z_HUFFMAN_ONLY),
                     ("rle", zlib.Z_RLE), ("fixed", zlib.Z_FIXED)):
        fs["gz-" + sname] = gz_member(t, 6, s)
    fs["gz-runs-258"] = gz_member(runs, 9)
    fs["gz-noise-stored"] = gz_member(noise, 9)
    fs["gz-empty"] = gz_member(b"", 6)
    fs["gz-fields"] = gz_member(t[:300], 6, name=b"n.txt", extra=b"XY\x02\0ab", comment=b"c",
                                hcrc=True)
    fs["gz-multi"] = gz_member(t[:200], 0) + gz_member(t[200:400], 6, zlib.Z_FIXED) + \
        gz_member(t[400:900], 9)
    fs["gz-trailing-junk"] = gz_member(t[:400], 6) + b"junk after the member"
    fs["gz-small-window"] = b"\x1f\x8b\x08\0\0\0\0\0\0\xff" + \
        deflate_raw(t, 9, wbits=-9, memlevel=1) + bytes(8)
    fs["zip-mixed"] = zip_file([("a.txt", t, zipfile.ZIP_DEFLATED, 9),
                                ("b.txt", b"tiny", zipfile.ZIP_DEFLATED, 1),
                                ("c.bin", noise[:100], zipfile.ZIP_STORED, None),
                                ("d.txt", runs[:800], zipfile.ZIP_DEFLATED, 6)])
    fs["zip-after-junk"] = b"#!/bin/sh\nexit 0\n" + zip_file([("x", t[:600], zipfile.ZIP_DEFLATED, 6)])
    # A multi-block stream: zlib ends a block at its symbol buffer limit (memLevel 1: 1024 symbols).
    fs["gz-blocks"] = b"\x1f\x8b\x08\0\0\0\0\0\0\xff" + \
        deflate_raw(text(22, 300), 6, memlevel=1) + bytes(8)
    return fs


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "print-olds":
        print_olds()
        return 0
    if len(sys.argv) != 5 or sys.argv[1] != "seeds":
        print(__doc__, file=sys.stderr)
        return 2
    build, out_dfl, out_bsd = sys.argv[2:]
    seeds = os.path.join(build, "tests", "fuzz", "fuzz_make_seeds")
    bsdiff = os.path.join(build, "bsdiff", "bsdiff")
    tmp = os.path.join(out_bsd, ".tmp-deflate-seeds")
    os.makedirs(tmp, exist_ok=True)

    def tmpf(name, data=None):
        p = os.path.join(tmp, name)
        if data is not None:
            with open(p, "wb") as f:
                f.write(data)
        return p

    def readf(p):
        with open(p, "rb") as f:
            return f.read()

    # fuzz_deflate: mode 0 (file) and mode 1 (expansion; 5: large pushes).
    for name, d in deflate_files().items():
        with open(os.path.join(out_dfl, "seed-file-" + name), "wb") as f:
            f.write(b"\0" + d)
        subprocess.run([seeds, "--expand", tmpf("in", d), tmpf("x")], check=True)
        x = readf(tmpf("x"))
        with open(os.path.join(out_dfl, "seed-exp-" + name), "wb") as f:
            f.write(bytes([1 if len(x) < 4096 else 5]) + x)

    # An expansion no zlib stream expands to: one fixed-Huffman block of 65,636 literals, split
    # by a "continue" token at 30,000 (bsp_deflate.c: tag 'D', block header byte, then groups of
    # varint literal count, the literals, a 2-byte code; 0xFFFE continue, 0xFFFF end of block;
    # then the final padding byte). Re-expanding what it encodes to splits it at 65,536, the
    # expander's own limit, which zlib's blocks (at most 32 Ki symbols) never reach.
    rnd = random.Random(23)
    lits = bytes(rnd.randrange(256) for _ in range(65636))

    def varint(v):
        out = bytearray()
        while v >= 0x80:
            out.append(v & 0x7f | 0x80)
            v >>= 7
        return bytes(out + bytes([v]))
    x = b"D\x03" + varint(30000) + lits[:30000] + b"\xfe\xff" + varint(35636) + lits[30000:] + \
        b"\xff\xff\x00"
    with open(os.path.join(out_dfl, "seed-exp-long-run"), "wb") as f:
        f.write(b"\x05" + x)

    # fuzz_bsdelta: raw-mode seeds (mode 0, selector, chunk seed, the patch) against the
    # deflate olds, bzip2 and zstd bodies; one built-header seed (mode 0x81: compressor and
    # flags from new-hash bytes 1 and 2, which are set for a bzip2 deflate-aware body - the
    # patch then runs to its end and fails the new file's hash; chunk-seed bit 6: the harness
    # keeps the deflate section's checksum right).
    for i in range(len(OLDS)):
        sel = 0xF0 + i
        subprocess.run([seeds, "--old", str(sel), tmpf("old")], check=True)
        for v in (1, 2):
            tmpf("new", OLDS[i](v))
            for comp, chunk in (("bzip2", 0x03), ("zstd", 0x85)):
                subprocess.run([bsdiff, "--compressor", comp, tmpf("old"), tmpf("new"),
                                tmpf("p")], check=True)
                p = readf(tmpf("p"))
                if p[57] != 1:
                    raise SystemExit("bsdiff made no deflate-aware patch for old %d v%d" % (i, v))
                with open(os.path.join(out_bsd, "seed-deflate-%d-v%d-%s" % (i, v, comp)), "wb") as f:
                    f.write(bytes([0, sel, chunk]) + p)
                if comp == "bzip2" and v == 1:
                    nh = bytearray(p[40:56])
                    nh[1] = (nh[1] & ~3) | 1
                    nh[2] = (nh[2] & ~1) | 1
                    with open(os.path.join(out_bsd, "seed-deflate-hdr-%d" % i), "wb") as f:
                        f.write(bytes([0x81, sel, 0xC0 | chunk]) + p[16:18] + bytes(nh) + p[64:])
    for n in os.listdir(tmp):
        os.remove(os.path.join(tmp, n))
    os.rmdir(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
