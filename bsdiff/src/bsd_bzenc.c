/* bsd_bzenc.c - a bzip2 block encoder: one block of a standard bzip2 stream (the format
 * libbz2 and every bspatch reads), from the block's bytes after bzip2's first run-length stage.
 *
 * Why not libbz2's own compressor: its block sort takes most of its time, and libdivsufsort
 * (already linked for the diff's index) sorts a block in 35-50% of the time libbz2 takes for
 * the whole compression. bzip2 sorts the block's cyclic rotations, not its suffixes; the two
 * orders agree when the block is a Lyndon word (strictly smaller than each of its other
 * rotations), because a suffix of a Lyndon word that is a prefix of a longer suffix is
 * followed, in its rotation, by the whole word, which is smaller than any other rotation. So
 * the block is rotated to its least rotation, that rotation's suffixes are sorted, and the
 * original position of the block sets the origin pointer. A block that is a repetition of a
 * shorter string has no Lyndon rotation; the caller compresses it with libbz2 instead.
 *
 * The entropy stage is bzip2's (move-to-front, runs of zeros as RUNA/RUNB digits, up to six
 * Huffman tables chosen per 50 symbols), with the tables refined a few more rounds than libbz2
 * does and a last choice of table per group against the final tables. */
#include <stdlib.h>

#include <divsufsort.h>

#include "bsd_internal.h"

#define BZ_GROUP 50      /* symbols per table choice */
#define BZ_MAX_LEN 17    /* longest code written (libbz2's decoder takes up to 20) */
#define BZ_MAX_TABLES 6
#define BZ_ROUNDS 5      /* refinement rounds of the tables */
#define BZ_ROUNDS_FEWER 2 /* and of one table fewer, started from the tables before */

/* ---------------- bit writer ---------------- */

typedef struct bitw {
    unsigned char *b;
    size_t len, cap;
    uint64_t acc;
    int nacc;
    int err;
} bitw;

/* 1 when there is room for `more` bytes; 0 (and err set: the bits are dropped) when not. */
static int bw_room(bitw *w, size_t more) {
    if (w->len + more <= w->cap) return 1;
    size_t cap = w->cap ? w->cap * 2 : 65536;
    unsigned char *b = w->err ? NULL : realloc(w->b, cap);
    if (!b) {
        w->err = 1;
        return 0;
    }
    w->b = b;
    w->cap = cap;
    return 1;
}

static inline void bw_put(bitw *w, uint32_t v, int n) { /* n <= 32 */
    w->acc = (w->acc << n) | (uint64_t)(v & (uint32_t)(((uint64_t)1 << n) - 1));
    w->nacc += n;
    if (w->nacc >= 32) {
        w->nacc -= 32;
        if (!bw_room(w, 4)) return;
        uint32_t x = (uint32_t)(w->acc >> w->nacc);
        w->b[w->len] = (unsigned char)(x >> 24);
        w->b[w->len + 1] = (unsigned char)(x >> 16);
        w->b[w->len + 2] = (unsigned char)(x >> 8);
        w->b[w->len + 3] = (unsigned char)x;
        w->len += 4;
    }
}

/* Pads the last byte with zero bits; returns the number of bits written before the padding. */
static uint64_t bw_close(bitw *w) {
    uint64_t bits = (uint64_t)w->len * 8 + (uint64_t)w->nacc;
    while (w->nacc > 0) {
        int k = w->nacc >= 8 ? 8 : w->nacc;
        w->nacc -= k;
        if (!bw_room(w, 1)) break;
        w->b[w->len++] = (unsigned char)((w->acc >> w->nacc) << (8 - k));
    }
    return bits;
}

/* ---------------- CRC (bzip2: CRC-32, most significant bit first) ---------------- */

/* t[0] the byte table; t[k] advances a byte followed by k zero bytes (slicing by 8). */
static void crc_tables(uint32_t t[8][256]) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i << 24;
        for (int k = 0; k < 8; k++) c = c & 0x80000000u ? (c << 1) ^ 0x04c11db7u : c << 1;
        t[0][i] = c;
    }
    for (int k = 1; k < 8; k++)
        for (int i = 0; i < 256; i++) t[k][i] = (t[k - 1][i] << 8) ^ t[0][t[k - 1][i] >> 24];
}

static uint32_t crc_update(const uint32_t t[8][256], uint32_t crc, const unsigned char *p,
                           size_t n) {
    for (; n >= 8; n -= 8, p += 8) {
        uint32_t a = crc ^ ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
        crc = t[7][a >> 24] ^ t[6][(a >> 16) & 0xff] ^ t[5][(a >> 8) & 0xff] ^ t[4][a & 0xff] ^
              t[3][p[4]] ^ t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
    }
    for (; n; n--, p++) crc = (crc << 8) ^ t[0][(crc >> 24) ^ *p];
    return crc;
}

size_t bsd_unrle_next(bsd_unrle *u, const unsigned char *s, size_t n, unsigned char *buf,
                      size_t cap) {
    size_t k = 0;
    while (u->at < n && k + 255 <= cap) {
        unsigned b = s[u->at++];
        if (u->same == 4) { /* a run's count */
            memset(buf + k, u->prev, b);
            k += b;
            u->same = 0;
            u->prev = -1;
            continue;
        }
        buf[k++] = (unsigned char)b;
        u->same = (int)b == u->prev ? u->same + 1 : 1;
        u->prev = (int)b;
    }
    return k;
}

/* CRC of the bytes the block's symbols stand for. */
size_t bsd_bz_safe_cut(const unsigned char *s, size_t n, size_t at) {
    int prev = -1, same = 0;
    for (size_t i = 0; i < n; i++) {
        if (i >= at && same < 4 && (same == 0 || s[i] != prev)) return i;
        if (same == 4) { /* s[i] is a count */
            same = 0;
            prev = -1;
        } else if (s[i] == prev) {
            same++;
        } else {
            prev = s[i];
            same = 1;
        }
    }
    return 0;
}

static uint32_t block_crc(const unsigned char *s, size_t n) {
    uint32_t t[8][256], crc = 0xffffffffu;
    crc_tables(t);
    unsigned char raw[16384];
    bsd_unrle u = {0, -1, 0};
    size_t k;
    while ((k = bsd_unrle_next(&u, s, n, raw, sizeof raw)) > 0)
        crc = crc_update((const uint32_t(*)[256])t, crc, raw, k);
    return ~crc;
}

/* ---------------- rotation sort ---------------- */

/* Start of the least rotation of s[0, n); *power = 1 when two rotations are equal (s repeats
 * a shorter string). Two candidates i and j advance past every start shown to be larger than
 * another rotation; they meet the end of the comparison only on equal rotations. */
static size_t least_rotation(const unsigned char *s, size_t n, int *power) {
    size_t i = 0, j = 1, k = 0;
    while (i < n && j < n && k < n) {
        size_t a = i + k, b = j + k;
        if (a >= n) a -= n;
        if (b >= n) b -= n;
        if (s[a] == s[b]) {
            k++;
            continue;
        }
        if (s[a] > s[b]) i += k + 1;
        else j += k + 1;
        if (i == j) j++;
        k = 0;
    }
    *power = k >= n;
    return i < j ? i : j;
}

/* ---------------- Huffman code lengths ---------------- */

/* Shell sort of at most 260 keys (no comparison calls: code_lengths runs for every table of
 * every round, and of every table count tried by a search). */
static void sort_u64(uint64_t *a, int n) {
    static const int gaps[] = {109, 41, 19, 5, 1};
    for (int gi = 0; gi < 5; gi++) {
        int g = gaps[gi];
        for (int i = g; i < n; i++) {
            uint64_t v = a[i];
            int j = i;
            for (; j >= g && a[j - g] > v; j -= g) a[j] = a[j - g];
            a[j] = v;
        }
    }
}

/* Code lengths of at most maxlen bits for n symbols (every symbol gets a code; unused ones are
 * weighted below any used one). Deterministic: ties go to the lower symbol, then to leaves. */
static void code_lengths(unsigned char *len, const uint32_t *freq, int n, int maxlen) {
    uint32_t w[260];
    for (int i = 0; i < n; i++) w[i] = (freq[i] ? freq[i] : 1) << 8;
    for (;;) {
        /* leaves in increasing weight, ties by symbol */
        uint64_t key[260];
        int order[260];
        for (int i = 0; i < n; i++) key[i] = (uint64_t)w[i] << 9 | (uint64_t)i;
        sort_u64(key, n);
        for (int i = 0; i < n; i++) order[i] = (int)(key[i] & 511);
        /* two queues: leaves in order, internal nodes as made (their weights increase) */
        uint64_t nw[260];
        int parent[520]; /* 0..n-1 leaves, n.. internal */
        int li = 0, ni = 0, nn = 0;
        while ((n - li) + (nn - ni) > 1) {
            int pick[2];
            uint64_t pw[2];
            for (int t = 0; t < 2; t++) {
                if (li < n && (ni >= nn || (uint64_t)w[order[li]] <= nw[ni])) {
                    pick[t] = order[li];
                    pw[t] = w[order[li]];
                    li++;
                } else {
                    pick[t] = n + ni;
                    pw[t] = nw[ni];
                    ni++;
                }
            }
            nw[nn] = pw[0] + pw[1];
            parent[pick[0]] = parent[pick[1]] = n + nn;
            nn++;
        }
        /* depths: the root is the last node made */
        int depth[520], maxd = 0;
        depth[n + nn - 1] = 0;
        for (int k = nn - 2; k >= 0; k--) depth[n + k] = depth[parent[n + k]] + 1;
        for (int i = 0; i < n; i++) {
            depth[i] = nn ? depth[parent[i]] + 1 : 1;
            if (depth[i] > maxd) maxd = depth[i];
        }
        if (maxd <= maxlen) {
            for (int i = 0; i < n; i++) len[i] = (unsigned char)depth[i];
            return;
        }
        for (int i = 0; i < n; i++) w[i] = 1 + (w[i] >> 1); /* flatten and try again */
    }
}

/* Canonical codes, as bzip2's decoder assigns them: by length, then by symbol. */
static void assign_codes(uint32_t *code, const unsigned char *len, int n) {
    uint32_t v = 0;
    for (int l = 1; l <= BZ_MAX_LEN; l++) {
        for (int i = 0; i < n; i++)
            if (len[i] == l) code[i] = v++;
        v <<= 1;
    }
}

/* ---------------- small blocks ---------------- */

/* libdivsufsort spends about 0.1 ms on any call (its 65,536 two-byte buckets), which is most of
 * the time of the small blocks the trial compressions make (control words, a few hundred extra
 * bytes). Below BSD_SMALL_SA the suffixes are sorted here instead, by prefix doubling: the
 * ranks of the 2h-byte prefixes from those of the h-byte ones, by a counting sort on
 * (rank[i], rank[i + h]) with the end of the text below every byte, until all ranks differ.
 * The order is the suffix order libdivsufsort gives (test_bsdiff_bzenc compares them). */
int bsd_small_sa(const unsigned char *s, int32_t *sa, int32_t n) {
    if (n <= 0) return 0;
    int32_t *rank = malloc((size_t)n * 3 * sizeof(int32_t));
    if (!rank) return -1;
    int32_t *tmp = rank + n, *cnt = rank + 2 * n, c256[256] = {0};
    for (int32_t i = 0; i < n; i++) c256[s[i]]++;
    for (int32_t c = 0, at = 0; c < 256; c++) {
        int32_t k = c256[c];
        c256[c] = at;
        at += k;
    }
    for (int32_t i = 0; i < n; i++) sa[c256[s[i]]++] = i;
    rank[sa[0]] = 0;
    for (int32_t j = 1; j < n; j++) rank[sa[j]] = rank[sa[j - 1]] + (s[sa[j]] != s[sa[j - 1]]);
    for (int32_t h = 1; rank[sa[n - 1]] < n - 1; h *= 2) {
        /* by the second key: suffixes without one (shorter than h + 1) first, then the rest in
         * the order of the suffix h further on */
        int32_t k = 0;
        for (int32_t i = n - h > 0 ? n - h : 0; i < n; i++) tmp[k++] = i;
        for (int32_t j = 0; j < n; j++)
            if (sa[j] >= h) tmp[k++] = sa[j] - h;
        /* then stably by the first */
        int32_t classes = rank[sa[n - 1]] + 1;
        memset(cnt, 0, (size_t)classes * sizeof(int32_t));
        for (int32_t j = 0; j < n; j++) cnt[rank[tmp[j]]]++;
        for (int32_t c = 0, at = 0; c < classes; c++) {
            int32_t x = cnt[c];
            cnt[c] = at;
            at += x;
        }
        for (int32_t j = 0; j < n; j++) sa[cnt[rank[tmp[j]]]++] = tmp[j];
        /* the ranks of the 2h-byte prefixes */
        tmp[sa[0]] = 0;
        for (int32_t j = 1; j < n; j++) {
            int32_t a = sa[j - 1], b = sa[j];
            int32_t ra = a + h < n ? rank[a + h] : -1, rb = b + h < n ? rank[b + h] : -1;
            tmp[b] = tmp[a] + (rank[a] != rank[b] || ra != rb);
        }
        int32_t *t = rank;
        rank = tmp;
        tmp = t;
    }
    free(rank < tmp ? rank : tmp);
    return 0;
}

/* ---------------- the block ---------------- */

/* Table choice for every group of BZ_GROUP symbols; the costs of up to eight tables are summed
 * at once as 16-bit lanes of two words (50 codes of at most 17 bits stay under 2^16). A choice
 * is paid for by its selector too: the table's place in the move-to-front list of tables, plus
 * one bit; a group takes the table whose codes and selector together cost least. Returns the
 * bits of the codes and selectors. */
static uint64_t choose_tables(const uint16_t *mtf, size_t nmtf, const unsigned char len[][260],
                              int nt, int alpha, unsigned char *sel, uint64_t (*pack)[2]) {
    for (int v = 0; v < alpha; v++) {
        pack[v][0] = pack[v][1] = 0;
        for (int t = 0; t < nt; t++) pack[v][t >> 2] |= (uint64_t)len[t][v] << (16 * (t & 3));
    }
    int place[BZ_MAX_TABLES]; /* each table's place in the move-to-front list */
    for (int t = 0; t < nt; t++) place[t] = t;
    uint64_t total = 0;
    size_t g = 0;
    for (size_t gs = 0; gs < nmtf; gs += BZ_GROUP, g++) {
        size_t ge = gs + BZ_GROUP < nmtf ? gs + BZ_GROUP : nmtf;
        uint64_t c0 = 0, c1 = 0;
        for (size_t i = gs; i < ge; i++) {
            c0 += pack[mtf[i]][0];
            c1 += pack[mtf[i]][1];
        }
        int best = 0;
        unsigned bc = ~0u;
        for (int t = 0; t < nt; t++) {
            unsigned c = (unsigned)(((t < 4 ? c0 : c1) >> (16 * (t & 3))) & 0xffff) +
                         (unsigned)place[t] + 1;
            if (c < bc) {
                bc = c;
                best = t;
            }
        }
        for (int t = 0; t < nt; t++)
            if (place[t] < place[best]) place[t]++;
        place[best] = 0;
        sel[g] = (unsigned char)best;
        total += bc;
    }
    return total;
}

/* Fits nt tables to the block's symbols in `rounds` rounds of choosing tables and fitting them
 * to what chose them. They start from bands of the symbol range with about equal shares of
 * the symbols, or, given nt + 1 tables fitted before (from, and their choices fromsel), from
 * those less the one chosen least. Leaves the tables in len and the choices in sel; returns the
 * bits they take (codes, selectors, table descriptions). */
static uint64_t make_tables(const uint16_t *mtf, size_t nmtf, const uint32_t *freq, int alpha,
                            int nt, unsigned char len[][260], unsigned char *sel,
                            uint64_t (*pack)[2], const unsigned char (*from)[260],
                            const unsigned char *fromsel, int rounds) {
    int v = 0;
    size_t left = nmtf;
    size_t ngroups0 = (nmtf + BZ_GROUP - 1) / BZ_GROUP;
    if (from) { /* nt + 1 tables fitted before: all but the least chosen */
        size_t use[BZ_MAX_TABLES] = {0};
        for (size_t g = 0; g < ngroups0; g++) use[fromsel[g]]++;
        int drop = 0;
        for (int t = 1; t <= nt; t++)
            if (use[t] < use[drop]) drop = t;
        for (int t = 0, k = 0; t <= nt; t++)
            if (t != drop) memcpy(len[k++], from[t], 260);
    }
    for (int t = 0; t < nt && !from; t++) {
        size_t share = left / (size_t)(nt - t), got = 0;
        int lo = v;
        while (v < alpha && (got < share || v == lo) && alpha - v > nt - t - 1) got += freq[v++];
        if (t == nt - 1) v = alpha;
        left -= got;
        for (int k = 0; k < alpha; k++) len[t][k] = k >= lo && k < v ? 0 : 15;
    }
    size_t ngroups = (nmtf + BZ_GROUP - 1) / BZ_GROUP;
    for (int round = 0; round < rounds; round++) {
        choose_tables(mtf, nmtf, (const unsigned char(*)[260])len, nt, alpha, sel, pack);
        uint32_t tf[BZ_MAX_TABLES][260];
        memset(tf, 0, sizeof tf);
        for (size_t g = 0; g < ngroups; g++) {
            size_t gs = g * BZ_GROUP, ge = gs + BZ_GROUP < nmtf ? gs + BZ_GROUP : nmtf;
            for (size_t i = gs; i < ge; i++) tf[sel[g]][mtf[i]]++;
        }
        for (int t = 0; t < nt; t++) code_lengths(len[t], tf[t], alpha, BZ_MAX_LEN);
    }
    uint64_t bits =
        choose_tables(mtf, nmtf, (const unsigned char(*)[260])len, nt, alpha, sel, pack);
    for (int t = 0; t < nt; t++) {
        int cur = len[t][0];
        bits += 5;
        for (int k = 0; k < alpha; k++) {
            bits += 1 + 2 * (uint64_t)(cur > len[t][k] ? cur - len[t][k] : len[t][k] - cur);
            cur = len[t][k];
        }
    }
    return bits;
}

int bsd_bz_block(const unsigned char *s, size_t n, unsigned flags, bsd_bzblock *out) {
    memset(out, 0, sizeof(*out));
    if (n == 0 || n > BSD_BZ_BLOCK_MAX) return BSD_E_MISUSE;
    int power;
    size_t rot = least_rotation(s, n, &power);
    if (power) return 1;

    unsigned char *rs = malloc(n), *bwt = malloc(n);
    int32_t *sa = malloc(n * sizeof(int32_t));
    uint16_t *mtf = malloc((n + 1) * sizeof(uint16_t));
    unsigned char *sel = malloc(n / BZ_GROUP + 2);
    bitw w = {0};
    int rc = BSD_E_NOMEM;
    if (!rs || !bwt || !sa || !mtf || !sel) goto done;
    memcpy(rs, s + rot, n - rot);
    memcpy(rs + (n - rot), s, rot);
    if (n < BSD_SMALL_SA ? bsd_small_sa(rs, sa, (int32_t)n) != 0
                         : divsufsort(rs, sa, (saidx_t)n) != 0)
        goto done;
    size_t origin = 0, start = (n - rot) % n; /* where s itself begins in rs */
    for (size_t r = 0; r < n; r++) {
        size_t p = (size_t)sa[r];
        bwt[r] = rs[p ? p - 1 : n - 1];
        if (p == start) origin = r;
    }
    free(sa);
    sa = NULL;

    /* bytes in use, and their ranks */
    int used[256] = {0}, rank[256], nused = 0;
    for (size_t i = 0; i < n; i++) used[s[i]] = 1;
    for (int c = 0; c < 256; c++) rank[c] = used[c] ? nused++ : -1;
    int alpha = nused + 2, eob = nused + 1;

    /* move-to-front, runs of zeros as RUNA (0) / RUNB (1) digits, values shifted up by one */
    uint32_t freq[260] = {0};
    unsigned char list[256];
    for (int k = 0; k < nused; k++) list[k] = (unsigned char)k;
    size_t nmtf = 0, zrun = 0;
    for (size_t r = 0; r <= n; r++) {
        int c = r < n ? rank[bwt[r]] : -1;
        if (c >= 0 && list[0] == c) {
            zrun++;
            continue;
        }
        if (zrun) {
            zrun--;
            for (;;) {
                uint16_t d = (uint16_t)(zrun & 1);
                mtf[nmtf++] = d;
                freq[d]++;
                if (zrun < 2) break;
                zrun = (zrun - 2) / 2;
            }
            zrun = 0;
        }
        if (c < 0) break;
        /* binaries put the byte deep in the list: memchr and memmove beat a move per step */
        size_t j = (size_t)((const unsigned char *)memchr(list, c, (size_t)nused) - list);
        memmove(list + 1, list, j);
        list[0] = (unsigned char)c;
        mtf[nmtf++] = (uint16_t)(j + 1);
        freq[j + 1]++;
    }
    mtf[nmtf++] = (uint16_t)eob;
    freq[eob]++;
    free(bwt);
    bwt = NULL;

    /* tables: as many as libbz2 takes for this many symbols, or with a search the count from
     * two up that costs least (near-random data, say, pays more for choosing among six tables
     * than they save) */
    unsigned char len[BZ_MAX_TABLES][260];
    uint64_t pack[260][2];
    size_t ngroups = (nmtf + BZ_GROUP - 1) / BZ_GROUP;
    int nt = nmtf < 200 ? 2 : nmtf < 600 ? 3 : nmtf < 1200 ? 4 : nmtf < 2400 ? 5 : 6;
    if ((flags & BSD_BZ_TABLE_SEARCH) && nt > 2) {
        /* from the most tables down, while fewer cost less (the cost falls and then rises);
         * the best so far is kept aside */
        unsigned char blen[BZ_MAX_TABLES][260], *bsel = malloc(ngroups);
        if (!bsel) goto done;
        uint64_t best = make_tables(mtf, nmtf, freq, alpha, nt, blen, bsel, pack, NULL, NULL,
                                    BZ_ROUNDS);
        int bnt = nt;
        for (int k = nt - 1; k >= 2; k--) {
            uint64_t c = make_tables(mtf, nmtf, freq, alpha, k, len, sel, pack,
                                     (const unsigned char(*)[260])blen, bsel, BZ_ROUNDS_FEWER);
            if (c >= best) break;
            unsigned char *t = sel;
            sel = bsel;
            bsel = t;
            memcpy(blen, len, sizeof len);
            best = c;
            bnt = k;
        }
        memcpy(len, blen, sizeof len);
        memcpy(sel, bsel, ngroups);
        free(bsel);
        nt = bnt;
    } else {
        make_tables(mtf, nmtf, freq, alpha, nt, len, sel, pack, NULL, NULL, BZ_ROUNDS);
    }

    /* the block */
    bw_put(&w, 0x314159, 24);
    bw_put(&w, 0x265359, 24);
    out->crc = flags & BSD_BZ_NO_CRC ? 0 : block_crc(s, n);
    bw_put(&w, out->crc, 32);
    bw_put(&w, 0, 1); /* not randomised */
    bw_put(&w, (uint32_t)origin, 24);
    unsigned in16 = 0;
    for (int i = 0; i < 16; i++) {
        int any = 0;
        for (int k = 0; k < 16; k++) any |= used[i * 16 + k];
        in16 = in16 << 1 | (unsigned)any;
    }
    bw_put(&w, in16, 16);
    for (int i = 0; i < 16; i++) {
        if (!(in16 >> (15 - i) & 1)) continue;
        unsigned m = 0;
        for (int k = 0; k < 16; k++) m = m << 1 | (unsigned)used[i * 16 + k];
        bw_put(&w, m, 16);
    }
    bw_put(&w, (uint32_t)nt, 3);
    bw_put(&w, (uint32_t)ngroups, 15);
    {
        unsigned char pos[BZ_MAX_TABLES];
        for (int t = 0; t < nt; t++) pos[t] = (unsigned char)t;
        for (size_t g = 0; g < ngroups; g++) {
            int j = 0;
            unsigned char x = sel[g], prev = pos[0];
            while (prev != x) {
                j++;
                unsigned char y = pos[j];
                pos[j] = prev;
                prev = y;
            }
            pos[0] = x;
            bw_put(&w, ((1u << j) - 1) << 1, j + 1); /* j ones, then a zero */
        }
    }
    for (int t = 0; t < nt; t++) {
        int cur = len[t][0];
        bw_put(&w, (uint32_t)cur, 5);
        for (int v = 0; v < alpha; v++) {
            for (; cur < len[t][v]; cur++) bw_put(&w, 2, 2);
            for (; cur > len[t][v]; cur--) bw_put(&w, 3, 2);
            bw_put(&w, 0, 1);
        }
    }
    {
        uint32_t code[BZ_MAX_TABLES][260];
        for (int t = 0; t < nt; t++) assign_codes(code[t], len[t], alpha);
        for (size_t g = 0; g < ngroups; g++) {
            size_t gs = g * BZ_GROUP, ge = gs + BZ_GROUP < nmtf ? gs + BZ_GROUP : nmtf;
            const uint32_t *cd = code[sel[g]];
            const unsigned char *ln = len[sel[g]];
            for (size_t i = gs; i < ge; i++) bw_put(&w, cd[mtf[i]], ln[mtf[i]]);
        }
    }
    out->nbits = bw_close(&w);
    if (w.err) goto done;
    out->bits = w.b;
    w.b = NULL;
    rc = 0;
done:
    free(rs);
    free(bwt);
    free(sa);
    free(mtf);
    free(sel);
    free(w.b);
    return rc;
}
