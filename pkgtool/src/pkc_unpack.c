/* pkc_unpack.c - unpacks a canonical bundle on the device. The bundle's SHA-256 was already
 * checked against the (signed) index, but the unpacker still treats it as hostile: the first
 * entry must be the manifest; every other entry must be the manifest's next file, with a safe
 * relative path, the listed size and SHA-256; links must stay inside the tree; nothing may be
 * left out or added. Files are written below dest only, synced, and dest is removed on any
 * failure. */
#define _POSIX_C_SOURCE 200809L
#define _FILE_OFFSET_BITS 64 /* files over 2 GiB and readdir on 32-bit targets */
#include "pkc_internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MANIFEST_MAX (64u << 20)

/* A safe relative path: no leading '/', no empty, '.' or '..' component, no backslash. */
static int safe_path(const char *p) {
    if (!*p || *p == '/' || strchr(p, '\\') || strlen(p) > 4096) return 0;
    while (*p) {
        const char *s = strchr(p, '/');
        size_t n = s ? (size_t)(s - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) return 0;
        if (!s) break;
        p = s + 1;
        if (!*p) return 0;
    }
    return 1;
}

/* A link target stays inside the tree when resolved from the link's directory. */
static int link_inside(const char *path, const char *target) {
    if (!*target || *target == '/' || strchr(target, '\\')) return 0;
    int depth = 0;
    for (const char *p = path; *p; p++)
        if (*p == '/') depth++;
    const char *t = target;
    while (*t) {
        const char *s = strchr(t, '/');
        size_t n = s ? (size_t)(s - t) : strlen(t);
        if (n == 2 && t[0] == '.' && t[1] == '.') {
            if (--depth < 0) return 0;
        } else if (n && !(n == 1 && t[0] == '.')) {
            depth++;
        }
        if (!s) break;
        t = s + 1;
    }
    return 1;
}

/* mkdir -p for the parent directories of rel below dest. */
static int make_parents(const char *dest, const char *rel) {
    size_t n = strlen(dest) + strlen(rel) + 2;
    char *p = malloc(n);
    if (!p) return ENOMEM;
    snprintf(p, n, "%s/%s", dest, rel);
    int rc = 0;
    for (char *s = p + strlen(dest) + 1; (s = strchr(s, '/')); s++) {
        *s = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST) rc = errno;
        *s = '/';
        if (rc) break;
    }
    free(p);
    return rc;
}

typedef struct mfile {
    const char *path, *sha256, *link;
    uint64_t size;
    int exec;
} mfile;

static pkg_error bad(pkg_ctx *ctx, const char *zip, const char *fmt, const char *arg) {
    char what[600];
    snprintf(what, sizeof what, fmt, arg);
    return pkg_fail(ctx, PKG_E_INTEGRITY, "the bundle %s is not a valid bundle: %s", zip, what);
}

static pkg_error parse_manifest(pkg_ctx *ctx, const char *zip, cJSON *root, mfile **out, size_t *n) {
    *out = NULL;
    *n = 0;
    const cJSON *files = root ? cJSON_GetObjectItemCaseSensitive(root, "files") : NULL;
    const cJSON *ver = root ? cJSON_GetObjectItemCaseSensitive(root, "bsdelta_manifest") : NULL;
    if (!cJSON_IsArray(files) || !cJSON_IsNumber(ver) || ver->valuedouble != 1)
        return bad(ctx, zip, "%s is not a manifest", PKG_MANIFEST_PATH);
    size_t cnt = (size_t)cJSON_GetArraySize(files);
    mfile *v = calloc(cnt + 1, sizeof *v);
    if (!v) return pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
    pkg_error e = PKG_OK;
    const cJSON *f;
    cJSON_ArrayForEach(f, files) {
        mfile *m = &v[*n];
        const cJSON *path = cJSON_GetObjectItemCaseSensitive(f, "path");
        const cJSON *size = cJSON_GetObjectItemCaseSensitive(f, "size");
        const cJSON *sha = cJSON_GetObjectItemCaseSensitive(f, "sha256");
        const cJSON *link = cJSON_GetObjectItemCaseSensitive(f, "link");
        const cJSON *exec = cJSON_GetObjectItemCaseSensitive(f, "exec");
        if (!cJSON_IsString(path) || !safe_path(path->valuestring) || !strncmp(path->valuestring, ".bsdelta/", 9)) {
            e = bad(ctx, zip, "the manifest lists an unsafe or invalid path (%s)",
                    cJSON_IsString(path) ? path->valuestring : "?");
            break;
        }
        m->path = path->valuestring;
        if (*n && strcmp(v[*n - 1].path, m->path) >= 0) {
            e = bad(ctx, zip, "the manifest is not sorted, or lists %s twice", m->path);
            break;
        }
        if (cJSON_IsString(link)) {
            if (!link_inside(m->path, link->valuestring)) {
                e = bad(ctx, zip, "the link %s leaves the bundle", m->path);
                break;
            }
            m->link = link->valuestring;
        } else if (cJSON_IsNumber(size) && size->valuedouble >= 0 && size->valuedouble < 9.0e15 &&
                   cJSON_IsString(sha) && pkg_valid_id(sha->valuestring)) {
            m->size = (uint64_t)size->valuedouble;
            m->sha256 = sha->valuestring;
            m->exec = cJSON_IsTrue(exec);
        } else {
            e = bad(ctx, zip, "the manifest entry of %s lacks its size or SHA-256", m->path);
            break;
        }
        (*n)++;
    }
    if (e) {
        free(v);
        *n = 0;
        return e;
    }
    *out = v;
    return PKG_OK;
}

/* Copies the current entry's data into dest/m->path, hashing it; checks size and hash. */
static pkg_error write_file(pkg_ctx *ctx, const char *zip, struct archive *a, const char *dest, const mfile *m,
                            unsigned char *buf, size_t cap) {
    size_t n = strlen(dest) + strlen(m->path) + 2;
    char *path = malloc(n);
    if (!path) return pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
    snprintf(path, n, "%s/%s", dest, m->path);
    int err = make_parents(dest, m->path);
    if (err) {
        pkg_error e = pkc_io_fail(ctx, err, "create the directory of", path);
        free(path);
        return e;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, m->exec ? 0755 : 0644);
    if (fd < 0) {
        pkg_error e = pkc_io_fail(ctx, errno, "create", path);
        free(path);
        return e;
    }
    pkc_sha256 *h = pkc_sha256_new();
    pkg_error e = h ? PKG_OK : pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
    uint64_t total = 0;
    while (!e) {
        la_ssize_t got = archive_read_data(a, buf, cap);
        if (got < 0) {
            e = bad(ctx, zip, "its data cannot be read (%s)", archive_error_string(a));
            break;
        }
        if (got == 0) break;
        total += (uint64_t)got;
        if (total > m->size) {
            e = bad(ctx, zip, "%s is longer than its manifest says", m->path);
            break;
        }
        pkc_sha256_update(h, buf, (size_t)got);
        for (size_t off = 0; off < (size_t)got && !e;) {
            ssize_t w = write(fd, buf + off, (size_t)got - off);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) e = pkc_io_fail(ctx, w < 0 ? errno : ENOSPC, "write", path);
            else off += (size_t)w;
        }
    }
    if (!e && fsync(fd) != 0) e = pkc_io_fail(ctx, errno, "write", path);
    if (close(fd) != 0 && !e) e = pkc_io_fail(ctx, errno, "write", path);
    if (h) {
        char hex[65];
        pkc_sha256_hex(h, hex);
        if (!e && (total != m->size || strcmp(hex, m->sha256)))
            e = bad(ctx, zip, "%s does not match its size and SHA-256 in the manifest", m->path);
    }
    free(path);
    return e;
}

pkg_error pkc_unpack(pkg_ctx *ctx, const char *zip, const char *dest) {
    if (mkdir(dest, 0755) != 0) return pkc_io_fail(ctx, errno, "create", dest);
    struct archive *a = archive_read_new();
    unsigned char *buf = malloc(1 << 16);
    if (!a || !buf) {
        archive_read_free(a);
        free(buf);
        rmdir(dest);
        return pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
    }
    archive_read_support_format_zip(a);
    pkg_error e = PKG_OK;
    if (archive_read_open_filename(a, zip, 1 << 16) != ARCHIVE_OK)
        e = bad(ctx, zip, "it cannot be opened as a zip archive (%s)", archive_error_string(a));
    struct archive_entry *en;
    mfile *files = NULL;
    size_t nfiles = 0, next = 0;
    cJSON *manifest = NULL;
    int r;
    while (!e && (r = archive_read_next_header(a, &en)) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(en);
        if (!name) name = "";
        if (!manifest) {
            /* the first entry: the manifest, read whole (bounded) */
            la_int64_t sz = archive_entry_size(en);
            if (strcmp(name, PKG_MANIFEST_PATH) || sz <= 0 || (uint64_t)sz > MANIFEST_MAX) {
                e = bad(ctx, zip, "its first entry is not the manifest %s", PKG_MANIFEST_PATH);
                break;
            }
            char *text = malloc((size_t)sz);
            la_ssize_t got = text ? archive_read_data(a, text, (size_t)sz) : -1;
            if (got == sz) manifest = cJSON_ParseWithLength(text, (size_t)sz);
            free(text);
            if (!manifest) {
                e = bad(ctx, zip, "its manifest %s cannot be read", PKG_MANIFEST_PATH);
                break;
            }
            e = parse_manifest(ctx, zip, manifest, &files, &nfiles);
            continue;
        }
        if (next >= nfiles || strcmp(name, files[next].path)) {
            e = bad(ctx, zip, "the entry %s is not the manifest's next file", name);
            break;
        }
        const mfile *m = &files[next++];
        mode_t type = archive_entry_filetype(en);
        if (m->link) {
            const char *target = archive_entry_symlink(en);
            if (type != AE_IFLNK || !target || strcmp(target, m->link)) {
                e = bad(ctx, zip, "the link %s does not match the manifest", m->path);
                break;
            }
            size_t n = strlen(dest) + strlen(m->path) + 2;
            char *path = malloc(n);
            if (!path) {
                e = pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
                break;
            }
            snprintf(path, n, "%s/%s", dest, m->path);
            int err = make_parents(dest, m->path);
            if (err || symlink(m->link, path) != 0) e = pkc_io_fail(ctx, err ? err : errno, "create the link", path);
            free(path);
        } else if (type != AE_IFREG) {
            e = bad(ctx, zip, "the entry %s is not a regular file", m->path);
        } else {
            e = write_file(ctx, zip, a, dest, m, buf, 1 << 16);
        }
    }
    if (!e && r != ARCHIVE_EOF) e = bad(ctx, zip, "it is truncated or damaged (%s)", archive_error_string(a));
    if (!e && !manifest) e = bad(ctx, zip, "it is empty (no manifest)%s", "");
    if (!e && next != nfiles) e = bad(ctx, zip, "the manifest lists %s, which is missing", files[next].path);
    archive_read_free(a);
    cJSON_Delete(manifest);
    free(files);
    free(buf);
    if (e) pkc_remove_tree(dest);
    else pkc_sync_dir(dest);
    return e;
}
