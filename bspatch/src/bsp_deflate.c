/* bsp_deflate.c - deflate streams to token expansions and back, bit for bit
 * (bsdelta_deflate.h; the byte layout is docs/FORMAT.md, "Deflate-aware patches").
 *
 * Exactness argument: a deflate stream is a sequence of blocks; a block is its 3 header bits,
 * then (stored) padding bits, LEN, NLEN and bytes, or (Huffman) an optional code description
 * and a sequence of symbols with extra bits. Every code description is kept verbatim as bits,
 * so the codes are the same on both sides; a symbol has exactly one codeword under a code; a
 * literal, length or distance has exactly one (symbol, extra bits) pair - except length 258,
 * which code 284 with extra bits 31 can also spell: such streams are not expanded. Padding
 * bits are kept. So parsing and re-encoding loses nothing, and needs neither the window nor
 * the inflated bytes. */
#include "bsdelta_deflate.h"
#include "bsdelta_format.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Item tags and token codes of the expansion. */
#define X_RAW 0x52     /* 'R' varint n, n bytes */
#define X_DEFLATE 0x44 /* 'D' blocks..., padding byte */
#define X_END_BLOCK 0xFFFFu
#define X_CONTINUE 0xFFFEu
#define X_MAX_RUN 65536u /* literals per token group */

#define HDR_MAX_BITS 2304u /* a code description: 14 + 19*3 + 316*7 = 2283 bits at most */
#define HDR_MAX_BYTES (HDR_MAX_BITS / 8)
#define IO_BUF ((size_t)64 * 1024)
#define FAST_BITS 10
#define FAST_SIZE (1u << FAST_BITS)

static const uint16_t len_base[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                      31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                      2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t dist_base[30] = {1,    2,    3,    4,    5,    7,     9,     13,    17,  25,
                                       33,   49,   65,   97,   129,  193,   257,   385,   513, 769,
                                       1025, 1537, 2049, 3073, 4097, 6145,  8193,  12289, 16385,
                                       24577};
static const uint8_t dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                       6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
static const uint8_t clen_order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};

/* ---------------------------------------------------------------- Huffman codes */

/* A canonical code for decoding: a FAST_BITS lookup (entry = symbol | length << 9, 0 = not
 * there) and the counts/sorted symbols for longer codes. */
typedef struct huff {
    uint16_t fast[FAST_SIZE];
    uint16_t count[16];
    uint16_t sym[288];
} huff;

static unsigned bit_reverse(unsigned code, unsigned len) {
    unsigned r = 0;
    for (unsigned i = 0; i < len; i++) { r = (r << 1) | (code & 1u); code >>= 1; }
    return r;
}

/* Canonical codewords (bit-reversed, ready for LSB-first output) of lengths len[0, n).
 * Returns -1 when the lengths over-subscribe the code space, else 0 (incomplete is allowed). */
static int canon_codes(const uint8_t *len, unsigned n, uint16_t *rev) {
    unsigned count[16] = {0}, next[16];
    for (unsigned s = 0; s < n; s++) count[len[s]]++;
    count[0] = 0;
    int left = 1;
    for (unsigned l = 1; l < 16; l++) {
        left <<= 1;
        left -= (int)count[l];
        if (left < 0) return -1;
    }
    unsigned code = 0;
    for (unsigned l = 1; l < 16; l++) {
        code = (code + count[l - 1]) << 1;
        next[l] = code;
    }
    for (unsigned s = 0; s < n; s++)
        rev[s] = len[s] ? (uint16_t)bit_reverse(next[len[s]]++, len[s]) : 0;
    return 0;
}

static int huff_build(huff *h, const uint8_t *len, unsigned n) {
    uint16_t rev[288];
    if (canon_codes(len, n, rev) < 0) return -1;
    memset(h->fast, 0, sizeof h->fast);
    memset(h->count, 0, sizeof h->count);
    for (unsigned s = 0; s < n; s++) h->count[len[s]]++;
    h->count[0] = 0;
    uint16_t offs[16];
    offs[1] = 0;
    for (unsigned l = 1; l < 15; l++) offs[l + 1] = (uint16_t)(offs[l] + h->count[l]);
    for (unsigned s = 0; s < n; s++) {
        unsigned l = len[s];
        if (!l) continue;
        h->sym[offs[l]++] = (uint16_t)s;
        if (l <= FAST_BITS)
            for (unsigned j = rev[s]; j < FAST_SIZE; j += 1u << l)
                h->fast[j] = (uint16_t)(s | (l << 9));
    }
    return 0;
}

/* ---------------------------------------------------------------- bit reader */

/* Reads a bit stream LSB-first from src (refilled through read_at, never at or past limit) or
 * from a fixed buffer (src NULL). Optionally records every bit it consumes. */
typedef struct brd {
    const bsp_source *src;
    unsigned char *buf;
    uint64_t buf_off; /* source offset of buf[0] */
    size_t blen;
    uint64_t off;   /* source offset of the next byte to move into bb */
    uint64_t limit; /* bytes at or past this offset are never loaded */
    uint64_t bb;
    unsigned bc;
    int ioerr;
    unsigned char *rec; /* recording, when non-NULL: HDR_MAX_BYTES bytes */
    unsigned recbits;
    int recover; /* the recording overflowed */
} brd;

static void brd_fill(brd *r) {
    while (r->bc <= 56) {
        if (r->off >= r->buf_off + r->blen) {
            if (!r->src || r->off >= r->limit || r->ioerr) return;
            uint64_t left = r->limit - r->off;
            size_t k = left < IO_BUF ? (size_t)left : IO_BUF;
            if (r->src->read_at(r->src->opaque, r->off, r->buf, k) != 0) {
                r->ioerr = 1;
                return;
            }
            r->buf_off = r->off;
            r->blen = k;
        }
        r->bb |= (uint64_t)r->buf[r->off - r->buf_off] << r->bc;
        r->bc += 8;
        r->off++;
    }
}

static void brd_consume(brd *r, unsigned n) {
    if (r->rec && n) {
        if (r->recbits + n > HDR_MAX_BITS) {
            r->recover = 1;
        } else {
            uint64_t v = r->bb;
            for (unsigned i = 0; i < n; i++, r->recbits++, v >>= 1)
                if (v & 1u) r->rec[r->recbits >> 3] |= (unsigned char)(1u << (r->recbits & 7));
        }
    }
    r->bb = n < 64 ? r->bb >> n : 0;
    r->bc -= n;
}

/* n <= 16 bits; -1 when the stream ends first. */
static long brd_bits(brd *r, unsigned n) {
    if (r->bc < n) brd_fill(r);
    if (r->bc < n) return -1;
    long v = (long)(r->bb & ((1u << n) - 1u));
    brd_consume(r, n);
    return v;
}

/* Next symbol of code h; -1 at end of data or on a codeword the code does not have. */
static int huff_decode(brd *r, const huff *h) {
    if (r->bc < 15) brd_fill(r);
    unsigned e = h->fast[r->bb & (FAST_SIZE - 1)];
    if (e && (e >> 9) <= r->bc) {
        brd_consume(r, e >> 9);
        return (int)(e & 511u);
    }
    int code = 0, first = 0, index = 0;
    for (unsigned l = 1; l < 16; l++) {
        long b = brd_bits(r, 1);
        if (b < 0) return -1;
        code |= (int)b;
        int cnt = h->count[l];
        if (code - cnt < first) return h->sym[index + (code - first)];
        index += cnt;
        first = (first + cnt) << 1;
        code <<= 1;
    }
    return -1;
}

/* A dynamic block's code description (everything after the 3 block-header bits): fills the
 * n_lit + n_dist code lengths. Returns 0 or -1 (malformed, or a form we do not rewrite). */
static int read_code_lengths(brd *r, uint8_t *lens, unsigned *n_lit, unsigned *n_dist) {
    long hlit = brd_bits(r, 5), hdist = brd_bits(r, 5), hclen = brd_bits(r, 4);
    if (hlit < 0 || hdist < 0 || hclen < 0) return -1;
    unsigned nl = (unsigned)hlit + 257, nd = (unsigned)hdist + 1, nc = (unsigned)hclen + 4;
    if (nl > 286 || nd > 30) return -1;
    uint8_t cl[19] = {0};
    for (unsigned i = 0; i < nc; i++) {
        long v = brd_bits(r, 3);
        if (v < 0) return -1;
        cl[clen_order[i]] = (uint8_t)v;
    }
    huff clh;
    if (huff_build(&clh, cl, 19) < 0) return -1;
    unsigned n = 0;
    while (n < nl + nd) {
        int sym = huff_decode(r, &clh);
        if (sym < 0) return -1;
        if (sym < 16) {
            lens[n++] = (uint8_t)sym;
            continue;
        }
        unsigned val = 0;
        long rep;
        if (sym == 16) {
            if (n == 0) return -1;
            val = lens[n - 1];
            rep = brd_bits(r, 2);
            if (rep < 0) return -1;
            rep += 3;
        } else if (sym == 17) {
            rep = brd_bits(r, 3);
            if (rep < 0) return -1;
            rep += 3;
        } else {
            rep = brd_bits(r, 7);
            if (rep < 0) return -1;
            rep += 11;
        }
        if (n + (unsigned)rep > nl + nd) return -1;
        while (rep--) lens[n++] = (uint8_t)val;
    }
    if (lens[256] == 0) return -1;
    *n_lit = nl;
    *n_dist = nd;
    return 0;
}

/* ---------------------------------------------------------------- buffered output */

typedef struct xout {
    const bsp_sink *sink; /* NULL: count only */
    unsigned char *buf;
    size_t n;
    uint64_t total;
    int err;
} xout;

static void xout_flush(xout *o) {
    if (o->n && o->sink && !o->err && o->sink->write(o->sink->opaque, o->buf, o->n) != 0) o->err = 1;
    o->n = 0;
}
static void xout_put(xout *o, const void *p, size_t len) {
    o->total += len;
    if (!o->sink) return;
    const unsigned char *s = p;
    while (len) {
        size_t k = IO_BUF - o->n < len ? IO_BUF - o->n : len;
        memcpy(o->buf + o->n, s, k);
        o->n += k;
        s += k;
        len -= k;
        if (o->n == IO_BUF) xout_flush(o);
    }
}
static void xout_byte(xout *o, unsigned v) {
    unsigned char b = (unsigned char)v;
    xout_put(o, &b, 1);
}
static void xout_varint(xout *o, uint64_t v) {
    unsigned char t[10];
    xout_put(o, t, bsdl_put_varint(t, v));
}

/* ---------------------------------------------------------------- expanding */

typedef struct parser {
    brd r;
    xout o;
    huff lit, dist, flit, fdist;
    unsigned char rec[HDR_MAX_BYTES];
    unsigned char lits[X_MAX_RUN];
    unsigned nlit;
    unsigned char inbuf[IO_BUF];
    unsigned char outbuf[IO_BUF];
} parser;

static parser *parser_new(void) {
    parser *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->r.buf = p->inbuf;
    p->o.buf = p->outbuf;
    uint8_t l[288];
    for (unsigned s = 0; s < 288; s++) l[s] = s < 144 ? 8 : s < 256 ? 9 : s < 280 ? 7 : 8;
    huff_build(&p->flit, l, 288);
    for (unsigned s = 0; s < 30; s++) l[s] = 5;
    huff_build(&p->fdist, l, 30);
    return p;
}

/* One token group: the pending literals, then code (X_END_BLOCK, X_CONTINUE or dist - 1 and a
 * length byte). */
static void put_group(parser *p, unsigned code, unsigned len) {
    xout_varint(&p->o, p->nlit);
    xout_put(&p->o, p->lits, p->nlit);
    p->nlit = 0;
    unsigned char t[3] = {(unsigned char)(code & 0xff), (unsigned char)(code >> 8),
                          (unsigned char)(len - 3)};
    xout_put(&p->o, t, code < 0x8000u ? 3 : 2);
}

/* Parses one deflate stream starting at byte off (nothing past limit), writing its expansion
 * (without the leading tag) to p->o; *end receives the offset just past it. Returns 0, or -1
 * when the bytes are not a stream we rewrite (or they run past limit); -2 on a read error. */
static int parse_stream(parser *p, const bsp_source *src, uint64_t off, uint64_t limit,
                        uint64_t *end) {
    brd *r = &p->r;
    r->src = src;
    r->buf_off = off;
    r->blen = 0;
    r->off = off;
    r->limit = limit;
    r->bb = 0;
    r->bc = 0;
    r->ioerr = 0;
    r->rec = NULL;
    p->nlit = 0;
    int last = 0;
    while (!last) {
        long bf = brd_bits(r, 1), bt = brd_bits(r, 2);
        if (bf < 0 || bt < 0 || bt == 3) goto bad;
        last = (int)bf;
        xout_byte(&p->o, (unsigned)(bf | (bt << 1)));
        if (bt == 0) {
            long pad = brd_bits(r, r->bc % 8), ln = brd_bits(r, 16), nln = brd_bits(r, 16);
            if (pad < 0 || ln < 0 || nln < 0 || (unsigned long)nln != (~(unsigned long)ln & 0xffffu))
                goto bad;
            unsigned char t[3] = {(unsigned char)pad, (unsigned char)(ln & 0xff),
                                  (unsigned char)(ln >> 8)};
            xout_put(&p->o, t, 3);
            for (long i = 0; i < ln; i++) {
                long b = brd_bits(r, 8);
                if (b < 0) goto bad;
                xout_byte(&p->o, (unsigned)b);
            }
            continue;
        }
        const huff *lh = &p->flit, *dh = &p->fdist;
        if (bt == 2) {
            memset(p->rec, 0, sizeof p->rec);
            r->rec = p->rec;
            r->recbits = 0;
            r->recover = 0;
            uint8_t lens[320];
            unsigned nl, nd;
            int bad_hdr = read_code_lengths(r, lens, &nl, &nd);
            r->rec = NULL;
            if (bad_hdr || r->recover) goto bad;
            if (huff_build(&p->lit, lens, nl) < 0 || huff_build(&p->dist, lens + nl, nd) < 0)
                goto bad;
            xout_varint(&p->o, r->recbits);
            xout_put(&p->o, p->rec, (r->recbits + 7) / 8);
            lh = &p->lit;
            dh = &p->dist;
        }
        for (;;) {
            int sym = huff_decode(r, lh);
            if (sym < 0) goto bad;
            if (sym < 256) {
                p->lits[p->nlit++] = (unsigned char)sym;
                if (p->nlit == X_MAX_RUN) put_group(p, X_CONTINUE, 3);
                continue;
            }
            if (sym == 256) {
                put_group(p, X_END_BLOCK, 3);
                break;
            }
            if (sym > 285) goto bad;
            unsigned li = (unsigned)sym - 257;
            long ex = brd_bits(r, len_extra[li]);
            if (ex < 0 || (sym == 284 && ex == 31)) goto bad;
            int ds = huff_decode(r, dh);
            if (ds < 0 || ds > 29) goto bad;
            long dx = brd_bits(r, dist_extra[ds]);
            if (dx < 0) goto bad;
            put_group(p, (unsigned)(dist_base[ds] + dx - 1), (unsigned)(len_base[li] + ex));
        }
    }
    long pad = brd_bits(r, r->bc % 8);
    if (pad < 0) goto bad;
    xout_byte(&p->o, (unsigned)pad);
    *end = r->off - r->bc / 8;
    return 0;
bad:
    r->rec = NULL;
    return r->ioerr ? -2 : -1;
}

static void set_detail(char *d, size_t n, const char *fmt, ...) {
    if (!d || !n) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d, n, fmt, ap);
    va_end(ap);
}

static bsp_error copy_raw(parser *p, const bsp_source *src, uint64_t from, uint64_t to) {
    if (to <= from) return BSP_OK;
    xout_byte(&p->o, X_RAW);
    xout_varint(&p->o, to - from);
    while (from < to) {
        size_t k = to - from < IO_BUF ? (size_t)(to - from) : IO_BUF;
        if (src->read_at(src->opaque, from, p->inbuf, k) != 0) return BSP_E_READ_OLD;
        xout_put(&p->o, p->inbuf, k);
        from += k;
    }
    return BSP_OK;
}

bsp_error bsp_dfl_expand_list(const bsp_source *src, bsp_dfl_next_fn next, void *opaque,
                              const bsp_sink *out, uint64_t *expanded_size, char *detail,
                              size_t detail_len) {
    set_detail(detail, detail_len, "%s", "");
    if (!src || !src->read_at || !next || !out || !out->write) return BSP_E_MISUSE;
    parser *p = parser_new();
    if (!p) return BSP_E_NOMEM;
    p->o.sink = out;
    bsp_error e = BSP_OK;
    uint64_t pos = 0;
    bsp_dfl_range rg;
    int k;
    while ((k = next(opaque, &rg)) == 1) {
        if (rg.offset < pos || rg.length == 0 || rg.offset > src->size ||
            rg.length > src->size - rg.offset) {
            set_detail(detail, detail_len, "deflate stream list: range %llu+%llu is out of order "
                       "or outside the %llu-byte file", (unsigned long long)rg.offset,
                       (unsigned long long)rg.length, (unsigned long long)src->size);
            e = BSP_E_CORRUPT;
            goto out;
        }
        if ((e = copy_raw(p, src, pos, rg.offset)) != BSP_OK) goto io;
        xout_byte(&p->o, X_DEFLATE);
        uint64_t end = 0;
        int rc = parse_stream(p, src, rg.offset, rg.offset + rg.length, &end);
        if (rc == -2) {
            e = BSP_E_READ_OLD;
            goto io;
        }
        if (rc < 0 || end != rg.offset + rg.length) {
            set_detail(detail, detail_len, "bytes %llu+%llu of the old file are not one deflate "
                       "stream this patcher can expand", (unsigned long long)rg.offset,
                       (unsigned long long)rg.length);
            e = BSP_E_CORRUPT;
            goto out;
        }
        pos = end;
        if (p->o.err) break;
    }
    if (k < 0) {
        set_detail(detail, detail_len, "the deflate stream list is malformed");
        e = BSP_E_CORRUPT;
        goto out;
    }
    if ((e = copy_raw(p, src, pos, src->size)) != BSP_OK) goto io;
    xout_flush(&p->o);
    if (p->o.err) {
        set_detail(detail, detail_len, "writing the expansion failed");
        e = BSP_E_WRITE;
        goto out;
    }
    if (expanded_size) *expanded_size = p->o.total;
    goto out;
io:
    set_detail(detail, detail_len, "reading the file to expand failed");
out:
    free(p);
    return e;
}

typedef struct range_iter {
    const bsp_dfl_range *v;
    size_t n, i;
} range_iter;

static int range_next(void *opaque, bsp_dfl_range *r) {
    range_iter *it = opaque;
    if (it->i == it->n) return 0;
    *r = it->v[it->i++];
    return 1;
}

bsp_error bsp_dfl_expand(const bsp_source *src, const bsp_dfl_range *ranges, size_t count,
                         const bsp_sink *out, uint64_t *expanded_size, char *detail,
                         size_t detail_len) {
    if (count && !ranges) return BSP_E_MISUSE;
    range_iter it = {ranges, count, 0};
    return bsp_dfl_expand_list(src, range_next, &it, out, expanded_size, detail, detail_len);
}

/* ---------------------------------------------------------------- finding streams */

typedef struct mem_src {
    const unsigned char *d;
    size_t n;
} mem_src;

static int mem_read_at(void *opaque, uint64_t off, void *buf, size_t len) {
    const mem_src *m = opaque;
    if (off > m->n || len > m->n - off) return -1;
    memcpy(buf, m->d + off, len);
    return 0;
}

typedef struct rlist {
    bsp_dfl_range *v;
    size_t n, cap;
} rlist;

static int rlist_add(rlist *l, uint64_t off, uint64_t len) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        bsp_dfl_range *v = realloc(l->v, cap * sizeof *v);
        if (!v) return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n].offset = off;
    l->v[l->n++].length = len;
    return 0;
}

/* Offset just past a gzip member header at off, or 0 when there is none. */
static size_t gzip_header_end(const unsigned char *d, size_t n, size_t off) {
    if (n - off < 18 || d[off] != 0x1f || d[off + 1] != 0x8b || d[off + 2] != 8) return 0;
    unsigned flg = d[off + 3];
    if (flg & 0xe0) return 0;
    size_t p = off + 10;
    if (flg & 4) {
        if (n - p < 2) return 0;
        size_t xlen = (size_t)d[p] | ((size_t)d[p + 1] << 8);
        if (n - p - 2 < xlen) return 0;
        p += 2 + xlen;
    }
    for (unsigned f = 8; f <= 16; f <<= 1) {
        if (!(flg & f)) continue;
        const unsigned char *z = memchr(d + p, 0, n - p);
        if (!z) return 0;
        p = (size_t)(z - d) + 1;
    }
    if (flg & 2) p += 2;
    return p < n ? p : 0;
}

bsp_error bsp_dfl_find(const void *data, size_t size, bsp_dfl_range **ranges, size_t *count) {
    if (!ranges || !count || (!data && size)) return BSP_E_MISUSE;
    *ranges = NULL;
    *count = 0;
    const unsigned char *d = data;
    parser *p = parser_new();
    if (!p) return BSP_E_NOMEM;
    mem_src ms = {d, size};
    bsp_source src = {&ms, size, mem_read_at};
    rlist l = {0};
    uint64_t end;
    size_t s;
    /* Bytes read by candidates that turned out not to be streams: capped, so that no input
     * (say, one full of zip signatures) makes the search quadratic. */
    uint64_t wasted = 0, budget = 2 * (uint64_t)size + ((uint64_t)1 << 20);
    for (size_t off = 0; (s = gzip_header_end(d, size, off)) != 0;) {
        if (parse_stream(p, &src, s, size, &end) != 0 || size - end < 8) break;
        if (rlist_add(&l, s, end - s) < 0) goto nomem;
        off = (size_t)end + 8;
        if (off >= size) break;
    }
    if (l.n == 0) {
        static const unsigned char sig[4] = {'P', 'K', 3, 4};
        size_t pos = 0;
        while (size >= 30 && pos <= size - 30) {
            const unsigned char *hit = memchr(d + pos, 'P', size - 29 - pos);
            if (!hit) break;
            pos = (size_t)(hit - d);
            if (memcmp(hit, sig, 4) != 0 || hit[8] != 8 || hit[9] != 0) {
                pos++;
                continue;
            }
            size_t data_off = pos + 30 + ((size_t)hit[26] | (size_t)hit[27] << 8) +
                              ((size_t)hit[28] | (size_t)hit[29] << 8);
            if (data_off < size && parse_stream(p, &src, data_off, size, &end) == 0) {
                if (rlist_add(&l, data_off, end - data_off) < 0) goto nomem;
                pos = (size_t)end;
            } else {
                if (data_off < size) wasted += p->r.off - data_off;
                if (wasted > budget) break;
                pos++;
            }
        }
    }
    free(p);
    *ranges = l.v;
    *count = l.n;
    return BSP_OK;
nomem:
    free(p);
    free(l.v);
    return BSP_E_NOMEM;
}

void bsp_dfl_free(void *ptr) { free(ptr); }

/* ---------------------------------------------------------------- encoding back */

enum enc_state {
    ES_ITEM, ES_RAW_LEN, ES_RAW_DATA, ES_BLOCK, ES_STORED_PAD, ES_STORED_LEN, ES_STORED_DATA,
    ES_DYN_NBITS, ES_DYN_BITS, ES_NLIT, ES_LITS, ES_CODE, ES_MLEN, ES_PAD
};

struct bsp_dfl_enc {
    bsp_sink out;
    bsp_error err;
    char detail[200];
    enum enc_state st;
    /* varint being read */
    uint64_t vacc;
    unsigned vbytes;
    /* fixed-size field being gathered */
    unsigned char fld[HDR_MAX_BYTES];
    size_t flen, fneed;
    uint64_t left; /* raw bytes, stored bytes, or literals still to come */
    unsigned nbits; /* dynamic block: bits of its code description */
    int last;       /* the current block is the final one */
    unsigned code;  /* the token code just read */
    /* codes of the current block */
    uint8_t llen[288], dlen[32];
    uint16_t lrev[288], drev[32];
    uint8_t fl_len[288], fd_len[32];
    uint16_t fl_rev[288], fd_rev[32];
    uint8_t len_code[256];   /* match length - 3 -> length code index */
    uint8_t dist_code[512];  /* zlib's d_code: distance - 1 -> distance code */
    /* bit writer */
    uint64_t bb;
    unsigned bc;
    unsigned char obuf[IO_BUF];
    size_t on;
    uint64_t written;
};

static bsp_error enc_fail(bsp_dfl_enc *e, bsp_error err, const char *fmt, ...) {
    if (e->err) return e->err;
    e->err = err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->detail, sizeof e->detail, fmt, ap);
    va_end(ap);
    return err;
}

static bsp_error enc_flush(bsp_dfl_enc *e) {
    if (e->on && e->out.write(e->out.opaque, e->obuf, e->on) != 0)
        return enc_fail(e, BSP_E_WRITE, "the output callback failed after %llu bytes",
                        (unsigned long long)e->written);
    e->written += e->on;
    e->on = 0;
    return BSP_OK;
}

/* Moves whole bytes from the bit accumulator to the output buffer. */
static bsp_error enc_drain(bsp_dfl_enc *e) {
    while (e->bc >= 8) {
        if (e->on == IO_BUF && enc_flush(e)) return e->err;
        e->obuf[e->on++] = (unsigned char)e->bb;
        e->bb >>= 8;
        e->bc -= 8;
    }
    return BSP_OK;
}

static bsp_error put_bits(bsp_dfl_enc *e, unsigned v, unsigned n) {
    e->bb |= (uint64_t)v << e->bc;
    e->bc += n;
    return e->bc >= 32 ? enc_drain(e) : BSP_OK;
}

static bsp_error put_bytes(bsp_dfl_enc *e, const unsigned char *p, size_t n) {
    if (enc_drain(e)) return e->err; /* byte-aligned here: bc is 0 afterwards */
    while (n) {
        if (e->on == IO_BUF && enc_flush(e)) return e->err;
        size_t k = IO_BUF - e->on < n ? IO_BUF - e->on : n;
        memcpy(e->obuf + e->on, p, k);
        e->on += k;
        p += k;
        n -= k;
    }
    return BSP_OK;
}

bsp_dfl_enc *bsp_dfl_enc_create(const bsp_sink *out) {
    if (!out || !out->write) return NULL;
    bsp_dfl_enc *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->out = *out;
    for (unsigned s = 0; s < 288; s++) e->fl_len[s] = s < 144 ? 8 : s < 256 ? 9 : s < 280 ? 7 : 8;
    canon_codes(e->fl_len, 288, e->fl_rev);
    for (unsigned s = 0; s < 32; s++) e->fd_len[s] = 5;
    canon_codes(e->fd_len, 32, e->fd_rev);
    for (unsigned li = 0; li < 29; li++) {
        unsigned top = li == 28 ? 1 : 1u << len_extra[li];
        for (unsigned k = 0; k < top; k++)
            if (len_base[li] + k - 3 < 256) e->len_code[len_base[li] + k - 3] = (uint8_t)li;
    }
    for (unsigned di = 0; di < 30; di++)
        for (unsigned k = 0; k < (1u << dist_extra[di]); k++) {
            unsigned d = dist_base[di] + k - 1;
            if (d < 256) e->dist_code[d] = (uint8_t)di;
            else e->dist_code[256 + (d >> 7)] = (uint8_t)di;
        }
    return e;
}

void bsp_dfl_enc_free(bsp_dfl_enc *e) { free(e); }
const char *bsp_dfl_enc_detail(const bsp_dfl_enc *e) { return e ? e->detail : ""; }
uint64_t bsp_dfl_enc_written(const bsp_dfl_enc *e) { return e ? e->written + e->on : 0; }

/* Feeds one varint byte: 1 when complete (value in e->vacc), 0 for more, -1 when malformed. */
static int var_byte(bsp_dfl_enc *e, unsigned char b) {
    if (e->vbytes == BSDL_VARINT_MAX_LEN || (e->vbytes > 0 && b == 0)) return -1;
    e->vacc |= (uint64_t)(b & 0x7f) << (7 * e->vbytes);
    e->vbytes++;
    if (b & 0x80) return 0;
    return 1;
}
static void var_reset(bsp_dfl_enc *e) {
    e->vacc = 0;
    e->vbytes = 0;
}

/* The current block's code description, gathered in fld: checks it exactly as the expander
 * reads it, builds the codes, and writes its bits. */
static bsp_error take_dynamic(bsp_dfl_enc *e) {
    size_t nbytes = (e->nbits + 7) / 8;
    if (e->nbits % 8 && (e->fld[nbytes - 1] >> (e->nbits % 8)))
        return enc_fail(e, BSP_E_CORRUPT, "expansion: a code description has stray bits");
    brd r = {0};
    r.buf = e->fld;
    r.blen = nbytes;
    r.limit = nbytes;
    uint8_t lens[320];
    unsigned nl, nd;
    if (read_code_lengths(&r, lens, &nl, &nd) < 0 || (r.off * 8 - r.bc) != e->nbits)
        return enc_fail(e, BSP_E_CORRUPT, "expansion: a malformed deflate code description");
    memset(e->llen, 0, sizeof e->llen);
    memset(e->dlen, 0, sizeof e->dlen);
    memcpy(e->llen, lens, nl);
    memcpy(e->dlen, lens + nl, nd);
    if (canon_codes(e->llen, 288, e->lrev) < 0 || canon_codes(e->dlen, 32, e->drev) < 0)
        return enc_fail(e, BSP_E_CORRUPT, "expansion: a deflate code description over-subscribes "
                        "its code");
    for (unsigned i = 0; i < e->nbits; i += 8) {
        unsigned n = e->nbits - i < 8 ? e->nbits - i : 8;
        if (put_bits(e, e->fld[i / 8] & ((1u << n) - 1u), n)) return e->err;
    }
    return BSP_OK;
}

static bsp_error put_literal(bsp_dfl_enc *e, unsigned char b) {
    if (!e->llen[b])
        return enc_fail(e, BSP_E_CORRUPT, "expansion: literal %u has no code in its block", b);
    return put_bits(e, e->lrev[b], e->llen[b]);
}

static bsp_error put_match(bsp_dfl_enc *e, unsigned dist, unsigned len) {
    unsigned li = e->len_code[len - 3], sym = 257 + li;
    unsigned d = dist - 1, di = d < 256 ? e->dist_code[d] : e->dist_code[256 + (d >> 7)];
    if (!e->llen[sym] || !e->dlen[di])
        return enc_fail(e, BSP_E_CORRUPT, "expansion: a match (length %u, distance %u) has no "
                        "code in its block", len, dist);
    if (put_bits(e, e->lrev[sym], e->llen[sym]) || put_bits(e, len - len_base[li], len_extra[li]) ||
        put_bits(e, e->drev[di], e->dlen[di]) || put_bits(e, dist - dist_base[di], dist_extra[di]))
        return e->err;
    return BSP_OK;
}

static void after_block(bsp_dfl_enc *e) { e->st = e->last ? ES_PAD : ES_BLOCK; }

static unsigned pad_bits(const bsp_dfl_enc *e) { return (8 - e->bc % 8) % 8; }

/* Fast path for the common case: whole token groups already in the buffer, taken without the
 * byte-at-a-time state machine. Checks exactly what the state machine checks; stops (leaving
 * the state at ES_NLIT) at the first group that is incomplete, at an end of block or a
 * continue mark (left to the state machine). */
static bsp_error fast_groups(bsp_dfl_enc *e, const unsigned char **pp, size_t *plen) {
    const unsigned char *p = *pp;
    size_t len = *plen;
    while (len >= 4) {
        uint64_t nlit;
        size_t vb;
        if (p[0] < 0x80) {
            nlit = p[0];
            vb = 1;
        } else if (p[1] < 0x80) {
            if (p[1] == 0) break; /* non-minimal: the state machine reports it */
            nlit = (uint64_t)(p[0] & 0x7f) | (uint64_t)p[1] << 7;
            vb = 2;
        } else {
            break; /* long runs are rare: the state machine takes them */
        }
        if (len < vb + nlit + 3) break;
        const unsigned char *lit = p + vb;
        unsigned code = lit[nlit] | (unsigned)lit[nlit + 1] << 8;
        if (code >= 0x8000u) break;
        for (size_t i = 0; i < nlit; i++)
            if (put_literal(e, lit[i])) return e->err;
        if (put_match(e, code + 1, (unsigned)lit[nlit + 2] + 3)) return e->err;
        p += vb + nlit + 3;
        len -= vb + nlit + 3;
    }
    *pp = p;
    *plen = len;
    return BSP_OK;
}

bsp_error bsp_dfl_enc_write(bsp_dfl_enc *e, const void *buf, size_t len) {
    if (!e) return BSP_E_MISUSE;
    if (e->err) return e->err;
    const unsigned char *p = buf;
    while (len) {
        int v;
        if (e->st == ES_NLIT && e->vbytes == 0 && len >= 4) {
            if (fast_groups(e, &p, &len)) return e->err;
            if (!len) break;
        }
        switch (e->st) {
        case ES_ITEM:
            if (*p == X_RAW) e->st = ES_RAW_LEN;
            else if (*p == X_DEFLATE) e->st = ES_BLOCK;
            else return enc_fail(e, BSP_E_CORRUPT, "expansion: unknown item tag 0x%02x", *p);
            var_reset(e);
            p++, len--;
            break;
        case ES_RAW_LEN:
            if ((v = var_byte(e, *p)) < 0 || (v == 1 && e->vacc == 0))
                return enc_fail(e, BSP_E_CORRUPT, "expansion: bad raw item length");
            p++, len--;
            if (v == 1) {
                e->left = e->vacc;
                e->st = ES_RAW_DATA;
            }
            break;
        case ES_RAW_DATA:
        case ES_STORED_DATA: {
            size_t k = len < e->left ? len : (size_t)e->left;
            if (put_bytes(e, p, k)) return e->err;
            p += k, len -= k;
            e->left -= k;
            if (!e->left) {
                if (e->st == ES_RAW_DATA) e->st = ES_ITEM;
                else after_block(e);
            }
            break;
        }
        case ES_BLOCK: {
            unsigned b = *p++;
            len--;
            unsigned bt = (b >> 1) & 3;
            if (b > 7 || bt == 3)
                return enc_fail(e, BSP_E_CORRUPT, "expansion: bad block header byte 0x%02x", b);
            e->last = (int)(b & 1);
            if (put_bits(e, b, 3)) return e->err;
            e->flen = 0;
            if (bt == 0) {
                e->st = ES_STORED_PAD;
            } else if (bt == 1) {
                memcpy(e->llen, e->fl_len, sizeof e->llen);
                memcpy(e->lrev, e->fl_rev, sizeof e->lrev);
                memcpy(e->dlen, e->fd_len, sizeof e->dlen);
                memcpy(e->drev, e->fd_rev, sizeof e->drev);
                e->dlen[30] = e->dlen[31] = 0;
                var_reset(e);
                e->st = ES_NLIT;
            } else {
                var_reset(e);
                e->st = ES_DYN_NBITS;
            }
            break;
        }
        case ES_STORED_PAD:
        case ES_PAD: {
            unsigned n = pad_bits(e), b = *p++;
            len--;
            if (b >> n) return enc_fail(e, BSP_E_CORRUPT, "expansion: padding value %u does not "
                                        "fit in %u bits", b, n);
            if (put_bits(e, b, n) || enc_drain(e)) return e->err;
            if (e->st == ES_PAD) {
                e->st = ES_ITEM;
            } else {
                e->flen = 0;
                e->st = ES_STORED_LEN;
            }
            break;
        }
        case ES_STORED_LEN:
            e->fld[e->flen++] = *p++;
            len--;
            if (e->flen == 2) {
                unsigned ln = e->fld[0] | (unsigned)e->fld[1] << 8;
                if (put_bits(e, ln, 16) || put_bits(e, ~ln & 0xffffu, 16)) return e->err;
                e->left = ln;
                if (ln) e->st = ES_STORED_DATA;
                else after_block(e);
            }
            break;
        case ES_DYN_NBITS:
            if ((v = var_byte(e, *p)) < 0 || (v == 1 && (e->vacc < 14 || e->vacc > HDR_MAX_BITS)))
                return enc_fail(e, BSP_E_CORRUPT, "expansion: bad code description length");
            p++, len--;
            if (v == 1) {
                e->nbits = (unsigned)e->vacc;
                e->fneed = (e->nbits + 7) / 8;
                e->flen = 0;
                e->st = ES_DYN_BITS;
            }
            break;
        case ES_DYN_BITS: {
            size_t k = e->fneed - e->flen < len ? e->fneed - e->flen : len;
            memcpy(e->fld + e->flen, p, k);
            e->flen += k;
            p += k, len -= k;
            if (e->flen == e->fneed) {
                if (take_dynamic(e)) return e->err;
                var_reset(e);
                e->st = ES_NLIT;
            }
            break;
        }
        case ES_NLIT:
            if ((v = var_byte(e, *p)) < 0 || (v == 1 && e->vacc > X_MAX_RUN))
                return enc_fail(e, BSP_E_CORRUPT, "expansion: bad literal count");
            p++, len--;
            if (v == 1) {
                e->left = e->vacc;
                e->flen = 0;
                e->st = e->left ? ES_LITS : ES_CODE;
            }
            break;
        case ES_LITS: {
            size_t k = len < e->left ? len : (size_t)e->left;
            for (size_t i = 0; i < k; i++)
                if (put_literal(e, p[i])) return e->err;
            p += k, len -= k;
            e->left -= k;
            if (!e->left) {
                e->flen = 0;
                e->st = ES_CODE;
            }
            break;
        }
        case ES_CODE:
            e->fld[e->flen++] = *p++;
            len--;
            if (e->flen < 2) break;
            e->code = e->fld[0] | (unsigned)e->fld[1] << 8;
            if (e->code == X_END_BLOCK) {
                if (!e->llen[256])
                    return enc_fail(e, BSP_E_CORRUPT, "expansion: end of block has no code");
                if (put_bits(e, e->lrev[256], e->llen[256])) return e->err;
                after_block(e);
            } else if (e->code == X_CONTINUE) {
                var_reset(e);
                e->st = ES_NLIT;
            } else if (e->code < 0x8000u) {
                e->st = ES_MLEN;
            } else {
                return enc_fail(e, BSP_E_CORRUPT, "expansion: bad token code 0x%04x", e->code);
            }
            break;
        case ES_MLEN:
            if (put_match(e, e->code + 1, (unsigned)*p + 3)) return e->err;
            p++, len--;
            var_reset(e);
            e->st = ES_NLIT;
            break;
        }
    }
    return BSP_OK;
}

bsp_error bsp_dfl_enc_finish(bsp_dfl_enc *e) {
    if (!e) return BSP_E_MISUSE;
    if (e->err) return e->err;
    if (e->st != ES_ITEM)
        return enc_fail(e, BSP_E_TRUNCATED, "expansion: ended inside an item");
    if (enc_drain(e) || enc_flush(e)) return e->err;
    return BSP_OK;
}
