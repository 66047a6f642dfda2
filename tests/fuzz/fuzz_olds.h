/* fuzz_olds.h - the small old files the fuzz targets patch, shared with the seed generator so
 * committed seeds stay valid patches of exactly these files. */
#ifndef FUZZ_OLDS_H
#define FUZZ_OLDS_H

#include <stddef.h>

/* fuzz_bsdelta: selector s gives an old file of 4*s bytes (at most 1020). */
static inline size_t fuzz_bsdelta_old(unsigned s, unsigned char *buf) {
    size_t n = (size_t)(s & 0xff) * 4;
    for (size_t i = 0; i < n; i++) buf[i] = (unsigned char)((i * 131 + (i >> 5) + s) & 0xff);
    return n;
}

/* fuzz_bsdiff40: selector s gives an old file of 2*s bytes (at most 510). */
static inline size_t fuzz_bsdiff40_old(unsigned s, unsigned char *buf) {
    size_t n = (size_t)(s & 0xff) * 2;
    for (size_t i = 0; i < n; i++) buf[i] = (unsigned char)(i * 7 + (i >> 4));
    return n;
}

#endif
