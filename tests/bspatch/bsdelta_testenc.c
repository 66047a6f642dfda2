/* bsdelta_testenc.c - test-only encoder for BSDELTA v1/v2 and BSDIFF40 (see bsdelta_testenc.h).
 * Kept small enough to check against docs/FORMAT.md by reading. */
#include "bsdelta_testenc.h"
#include "bsdelta_format.h"

#include <bzlib.h>
#include <zstd.h>
#include <stdlib.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

unsigned tenc_version = 1;

int tenc_buf_put(tenc_buf *b, const void *p, size_t n) {
    if (n > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 256;
        while (n > cap - b->len) cap *= 2;
        unsigned char *d = realloc(b->data, cap);
        if (!d) return -1;
        b->data = d;
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int tenc_buf_varint(tenc_buf *b, uint64_t v) {
    unsigned char tmp[10];
    return tenc_buf_put(b, tmp, bsdl_put_varint(tmp, v));
}

void tenc_buf_free(tenc_buf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

uint64_t tenc_rand(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t tenc_rand_upto(uint64_t *s, uint64_t n) {
    return n == UINT64_MAX ? tenc_rand(s) : tenc_rand(s) % (n + 1);
}

void tenc_hash(const void *data, size_t len, unsigned char out[16]) {
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits(data, len));
    memcpy(out, c.digest, 16);
}

void tenc_reseal(unsigned char hdr[64]) {
    bsdl_store_le32(hdr + BSDL_OFF_HEADER_CHECK, XXH32(hdr, BSDL_HEADER_CHECKED_LEN, 0));
}

void tenc_header(unsigned char hdr[64], uint64_t old_size, const unsigned char old_hash[16],
                 uint64_t new_size, const unsigned char new_hash[16], unsigned compressor) {
    memset(hdr, 0, BSDL_HEADER_LEN);
    memcpy(hdr, BSDL_MAGIC, BSDL_MAGIC_LEN);
    hdr[BSDL_OFF_VERSION] = (unsigned char)tenc_version;
    bsdl_store_le64(hdr + BSDL_OFF_OLD_SIZE, old_size);
    bsdl_store_le64(hdr + BSDL_OFF_NEW_SIZE, new_size);
    memcpy(hdr + BSDL_OFF_OLD_HASH, old_hash, 16);
    memcpy(hdr + BSDL_OFF_NEW_HASH, new_hash, 16);
    hdr[BSDL_OFF_COMPRESSOR] = (unsigned char)compressor;
    tenc_reseal(hdr);
}

int tenc_bzip2(const void *in, size_t len, unsigned char **out, size_t *outlen) {
    size_t cap = len + len / 100 + 600;
    unsigned char *buf = malloc(cap);
    if (!buf || cap > 0xffffffffu) {
        free(buf);
        return -1;
    }
    unsigned int dl = (unsigned int)cap;
    static const char empty[1];
    if (!in) in = empty; /* bzip2 refuses a NULL source even for zero bytes */
    if (BZ2_bzBuffToBuffCompress((char *)buf, &dl, (char *)(uintptr_t)in, (unsigned int)len, 9, 0,
                                 0) != BZ_OK) {
        free(buf);
        return -1;
    }
    *out = buf;
    *outlen = dl;
    return 0;
}

int tenc_zstd(const void *in, size_t len, unsigned char **out, size_t *outlen) {
    size_t cap = ZSTD_compressBound(len);
    unsigned char *buf = malloc(cap ? cap : 1);
    if (!buf) return -1;
    size_t r = ZSTD_compress(buf, cap, in ? in : "", len, 3);
    if (ZSTD_isError(r)) {
        free(buf);
        return -1;
    }
    *out = buf;
    *outlen = r;
    return 0;
}

static uint64_t min3(uint64_t a, uint64_t b, uint64_t c) {
    uint64_t m = a < b ? a : b;
    return m < c ? m : c;
}

int tenc_plan(size_t old_len, size_t new_len, uint64_t seed, tenc_record **recs, size_t *n) {
    tenc_buf b = {0};
    uint64_t oldpos = 0, newpos = 0, st = seed;
    if (seed == 0) {
        if (new_len > 0) {
            uint64_t common = old_len < new_len ? old_len : new_len;
            tenc_record r = {common, new_len - common, 0, 0};
            if (tenc_buf_put(&b, &r, sizeof r)) return -1;
        }
    } else {
        while (newpos < new_len) {
            uint64_t rem = new_len - newpos, avail = old_len - oldpos;
            unsigned kind = (unsigned)(tenc_rand(&st) % 4); /* 0 add, 1 copy, 2-3 both */
            uint64_t chunk = tenc_rand(&st) % 3 == 0 ? rem : 1 + tenc_rand(&st) % 64;
            tenc_record r = {0, 0, 0, oldpos};
            if (kind != 1) r.diff_len = tenc_rand_upto(&st, min3(avail, rem, chunk));
            if (kind != 0) r.extra_len = tenc_rand_upto(&st, min3(rem - r.diff_len, chunk, rem));
            if (r.diff_len + r.extra_len == 0) r.extra_len = 1;
            newpos += r.diff_len + r.extra_len;
            uint64_t after = oldpos + r.diff_len, target;
            if (tenc_rand(&st) % 2) /* realign on the new position, as a real match would */
                target = newpos < old_len ? newpos : old_len;
            else
                target = tenc_rand_upto(&st, old_len);
            r.seek = (int64_t)target - (int64_t)after;
            oldpos = target;
            if (tenc_buf_put(&b, &r, sizeof r)) return -1;
        }
    }
    *recs = (tenc_record *)b.data;
    *n = b.len / sizeof(tenc_record);
    return 0;
}

/* One command of a segment after splitting: positions in old and new. */
typedef struct tenc_cmd {
    uint64_t diff_len, extra_len, oldpos, newpos;
    int64_t seek;
} tenc_cmd;

/* Version 2 diff bytes: pieces (varint literal length, literal bytes, varint zero run). Every
 * run of 3 or more zero diff bytes becomes a zero run, across command boundaries, so the
 * patcher sees pieces of every shape: empty literals, runs spanning commands, final pieces. */
static int put_pieces(const unsigned char *old, const unsigned char *nw, const tenc_cmd *c,
                      size_t n, tenc_buf *out) {
    tenc_buf lit = {0};
    uint64_t zeros = 0, total = 0;
    int rc = 0;
    for (size_t i = 0; i < n; i++) total += c[i].diff_len;
    if (total == 0) return 0;
    /* walk the diff bytes; flush a piece when a zero run of 3+ ends, or at the end */
    for (size_t i = 0; i < n && !rc; i++)
        for (uint64_t k = 0; k < c[i].diff_len && !rc; k++) {
            unsigned char d = (unsigned char)(nw[c[i].newpos + k] - old[c[i].oldpos + k]);
            if (d == 0) {
                zeros++;
                continue;
            }
            if (zeros >= 3) {
                rc = tenc_buf_varint(out, lit.len) || tenc_buf_put(out, lit.data, lit.len) ||
                     tenc_buf_varint(out, zeros);
                lit.len = 0;
            } else {
                while (zeros && !rc) { /* short zero runs stay literal */
                    static const unsigned char z = 0;
                    rc = tenc_buf_put(&lit, &z, 1);
                    zeros--;
                }
            }
            zeros = 0;
            if (!rc) rc = tenc_buf_put(&lit, &d, 1);
        }
    if (!rc && zeros < 3) {
        while (zeros && !rc) {
            static const unsigned char z = 0;
            rc = tenc_buf_put(&lit, &z, 1);
            zeros--;
        }
    }
    if (!rc) rc = tenc_buf_varint(out, lit.len) || tenc_buf_put(out, lit.data, lit.len) ||
                  tenc_buf_varint(out, zeros);
    tenc_buf_free(&lit);
    return rc ? -1 : 0;
}

static int put_segment(const unsigned char *old, const unsigned char *nw, const tenc_cmd *c, size_t n,
                       tenc_buf *out) {
    if (n == 0) return 0;
    if (tenc_buf_varint(out, n)) return -1;
    for (size_t i = 0; i < n; i++)
        if (tenc_buf_varint(out, c[i].diff_len)) return -1;
    for (size_t i = 0; i < n; i++)
        if (tenc_buf_varint(out, c[i].extra_len)) return -1;
    for (size_t i = 0; i < n; i++)
        if (tenc_buf_varint(out, bsdl_zigzag(c[i].seek))) return -1;
    for (size_t i = 0; i < n; i++)
        if (tenc_buf_put(out, nw + c[i].newpos + c[i].diff_len, c[i].extra_len)) return -1;
    if (tenc_version >= 2) return put_pieces(old, nw, c, n, out);
    for (size_t i = 0; i < n; i++)
        for (uint64_t k = 0; k < c[i].diff_len; k++) {
            unsigned char d = (unsigned char)(nw[c[i].newpos + k] - old[c[i].oldpos + k]);
            if (tenc_buf_put(out, &d, 1)) return -1;
        }
    return 0;
}

int tenc_commands(const unsigned char *old, size_t old_len, const unsigned char *nw, size_t new_len,
                  const tenc_record *recs, size_t n, tenc_buf *out) {
    /* Segments of varying command counts (1, 2, 5, then as many as allowed, cycling) so the
     * patcher sees segment boundaries everywhere; long extras are split as the format needs. */
    const size_t caps[] = {1, 2, 5, bsdl_seg_max_cmds(tenc_version)};
    const uint64_t xmax = bsdl_seg_max_extra(tenc_version);
    tenc_cmd *seg = malloc(BSDL_SEG_MAX_CMDS * sizeof *seg);
    if (!seg) return -1;
    size_t sn = 0, capi = 0;
    uint64_t sx = 0, oldpos = 0, newpos = 0;
    (void)old_len;
    (void)new_len;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const tenc_record *r = &recs[i];
        uint64_t extra = r->extra_len, d = r->diff_len;
        do {
            uint64_t x = extra > xmax ? xmax : extra;
            extra -= x;
            if (sn == caps[capi % 4] || sx + x > xmax) {
                rc = put_segment(old, nw, seg, sn, out);
                sn = 0;
                sx = 0;
                capi++;
            }
            seg[sn++] = (tenc_cmd){d, x, oldpos, newpos, extra ? 0 : r->seek};
            sx += x;
            oldpos += d;
            newpos += d + x;
            d = 0;
        } while (extra > 0 && !rc);
        oldpos = (uint64_t)((int64_t)oldpos + r->seek);
    }
    if (!rc) rc = put_segment(old, nw, seg, sn, out);
    free(seg);
    return rc;
}

int tenc_wrap(const unsigned char *old, size_t old_len, const unsigned char *nw, size_t new_len,
              unsigned compressor, const void *cmds, size_t cmds_len, unsigned char **patch,
              size_t *patch_len) {
    unsigned char hdr[BSDL_HEADER_LEN], oh[16], nh[16];
    tenc_hash(old, old_len, oh);
    tenc_hash(nw, new_len, nh);
    tenc_header(hdr, old_len, oh, new_len, nh, compressor);
    tenc_buf out = {0};
    if (tenc_buf_put(&out, hdr, sizeof hdr)) return -1;
    if (compressor == BSDL_COMP_BZIP2 || compressor == BSDL_COMP_ZSTD) {
        unsigned char *z;
        size_t zl;
        if (compressor == BSDL_COMP_BZIP2 ? tenc_bzip2(cmds, cmds_len, &z, &zl)
                                          : tenc_zstd(cmds, cmds_len, &z, &zl))
            goto fail;
        int r = tenc_buf_put(&out, z, zl);
        free(z);
        if (r) goto fail;
    } else if (tenc_buf_put(&out, cmds, cmds_len)) {
        goto fail;
    }
    *patch = out.data;
    *patch_len = out.len;
    return 0;
fail:
    tenc_buf_free(&out);
    return -1;
}

int tenc_encode(const unsigned char *old, size_t old_len, const unsigned char *nw, size_t new_len,
                unsigned compressor, uint64_t seed, unsigned char **patch, size_t *patch_len) {
    tenc_record *recs;
    size_t n;
    tenc_buf cmds = {0};
    if (tenc_plan(old_len, new_len, seed, &recs, &n)) return -1;
    int r = tenc_commands(old, old_len, nw, new_len, recs, n, &cmds);
    if (!r) r = tenc_wrap(old, old_len, nw, new_len, compressor, cmds.data, cmds.len, patch, patch_len);
    free(recs);
    tenc_buf_free(&cmds);
    return r;
}

int tenc_bsdiff40_raw(const int64_t *ctrl, size_t ncmd, const void *diff, size_t diff_len,
                      const void *extra, size_t extra_len, int64_t new_size,
                      unsigned char **patch, size_t *patch_len) {
    tenc_buf c = {0}, out = {0};
    unsigned char *zc = NULL, *zd = NULL, *zx = NULL;
    size_t lc, ld, lx;
    int r = -1;
    for (size_t i = 0; i < 3 * ncmd; i++) {
        unsigned char w[8];
        if (ctrl[i] == INT64_MIN)
            bsdl_store_le64(w, (uint64_t)1 << 63); /* negative zero, see the header */
        else
            bsdf40_encode_off(w, ctrl[i]);
        if (tenc_buf_put(&c, w, 8)) goto done;
    }
    if (tenc_bzip2(c.data, c.len, &zc, &lc) || tenc_bzip2(diff, diff_len, &zd, &ld) ||
        tenc_bzip2(extra, extra_len, &zx, &lx))
        goto done;
    unsigned char h[BSDF40_HEADER_LEN];
    memcpy(h, BSDF40_MAGIC, BSDF40_MAGIC_LEN);
    bsdf40_encode_off(h + 8, (int64_t)lc);
    bsdf40_encode_off(h + 16, (int64_t)ld);
    bsdf40_encode_off(h + 24, new_size);
    if (tenc_buf_put(&out, h, sizeof h) || tenc_buf_put(&out, zc, lc) ||
        tenc_buf_put(&out, zd, ld) || tenc_buf_put(&out, zx, lx))
        goto done;
    *patch = out.data;
    *patch_len = out.len;
    out.data = NULL;
    r = 0;
done:
    free(zc);
    free(zd);
    free(zx);
    tenc_buf_free(&c);
    tenc_buf_free(&out);
    return r;
}

int tenc_bsdiff40(const unsigned char *old, size_t old_len, const unsigned char *nw, size_t new_len,
                  uint64_t seed, unsigned char **patch, size_t *patch_len) {
    tenc_record *recs;
    size_t n;
    tenc_buf ctrl = {0}, diff = {0}, extra = {0};
    int r = -1;
    if (tenc_plan(old_len, new_len, seed, &recs, &n)) return -1;
    uint64_t oldpos = 0, newpos = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t t[3] = {(int64_t)recs[i].diff_len, (int64_t)recs[i].extra_len, recs[i].seek};
        if (tenc_buf_put(&ctrl, t, sizeof t)) goto done;
        for (uint64_t k = 0; k < recs[i].diff_len; k++) {
            unsigned char d = (unsigned char)(nw[newpos + k] - old[oldpos + k]);
            if (tenc_buf_put(&diff, &d, 1)) goto done;
        }
        newpos += recs[i].diff_len;
        oldpos += recs[i].diff_len;
        if (tenc_buf_put(&extra, nw + newpos, recs[i].extra_len)) goto done;
        newpos += recs[i].extra_len;
        oldpos = (uint64_t)((int64_t)oldpos + recs[i].seek);
    }
    r = tenc_bsdiff40_raw((const int64_t *)(void *)ctrl.data, n, diff.data, diff.len, extra.data,
                          extra.len, (int64_t)new_len, patch, patch_len);
done:
    free(recs);
    tenc_buf_free(&ctrl);
    tenc_buf_free(&diff);
    tenc_buf_free(&extra);
    return r;
}
