/* bsdelta-gen-adversarial: writes deterministic synthetic old/new file pairs that stress a
 * delta encoder (long runs, periodic data, dense small changes, incompressible data, shifts,
 * realistic near-identical edits).  Same KIND, SIZE and SEED give the same bytes everywhere. */
#define _POSIX_C_SOURCE 200809L /* stat(), to tell regular files from devices */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__unix__) || defined(__APPLE__)
#include <sys/stat.h>
#endif

/* Both files are built in memory; this bounds what one run may ask for. */
#define GEN_MAX_SIZE ((uint64_t)1 << 30)
#define GEN_DEFAULT_SEED 1u

enum { EXIT_USAGE = 2 };

static const char *prog = "bsdelta-gen-adversarial";

/* ------------------------------------------------------------------ PRNG */

/* splitmix64: tiny, fast, and its output is fixed by definition, unlike rand(). */
typedef struct {
    uint64_t s;
} rng_t;

static uint64_t rng_next(rng_t *r)
{
    uint64_t z = (r->s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Uniform in [0, n); n > 0.  The modulo bias is irrelevant for test data. */
static size_t rng_below(rng_t *r, size_t n)
{
    return (size_t)(rng_next(r) % (uint64_t)n);
}

/* Uniform in [lo, hi]; lo <= hi. */
static size_t rng_range(rng_t *r, size_t lo, size_t hi)
{
    return lo + rng_below(r, hi - lo + 1);
}

static void rng_fill(rng_t *r, uint8_t *p, size_t n)
{
    while (n >= 8) {
        uint64_t v = rng_next(r);
        for (int i = 0; i < 8; i++)
            p[i] = (uint8_t)(v >> (8 * i));
        p += 8;
        n -= 8;
    }
    if (n > 0) {
        uint64_t v = rng_next(r);
        for (size_t i = 0; i < n; i++)
            p[i] = (uint8_t)(v >> (8 * i));
    }
}

/* ------------------------------------------------------------------ buffers */

typedef struct {
    uint8_t *p;
    size_t len;
} buf_t;

static int buf_alloc(buf_t *b, size_t len)
{
    /* malloc(0) may return NULL; one spare byte keeps "NULL means out of memory" simple. */
    b->p = malloc(len + 1);
    b->len = len;
    if (b->p == NULL) {
        fprintf(stderr, "%s: out of memory (%zu bytes)\n", prog, len);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ edit engine */

/* One edit against the old data, at an old-data offset.  Edits are applied in offset order
 * in one pass; an edit that lands inside a region an earlier edit deleted or replaced is
 * clipped to where that region ends, so any list of edits gives a well-defined result. */
typedef enum { OP_INSERT, OP_DELETE, OP_REPLACE, OP_COPY } op_kind;

typedef struct {
    size_t pos;
    size_t seq; /* creation order: ties on pos keep a fixed order on every libc */
    op_kind kind;
    size_t len;
    uint8_t *data;   /* OP_INSERT / OP_REPLACE: owned bytes */
    size_t copy_src; /* OP_COPY: offset in old */
} op_t;

typedef struct {
    op_t *v;
    size_t n, cap;
} ops_t;

static op_t *ops_add(ops_t *o, op_kind kind, size_t pos, size_t len)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 16;
        op_t *v = realloc(o->v, cap * sizeof *v);
        if (v == NULL) {
            fprintf(stderr, "%s: out of memory\n", prog);
            return NULL;
        }
        o->v = v;
        o->cap = cap;
    }
    op_t *op = &o->v[o->n];
    memset(op, 0, sizeof *op);
    op->pos = pos;
    op->seq = o->n;
    op->kind = kind;
    op->len = len;
    if (kind == OP_INSERT || kind == OP_REPLACE) {
        op->data = malloc(len + 1);
        if (op->data == NULL) {
            fprintf(stderr, "%s: out of memory\n", prog);
            return NULL;
        }
    }
    o->n++;
    return op;
}

static void ops_free(ops_t *o)
{
    for (size_t i = 0; i < o->n; i++)
        free(o->v[i].data);
    free(o->v);
    o->v = NULL;
    o->n = o->cap = 0;
}

static int op_cmp(const void *a, const void *b)
{
    const op_t *x = a, *y = b;
    if (x->pos != y->pos)
        return x->pos < y->pos ? -1 : 1;
    return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

static int apply_ops(const buf_t *old, ops_t *o, buf_t *out)
{
    size_t cap = old->len;
    for (size_t i = 0; i < o->n; i++)
        if (o->v[i].kind != OP_DELETE)
            cap += o->v[i].len;
    if (buf_alloc(out, cap) != 0)
        return -1;
    qsort(o->v, o->n, sizeof *o->v, op_cmp);

    size_t cur = 0, w = 0;
    for (size_t i = 0; i < o->n; i++) {
        op_t *op = &o->v[i];
        size_t pos = op->pos < cur ? cur : op->pos;
        size_t len = op->len;
        if (pos > old->len)
            pos = old->len;
        if ((op->kind == OP_DELETE || op->kind == OP_REPLACE) && op->pos < cur)
            len = op->pos + op->len > cur ? op->pos + op->len - cur : 0;
        memcpy(out->p + w, old->p + cur, pos - cur);
        w += pos - cur;
        cur = pos;
        switch (op->kind) {
        case OP_INSERT:
            memcpy(out->p + w, op->data, len);
            w += len;
            break;
        case OP_COPY:
            memcpy(out->p + w, old->p + op->copy_src, len);
            w += len;
            break;
        case OP_DELETE:
        case OP_REPLACE:
            if (len > old->len - cur)
                len = old->len - cur;
            if (op->kind == OP_REPLACE) {
                memcpy(out->p + w, op->data, len);
                w += len;
            }
            cur += len;
            break;
        }
    }
    memcpy(out->p + w, old->p + cur, old->len - cur);
    w += old->len - cur;
    out->len = w;
    return 0;
}

/* ------------------------------------------------------------------ text-like data */

static const char *const words[] = {
    "function", "return",    "const",   "let",      "var",      "if",        "else",
    "for",      "while",     "this",    "new",      "null",     "undefined", "true",
    "false",    "typeof",    "export",  "import",   "from",     "default",   "class",
    "extends",  "super",     "async",   "await",    "props",    "state",     "value",
    "options",  "element",   "node",    "children", "length",   "index",     "result",
    "callback", "resolve",   "reject",  "Promise",  "Object",   "Array",     "String",
    "prototype", "call",     "apply",   "bind",     "push",     "map",       "filter",
    "reduce",   "forEach",   "keys",    "assign",   "create",   "document",  "window",
    "console",  "error",     "warn",    "module",   "exports",  "require",   "update",
    "render",   "component", "context", "ref",      "handler",  "event",     "target",
};
static const char *const syllables[] = {"ba", "ce", "di", "fo", "gu", "ha", "ke", "li",
                                        "mo", "nu", "pa", "re", "si", "to", "vu", "xe"};
static const char *const puncts[] = {" ", ".", "(", ")", ", ", " = ", " + ", " === ",
                                     "[", "]", " && ", " || ", ": ", "?."};

typedef struct {
    int depth;
    int col;       /* tokens on the current line */
    int last_word; /* the last token was a word or number: the next one needs a separator */
} text_state;

/* Appends one token (or line break) of JavaScript-looking text to tmp; returns its length. */
static size_t text_token(rng_t *r, text_state *ts, char *tmp, size_t cap)
{
    size_t k = rng_below(r, 100);
    int n;
    if (ts->last_word && k >= 12 && k < 85) {
        /* two words in a row: separate them, mostly by a space */
        ts->last_word = 0;
        const char *sep = rng_below(r, 3) ? " " : puncts[rng_below(r, sizeof puncts / sizeof *puncts)];
        n = snprintf(tmp, cap, "%s", sep);
        return n < 0 ? 0 : (size_t)n;
    }
    ts->last_word = k >= 12 && k < 85;
    if (ts->col >= 3 && k < 12) {
        /* end of line: statement, block open, or block close */
        size_t e = rng_below(r, 10);
        if (e < 2 && ts->depth < 8) {
            ts->depth++;
            n = snprintf(tmp, cap, " {\n%*s", 2 * ts->depth, "");
        } else if (e < 4 && ts->depth > 0) {
            ts->depth--;
            n = snprintf(tmp, cap, ";\n%*s}\n%*s", 2 * ts->depth, "", 2 * ts->depth, "");
        } else {
            n = snprintf(tmp, cap, ";\n%*s", 2 * ts->depth, "");
        }
        ts->col = 0;
        ts->last_word = 0;
    } else if (k < 12) {
        n = snprintf(tmp, cap, "%s", puncts[rng_below(r, sizeof puncts / sizeof *puncts)]);
    } else if (k < 60) {
        n = snprintf(tmp, cap, "%s", words[rng_below(r, sizeof words / sizeof *words)]);
        ts->col++;
    } else if (k < 75) {
        /* a made-up identifier: enough entropy that the text is not one big repeat */
        size_t m = rng_range(r, 2, 4);
        n = 0;
        for (size_t i = 0; i < m && (size_t)n + 3 < cap; i++)
            n += snprintf(tmp + n, cap - (size_t)n, "%s",
                          syllables[rng_below(r, sizeof syllables / sizeof *syllables)]);
        if (rng_below(r, 2))
            tmp[0] = (char)(tmp[0] - 'a' + 'A');
        ts->col++;
    } else if (k < 82) {
        n = snprintf(tmp, cap, "%u", (unsigned)rng_below(r, 100000));
        ts->col++;
    } else if (k < 85) {
        n = snprintf(tmp, cap, "\"%s-%u\"", words[rng_below(r, sizeof words / sizeof *words)],
                     (unsigned)rng_below(r, 1000));
        ts->col++;
    } else {
        n = snprintf(tmp, cap, "%s", puncts[rng_below(r, sizeof puncts / sizeof *puncts)]);
    }
    return n < 0 ? 0 : (size_t)n;
}

static void text_fill(rng_t *r, uint8_t *p, size_t len)
{
    text_state ts = {0, 0, 0};
    char tmp[64];
    size_t w = 0;
    while (w < len) {
        size_t n = text_token(r, &ts, tmp, sizeof tmp);
        if (n > len - w)
            n = len - w;
        memcpy(p + w, tmp, n);
        w += n;
    }
}

/* ------------------------------------------------------------------ kinds */

typedef int (*gen_fn)(rng_t *r, size_t size, buf_t *old, buf_t *new_);

/* runs: a few very long runs of single bytes; new lengthens, shortens, recolours and
 * splits some of them.  Worst case for naive suffix sorting and match extension. */
typedef struct {
    uint8_t byte;
    size_t len;
} run_t;

static uint8_t run_byte(rng_t *r, uint8_t avoid)
{
    static const uint8_t common[] = {0x00, 0xFF, 0x20, 'a', 0x90};
    for (;;) {
        uint8_t b = rng_below(r, 4) ? common[rng_below(r, sizeof common)]
                                    : (uint8_t)rng_below(r, 256);
        if (b != avoid)
            return b;
    }
}

static int render_runs(const run_t *runs, size_t n, buf_t *out)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += runs[i].len;
    if (buf_alloc(out, total) != 0)
        return -1;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        memset(out->p + w, runs[i].byte, runs[i].len);
        w += runs[i].len;
    }
    return 0;
}

static int gen_runs(rng_t *r, size_t size, buf_t *old, buf_t *new_)
{
    enum { MAX_OLD_RUNS = 8, MAX_NEW_RUNS = 3 * MAX_OLD_RUNS };
    run_t a[MAX_OLD_RUNS] = {{0, 0}}, b[MAX_NEW_RUNS] = {{0, 0}};
    size_t na = rng_range(r, 3, MAX_OLD_RUNS), nb = 0;
    if (na > size)
        na = size;

    /* Random partition of size into na runs of at least one byte. */
    uint64_t weight[MAX_OLD_RUNS], wsum = 0;
    for (size_t i = 0; i < na; i++)
        wsum += weight[i] = 1 + rng_below(r, 1000);
    size_t left = size;
    uint8_t prev = 0x5A; /* not in the common set: the first run may take any of those */
    for (size_t i = 0; i < na; i++) {
        size_t len = i + 1 == na ? left : 1 + (size_t)((uint64_t)(size - na) * weight[i] / wsum);
        if (len > left - (na - 1 - i))
            len = left - (na - 1 - i);
        a[i].len = len;
        a[i].byte = prev = run_byte(r, prev);
        left -= len;
    }
    if (render_runs(a, na, old) != 0)
        return -1;

    for (size_t i = 0; i < na; i++) {
        run_t x = a[i];
        size_t delta = x.len / 8 + 1;
        switch (rng_below(r, 5)) {
        case 0: /* unchanged */
            break;
        case 1:
            x.len += rng_range(r, 1, delta);
            break;
        case 2:
            x.len -= rng_below(r, delta < x.len ? delta : x.len);
            break;
        case 3:
            x.byte = run_byte(r, x.byte);
            break;
        case 4: { /* split by a short run of another byte */
            size_t cut = rng_below(r, x.len + 1);
            b[nb].byte = x.byte;
            b[nb++].len = cut;
            b[nb].byte = run_byte(r, x.byte);
            b[nb++].len = rng_range(r, 1, 16);
            x.len -= cut;
            break;
        }
        }
        b[nb++] = x;
    }
    return render_runs(b, nb, new_);
}

/* periodic: a short random period repeated; new has a few changes, inserts and deletes. */
static int gen_periodic(rng_t *r, size_t size, buf_t *old, buf_t *new_)
{
    uint8_t pat[64];
    size_t period = rng_range(r, 2, sizeof pat);
    rng_fill(r, pat, period);
    if (buf_alloc(old, size) != 0)
        return -1;
    for (size_t i = 0; i < size; i++)
        old->p[i] = pat[i % period];

    ops_t o = {0};
    size_t nedits = rng_range(r, 4, 8);
    for (size_t i = 0; i < nedits; i++) {
        size_t pos = rng_below(r, size + 1);
        op_kind kind = (op_kind)rng_below(r, 3); /* insert, delete or replace */
        size_t len = kind == OP_REPLACE ? rng_range(r, 1, 4) : rng_range(r, 1, 32);
        op_t *op = ops_add(&o, kind, pos, len);
        if (op == NULL) {
            ops_free(&o);
            return -1;
        }
        if (op->data != NULL)
            rng_fill(r, op->data, len);
    }
    int rc = apply_ops(old, &o, new_);
    ops_free(&o);
    return rc;
}

/* every7: random data against itself with every 7th byte changed: no match longer than
 * six bytes, which defeats the usual "extend exact matches" heuristics. */
static int gen_every7(rng_t *r, size_t size, buf_t *old, buf_t *new_)
{
    if (buf_alloc(old, size) != 0 || buf_alloc(new_, size) != 0)
        return -1;
    rng_fill(r, old->p, size);
    memcpy(new_->p, old->p, size);
    for (size_t i = 6; i < size; i += 7)
        new_->p[i] ^= (uint8_t)rng_range(r, 1, 255);
    return 0;
}

/* random: two unrelated random files: the delta can only be as big as new. */
static int gen_random(rng_t *r, size_t size, buf_t *old, buf_t *new_)
{
    if (buf_alloc(old, size) != 0 || buf_alloc(new_, size) != 0)
        return -1;
    rng_fill(r, old->p, size);
    rng_fill(r, new_->p, size);
    return 0;
}

/* shift1: new is old with one byte inserted at the front, so every offset moves by one. */
static int gen_shift1(rng_t *r, size_t size, buf_t *old, buf_t *new_)
{
    if (buf_alloc(old, size) != 0 || buf_alloc(new_, size + 1) != 0)
        return -1;
    rng_fill(r, old->p, size);
    rng_fill(r, new_->p, 1);
    memcpy(new_->p + 1, old->p, size);
    return 0;
}

/* edits: JavaScript-looking text with the edits of a release: inserted and deleted code,
 * moved blocks, small token changes.  Near-identical, like most real updates. */
static int gen_edits(rng_t *r, size_t size, buf_t *old, buf_t *new_)
{
    if (buf_alloc(old, size) != 0)
        return -1;
    text_fill(r, old->p, size);

    ops_t o = {0};
    size_t nedits = 4 + size / (256 * 1024);
    if (nedits > 256)
        nedits = 256;
    /* Edit sizes follow the file size so that small files stay near-identical too. */
    size_t span = size / 32;
    span = span < 16 ? 16 : span > 4096 ? 4096 : span;
    size_t move_max = size / 16;
    move_max = move_max < 16 ? 16 : move_max > 32768 ? 32768 : move_max;
    for (size_t i = 0; i < nedits; i++) {
        size_t pos = rng_below(r, size + 1);
        op_t *op = NULL;
        switch (rng_below(r, 4)) {
        case 0: /* new code */
            op = ops_add(&o, OP_INSERT, pos, rng_range(r, 1, span));
            if (op != NULL)
                text_fill(r, op->data, op->len);
            break;
        case 1: /* removed code */
            op = ops_add(&o, OP_DELETE, pos, rng_range(r, 1, span));
            break;
        case 2: { /* block move: cut at pos, paste at dst */
            size_t len = rng_range(r, move_max / 8 + 1, move_max);
            if (len > size - pos)
                len = size - pos;
            size_t dst = rng_below(r, size + 1);
            op = ops_add(&o, OP_DELETE, pos, len);
            if (op != NULL && (op = ops_add(&o, OP_COPY, dst, len)) != NULL)
                op->copy_src = pos;
            break;
        }
        default: /* renamed identifier, bumped constant */
            op = ops_add(&o, OP_REPLACE, pos, rng_range(r, 1, 16));
            if (op != NULL)
                text_fill(r, op->data, op->len);
            break;
        }
        if (op == NULL) {
            ops_free(&o);
            return -1;
        }
    }
    int rc = apply_ops(old, &o, new_);
    ops_free(&o);
    return rc;
}

static const struct {
    const char *name;
    gen_fn fn;
    const char *what;
} kinds[] = {
    {"runs", gen_runs, "a few very long runs of single bytes; new resizes, recolours, splits runs"},
    {"periodic", gen_periodic, "a short random period repeated; new has a few changes/inserts"},
    {"every7", gen_every7, "random data; new has every 7th byte changed"},
    {"random", gen_random, "two unrelated random files of SIZE bytes"},
    {"shift1", gen_shift1, "random data; new = one byte inserted at the front of old"},
    {"edits", gen_edits, "JS-like text; new has release-style inserts, deletes, block moves"},
};
#define NKINDS (sizeof kinds / sizeof *kinds)

/* ------------------------------------------------------------------ command line */

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: %s KIND SIZE OLD_OUT NEW_OUT [SEED]\n"
            "Writes a synthetic old/new pair that stresses a delta encoder.\n"
            "The same KIND, SIZE and SEED always give the same bytes.\n\n"
            "  SIZE  size of OLD_OUT in bytes, with an optional binary suffix\n"
            "        k or K (KiB), m or M (MiB), g or G (GiB); at most 1G.\n"
            "        NEW_OUT is about as big (exactly as big for every7 and random).\n"
            "  SEED  unsigned 64-bit number, decimal or 0x-hex (default %u)\n\n"
            "KIND:\n",
            prog, GEN_DEFAULT_SEED);
    for (size_t i = 0; i < NKINDS; i++)
        fprintf(f, "  %-9s %s\n", kinds[i].name, kinds[i].what);
    fprintf(f, "\nExit status: 0 written, 1 out of memory or write error, 2 bad arguments.\n");
}

static int parse_size(const char *s, size_t *out)
{
    char *end;
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0)
        return -1;
    unsigned shift = 0;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    default: return -1;
    }
    if (*end != '\0' || v > (GEN_MAX_SIZE >> shift))
        return -1;
    *out = (size_t)(v << shift);
    return 0;
}

static int parse_seed(const char *s, uint64_t *out)
{
    char *end;
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = (uint64_t)v;
    return 0;
}

/* True when path names a regular file: the only kind of output removed after a failure.
 * An output such as /dev/null or /dev/full is written to but must never be deleted. */
static int is_regular(const char *path)
{
#if defined(__unix__) || defined(__APPLE__)
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
#else
    (void)path;
    return 1;
#endif
}

/* Writes the whole buffer, or removes the (regular) file: no partial output is left behind. */
static int write_file(const char *path, const buf_t *b)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        fprintf(stderr, "%s: cannot create %s: %s\n", prog, path, strerror(errno));
        return -1;
    }
    size_t n = fwrite(b->p, 1, b->len, f);
    int err = n != b->len ? errno : 0;
    if (fclose(f) != 0 && err == 0)
        err = errno ? errno : EIO;
    if (n != b->len || err != 0) {
        fprintf(stderr, "%s: cannot write %s: %s\n", prog, path, strerror(err ? err : EIO));
        if (is_regular(path))
            remove(path);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
    }
    if (argc < 5 || argc > 6) {
        fprintf(stderr, "%s: expected 4 or 5 arguments, got %d\n", prog, argc - 1);
        usage(stderr);
        return EXIT_USAGE;
    }

    const char *kind = argv[1], *old_path = argv[3], *new_path = argv[4];
    gen_fn fn = NULL;
    for (size_t i = 0; i < NKINDS; i++)
        if (strcmp(kind, kinds[i].name) == 0)
            fn = kinds[i].fn;
    if (fn == NULL) {
        fprintf(stderr, "%s: unknown KIND '%s' (one of:", prog, kind);
        for (size_t i = 0; i < NKINDS; i++)
            fprintf(stderr, " %s", kinds[i].name);
        fprintf(stderr, ")\n");
        return EXIT_USAGE;
    }
    size_t size;
    if (parse_size(argv[2], &size) != 0) {
        fprintf(stderr, "%s: bad SIZE '%s' (a number with optional k, M or G suffix, at most 1G)\n",
                prog, argv[2]);
        return EXIT_USAGE;
    }
    uint64_t seed = GEN_DEFAULT_SEED;
    if (argc == 6 && parse_seed(argv[5], &seed) != 0) {
        fprintf(stderr, "%s: bad SEED '%s' (an unsigned 64-bit number)\n", prog, argv[5]);
        return EXIT_USAGE;
    }
    if (strcmp(old_path, new_path) == 0) {
        fprintf(stderr, "%s: OLD_OUT and NEW_OUT are the same file: %s\n", prog, old_path);
        return EXIT_USAGE;
    }

    /* Mix the kind into the seed so that kinds with the same seed are unrelated. */
    rng_t r = {seed};
    for (const char *c = kind; *c; c++)
        r.s = (r.s ^ (uint8_t)*c) * UINT64_C(0x100000001B3);

    buf_t old = {0}, new_ = {0};
    int rc = fn(&r, size, &old, &new_);
    if (rc == 0)
        rc = write_file(old_path, &old);
    if (rc == 0 && (rc = write_file(new_path, &new_)) != 0 && is_regular(old_path))
        remove(old_path);
    free(old.p);
    free(new_.p);
    return rc == 0 ? 0 : 1;
}
