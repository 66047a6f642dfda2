/* pkg_internal.h - shared internals of the pkgtool library (context, errors, files). */
#ifndef PKG_INTERNAL_H
#define PKG_INTERNAL_H

#include "pkgtool.h"

#include <stdio.h>

struct pkg_ctx {
    char detail[1024];
};

/* Stores a formatted detail message and returns e. */
pkg_error pkg_fail(pkg_ctx *ctx, pkg_error e, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Whole-file helpers. pkg_read_file: *buf is malloc'd (NULL for an empty file is never
 * returned: at least 1 byte is allocated). */
pkg_error pkg_read_file(pkg_ctx *ctx, const char *path, unsigned char **buf, size_t *len);
/* Writes data to path atomically: temporary file in the same directory, fsync, rename. */
pkg_error pkg_write_file_atomic(pkg_ctx *ctx, const char *path, const void *data, size_t len);
/* mkdir -p */
pkg_error pkg_mkdirs(pkg_ctx *ctx, const char *path);
/* malloc'd "a/b" */
char *pkg_join(const char *a, const char *b);
/* 1 if path exists as a regular file */
int pkg_file_exists(const char *path);

/* Applies patch to old in memory (bspatch library); 1 when the result is exactly want, else 0
 * with the reason in why. Used to verify every patch a release writes, and by verify. */
int pkg_patch_reproduces(const unsigned char *old, size_t oldlen, const unsigned char *patch, size_t plen,
                         const unsigned char *want, size_t wantlen, char *why, size_t whylen);

/* A tiny growable byte buffer. */
typedef struct pkg_buf {
    char *data;
    size_t len, cap;
    int oom;
} pkg_buf;
void pkg_buf_add(pkg_buf *b, const void *p, size_t n);
void pkg_buf_str(pkg_buf *b, const char *s);
void pkg_buf_printf(pkg_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Appends s as a JSON string literal (quotes and escapes included). */
void pkg_buf_json_str(pkg_buf *b, const char *s);

#endif
