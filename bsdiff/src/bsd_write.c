/* bsd_write.c - turns segments into commands and writes them in either format.
 *
 * BSDELTA: the 64-byte header, then one compressed stream of segments written straight to the
 * sink as it is produced. A segment gathers up to BSDL_SEG_MAX_CMDS commands (and at most
 * BSDL_SEG_MAX_EXTRA extra bytes); only their positions are held, the bytes are taken from old
 * and new when the segment is written.
 * BSDIFF40: the header holds the compressed lengths of the control and diff blocks, so the
 * three blocks are compressed concurrently into spill buffers (memory up to SPILL_MEM each, then
 * an unnamed temporary file) and copied to the sink at the end. The compressed patch is thus
 * held at most once, and only partly in memory. */
#include <stdlib.h>

#include <xxhash.h>
#include <zstd.h>

#include "bsd_pbz.h"
#include "bsdelta_format.h"

#define SPILL_MEM ((size_t)4 << 20)
/* Segments with at least this many diff bytes end a bzip2 block between their parts. */
#define CUT_SEGMENT_DIFF ((int64_t)1 << 20)
#define TMP_LEN 65536

/* One output stream of the format: bzip2 (parallel), zstd, or stored. */
typedef struct ostream {
    bsd_compressor comp;
    bsd_pbz *bz;
    ZSTD_CCtx *zc;
    unsigned char *zbuf;
    int (*write)(void *, const void *, size_t);
    void *opaque;
    uint64_t raw_out;
    double zsec;
} ostream;

/* A BSDELTA command by position: add old[oldp..+len) to new[newp..+len), copy new[xnewp..+xlen),
 * then seek. */
typedef struct seg_cmd {
    int64_t newp, oldp, len, xnewp, xlen, seek;
} seg_cmd;

struct bsd_writer {
    bsd_write_cfg cfg;
    ostream body;            /* BSDELTA */
    ostream ctrl, diff, extra; /* BSDIFF40 */
    bsd_spill sp_ctrl, sp_diff, sp_extra;
    int have_pend, started;
    /* BSDELTA: the commands of the segment being gathered */
    struct seg_cmd *segv;
    uint32_t segn;
    uint64_t segx;
    bsd_seg pend;
    int64_t segd; /* BSDELTA: diff bytes of the gathered segment */
    uint64_t cmds, diff_bytes, extra_bytes, patch_bytes;
    double seconds;
    unsigned char tmp[TMP_LEN];
};

static int sink_write(void *opaque, const void *buf, size_t len) {
    const bsd_sink *s = opaque;
    return s->write(s->opaque, buf, len);
}

static bsd_error os_open(ostream *o, bsd_compressor comp, int level, int search,
                         bsd_pool *pool, unsigned threads,
                         int (*write)(void *, const void *, size_t), void *opaque) {
    memset(o, 0, sizeof(*o));
    o->comp = comp;
    o->write = write;
    o->opaque = opaque;
    if (comp == BSD_COMP_BZIP2) {
        o->bz = bsd_pbz_create(pool, threads, level, search ? BSD_PBZ_SEARCH : 0, write, opaque);
        return o->bz ? BSD_OK : BSD_E_NOMEM;
    }
    if (comp == BSD_COMP_ZSTD) {
        o->zc = ZSTD_createCCtx();
        o->zbuf = malloc(ZSTD_CStreamOutSize());
        if (!o->zc || !o->zbuf) return BSD_E_NOMEM;
        ZSTD_CCtx_setParameter(o->zc, ZSTD_c_compressionLevel, level);
        /* nbWorkers >= 1 always: zstd's output is then the same for every worker count. */
        ZSTD_CCtx_setParameter(o->zc, ZSTD_c_nbWorkers, (int)(threads ? threads : 1));
        /* The patcher holds the window: at most what the format allows (docs/FORMAT.md). On
         * the corpus a 2 MiB window costs 0.3% against an unbounded one. With it, the high
         * levels' default match tables (up to 16 M entries) find next to nothing more than
         * 1 M / 2 M entries do (+0.05% bytes), for half the memory and three quarters of the
         * time (biome: compressor 107 -> 48 MiB, diff 8.8 -> 6.7 s); long-distance
         * matching, useless inside 2 MiB, stays off. */
        ZSTD_CCtx_setParameter(o->zc, ZSTD_c_windowLog, BSDL_ZSTD_WINDOW_LOG_MAX);
        if (level >= 12) {
            ZSTD_CCtx_setParameter(o->zc, ZSTD_c_hashLog, 20);
            ZSTD_CCtx_setParameter(o->zc, ZSTD_c_chainLog, 21);
        }
        return BSD_OK;
    }
    return comp == BSD_COMP_NONE ? BSD_OK : BSD_E_UNSUPPORTED;
}

static int zstd_run(ostream *o, const void *data, size_t len, ZSTD_EndDirective mode) {
    ZSTD_inBuffer in = {data, len, 0};
    double t0 = bsd_now();
    for (;;) {
        ZSTD_outBuffer out = {o->zbuf, ZSTD_CStreamOutSize(), 0};
        size_t r = ZSTD_compressStream2(o->zc, &out, &in, mode);
        if (ZSTD_isError(r)) return BSD_E_COMPRESS;
        if (out.pos && o->write(o->opaque, o->zbuf, out.pos)) return BSD_E_WRITE;
        o->raw_out += out.pos;
        if (mode == ZSTD_e_continue ? in.pos == in.size : r == 0) break;
    }
    o->zsec += bsd_now() - t0;
    return 0;
}

static int os_write(ostream *o, const void *data, size_t len) {
    if (!len) return 0;
    if (o->bz) return bsd_pbz_write(o->bz, data, len);
    if (o->zc) return zstd_run(o, data, len, ZSTD_e_continue);
    o->raw_out += len;
    return o->write(o->opaque, data, len) ? BSD_E_WRITE : 0;
}

static int os_finish(ostream *o) {
    if (o->bz) return bsd_pbz_finish(o->bz);
    if (o->zc) return zstd_run(o, "", 0, ZSTD_e_end);
    return 0;
}

static uint64_t os_total(const ostream *o) { return o->bz ? bsd_pbz_total(o->bz) : o->raw_out; }
static double os_seconds(const ostream *o) { return o->bz ? bsd_pbz_seconds(o->bz) : o->zsec; }

static void os_free(ostream *o) {
    bsd_pbz_free(o->bz);
    ZSTD_freeCCtx(o->zc);
    free(o->zbuf);
    memset(o, 0, sizeof(*o));
}

uint64_t bsd_writer_bytes(bsd_format format, bsd_compressor comp, int level) {
    uint64_t seg = BSDL_SEG_MAX_CMDS * (uint64_t)sizeof(seg_cmd);
    /* zstd: match tables, window and job buffers of the workers; measured at most 48 MiB over
     * bzip2's figure (biome, level 19, 2 workers). The same for every thread count, so that
     * nothing this estimate decides depends on the threads. */
    if (comp == BSD_COMP_ZSTD) return ((uint64_t)56 << 20) + seg;
    /* bzip2: about 8 x block size per running compressor, plus pieces in flight and spills */
    uint64_t bz = 8 * 100000 * (uint64_t)level + 600000;
    return format == BSD_FORMAT_BSDIFF40 ? 3 * (bz + SPILL_MEM) : bz + seg;
}

bsd_error bsd_writer_open(bsd_writer **pw, const bsd_write_cfg *cfg, char *err, size_t errlen) {
    bsd_writer *w = calloc(1, sizeof(*w));
    *pw = w;
    if (!w) return BSD_E_NOMEM;
    w->cfg = *cfg;
    bsd_error e;
    if (cfg->format == BSD_FORMAT_BSDIFF40) {
        bsd_spill_init(&w->sp_ctrl, SPILL_MEM);
        bsd_spill_init(&w->sp_diff, SPILL_MEM);
        bsd_spill_init(&w->sp_extra, SPILL_MEM);
        int lv = cfg->level, bs = cfg->bz_search;
        if ((e = os_open(&w->ctrl, BSD_COMP_BZIP2, lv, bs, cfg->pool, cfg->threads,
                         bsd_spill_write, &w->sp_ctrl)) ||
            (e = os_open(&w->diff, BSD_COMP_BZIP2, lv, bs, cfg->pool, cfg->threads,
                         bsd_spill_write, &w->sp_diff)) ||
            (e = os_open(&w->extra, BSD_COMP_BZIP2, lv, bs, cfg->pool, cfg->threads,
                         bsd_spill_write, &w->sp_extra))) {
            snprintf(err, errlen, "cannot set up the bzip2 compressors");
            return e;
        }
        return BSD_OK;
    }
    w->segv = malloc(BSDL_SEG_MAX_CMDS * sizeof *w->segv);
    if (!w->segv) {
        snprintf(err, errlen, "out of memory");
        return BSD_E_NOMEM;
    }
    unsigned char h[BSDL_HEADER_LEN] = {0};
    memcpy(h, BSDL_MAGIC, BSDL_MAGIC_LEN);
    h[BSDL_OFF_VERSION] = BSDL_VERSION;
    const bsd_xform *xf = cfg->xf;
    bsdl_store_le64(h + BSDL_OFF_OLD_SIZE, xf ? xf->old_size : (uint64_t)cfg->old_size);
    bsdl_store_le64(h + BSDL_OFF_NEW_SIZE, xf ? xf->new_size : (uint64_t)cfg->new_size);
    memcpy(h + BSDL_OFF_OLD_HASH, xf ? xf->old_hash : cfg->old_hash, 16);
    memcpy(h + BSDL_OFF_NEW_HASH, xf ? xf->new_hash : cfg->new_hash, 16);
    h[BSDL_OFF_COMPRESSOR] = (unsigned char)cfg->comp;
    h[BSDL_OFF_FLAGS] = xf ? BSDL_FLAG_DEFLATE : 0;
    bsdl_store_le32(h + BSDL_OFF_HEADER_CHECK, XXH32(h, BSDL_HEADER_CHECKED_LEN, 0));
    if (cfg->sink->write(cfg->sink->opaque, h, sizeof h) ||
        (xf && cfg->sink->write(cfg->sink->opaque, xf->section, xf->section_len))) {
        snprintf(err, errlen, "writing the patch header failed");
        return BSD_E_WRITE;
    }
    w->patch_bytes = sizeof h + (xf ? xf->section_len : 0);
    e = os_open(&w->body, cfg->comp, cfg->level, cfg->bz_search, cfg->pool, cfg->threads,
                sink_write, (void *)cfg->sink);
    if (e) snprintf(err, errlen, "cannot set up the compressor");
    return e;
}

/* Writes n diff bytes new[newp..] - old[oldp..] to o. */
static int put_diff(bsd_writer *w, ostream *o, int64_t newp, int64_t oldp, int64_t n) {
    const unsigned char *a = w->cfg.nw + newp, *b = w->cfg.old + oldp;
    for (int64_t done = 0; done < n;) {
        int64_t k = n - done < TMP_LEN ? n - done : TMP_LEN;
        for (int64_t i = 0; i < k; i++) w->tmp[i] = (unsigned char)(a[done + i] - b[done + i]);
        int e = os_write(o, w->tmp, (size_t)k);
        if (e) return e;
        done += k;
    }
    return 0;
}

/* Zero diff bytes (old and new agree) in runs of at least this many leave the compressed
 * stream: a piece's zero run costs a varint instead of feeding the run to bzip2, whose
 * block sort is slowest on exactly such repetitive input. Shorter runs compress better in
 * place (measured on the corpus: 4096 gives the smallest total of 1024...65536). */
#define ZERO_RUN_MIN 4096

/* Cursor over the diff bytes of the gathered segment, command after command. */
typedef struct dcur {
    uint32_t i;
    int64_t off;
} dcur;

/* Moves c past finished commands; returns 0 at the end of the segment. */
static int dcur_norm(const bsd_writer *w, dcur *c) {
    while (c->i < w->segn && c->off >= w->segv[c->i].len) {
        c->i++;
        c->off = 0;
    }
    return c->i < w->segn;
}

/* First i in [o, len) where a[i] == b[i] (len when none); eight bytes at a time, since a
 * literal run can be long (an approximate match with many differences). */
static int64_t first_equal(const unsigned char *a, const unsigned char *b, int64_t o,
                           int64_t len) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t lo = 0x0101010101010101ull, hi = 0x8080808080808080ull;
    for (; o + 8 <= len; o += 8) {
        uint64_t x = bsd_load64(a + o) ^ bsd_load64(b + o);
        /* the lowest flagged byte is exactly the first zero byte of x */
        uint64_t z = (x - lo) & ~x & hi;
        if (z) return o + (__builtin_ctzll(z) >> 3);
    }
#endif
    while (o < len && a[o] != b[o]) o++;
    return o;
}

/* Advances c past diff bytes that are zero (zero set) or not zero (zero clear); returns how
 * many it passed. */
static int64_t dcur_run(const bsd_writer *w, dcur *c, int zero) {
    int64_t k = 0;
    while (dcur_norm(w, c)) {
        const seg_cmd *s = &w->segv[c->i];
        const unsigned char *a = w->cfg.nw + s->newp, *b = w->cfg.old + s->oldp;
        int64_t o = c->off;
        if (zero) o += bsd_matchlen(a + o, s->len - o, b + o, s->len - o);
        else o = first_equal(a, b, o, s->len);
        k += o - c->off;
        c->off = o;
        if (o < s->len) break;
    }
    return k;
}

/* Writes the segment's diff bytes as version 2 pieces (docs/FORMAT.md): varint literal length,
 * the literal diff bytes, varint length of the zero run that follows. */
static int seg_pieces(bsd_writer *w) {
    unsigned char t[BSDL_VARINT_MAX_LEN];
    dcur at = {0, 0};
    int e;
    while (dcur_norm(w, &at)) {
        /* the literal runs up to the next zero run of ZERO_RUN_MIN (or the segment's end) */
        dcur scan = at;
        int64_t lit = 0, zeros = 0;
        for (;;) {
            lit += dcur_run(w, &scan, 0);
            int64_t r = dcur_run(w, &scan, 1);
            if (r >= ZERO_RUN_MIN) {
                zeros = r;
                break;
            }
            lit += r;
            if (!dcur_norm(w, &scan)) break;
        }
        if ((e = os_write(&w->body, t, bsdl_put_varint(t, (uint64_t)lit)))) return e;
        for (int64_t left = lit; left > 0;) {
            dcur_norm(w, &at);
            const seg_cmd *s = &w->segv[at.i];
            int64_t k = s->len - at.off < left ? s->len - at.off : left;
            if ((e = put_diff(w, &w->body, s->newp + at.off, s->oldp + at.off, k))) return e;
            at.off += k;
            left -= k;
        }
        if ((e = os_write(&w->body, t, bsdl_put_varint(t, (uint64_t)zeros)))) return e;
        at = scan;
    }
    return 0;
}

/* Writes the gathered BSDELTA segment: count, the three control columns, extra bytes, diff
 * pieces (docs/FORMAT.md). */
static int seg_flush(bsd_writer *w) {
    if (w->segn == 0) return 0;
    unsigned char *t = w->tmp;
    size_t k = bsdl_put_varint(t, w->segn);
    int e;
    for (int col = 0; col < 3; col++) {
        for (uint32_t i = 0; i < w->segn; i++) {
            if (k > TMP_LEN - BSDL_VARINT_MAX_LEN) {
                if ((e = os_write(&w->body, t, k))) return e;
                k = 0;
            }
            const seg_cmd *c = &w->segv[i];
            uint64_t v = col == 0 ? (uint64_t)c->len : col == 1 ? (uint64_t)c->xlen : bsdl_zigzag(c->seek);
            k += bsdl_put_varint(t + k, v);
        }
    }
    if ((e = os_write(&w->body, t, k))) return e;
    /* A large segment's three parts (control columns, extra bytes, diff pieces) each start a
     * bzip2 block: one set of Huffman tables fits each kind of data better than one set fits a
     * block that spans two. BSDELTA total of the corpus 0.6% smaller (typescript 5.4 -> 5.5
     * 2.3%, biome 1.0%; swc 0.9% larger); cutting at only one or two of the three places
     * saved less. In small patches the extra blocks would cost more than they save. */
    int cut = w->body.bz && w->segd >= CUT_SEGMENT_DIFF;
    if (cut && (e = bsd_pbz_cut(w->body.bz))) return e;
    for (uint32_t i = 0; i < w->segn; i++)
        if ((e = os_write(&w->body, w->cfg.nw + w->segv[i].xnewp, (size_t)w->segv[i].xlen))) return e;
    if (cut && (e = bsd_pbz_cut(w->body.bz))) return e;
    if ((e = seg_pieces(w))) return e;
    if (cut && (e = bsd_pbz_cut(w->body.bz))) return e;
    w->segd = 0;
    w->segn = 0;
    w->segx = 0;
    return 0;
}

static int seg_add(bsd_writer *w, const bsd_seg *s, int64_t xnewp, int64_t xlen, int64_t seek) {
    int e;
    if ((w->segn == BSDL_SEG_MAX_CMDS || w->segx + (uint64_t)xlen > BSDL_SEG_MAX_EXTRA) &&
        (e = seg_flush(w)))
        return e;
    w->segv[w->segn++] = (seg_cmd){s->newp, s->oldp, s->len, xnewp, xlen, seek};
    w->segx += (uint64_t)xlen;
    w->segd += s->len;
    w->cmds++;
    return 0;
}

/* Writes one command: add seg, copy extra bytes that follow it, seek. */
static int emit(bsd_writer *w, const bsd_seg *s, int64_t extra, int64_t seek) {
    int e;
    w->diff_bytes += (uint64_t)s->len;
    w->extra_bytes += (uint64_t)extra;
    if (w->cfg.format == BSD_FORMAT_BSDIFF40) {
        unsigned char c[24];
        bsdf40_encode_off(c, s->len);
        bsdf40_encode_off(c + 8, extra);
        bsdf40_encode_off(c + 16, seek);
        if ((e = os_write(&w->ctrl, c, 24))) return e;
        if ((e = put_diff(w, &w->diff, s->newp, s->oldp, s->len))) return e;
        w->cmds++;
        return os_write(&w->extra, w->cfg.nw + s->newp + s->len, (size_t)extra);
    }
    /* BSDELTA: a segment holds at most BSDL_SEG_MAX_EXTRA extra bytes, so longer literal runs
     * continue in commands without an add. */
    const int64_t xmax = BSDL_SEG_MAX_EXTRA;
    int64_t x = s->newp + s->len;
    bsd_seg cur = *s;
    while (extra > xmax) {
        if ((e = seg_add(w, &cur, x, xmax, 0))) return e;
        x += xmax;
        extra -= xmax;
        cur.len = 0;
        cur.newp = x;
        cur.oldp = 0;
    }
    return seg_add(w, &cur, x, extra, seek);
}

static const char *stream_error(int e) {
    return e == BSD_E_WRITE ? "the output callback failed"
           : e == BSD_E_NOMEM ? "out of memory while compressing"
           : e == BSD_E_IO ? "a temporary spill file failed"
                           : "the compressor failed";
}

bsd_error bsd_writer_segments(bsd_writer *w, const bsd_seg *v, size_t n, char *err,
                              size_t errlen) {
    double t0 = bsd_now();
    int e = 0;
    for (size_t i = 0; i < n && !e; i++) {
        bsd_seg s = v[i];
        if (s.len <= 0) continue;
        if (!w->started) {
            /* The first command's add starts at old position 0, and a command that neither adds
             * nor copies is invalid: a first segment elsewhere in old is reached by copying at
             * least one leading byte and seeking. */
            if (s.newp == 0 && s.oldp != 0) {
                s.newp++;
                s.oldp++;
                if (--s.len == 0) continue;
            }
            if (s.newp > 0) {
                bsd_seg none = {0, 0, 0};
                if ((e = emit(w, &none, s.newp, s.oldp))) break;
            }
            w->started = 1;
            w->pend = s;
            w->have_pend = 1;
            continue;
        }
        bsd_seg *p = &w->pend;
        int64_t pend_end = p->newp + p->len;
        if (p->oldp - p->newp == s.oldp - s.newp && s.newp - pend_end <= w->cfg.merge_gap) {
            p->len = s.newp + s.len - p->newp;
            continue;
        }
        e = emit(w, p, s.newp - pend_end, s.oldp - (p->oldp + p->len));
        *p = s;
    }
    w->seconds += bsd_now() - t0;
    if (e) snprintf(err, errlen, "%s", stream_error(e));
    return (bsd_error)e;
}

bsd_error bsd_writer_finish(bsd_writer *w, char *err, size_t errlen) {
    double t0 = bsd_now();
    int e = 0;
    int64_t m = w->cfg.new_size;
    /* The last seek moves nothing that is read again; it takes old's cursor to the end of
     * old, as classic bsdiff's last command usually does (its control block then compresses
     * alike: on vue-tgz a final 0 made ours 4 bytes larger than bsdiff 4.3's). */
    if (w->have_pend) {
        e = emit(w, &w->pend, m - (w->pend.newp + w->pend.len),
                 w->cfg.old_size - (w->pend.oldp + w->pend.len));
    } else if (m > 0) {
        bsd_seg none = {0, 0, 0};
        e = emit(w, &none, m, w->cfg.old_size);
    }
    if (w->cfg.format == BSD_FORMAT_BSDIFF40) {
        if (!e) e = os_finish(&w->ctrl);
        if (!e) e = os_finish(&w->diff);
        if (!e) e = os_finish(&w->extra);
        if (!e) {
            unsigned char h[BSDF40_HEADER_LEN];
            memcpy(h, BSDF40_MAGIC, BSDF40_MAGIC_LEN);
            bsdf40_encode_off(h + 8, (int64_t)w->sp_ctrl.total);
            bsdf40_encode_off(h + 16, (int64_t)w->sp_diff.total);
            bsdf40_encode_off(h + 24, m);
            if (w->cfg.sink->write(w->cfg.sink->opaque, h, sizeof h)) e = BSD_E_WRITE;
            int d = 0;
            if (!e && !(d = bsd_spill_drain(&w->sp_ctrl, w->cfg.sink)) &&
                !(d = bsd_spill_drain(&w->sp_diff, w->cfg.sink)))
                d = bsd_spill_drain(&w->sp_extra, w->cfg.sink);
            if (d) e = d == -1 ? BSD_E_WRITE : BSD_E_IO;
            w->patch_bytes =
                sizeof h + w->sp_ctrl.total + w->sp_diff.total + w->sp_extra.total;
        }
    } else {
        if (!e) e = seg_flush(w);
        if (!e) e = os_finish(&w->body);
        w->patch_bytes += os_total(&w->body);
    }
    w->seconds += bsd_now() - t0;
    if (e) snprintf(err, errlen, "%s", stream_error(e));
    return (bsd_error)e;
}

void bsd_writer_stats(const bsd_writer *w, uint64_t *patch, uint64_t *cmds, uint64_t *diff,
                      uint64_t *extra, double *compress_seconds) {
    *patch = w->patch_bytes;
    *cmds = w->cmds;
    *diff = w->diff_bytes;
    *extra = w->extra_bytes;
    *compress_seconds = os_seconds(&w->body) + os_seconds(&w->ctrl) + os_seconds(&w->diff) +
                        os_seconds(&w->extra);
}

void bsd_writer_free(bsd_writer *w) {
    if (!w) return;
    free(w->segv);
    os_free(&w->body);
    os_free(&w->ctrl);
    os_free(&w->diff);
    os_free(&w->extra);
    bsd_spill_free(&w->sp_ctrl);
    bsd_spill_free(&w->sp_diff);
    bsd_spill_free(&w->sp_extra);
    free(w);
}
