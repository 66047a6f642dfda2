/* bsp_io.c - ready-made bsp_source / bsp_reader / bsp_sink adapters over memory and C stdio.
 * Portable C11 only: usable as they are on phones. */
#define _FILE_OFFSET_BITS 64
#define _POSIX_C_SOURCE 200809L /* fseeko/ftello; every phone libc has them */
#include "bspatch.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int memsrc_read_at(void *opaque, uint64_t off, void *buf, size_t len) {
    const bsp_memsource *m = opaque;
    if (off > m->size || len > m->size - off) return -1;
    if (len) memcpy(buf, m->data + off, len);
    return 0;
}

void bsp_source_from_memory(bsp_source *src, bsp_memsource *state, const void *data, size_t size) {
    state->data = data;
    state->size = size;
    src->opaque = state;
    src->size = size;
    src->read_at = memsrc_read_at;
}

static int memsink_write(void *opaque, const void *buf, size_t len) {
    bsp_memsink *m = opaque;
    if (len > m->cap - m->len) return -1;
    memcpy(m->buf + m->len, buf, len);
    m->len += len;
    return 0;
}

void bsp_sink_to_memory(bsp_sink *sink, bsp_memsink *state) {
    sink->opaque = state;
    sink->write = memsink_write;
}

static int memreader_read(void *opaque, void *buf, size_t cap, size_t *got) {
    bsp_memreader *m = opaque;
    size_t left = m->size - m->pos;
    size_t k = left < cap ? left : cap;
    if (m->chunk && k > m->chunk) k = m->chunk;
    if (k) memcpy(buf, m->data + m->pos, k);
    m->pos += k;
    *got = k;
    return 0;
}

void bsp_reader_from_memory(bsp_reader *rd, bsp_memreader *state) {
    rd->opaque = state;
    rd->read = memreader_read;
}

static int file_read_at(void *opaque, uint64_t off, void *buf, size_t len) {
    FILE *fp = opaque;
    if (off > (uint64_t)INT64_MAX) return -1;
    if (fseeko(fp, (off_t)off, SEEK_SET) != 0) return -1;
    return fread(buf, 1, len, fp) == len ? 0 : -1;
}

int bsp_source_from_file(bsp_source *src, FILE *fp) {
    if (fseeko(fp, 0, SEEK_END) != 0) return -1;
    off_t end = ftello(fp);
    if (end < 0) return -1;
    src->opaque = fp;
    src->size = (uint64_t)end;
    src->read_at = file_read_at;
    return 0;
}

static int file_read(void *opaque, void *buf, size_t cap, size_t *got) {
    FILE *fp = opaque;
    size_t k = fread(buf, 1, cap, fp);
    *got = k;
    return (k == 0 && ferror(fp)) ? -1 : 0;
}

void bsp_reader_from_file(bsp_reader *rd, FILE *fp) {
    rd->opaque = fp;
    rd->read = file_read;
}

static int file_write(void *opaque, const void *buf, size_t len) {
    return fwrite(buf, 1, len, (FILE *)opaque) == len ? 0 : -1;
}

void bsp_sink_to_file(bsp_sink *sink, FILE *fp) {
    sink->opaque = fp;
    sink->write = file_write;
}

/* ---------------------------------------------------------------- scratch stores */

static int memscratch_reset(void *opaque) {
    ((bsp_memscratch *)opaque)->len = 0;
    return 0;
}
static int memscratch_write(void *opaque, const void *buf, size_t len) {
    bsp_memscratch *m = opaque;
    if (len > SIZE_MAX - m->len || (m->max && m->len + len > m->max)) return -1;
    if (m->len + len > m->cap) {
        size_t cap = m->cap ? m->cap : 65536;
        while (cap < m->len + len) cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
        if (m->max && cap > m->max) cap = m->max;
        unsigned char *p = realloc(m->buf, cap);
        if (!p) return -1;
        m->buf = p;
        m->cap = cap;
    }
    memcpy(m->buf + m->len, buf, len);
    m->len += len;
    return 0;
}
static int memscratch_read_at(void *opaque, uint64_t off, void *buf, size_t len) {
    const bsp_memscratch *m = opaque;
    if (off > m->len || len > m->len - off) return -1;
    memcpy(buf, m->buf + off, len);
    return 0;
}
void bsp_scratch_in_memory(bsp_scratch *s, bsp_memscratch *state, size_t max) {
    memset(state, 0, sizeof *state);
    state->max = max;
    s->opaque = state;
    s->reset = memscratch_reset;
    s->write = memscratch_write;
    s->read_at = memscratch_read_at;
}
void bsp_memscratch_release(bsp_memscratch *state) {
    free(state->buf);
    state->buf = NULL;
    state->len = state->cap = 0;
}

static int filescratch_reset(void *opaque) {
    bsp_filescratch *f = opaque;
    f->len = 0;
    f->reading = 0;
    return fseeko(f->fp, 0, SEEK_SET) != 0 ? -1 : 0;
}
static int filescratch_write(void *opaque, const void *buf, size_t len) {
    bsp_filescratch *f = opaque;
    if (f->reading) { /* C requires a seek between a read and a write on an update stream */
        if (fseeko(f->fp, (off_t)f->len, SEEK_SET) != 0) return -1;
        f->reading = 0;
    }
    if (fwrite(buf, 1, len, f->fp) != len) return -1;
    f->len += len;
    return 0;
}
static int filescratch_read_at(void *opaque, uint64_t off, void *buf, size_t len) {
    bsp_filescratch *f = opaque;
    if (off > f->len || len > f->len - off) return -1;
    if (!f->reading && fflush(f->fp) != 0) return -1;
    f->reading = 1;
    if (fseeko(f->fp, (off_t)off, SEEK_SET) != 0) return -1;
    return fread(buf, 1, len, f->fp) == len ? 0 : -1;
}
void bsp_scratch_from_file(bsp_scratch *s, bsp_filescratch *state, FILE *fp) {
    state->fp = fp;
    state->len = 0;
    state->reading = 0;
    s->opaque = state;
    s->reset = filescratch_reset;
    s->write = filescratch_write;
    s->read_at = filescratch_read_at;
}
