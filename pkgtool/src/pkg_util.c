/* pkg_util.c - errors, whole-file I/O, atomic writes and small buffers for pkgtool. */
#define _POSIX_C_SOURCE 200809L
#define _FILE_OFFSET_BITS 64 /* files over 2 GiB and readdir on 32-bit targets */
#include "pkg_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *pkg_strerror(pkg_error err) {
    switch (err) {
    case PKG_OK: return "success";
    case PKG_E_MISUSE: return "invalid argument";
    case PKG_E_NOMEM: return "out of memory";
    case PKG_E_IO: return "file I/O error";
    case PKG_E_INPUT: return "unreadable input";
    case PKG_E_UNSAFE: return "unsafe entry in the input";
    case PKG_E_EXISTS: return "already released";
    case PKG_E_STORE: return "damaged or inconsistent store";
    case PKG_E_NOT_FOUND: return "not found";
    case PKG_E_DIFF: return "diff failed";
    case PKG_E_VERIFY: return "patch verification failed";
    case PKG_E_NETWORK: return "network error";
    case PKG_E_SIGNATURE: return "bad or missing signature";
    case PKG_E_EXPIRED: return "index expired";
    case PKG_E_REPLAY: return "index older than one seen before";
    case PKG_E_INTEGRITY: return "download does not verify";
    case PKG_E_INSTALL: return "damaged install directory";
    }
    return "unknown error";
}

pkg_ctx *pkg_create(void) { return calloc(1, sizeof(pkg_ctx)); }
void pkg_free(pkg_ctx *ctx) { free(ctx); }
const char *pkg_detail(const pkg_ctx *ctx) { return ctx ? ctx->detail : ""; }
void pkg_buffer_free(void *p) { free(p); }

pkg_error pkg_fail(pkg_ctx *ctx, pkg_error e, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->detail, sizeof ctx->detail, fmt, ap);
    va_end(ap);
    return e;
}

void pkg_sha256_hex(const void *data, size_t len, char out[65]) {
    unsigned char md[32];
    unsigned int mdlen = 0;
    static const char hex[] = "0123456789abcdef";
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

int pkg_version_cmp(const char *a, const char *b) {
    a = a ? a : "";
    b = b ? b : "";
    while (*a || *b) {
        unsigned long long x = 0, y = 0;
        while (*a >= '0' && *a <= '9') x = x * 10 + (unsigned)(*a++ - '0');
        while (*b >= '0' && *b <= '9') y = y * 10 + (unsigned)(*b++ - '0');
        if (x != y) return x < y ? -1 : 1;
        while (*a && *a != '.') a++;
        while (*b && *b != '.') b++;
        if (*a == '.') a++;
        if (*b == '.') b++;
    }
    return 0;
}

pkg_error pkg_read_file(pkg_ctx *ctx, const char *path, unsigned char **buf, size_t *len) {
    *buf = NULL;
    *len = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) return pkg_fail(ctx, errno == ENOENT ? PKG_E_NOT_FOUND : PKG_E_IO, "cannot open %s: %s",
                             path, strerror(errno));
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(fp);
        return pkg_fail(ctx, PKG_E_IO, "%s is not a regular file", path);
    }
    size_t n = (size_t)st.st_size;
    unsigned char *p = malloc(n ? n : 1);
    if (!p) {
        fclose(fp);
        return pkg_fail(ctx, PKG_E_NOMEM, "cannot allocate %zu bytes for %s", n, path);
    }
    if (fread(p, 1, n, fp) != n) {
        free(p);
        fclose(fp);
        return pkg_fail(ctx, PKG_E_IO, "cannot read %s", path);
    }
    fclose(fp);
    *buf = p;
    *len = n;
    return PKG_OK;
}

pkg_error pkg_write_file_atomic(pkg_ctx *ctx, const char *path, const void *data, size_t len) {
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    if (!tmp) return pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
    snprintf(tmp, n, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        pkg_error e = pkg_fail(ctx, PKG_E_IO, "cannot create a temporary file beside %s: %s", path,
                               strerror(errno));
        free(tmp);
        return e;
    }
    fchmod(fd, 0644);
    const unsigned char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    int bad = left != 0 || fsync(fd) != 0;
    int err = errno;
    if (close(fd) != 0) bad = 1;
    if (bad || rename(tmp, path) != 0) {
        if (!bad) err = errno;
        unlink(tmp);
        free(tmp);
        return pkg_fail(ctx, PKG_E_IO, "cannot write %s: %s", path, strerror(err));
    }
    free(tmp);
    return PKG_OK;
}

pkg_error pkg_mkdirs(pkg_ctx *ctx, const char *path) {
    char *p = strdup(path);
    if (!p) return pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
    for (char *s = p + 1;; s++) {
        char c = *s;
        if (c == '/' || c == '\0') {
            *s = '\0';
            if (mkdir(p, 0755) != 0 && errno != EEXIST) {
                pkg_error e = pkg_fail(ctx, PKG_E_IO, "cannot create directory %s: %s", p, strerror(errno));
                free(p);
                return e;
            }
            *s = c;
            if (c == '\0') break;
        }
    }
    free(p);
    return PKG_OK;
}

char *pkg_join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/%s", a, b);
    return s;
}

int pkg_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

void pkg_buf_add(pkg_buf *b, const void *p, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) {
            b->oom = 1;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void pkg_buf_str(pkg_buf *b, const char *s) { pkg_buf_add(b, s, strlen(s)); }

void pkg_buf_printf(pkg_buf *b, const char *fmt, ...) {
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        pkg_buf_add(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    pkg_buf_add(b, big, (size_t)n);
    free(big);
}

void pkg_buf_json_str(pkg_buf *b, const char *s) {
    pkg_buf_add(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char e[2] = {'\\', (char)*p};
            pkg_buf_add(b, e, 2);
        } else if (*p < 0x20) {
            pkg_buf_printf(b, "\\u%04x", *p);
        } else {
            pkg_buf_add(b, p, 1);
        }
    }
    pkg_buf_add(b, "\"", 1);
}
