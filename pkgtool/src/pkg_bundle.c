/* pkg_bundle.c - canonical bundles: reads a directory or any archive, refuses unsafe entries,
 * and writes a reproducible stored zip with a manifest (see pkgtool.h). */
#define _POSIX_C_SOURCE 200809L
#include "pkg_internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* 2000-01-01 00:00:00 UTC: a fixed time stamp every zip tool can represent. */
#define PKG_FIXED_MTIME 946684800

typedef struct entry {
    char *path;           /* normalized: no leading "./", no empty, "." or ".." parts */
    unsigned char *data;  /* file content, or the link target for symlinks */
    size_t size;
    int exec;             /* any execute bit set */
    int is_link;
} entry;

typedef struct entry_list {
    entry *v;
    size_t n, cap;
} entry_list;

static void list_free(entry_list *l) {
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].path);
        free(l->v[i].data);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* Normalizes an archive or directory path; returns a malloc'd string, or NULL with *why set
 * when the path is unsafe. An empty result (the root itself) returns "". */
static char *normalize(const char *in, const char **why) {
    if (!in || !*in) {
        *why = "empty path";
        return NULL;
    }
    if (in[0] == '/') {
        *why = "absolute path";
        return NULL;
    }
    if (strchr(in, '\\')) {
        *why = "backslash in path";
        return NULL;
    }
    size_t n = strlen(in);
    char *out = malloc(n + 1);
    if (!out) {
        *why = "out of memory";
        return NULL;
    }
    size_t o = 0;
    const char *p = in;
    while (*p) {
        const char *q = strchr(p, '/');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            free(out);
            *why = "path contains '..'";
            return NULL;
        }
        if (len > 0 && !(len == 1 && p[0] == '.')) {
            if (o) out[o++] = '/';
            memcpy(out + o, p, len);
            o += len;
        }
        p += len;
        if (*p == '/') p++;
    }
    out[o] = '\0';
    return out;
}

/* A symlink at path pointing to target must stay inside the tree. Checking the target
 * lexically is not enough when it passes through another link ("a/b/s" -> "../.." then
 * "p" -> "a/b/s/../../../x" climbs above the root), so ".." may only lead the target: it then
 * climbs real directories (no entry lies under a link: see the file/directory check) and the
 * rest only descends. Returns NULL when safe, else why not. */
static const char *link_problem(const char *path, const char *target) {
    if (!*target) return "an empty target";
    if (target[0] == '/') return "an absolute target";
    int depth = 0, descended = 0;
    for (const char *s = path; *s; s++)
        if (*s == '/') depth++; /* directories above the link */
    const char *p = target;
    while (*p) {
        const char *q = strchr(p, '/');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            if (descended) return "'..' after a name (it could leave the tree through another link)";
            if (--depth < 0) return "a target that leaves the tree";
        } else if (len > 0 && !(len == 1 && p[0] == '.')) {
            depth++;
            descended = 1;
        }
        p += len;
        if (*p == '/') p++;
    }
    return NULL;
}

static pkg_error list_add(pkg_ctx *ctx, entry_list *l, char *path, unsigned char *data, size_t size,
                          int exec, int is_link) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        entry *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            free(path);
            free(data);
            return pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (entry){path, data, size, exec, is_link};
    return PKG_OK;
}

static int by_path(const void *a, const void *b) {
    return strcmp(((const entry *)a)->path, ((const entry *)b)->path);
}

/* ---------------------------------------------------------------- directory input */

static pkg_error walk_dir(pkg_ctx *ctx, const char *root, const char *rel, entry_list *l) {
    char *dirpath = *rel ? pkg_join(root, rel) : strdup(root);
    if (!dirpath) return pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
    DIR *d = opendir(dirpath);
    if (!d) {
        pkg_error e = pkg_fail(ctx, PKG_E_INPUT, "cannot read directory %s: %s", dirpath, strerror(errno));
        free(dirpath);
        return e;
    }
    pkg_error e = PKG_OK;
    struct dirent *de;
    while (e == PKG_OK && (de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char *relp = *rel ? pkg_join(rel, de->d_name) : strdup(de->d_name);
        char *full = relp ? pkg_join(root, relp) : NULL;
        struct stat st;
        if (!relp || !full) {
            e = pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
        } else if (lstat(full, &st) != 0) {
            e = pkg_fail(ctx, PKG_E_INPUT, "cannot stat %s: %s", full, strerror(errno));
        } else if (S_ISDIR(st.st_mode)) {
            e = walk_dir(ctx, root, relp, l);
        } else if (S_ISLNK(st.st_mode)) {
            char target[4096];
            ssize_t n = readlink(full, target, sizeof target - 1);
            if (n < 0) {
                e = pkg_fail(ctx, PKG_E_INPUT, "cannot read link %s: %s", full, strerror(errno));
            } else {
                target[n] = '\0';
                const char *why = link_problem(relp, target);
                if (why) {
                    e = pkg_fail(ctx, PKG_E_UNSAFE, "unsafe entry %s: symbolic link to %s: %s", relp, target,
                                 why);
                } else {
                    char *t = strdup(target), *p = strdup(relp);
                    e = (t && p) ? list_add(ctx, l, p, (unsigned char *)t, (size_t)n, 0, 1)
                                 : pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
                    if (!(t && p)) {
                        free(t);
                        free(p);
                    }
                }
            }
        } else if (S_ISREG(st.st_mode)) {
            unsigned char *data;
            size_t len;
            e = pkg_read_file(ctx, full, &data, &len);
            if (e == PKG_OK) {
                char *p = strdup(relp);
                if (!p) {
                    free(data);
                    e = pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
                } else {
                    e = list_add(ctx, l, p, data, len, (st.st_mode & 0111) != 0, 0);
                }
            }
        } else {
            e = pkg_fail(ctx, PKG_E_UNSAFE, "unsafe entry %s: not a regular file, directory or link "
                                            "(device, fifo or socket)", relp);
        }
        free(relp);
        free(full);
    }
    closedir(d);
    free(dirpath);
    return e;
}

/* ---------------------------------------------------------------- archive input */

static pkg_error read_archive(pkg_ctx *ctx, const char *path, entry_list *l) {
    struct archive *a = archive_read_new();
    if (!a) return pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
    archive_read_support_filter_all(a);
    archive_read_support_format_all(a);
    if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
        pkg_error e = pkg_fail(ctx, PKG_E_INPUT, "%s is neither a directory nor a readable archive: %s",
                               path, archive_error_string(a));
        archive_read_free(a);
        return e;
    }
    pkg_error e = PKG_OK;
    struct archive_entry *ae;
    int r;
    while (e == PKG_OK && (r = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
        const char *why = NULL;
        const char *raw = archive_entry_pathname(ae);
        char *p = normalize(raw, &why);
        if (!p) {
            e = pkg_fail(ctx, PKG_E_UNSAFE, "unsafe entry %s: %s", raw ? raw : "(unnamed)", why);
            break;
        }
        mode_t type = archive_entry_filetype(ae);
        const char *hard = archive_entry_hardlink(ae);
        if (hard) {
            char *hp = normalize(hard, &why);
            size_t i = 0;
            if (hp)
                for (; i < l->n; i++)
                    if (!strcmp(l->v[i].path, hp) && !l->v[i].is_link) break;
            if (!hp || i == l->n) {
                e = pkg_fail(ctx, PKG_E_UNSAFE, "unsafe entry %s: hard link to %s, which is not an earlier "
                                                "file of the archive", p, hard);
                free(hp);
                free(p);
                break;
            }
            free(hp);
            unsigned char *copy = malloc(l->v[i].size ? l->v[i].size : 1);
            if (!copy) {
                free(p);
                e = pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
                break;
            }
            memcpy(copy, l->v[i].data, l->v[i].size);
            e = list_add(ctx, l, p, copy, l->v[i].size, l->v[i].exec, 0);
        } else if (type == AE_IFDIR) {
            free(p);
        } else if (type == AE_IFLNK) {
            const char *target = archive_entry_symlink(ae);
            const char *lwhy = target ? link_problem(p, target) : "no target";
            if (lwhy) {
                e = pkg_fail(ctx, PKG_E_UNSAFE, "unsafe entry %s: symbolic link to %s: %s", p,
                             target ? target : "(nothing)", lwhy);
                free(p);
                break;
            }
            char *t = strdup(target);
            if (!t) {
                free(p);
                e = pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
                break;
            }
            e = list_add(ctx, l, p, (unsigned char *)t, strlen(t), 0, 1);
        } else if (type == AE_IFREG) {
            if (!*p) {
                free(p);
                e = pkg_fail(ctx, PKG_E_UNSAFE, "unsafe entry %s: empty path", raw);
                break;
            }
            size_t cap = 65536, len = 0;
            unsigned char *data = malloc(cap);
            ssize_t n = 0;
            while (data && (n = archive_read_data(a, data + len, cap - len)) > 0) {
                len += (size_t)n;
                if (len == cap) {
                    unsigned char *d2 = realloc(data, cap * 2);
                    if (!d2) {
                        free(data);
                        data = NULL;
                        break;
                    }
                    data = d2;
                    cap *= 2;
                }
            }
            if (!data) {
                free(p);
                e = pkg_fail(ctx, PKG_E_NOMEM, "out of memory reading %s", raw);
                break;
            }
            if (n < 0) {
                free(p);
                free(data);
                e = pkg_fail(ctx, PKG_E_INPUT, "cannot read %s from %s: %s", raw, path, archive_error_string(a));
                break;
            }
            e = list_add(ctx, l, p, data, len, (archive_entry_perm(ae) & 0111) != 0, 0);
        } else {
            e = pkg_fail(ctx, PKG_E_UNSAFE, "unsafe entry %s: not a regular file, directory or link "
                                            "(device, fifo or socket)", p);
            free(p);
        }
    }
    if (e == PKG_OK && r != ARCHIVE_EOF)
        e = pkg_fail(ctx, PKG_E_INPUT, "cannot read %s: %s", path, archive_error_string(a));
    archive_read_free(a);
    return e;
}

/* ---------------------------------------------------------------- writing */

typedef struct membuf {
    unsigned char *data;
    size_t len, cap;
    int oom;
} membuf;

static la_ssize_t mem_write(struct archive *a, void *opaque, const void *buf, size_t n) {
    (void)a;
    membuf *m = opaque;
    if (m->len + n > m->cap) {
        size_t cap = m->cap ? m->cap : 65536;
        while (cap < m->len + n) cap *= 2;
        unsigned char *d = realloc(m->data, cap);
        if (!d) {
            m->oom = 1;
            return -1;
        }
        m->data = d;
        m->cap = cap;
    }
    memcpy(m->data + m->len, buf, n);
    m->len += n;
    return (la_ssize_t)n;
}

static int write_entry(struct archive *a, const char *path, const void *data, size_t size, int exec,
                       int is_link) {
    struct archive_entry *ae = archive_entry_new();
    if (!ae) return -1;
    archive_entry_set_pathname(ae, path);
    archive_entry_set_mtime(ae, PKG_FIXED_MTIME, 0);
    archive_entry_set_uid(ae, 0);
    archive_entry_set_gid(ae, 0);
    if (is_link) {
        archive_entry_set_filetype(ae, AE_IFLNK);
        archive_entry_set_perm(ae, 0777);
        archive_entry_set_symlink(ae, (const char *)data);
        archive_entry_set_size(ae, 0);
    } else {
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_perm(ae, exec ? 0755 : 0644);
        archive_entry_set_size(ae, (la_int64_t)size);
    }
    int r = archive_write_header(a, ae);
    archive_entry_free(ae);
    if (r != ARCHIVE_OK) return -1;
    if (!is_link && size > 0 && archive_write_data(a, data, size) != (la_ssize_t)size) return -1;
    return archive_write_finish_entry(a) == ARCHIVE_OK ? 0 : -1;
}

static unsigned rd16(const unsigned char *p) { return (unsigned)p[0] | (unsigned)p[1] << 8; }
static uint32_t rd32(const unsigned char *p) { return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static uint64_t rd64(const unsigned char *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* libarchive writes each entry's DOS date and time in the host's local time zone, so the same
 * tree would give different bundles in Paris and in Tokyo. Overwrites them, in every local
 * header and central directory record, with the fixed time stamp in UTC (2000-01-01 00:00:00:
 * date 0x2821, time 0). Returns -1 if the archive is not laid out as expected. */
static int fix_dos_times(unsigned char *z, size_t len) {
    if (len < 22) return -1;
    size_t eocd = len - 22; /* we write no archive comment */
    if (rd32(z + eocd) != 0x06054b50) return -1;
    uint64_t count = rd16(z + eocd + 10), cdoff = rd32(z + eocd + 16);
    if ((count == 0xffff || cdoff == 0xffffffff) && eocd >= 20 && rd32(z + eocd - 20) == 0x07064b50) {
        uint64_t z64 = rd64(z + eocd - 20 + 8);
        if (z64 > len || len - z64 < 56 || rd32(z + z64) != 0x06064b50) return -1;
        count = rd64(z + z64 + 32);
        cdoff = rd64(z + z64 + 48);
    }
    uint64_t p = cdoff;
    for (uint64_t i = 0; i < count; i++) {
        if (p > len || len - p < 46 || rd32(z + p) != 0x02014b50) return -1;
        uint64_t name = rd16(z + p + 28), extra = rd16(z + p + 30), comment = rd16(z + p + 32);
        uint64_t local = rd32(z + p + 42);
        if (len - p - 46 < name + extra + comment) return -1;
        if (local == 0xffffffff) { /* in the zip64 extra field, after the sizes that overflowed */
            const unsigned char *x = z + p + 46 + name, *end = x + extra;
            for (local = UINT64_MAX; x + 4 <= end && local == UINT64_MAX; x += 4 + rd16(x + 2)) {
                if (rd16(x) != 0x0001) continue;
                size_t at = 4 + 8 * ((rd32(z + p + 24) == 0xffffffff) + (rd32(z + p + 20) == 0xffffffff));
                if (x + at + 8 > end) return -1;
                local = rd64(x + at);
            }
        }
        if (local > len || len - local < 30 || rd32(z + local) != 0x04034b50) return -1;
        memcpy(z + p + 12, "\x00\x00\x21\x28", 4);
        memcpy(z + local + 10, "\x00\x00\x21\x28", 4);
        p += 46 + name + extra + comment;
    }
    return 0;
}

static pkg_error build_zip(pkg_ctx *ctx, entry_list *l, membuf *out) {
    /* the manifest: one line per file, so a change to one file changes one line */
    pkg_buf m = {0};
    pkg_buf_str(&m, "{\"bsdelta_manifest\":1,\"files\":[\n");
    for (size_t i = 0; i < l->n; i++) {
        entry *en = &l->v[i];
        char sha[65];
        pkg_sha256_hex(en->data, en->size, sha);
        pkg_buf_str(&m, "{\"path\":");
        pkg_buf_json_str(&m, en->path);
        if (en->is_link) {
            pkg_buf_str(&m, ",\"link\":");
            pkg_buf_json_str(&m, (const char *)en->data);
            pkg_buf_str(&m, "}");
        } else {
            pkg_buf_printf(&m, ",\"size\":%zu,\"sha256\":\"%s\"%s}", en->size, sha,
                           en->exec ? ",\"exec\":true" : "");
        }
        pkg_buf_str(&m, i + 1 < l->n ? ",\n" : "\n");
    }
    pkg_buf_str(&m, "]}\n");
    if (m.oom) {
        free(m.data);
        return pkg_fail(ctx, PKG_E_NOMEM, "out of memory building the manifest");
    }
    struct archive *a = archive_write_new();
    if (!a) {
        free(m.data);
        return pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
    }
    int ok = archive_write_set_format_zip(a) == ARCHIVE_OK &&
             archive_write_zip_set_compression_store(a) == ARCHIVE_OK &&
             archive_write_set_bytes_in_last_block(a, 1) == ARCHIVE_OK &&
             archive_write_open(a, out, NULL, mem_write, NULL) == ARCHIVE_OK;
    ok = ok && write_entry(a, PKG_MANIFEST_PATH, m.data, m.len, 0, 0) == 0;
    for (size_t i = 0; ok && i < l->n; i++)
        ok = write_entry(a, l->v[i].path, l->v[i].data, l->v[i].size, l->v[i].exec, l->v[i].is_link) == 0;
    ok = archive_write_close(a) == ARCHIVE_OK && ok;
    pkg_error e = PKG_OK;
    if (!ok)
        e = pkg_fail(ctx, out->oom ? PKG_E_NOMEM : PKG_E_IO, "cannot write the bundle: %s",
                     archive_error_string(a) ? archive_error_string(a) : "out of memory");
    else if (fix_dos_times(out->data, out->len) != 0)
        e = pkg_fail(ctx, PKG_E_IO, "cannot write the bundle: unexpected zip layout from libarchive");
    archive_write_free(a);
    free(m.data);
    return e;
}

pkg_error pkg_pack_memory(pkg_ctx *ctx, const char *input, unsigned char **out, size_t *out_len,
                          pkg_bundle_info *info) {
    if (!ctx) return PKG_E_MISUSE;
    if (!input || !out || !out_len) return pkg_fail(ctx, PKG_E_MISUSE, "pkg_pack_memory: NULL argument");
    *out = NULL;
    *out_len = 0;
    struct stat st;
    if (stat(input, &st) != 0)
        return pkg_fail(ctx, PKG_E_INPUT, "cannot open %s: %s", input, strerror(errno));
    entry_list l = {0};
    pkg_error e = S_ISDIR(st.st_mode) ? walk_dir(ctx, input, "", &l) : read_archive(ctx, input, &l);
    if (e == PKG_OK) {
        /* drop a manifest from an earlier pack: it is rebuilt from the files */
        size_t w = 0;
        for (size_t i = 0; i < l.n; i++) {
            if (!strcmp(l.v[i].path, PKG_MANIFEST_PATH)) {
                free(l.v[i].path);
                free(l.v[i].data);
            } else {
                l.v[w++] = l.v[i];
            }
        }
        l.n = w;
        qsort(l.v, l.n, sizeof *l.v, by_path);
        for (size_t i = 0; i + 1 < l.n && e == PKG_OK; i++)
            if (!strcmp(l.v[i].path, l.v[i + 1].path))
                e = pkg_fail(ctx, PKG_E_UNSAFE, "unsafe entry %s: the path appears twice", l.v[i].path);
        /* nor may an entry sit where the manifest or its directory goes (".bsdelta" as a file,
         * ".bsdelta/manifest.json/x") */
        for (size_t i = 0; i < l.n && e == PKG_OK; i++) {
            const char *p = l.v[i].path, *m = PKG_MANIFEST_PATH;
            size_t n = strlen(p), mn = strlen(m);
            if ((n < mn && !strncmp(m, p, n) && m[n] == '/') || (n > mn && !strncmp(p, m, mn) && p[mn] == '/'))
                e = pkg_fail(ctx, PKG_E_UNSAFE, "unsafe entry %s: it collides with the bundle's manifest %s", p, m);
        }
        /* a file cannot also be a directory of another entry ("a" and "a/b") */
        for (size_t i = 0; i + 1 < l.n && e == PKG_OK; i++) {
            size_t n = strlen(l.v[i].path);
            for (size_t j = i + 1; j < l.n && !strncmp(l.v[j].path, l.v[i].path, n); j++)
                if (l.v[j].path[n] == '/') {
                    e = pkg_fail(ctx, PKG_E_UNSAFE, "unsafe entry %s: %s is both a file and a directory",
                                 l.v[j].path, l.v[i].path);
                    break;
                }
        }
    }
    membuf mb = {0};
    if (e == PKG_OK) e = build_zip(ctx, &l, &mb);
    if (e == PKG_OK && info) {
        memset(info, 0, sizeof *info);
        pkg_sha256_hex(mb.data, mb.len, info->id);
        info->size = mb.len;
        info->files = l.n;
        for (size_t i = 0; i < l.n; i++) info->content_bytes += l.v[i].is_link ? 0 : l.v[i].size;
    }
    list_free(&l);
    if (e != PKG_OK) {
        free(mb.data);
        return e;
    }
    *out = mb.data;
    *out_len = mb.len;
    return PKG_OK;
}

pkg_error pkg_pack_file(pkg_ctx *ctx, const char *input, const char *out_path, pkg_bundle_info *info) {
    if (!ctx) return PKG_E_MISUSE;
    unsigned char *data;
    size_t len;
    pkg_error e = pkg_pack_memory(ctx, input, &data, &len, info);
    if (e) return e;
    e = pkg_write_file_atomic(ctx, out_path, data, len);
    free(data);
    return e;
}
