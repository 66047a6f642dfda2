/* bsd_pbz.c - worker pool, a counting gate, and a bzip2 writer that compresses blocks in
 * parallel yet emits ONE standard bzip2 stream (what BSDIFF40 and BSDELTA require),
 * identical for every thread count.
 *
 * How: the input is cut into pieces exactly where a sequential libbz2 compressor would end a
 * block (its run-length stage is replayed to count block symbols), plus a cut every
 * PIECE_MAX input bytes (a block of runs of zeros would otherwise span up to 45 MB, all of it
 * compressed on one thread). Each piece is compressed alone into one block, by our block
 * encoder (bsd_bzenc.c; libbz2 for the rare block it refuses, from whose one-block stream the
 * block is cut out); the blocks are then concatenated bit by bit between one stream header and
 * one end-of-stream mark with the combined CRC. Cut points depend only on the data and the
 * level (and on bsd_pbz_cut), never on the thread count.
 *
 * A block may also end early, where the data changes character: one Huffman table set per
 * block (bzip2 picks among six per 50 symbols) fits a 900k-symbol block that spans, say,
 * relocation deltas and then code poorly. Every SPLIT_RAW input bytes (and SPLIT_MIN_SYMS
 * block symbols) the writer compares the order-0 entropy of the block so far with that of its
 * part before the last such window plus that of the window; when splitting saves more than
 * SPLIT_MIN_GAIN bytes the block ends where the window began. On the corpus this makes the
 * binaries' patches 1-3% smaller and no patch larger (text keeps its long blocks: BWT gains
 * more from their context than a second table set would).
 *
 * With a search (BSD_PBZ_SEARCH; BSDIFF40's default) that estimate gives way to
 * measurement: each piece is encoded whole and as the blocks of its two halves, and where the
 * halves take fewer bits, each half is tried the same way, down to SEARCH_DEPTH levels; every
 * trial also tries fewer Huffman tables (BSD_BZ_TABLE_SEARCH). A piece then writes
 * several blocks, and the stream's combined CRC takes them in order. */
#include <stdlib.h>

#include <bzlib.h>

#include "bsd_pbz.h"

/* ---------------- pool ---------------- */

struct bsd_pool {
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    bsd_job *head, *tail;
    int stop;
    unsigned n;
    pthread_t *th;
};

static void *pool_main(void *arg) {
    bsd_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->head && !p->stop) pthread_cond_wait(&p->work, &p->mu);
        if (!p->head) break;
        bsd_job *j = p->head;
        p->head = j->next;
        if (!p->head) p->tail = NULL;
        pthread_mutex_unlock(&p->mu);
        j->fn(j->arg);
        pthread_mutex_lock(&p->mu);
        j->state = 2;
        pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

bsd_pool *bsd_pool_create(unsigned nthreads, int *err) {
    *err = 0;
    if (nthreads <= 1) return NULL;
    bsd_pool *p = calloc(1, sizeof(*p));
    if (!p || !(p->th = calloc(nthreads, sizeof(pthread_t)))) {
        free(p);
        *err = 1;
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    for (; p->n < nthreads; p->n++)
        if (pthread_create(&p->th[p->n], NULL, pool_main, p)) break;
    if (p->n == 0) {
        bsd_pool_free(p);
        *err = 2;
        return NULL;
    }
    return p;
}

void bsd_pool_submit(bsd_pool *p, bsd_job *j) {
    j->next = NULL;
    if (!p) {
        j->state = 1;
        j->fn(j->arg);
        j->state = 2;
        return;
    }
    pthread_mutex_lock(&p->mu);
    j->state = 1;
    if (p->tail) p->tail->next = j;
    else p->head = j;
    p->tail = j;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
}

void bsd_pool_wait(bsd_pool *p, bsd_job *j) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    while (j->state != 2) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void bsd_pool_free(bsd_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->n; i++) pthread_join(p->th[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    free(p->th);
    free(p);
}

/* ---------------- gate ---------------- */

int bsd_gate_init(bsd_gate *g, unsigned places) {
    g->places = places;
    if (pthread_mutex_init(&g->m, NULL)) return -1;
    if (pthread_cond_init(&g->c, NULL)) {
        pthread_mutex_destroy(&g->m);
        return -1;
    }
    return 0;
}

void bsd_gate_enter(bsd_gate *g) {
    pthread_mutex_lock(&g->m);
    while (g->places == 0) pthread_cond_wait(&g->c, &g->m);
    g->places--;
    pthread_mutex_unlock(&g->m);
}

void bsd_gate_leave(bsd_gate *g) {
    pthread_mutex_lock(&g->m);
    g->places++;
    pthread_cond_signal(&g->c);
    pthread_mutex_unlock(&g->m);
}

void bsd_gate_destroy(bsd_gate *g) {
    pthread_cond_destroy(&g->c);
    pthread_mutex_destroy(&g->m);
}

/* ---------------- spill ---------------- */

void bsd_spill_init(bsd_spill *s, size_t mem_limit) {
    memset(s, 0, sizeof(*s));
    s->limit = mem_limit;
}

int bsd_spill_write(void *opaque, const void *buf, size_t len) {
    bsd_spill *s = opaque;
    if (!s->fp && s->len + len <= s->limit) {
        if (s->len + len > s->cap) {
            size_t cap = s->cap ? s->cap : 65536;
            while (cap < s->len + len) cap *= 2;
            if (cap > s->limit) cap = s->limit;
            unsigned char *m = realloc(s->mem, cap);
            if (!m) return -1;
            s->mem = m;
            s->cap = cap;
        }
        memcpy(s->mem + s->len, buf, len);
        s->len += len;
        s->total += len;
        return 0;
    }
    if (!s->fp) {
        s->fp = tmpfile();
        if (!s->fp) return -2;
        if (s->len && fwrite(s->mem, 1, s->len, s->fp) != s->len) return -2;
        free(s->mem);
        s->mem = NULL;
        s->len = s->cap = 0;
    }
    if (fwrite(buf, 1, len, s->fp) != len) return -2;
    s->total += len;
    return 0;
}

int bsd_spill_drain(bsd_spill *s, const bsd_sink *out) {
    if (!s->fp) return s->len && out->write(out->opaque, s->mem, s->len) ? -1 : 0;
    if (fflush(s->fp) || fseek(s->fp, 0, SEEK_SET)) return -2;
    unsigned char buf[65536];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, s->fp)) > 0)
        if (out->write(out->opaque, buf, got)) return -1;
    return ferror(s->fp) ? -2 : 0;
}

void bsd_spill_free(bsd_spill *s) {
    free(s->mem);
    if (s->fp) fclose(s->fp);
    memset(s, 0, sizeof(*s));
}

/* ---------------- parallel single-stream bzip2 ---------------- */

#define PIECE_MAX ((size_t)16 << 20)
#define SPLIT_RAW ((size_t)256 << 10)
#define SPLIT_MIN_SYMS 200000
#define SPLIT_MIN_GAIN 1000

/* A piece holds its input as libbz2's run-length stage will see it (runs of 4 to 255 equal
 * bytes as four bytes and a count): at most one block of symbols, however long the runs of
 * zeros in diff bytes, instead of up to PIECE_MAX input bytes. */
typedef struct pbz_piece {
    bsd_job job;
    unsigned char *in, *out;
    size_t inlen, incap, raw; /* raw: input bytes the symbols stand for */
    uint64_t start, nbits;    /* the block in out: its first bit and length */
    uint32_t bcrc;            /* and its CRC: the blocks' CRCs folded as the stream folds them */
    int nblocks;              /* blocks in out (more than one after a split search) */
    int level, search, measure, err;
    double seconds;
    struct pbz_piece *next;
} pbz_piece;

struct bsd_pbz {
    bsd_pool *pool;
    int level, search, measure;
    int64_t nblock_max;
    /* replay of libbz2's run-length stage: current run and block fill */
    int run_ch, run_len;
    int64_t nblock;
    /* split test: symbol counts of the block before the current window and of the window,
     * where the window starts in the piece and the block fill there */
    uint32_t h_block[256], h_win[256];
    size_t win_off, win_in; /* window start: input bytes, and symbols, into the piece */
    int64_t win_nblock;
    pbz_piece *cur, *head, *tail;
    int inflight, max_inflight;
    /* output bit writer */
    int (*write)(void *opaque, const void *buf, size_t len);
    void *opaque;
    uint64_t acc;
    int nacc;
    unsigned char obuf[65536];
    size_t olen;
    uint32_t crc;
    uint64_t total_out, blocks;
    double seconds;
    int err; /* 0, or a bsd_error */
};

static int get_bit(const unsigned char *b, uint64_t i) { return b[i >> 3] >> (7 - (i & 7)) & 1; }

static uint64_t get_bits(const unsigned char *b, uint64_t i, int n) {
    uint64_t v = 0;
    for (int k = 0; k < n; k++) v = v << 1 | (uint64_t)get_bit(b, i + (uint64_t)k);
    return v;
}

/* libbz2 fallback for a piece our encoder does not take (a block that repeats a shorter string):
 * its symbols are expanded back into the input bytes, a buffer at a time, for libbz2's
 * streaming interface (whose run-length stage then finds the same runs). */
static void piece_libbz2(pbz_piece *pc) {
    bz_stream bs;
    memset(&bs, 0, sizeof bs);
    size_t cap = pc->inlen + pc->inlen / 100 + 1024;
    unsigned char raw[16384];
    pc->out = malloc(cap);
    int rc = pc->out ? BZ2_bzCompressInit(&bs, pc->level, 0, 0) : BZ_MEM_ERROR;
    size_t outlen = 0;
    bsd_unrle u = {0, -1, 0};
    while (rc == BZ_OK || rc == BZ_RUN_OK || rc == BZ_FINISH_OK) {
        size_t rn = bsd_unrle_next(&u, pc->in, pc->inlen, raw, sizeof raw);
        int action = u.at < pc->inlen ? BZ_RUN : BZ_FINISH;
        bs.next_in = (char *)raw;
        bs.avail_in = (unsigned)rn;
        do {
            if (outlen == cap) {
                unsigned char *o = realloc(pc->out, cap * 2);
                if (!o) {
                    rc = BZ_MEM_ERROR;
                    break;
                }
                pc->out = o;
                cap *= 2;
            }
            bs.next_out = (char *)pc->out + outlen;
            bs.avail_out = (unsigned)(cap - outlen);
            rc = BZ2_bzCompress(&bs, action);
            outlen = cap - bs.avail_out;
        } while (rc == (action == BZ_RUN ? BZ_RUN_OK : BZ_FINISH_OK) &&
                 (bs.avail_in || action == BZ_FINISH));
        if (rc == BZ_STREAM_END) break;
    }
    if (pc->out) BZ2_bzCompressEnd(&bs);
    if (rc != BZ_STREAM_END) {
        pc->err = rc == BZ_MEM_ERROR ? BSD_E_NOMEM : BSD_E_COMPRESS;
        return;
    }
    /* the one block: after the 4-byte stream header, up to the end-of-stream mark */
    const unsigned char *s = pc->out;
    if (outlen < 4 + 10 + 10 || get_bits(s, 32, 48) != 0x314159265359ull) {
        pc->err = BSD_E_COMPRESS;
        return;
    }
    uint32_t bcrc = (uint32_t)get_bits(s, 80, 32);
    uint64_t total = (uint64_t)outlen * 8, end = 0;
    for (int pad = 0; pad < 8; pad++) {
        uint64_t e = total - (uint64_t)pad;
        if (get_bits(s, e - 80, 48) == 0x177245385090ull && get_bits(s, e - 32, 32) == bcrc &&
            (pad == 0 || get_bits(s, e, pad) == 0)) {
            end = e - 80;
            break;
        }
    }
    if (!end) { /* not exactly one block: the replay disagrees with libbz2 */
        pc->err = BSD_E_COMPRESS;
        return;
    }
    pc->start = 32;
    pc->nbits = end - 32;
    pc->bcrc = bcrc;
}

/* ---- split search: a piece as one block or as blocks of its halves, whichever is smaller ---- */

/* A run of blocks, bit-packed most significant bit first. */
typedef struct blockrun {
    unsigned char *bits;
    uint64_t nbits;
    uint32_t fold; /* the blocks' CRCs folded as the stream's combined CRC folds them */
    int n;
} blockrun;

static uint32_t rotl32(uint32_t x, int k) {
    k &= 31;
    return k ? x << k | x >> (32 - k) : x;
}

/* Appends nbits bits of src (from its first bit) to r. */
static int run_append(blockrun *r, const unsigned char *src, uint64_t nbits) {
    uint64_t need = (r->nbits + nbits + 7) / 8 + 8;
    unsigned char *b = realloc(r->bits, need);
    if (!b) return BSD_E_NOMEM;
    r->bits = b;
    unsigned sh = (unsigned)(r->nbits & 7);
    unsigned char *d = b + r->nbits / 8;
    uint64_t nbytes = (nbits + 7) / 8;
    if (!sh) {
        memcpy(d, src, nbytes);
    } else {
        d[0] &= (unsigned char)(0xff00u >> sh);
        for (uint64_t i = 0; i < nbytes; i++) {
            d[i] |= (unsigned char)(src[i] >> sh);
            d[i + 1] = (unsigned char)(src[i] << (8 - sh));
        }
    }
    r->nbits += nbits;
    return 0;
}

#define SEARCH_DEPTH 6        /* halves of halves: blocks down to 1/64 of a piece */
#define SEARCH_MIN_SYMS 10000 /* no half smaller than this */

/* s[0, n) as one block (bsd_bz_block's flags). Returns 0, a bsd_error, or 1 when our encoder
 * refuses the block. */
static int encode_one(const unsigned char *s, size_t n, unsigned flags, blockrun *out) {
    memset(out, 0, sizeof(*out));
    bsd_bzblock b;
    int rc = bsd_bz_block(s, n, flags, &b);
    if (rc) return rc;
    out->bits = b.bits;
    out->nbits = b.nbits;
    out->fold = b.crc;
    out->n = 1;
    return 0;
}

/* Given whole, s[0, n) as one block: replaces it by the blocks of its two halves when they
 * take fewer bits, and so on into each half while depth lasts. */
static int encode_search(const unsigned char *s, size_t n, int depth, blockrun *whole) {
    if (depth <= 0 || n < 2 * SEARCH_MIN_SYMS) return 0;
    size_t m = bsd_bz_safe_cut(s, n, n / 2);
    if (m < SEARCH_MIN_SYMS || n - m < SEARCH_MIN_SYMS) return 0;
    blockrun l, r;
    int el = encode_one(s, m, BSD_BZ_TABLE_SEARCH, &l);
    int er = el ? 1 : encode_one(s + m, n - m, BSD_BZ_TABLE_SEARCH, &r);
    if (el || er) { /* refused (a half that repeats a shorter string), or an error */
        if (!el) free(l.bits);
        return el < 0 ? el : er < 0 ? er : 0;
    }
    if (l.nbits + r.nbits >= whole->nbits) { /* no deeper: halves of halves rarely win then */
        free(l.bits);
        free(r.bits);
        return 0;
    }
    int e = encode_search(s, m, depth - 1, &l);
    if (!e) e = encode_search(s + m, n - m, depth - 1, &r);
    if (!e && l.nbits + r.nbits < whole->nbits) {
        e = run_append(&l, r.bits, r.nbits);
        if (!e) {
            l.fold = rotl32(l.fold, r.n) ^ r.fold;
            l.n += r.n;
            free(whole->bits);
            *whole = l;
            l.bits = NULL;
        }
    }
    free(l.bits);
    free(r.bits);
    return e;
}

/* Compresses the piece: one block (or, with a split search, several), by our encoder
 * (bsd_bzenc.c) or libbz2's. */
static void piece_compress(void *arg) {
    pbz_piece *pc = arg;
    double t0 = bsd_now();
    blockrun r;
    unsigned flags =
        (pc->search > 0 ? BSD_BZ_TABLE_SEARCH : 0) | (pc->measure ? BSD_BZ_NO_CRC : 0);
    int rc = encode_one(pc->in, pc->inlen, flags, &r);
    if (rc == 0 && (rc = encode_search(pc->in, pc->inlen, pc->search, &r)) != 0) free(r.bits);
    if (rc == 0) {
        pc->out = r.bits;
        pc->start = 0;
        pc->nbits = r.nbits;
        pc->bcrc = r.fold;
        pc->nblocks = r.n;
    } else if (rc == 1) {
        piece_libbz2(pc);
        pc->nblocks = 1;
    } else {
        pc->err = rc;
    }
    free(pc->in);
    pc->in = NULL;
    pc->seconds = bsd_now() - t0;
}

static int flush_obuf(bsd_pbz *z) {
    if (z->olen && !z->err && z->write(z->opaque, z->obuf, z->olen)) z->err = BSD_E_WRITE;
    z->total_out += z->olen;
    z->olen = 0;
    return z->err;
}

static inline void put_byte(bsd_pbz *z, unsigned b) {
    z->obuf[z->olen++] = (unsigned char)b;
    if (z->olen == sizeof z->obuf) flush_obuf(z);
}

static void put_bits(bsd_pbz *z, uint32_t v, int n) { /* n <= 32 */
    z->acc = (z->acc << n) | (v & (n == 32 ? 0xffffffffu : ((1u << n) - 1)));
    z->nacc += n;
    while (z->nacc >= 8) {
        put_byte(z, (unsigned)(z->acc >> (z->nacc - 8)) & 0xff);
        z->nacc -= 8;
    }
}

/* Appends the piece's block to the output. */
static int emit_piece(bsd_pbz *z, pbz_piece *pc) {
    const unsigned char *s = pc->out + pc->start / 8;
    z->crc = rotl32(z->crc, pc->nblocks) ^ pc->bcrc;
    z->blocks += (uint64_t)pc->nblocks;
    uint64_t whole = pc->nbits / 8;
    for (uint64_t i = 0; i < whole; i++) put_bits(z, s[i], 8);
    int rest = (int)(pc->nbits % 8);
    if (rest) put_bits(z, s[whole] >> (8 - rest), rest);
    return z->err;
}

static int drain_one(bsd_pbz *z) {
    pbz_piece *pc = z->head;
    bsd_pool_wait(z->pool, &pc->job);
    z->head = pc->next;
    if (!z->head) z->tail = NULL;
    z->inflight--;
    z->seconds += pc->seconds;
    int e = pc->err ? pc->err : emit_piece(z, pc);
    if (e && !z->err) z->err = e;
    free(pc->out);
    free(pc);
    return z->err;
}

static int submit_cur(bsd_pbz *z) {
    pbz_piece *pc = z->cur;
    z->cur = NULL;
    if (!pc) return z->err;
    if (!pc->inlen) {
        free(pc->in);
        free(pc);
        return z->err;
    }
    pc->level = z->level;
    pc->search = z->search;
    pc->measure = z->measure;
    pc->job.fn = piece_compress;
    pc->job.arg = pc;
    if (z->tail) z->tail->next = pc;
    else z->head = pc;
    z->tail = pc;
    z->inflight++;
    bsd_pool_submit(z->pool, &pc->job);
    while (z->inflight > z->max_inflight && !z->err) drain_one(z);
    return z->err;
}

bsd_pbz *bsd_pbz_create(bsd_pool *pool, unsigned threads, int level, unsigned mode,
                        int (*write)(void *, const void *, size_t), void *opaque) {
    bsd_pbz *z = calloc(1, sizeof(*z));
    if (!z) return NULL;
    z->pool = pool;
    z->level = level;
    z->search = mode & BSD_PBZ_SEARCH ? SEARCH_DEPTH : 0;
    z->measure = (mode & BSD_PBZ_MEASURE) != 0;
    z->nblock_max = 100000 * (int64_t)level - 19;
    z->run_ch = 256;
    /* Pieces are written in order, so the writer waits for the oldest; with few in flight the
     * other threads ran out of work behind a long one (and no chunk could start while the
     * writer waited): libvips's scan 0.46 -> 0.41 s at three a thread instead of one more
     * than the threads. */
    z->max_inflight = (int)(pool ? 3 * threads : 0);
    z->write = write;
    z->opaque = opaque;
    put_bits(z, 'B', 8);
    put_bits(z, 'Z', 8);
    put_bits(z, 'h', 8);
    put_bits(z, (uint32_t)('0' + level), 8);
    return z;
}

/* Appends a run of len (1..255) bytes ch to the current piece, as symbols. */
static int piece_run(bsd_pbz *z, int ch, int len) {
    if (!z->cur) {
        z->cur = calloc(1, sizeof(pbz_piece));
        if (!z->cur) return z->err = BSD_E_NOMEM;
    }
    pbz_piece *pc = z->cur;
    if (pc->inlen + 5 > pc->incap) {
        size_t cap = pc->incap ? pc->incap * 2 : 65536;
        unsigned char *b = realloc(pc->in, cap);
        if (!b) return z->err = BSD_E_NOMEM;
        pc->in = b;
        pc->incap = cap;
    }
    int k = len < 4 ? len : 4;
    memset(pc->in + pc->inlen, ch, (size_t)k);
    pc->inlen += (size_t)k;
    if (len >= 4) pc->in[pc->inlen++] = (unsigned char)(len - 4);
    pc->raw += (size_t)len;
    return 0;
}

/* Symbols libbz2 writes for a run of len equal bytes (1..255). */
static inline int64_t run_syms(int len) { return len < 4 ? len : 5; }

/* log2(x) for x >= 1 in 1/65536 units, by repeated squaring: integer arithmetic only, so the
 * cuts are the same on every machine. */
static uint64_t log2_q16(uint64_t x) {
    unsigned ip = 63u - (unsigned)__builtin_clzll(x);
    uint64_t r = (uint64_t)ip << 16;
    uint64_t m = ip >= 31 ? x >> (ip - 31) : x << (31 - ip); /* x / 2^ip in Q31: [1, 2) */
    for (uint64_t bit = (uint64_t)1 << 15; bit; bit >>= 1) {
        m = (m * m) >> 31;
        if (m >= (uint64_t)1 << 32) {
            m >>= 1;
            r += bit;
        }
    }
    return r;
}

/* Order-0 entropy of the symbol counts a (+ b when non-NULL), in 1/65536 bits. */
static uint64_t entropy_q16(const uint32_t *a, const uint32_t *b) {
    uint64_t n = 0, sum = 0;
    for (int k = 0; k < 256; k++) {
        uint64_t c = (uint64_t)a[k] + (b ? b[k] : 0);
        if (c) sum += c * log2_q16(c);
        n += c;
    }
    return n ? n * log2_q16(n) - sum : 0;
}

/* At the end of a window: whether the block should have ended where the window began. */
static int split_pays(const bsd_pbz *z) {
    if (z->win_in == 0) return 0;
    uint64_t whole = entropy_q16(z->h_block, z->h_win);
    uint64_t parts = entropy_q16(z->h_block, NULL) + entropy_q16(z->h_win, NULL);
    return whole > parts && whole - parts > (uint64_t)SPLIT_MIN_GAIN * 8 * 65536;
}

/* Ends the block where the window began: the piece's bytes from there move to a new current
 * piece, the rest is submitted. */
static int split_at_window(bsd_pbz *z) {
    pbz_piece *old = z->cur, *pc = calloc(1, sizeof(pbz_piece));
    size_t n = old->inlen - z->win_in;
    if (!pc || !(pc->in = malloc(n ? n : 1))) {
        free(pc);
        return z->err = BSD_E_NOMEM;
    }
    memcpy(pc->in, old->in + z->win_in, n);
    pc->inlen = pc->incap = n;
    pc->raw = old->raw - z->win_off;
    old->inlen = z->win_in;
    old->raw = z->win_off;
    submit_cur(z);
    z->cur = pc;
    return z->err;
}

/* The replay's block state after a block ends: empty, the split test's window at its start. */
static void block_reset(bsd_pbz *z) {
    z->nblock = 0;
    memset(z->h_block, 0, sizeof z->h_block);
    memset(z->h_win, 0, sizeof z->h_win);
    z->win_off = z->win_in = 0;
    z->win_nblock = 0;
}

int bsd_pbz_write(bsd_pbz *z, const void *data, size_t len) {
    const unsigned char *p = data;
    size_t i = 0;
    while (i < len && !z->err) {
        int c = p[i];
        if (c == z->run_ch && z->run_len < 255) {
            /* extend the current run as far as it goes */
            size_t k = i + 1, lim = i + (size_t)(255 - z->run_len);
            if (lim > len) lim = len;
            /* eight bytes at a time: runs of zeros fill most of BSDIFF40's diff bytes */
            uint64_t pat = (uint64_t)c * 0x0101010101010101ull;
            while (k + 8 <= lim && bsd_load64(p + k) == pat) k += 8;
            while (k < lim && p[k] == c) k++;
            z->run_len += (int)(k - i);
            i = k;
            continue;
        }
        /* byte i starts a new run: libbz2 flushes the previous one into the block first (as
         * symbols: up to four bytes, then the count of the rest) */
        if (z->run_ch < 256) {
            if (piece_run(z, z->run_ch, z->run_len)) return z->err;
            z->nblock += run_syms(z->run_len);
            z->h_win[z->run_ch] += z->run_len < 4 ? (uint32_t)z->run_len : 4;
            if (z->run_len >= 4) z->h_win[z->run_len - 4]++;
        }
        size_t inpiece = z->cur ? z->cur->raw : 0;
        if (z->nblock >= z->nblock_max || inpiece >= PIECE_MAX) {
            /* Block full: libbz2 ends the block here and starts the next one with this run.
             * The same cut is taken for PIECE_MAX, with the replay restarted. */
            if (submit_cur(z)) return z->err;
            block_reset(z);
        } else if (inpiece - z->win_off >= SPLIT_RAW && z->nblock - z->win_nblock >= SPLIT_MIN_SYMS) {
            /* Window boundaries fall between runs, so the block from the window on holds
             * exactly the symbols counted since. */
            if (!z->search && split_pays(z)) {
                if (split_at_window(z)) return z->err;
                z->nblock -= z->win_nblock;
                memcpy(z->h_block, z->h_win, sizeof z->h_block);
            } else {
                for (int k = 0; k < 256; k++) z->h_block[k] += z->h_win[k];
            }
            memset(z->h_win, 0, sizeof z->h_win);
            z->win_off = z->cur ? z->cur->raw : 0;
            z->win_in = z->cur ? z->cur->inlen : 0;
            z->win_nblock = z->nblock;
        }
        z->run_ch = c;
        z->run_len = 1;
        i++;
    }
    return z->err;
}

int bsd_pbz_cut(bsd_pbz *z) {
    if (!z->err && z->run_ch < 256 && !piece_run(z, z->run_ch, z->run_len)) submit_cur(z);
    z->run_ch = 256;
    z->run_len = 0;
    block_reset(z);
    return z->err;
}

int bsd_pbz_finish(bsd_pbz *z) {
    if (!z->err && z->run_ch < 256 && !piece_run(z, z->run_ch, z->run_len)) submit_cur(z);
    while (z->head) drain_one(z);
    if (z->err) return z->err;
    put_bits(z, 0x177245, 24);
    put_bits(z, 0x385090, 24);
    put_bits(z, z->crc, 32);
    if (z->nacc) put_bits(z, 0, 8 - z->nacc);
    return flush_obuf(z);
}

uint64_t bsd_pbz_total(const bsd_pbz *z) { return z->total_out + z->olen; }
double bsd_pbz_seconds(const bsd_pbz *z) { return z->seconds; }
uint64_t bsd_pbz_blocks(const bsd_pbz *z) { return z->blocks; }

void bsd_pbz_free(bsd_pbz *z) {
    if (!z) return;
    if (z->cur) {
        free(z->cur->in);
        free(z->cur);
    }
    while (z->head) { /* after an error: wait for running jobs before freeing them */
        pbz_piece *pc = z->head;
        bsd_pool_wait(z->pool, &pc->job);
        z->head = pc->next;
        free(pc->in);
        free(pc->out);
        free(pc);
    }
    free(z);
}
