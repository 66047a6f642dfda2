/* t_check.h - the check macro and helpers every C test program uses: checks that count
 * failures instead of aborting, the closing summary, and an allocator that never fails.
 * Header-only. */
#ifndef T_CHECK_H
#define T_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int t_failures, t_checks;

#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        t_checks++;                                                                            \
        if (!(cond)) {                                                                         \
            t_failures++;                                                                      \
            fprintf(stderr, "%s:%d: FAILED: %s: ", __FILE__, __LINE__, #cond);                 \
            fprintf(stderr, __VA_ARGS__);                                                      \
            fputc('\n', stderr);                                                               \
        }                                                                                      \
    } while (0)

/* Ends a test program: summary line and exit status. */
static inline int t_done(const char *name) {
    printf("%s: %d checks, %d failures\n", name, t_checks, t_failures);
    return t_failures ? 1 : 0;
}

/* malloc that never returns NULL (tests stop on out-of-memory) and never a NULL pointer for
 * zero bytes, so empty buffers are valid pointers. */
static inline void *t_alloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

/* xorshift64: the tests' reproducible pseudo-random numbers, from a state of their own. */
static inline uint32_t t_rnd(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (uint32_t)(*s >> 11);
}

#endif
