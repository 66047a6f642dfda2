/* pkc_state.c - the install directory (docs/DEVICE.md): state.json, the D/current link, the
 * lock, clean-up, and the start / confirm / rollback / status operations.
 *
 * state.json is the single source of truth and its atomic rename the commit point of every
 * change; D/current is derived from it and repaired whenever the directory is opened. */
#define _POSIX_C_SOURCE 200809L
#define _FILE_OFFSET_BITS 64 /* files over 2 GiB and readdir on 32-bit targets */
#include "pkc_internal.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- small helpers */

char *pkc_path(const pkc_dir *d, const char *a, const char *b) {
    size_t n = strlen(d->root) + strlen(a) + (b ? strlen(b) : 0) + 3;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s%s%s", d->root, a, b ? "/" : "", b ? b : "");
    return p;
}

pkg_error pkc_io_fail(pkg_ctx *ctx, int err, const char *what, const char *path) {
#ifdef EDQUOT
    if (err == EDQUOT) err = ENOSPC;
#endif
    if (err == ENOSPC || err == EFBIG)
        return pkg_fail(ctx, PKG_E_IO, "disk full while %s %s: free some space on the device and run the update again",
                        what, path);
    return pkg_fail(ctx, PKG_E_IO, "cannot %s %s: %s", what, path, strerror(err));
}

int pkc_remove_tree(const char *path) {
    struct stat sb;
    if (lstat(path, &sb) != 0) return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(sb.st_mode)) return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
    DIR *dir = opendir(path);
    if (!dir) return -1;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        size_t n = strlen(path) + strlen(de->d_name) + 2;
        char *c = malloc(n);
        if (!c) {
            rc = -1;
            break;
        }
        snprintf(c, n, "%s/%s", path, de->d_name);
        if (pkc_remove_tree(c)) rc = -1;
        free(c);
    }
    closedir(dir);
    if (rmdir(path) != 0 && errno != ENOENT) rc = -1;
    return rc;
}

void pkc_sync_dir(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

struct pkc_sha256 {
    EVP_MD_CTX *md;
};

pkc_sha256 *pkc_sha256_new(void) {
    pkc_sha256 *h = malloc(sizeof *h);
    if (!h) return NULL;
    h->md = EVP_MD_CTX_new();
    if (!h->md || EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(h->md);
        free(h);
        return NULL;
    }
    return h;
}

void pkc_sha256_update(pkc_sha256 *h, const void *p, size_t n) { EVP_DigestUpdate(h->md, p, n); }

void pkc_sha256_hex(pkc_sha256 *h, char out[65]) {
    unsigned char d[32];
    unsigned int n = 0;
    EVP_DigestFinal_ex(h->md, d, &n);
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
    EVP_MD_CTX_free(h->md);
    free(h);
}

int pkc_sha256_file(const char *path, char out[65], uint64_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    pkc_sha256 *h = pkc_sha256_new();
    unsigned char *buf = malloc(1 << 16);
    uint64_t total = 0;
    size_t n;
    int rc = (h && buf) ? 0 : -1;
    while (!rc && (n = fread(buf, 1, 1 << 16, f)) > 0) {
        pkc_sha256_update(h, buf, n);
        total += n;
    }
    if (ferror(f)) rc = -1;
    fclose(f);
    free(buf);
    if (h) pkc_sha256_hex(h, out);
    if (size) *size = total;
    return rc;
}

/* ---------------------------------------------------------------- state.json */

static void state_free(pkc_state *st) {
    free(st->rejected);
    memset(st, 0, sizeof *st);
}

int pkc_is_rejected(const pkc_state *st, const char *id) {
    for (size_t i = 0; i < st->nrejected; i++)
        if (!strcmp(st->rejected[i], id)) return 1;
    return 0;
}

pkg_error pkc_reject(pkg_ctx *ctx, pkc_state *st, const char *id) {
    if (pkc_is_rejected(st, id)) return PKG_OK;
    char(*v)[65] = realloc(st->rejected, (st->nrejected + 1) * sizeof *v);
    if (!v) return pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
    st->rejected = v;
    memcpy(st->rejected[st->nrejected++], id, 65);
    return PKG_OK;
}

static int get_version(const cJSON *root, const char *key, pkc_version *v) {
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, key);
    memset(v, 0, sizeof *v);
    if (!o || cJSON_IsNull(o)) return 0;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id"), *label = cJSON_GetObjectItemCaseSensitive(o, "label");
    if (!cJSON_IsString(id) || !pkg_valid_id(id->valuestring) || !cJSON_IsString(label) ||
        strlen(label->valuestring) >= sizeof v->label)
        return -1;
    v->set = 1;
    memcpy(v->id, id->valuestring, 65);
    memcpy(v->label, label->valuestring, strlen(label->valuestring) + 1);
    return 0;
}

static pkg_error state_parse(pkg_ctx *ctx, const char *path, const unsigned char *data, size_t len, pkc_state *st) {
    memset(st, 0, sizeof *st);
    cJSON *root = cJSON_ParseWithLength((const char *)data, len);
    const cJSON *schema = root ? cJSON_GetObjectItemCaseSensitive(root, "schema") : NULL;
    const cJSON *app = root ? cJSON_GetObjectItemCaseSensitive(root, "app") : NULL;
    const cJSON *iv = root ? cJSON_GetObjectItemCaseSensitive(root, "index_version") : NULL;
    const cJSON *pending = root ? cJSON_GetObjectItemCaseSensitive(root, "pending") : NULL;
    const cJSON *started = root ? cJSON_GetObjectItemCaseSensitive(root, "started") : NULL;
    const cJSON *rej = root ? cJSON_GetObjectItemCaseSensitive(root, "rejected") : NULL;
    pkg_error e = PKG_OK;
    if (!root || !cJSON_IsNumber(schema) || schema->valuedouble != PKC_STATE_SCHEMA || !cJSON_IsString(app) ||
        !pkg_valid_app(app->valuestring) || strlen(app->valuestring) >= sizeof st->app || !cJSON_IsNumber(iv) ||
        iv->valuedouble < 0 || !cJSON_IsBool(pending) || !cJSON_IsNumber(started) || started->valuedouble < 0 ||
        !cJSON_IsArray(rej) || get_version(root, "current", &st->current) ||
        get_version(root, "previous", &st->previous)) {
        e = pkg_fail(ctx, PKG_E_INSTALL, "%s is damaged (a field is missing or has a wrong type); reinstall the app's "
                     "bundle with 'pkgtool install'", path);
    } else {
        memcpy(st->app, app->valuestring, strlen(app->valuestring) + 1);
        st->index_version = (uint64_t)iv->valuedouble;
        st->pending = cJSON_IsTrue(pending);
        st->started = (unsigned)started->valuedouble;
        const cJSON *r;
        cJSON_ArrayForEach(r, rej) {
            if (!cJSON_IsString(r) || !pkg_valid_id(r->valuestring)) {
                e = pkg_fail(ctx, PKG_E_INSTALL, "%s is damaged (a rejected id is not a bundle id)", path);
                break;
            }
            if ((e = pkc_reject(ctx, st, r->valuestring))) break;
        }
    }
    cJSON_Delete(root);
    if (e) state_free(st);
    return e;
}

static void json_version(pkg_buf *b, const pkc_version *v) {
    if (!v->set) {
        pkg_buf_str(b, "null");
        return;
    }
    pkg_buf_printf(b, "{\"id\": \"%s\", \"label\": ", v->id);
    pkg_buf_json_str(b, v->label);
    pkg_buf_str(b, "}");
}

static char *state_json(const pkc_state *st) {
    pkg_buf b = {0};
    pkg_buf_printf(&b, "{\n  \"schema\": %d,\n  \"app\": ", PKC_STATE_SCHEMA);
    pkg_buf_json_str(&b, st->app);
    pkg_buf_printf(&b, ",\n  \"index_version\": %llu,\n  \"current\": ", (unsigned long long)st->index_version);
    json_version(&b, &st->current);
    pkg_buf_str(&b, ",\n  \"previous\": ");
    json_version(&b, &st->previous);
    pkg_buf_printf(&b, ",\n  \"pending\": %s,\n  \"started\": %u,\n  \"rejected\": [", st->pending ? "true" : "false",
                   st->started);
    for (size_t i = 0; i < st->nrejected; i++) pkg_buf_printf(&b, "%s\"%s\"", i ? ", " : "", st->rejected[i]);
    pkg_buf_str(&b, "]\n}\n");
    if (b.oom) {
        free(b.data);
        return NULL;
    }
    return b.data;
}

/* ---------------------------------------------------------------- the directory */

/* Makes D/current a link to versions/<current id>, or removes it when nothing is installed:
 * a new link is made beside it and renamed over it, so readers see the old or the new one. */
static pkg_error link_current(pkg_ctx *ctx, pkc_dir *d) {
    char *cur = pkc_path(d, "current", NULL), *tmp = pkc_path(d, "tmp", "current.link");
    if (!cur || !tmp) {
        free(cur);
        free(tmp);
        return pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
    }
    pkg_error e = PKG_OK;
    if (!d->st.current.set) {
        if (unlink(cur) != 0 && errno != ENOENT) e = pkc_io_fail(ctx, errno, "remove", cur);
    } else {
        char want[80], have[80];
        snprintf(want, sizeof want, "versions/%s", d->st.current.id);
        ssize_t n = readlink(cur, have, sizeof have - 1);
        if (n < 0 || (size_t)n != strlen(want) || memcmp(have, want, (size_t)n)) {
            unlink(tmp);
            if (symlink(want, tmp) != 0) e = pkc_io_fail(ctx, errno, "create the link", tmp);
            else if (rename(tmp, cur) != 0) e = pkc_io_fail(ctx, errno, "switch", cur);
            else pkc_sync_dir(d->root);
        }
    }
    free(cur);
    free(tmp);
    return e;
}

pkg_error pkc_dir_open(pkg_ctx *ctx, pkc_dir *d, const char *install_dir, const char *app, int flags) {
    int create = flags & PKC_OPEN_CREATE, locked = 0;
    memset(d, 0, sizeof *d);
    d->lock_fd = -1;
    if (!install_dir || !*install_dir) return pkg_fail(ctx, PKG_E_MISUSE, "no install directory given");
    d->root = strdup(install_dir);
    if (!d->root) return pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
    struct stat sb;
    if (stat(install_dir, &sb) != 0) {
        if (!create) {
            pkc_dir_close(d);
            return pkg_fail(ctx, PKG_E_NOT_FOUND, "%s does not exist: nothing is installed there", install_dir);
        }
    } else if (!S_ISDIR(sb.st_mode)) {
        pkc_dir_close(d);
        return pkg_fail(ctx, PKG_E_INPUT, "%s is not a directory", install_dir);
    }
    pkg_error e = PKG_OK;
    char *vers = pkc_path(d, "versions", NULL), *tmp = pkc_path(d, "tmp", NULL);
    char *lock = pkc_path(d, ".lock", NULL), *state = pkc_path(d, "state.json", NULL);
    if (!vers || !tmp || !lock || !state) e = pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
    if (!e && create) e = pkg_mkdirs(ctx, vers);
    if (!e && create) e = pkg_mkdirs(ctx, tmp);
    if (!e) {
        d->lock_fd = open(lock, O_RDWR | O_CREAT, 0644);
        if (d->lock_fd < 0 && (create || errno != ENOENT)) e = pkc_io_fail(ctx, errno, "open", lock);
    }
    if (!e && d->lock_fd >= 0) {
        struct flock fl;
        memset(&fl, 0, sizeof fl);
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        if (fcntl(d->lock_fd, F_SETLK, &fl) == 0) locked = 1;
        else
            e = pkg_fail(ctx, PKG_E_INSTALL, "another pkgtool is working on %s; try again when it has finished",
                         install_dir);
    }
    if (!e && pkg_file_exists(state)) {
        unsigned char *data;
        size_t len;
        e = pkg_read_file(ctx, state, &data, &len);
        if (!e) {
            e = state_parse(ctx, state, data, len, &d->st);
            free(data);
        }
        d->exists = !e;
    }
    if (e == PKG_E_INSTALL && locked && (flags & PKC_OPEN_RESET)) {
        /* a damaged state.json (the lock is ours): start afresh; the caller installs over it */
        e = PKG_OK;
        d->exists = 0;
        state_free(&d->st);
    }
    if (!e && d->exists && app && strcmp(d->st.app, app))
        e = pkg_fail(ctx, PKG_E_MISUSE, "%s holds app %s, not %s; use another install directory", install_dir,
                     d->st.app, app);
    if (!e && !d->exists) {
        if (!create) e = pkg_fail(ctx, PKG_E_NOT_FOUND, "nothing is installed in %s (no state.json)", install_dir);
        else if (app) snprintf(d->st.app, sizeof d->st.app, "%s", app);
    }
    if (!e && d->exists && d->st.current.set) {
        /* the state names a version: its files must be there, or the state is not to be trusted */
        char *dir = pkc_path(d, "versions", d->st.current.id);
        struct stat vs;
        if (!dir) e = pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
        else if (stat(dir, &vs) != 0 || !S_ISDIR(vs.st_mode)) {
            if (flags & PKC_OPEN_RESET) {
                d->exists = 0;
                memset(&d->st.current, 0, sizeof d->st.current);
                memset(&d->st.previous, 0, sizeof d->st.previous);
                d->st.pending = 0;
            } else {
                e = pkg_fail(ctx, PKG_E_INSTALL,
                             "%s names version %s but %s is missing; reinstall with 'pkgtool install'", state,
                             d->st.current.id, dir);
            }
        }
        free(dir);
    }
    if (!e && d->exists) e = link_current(ctx, d);
    free(vers);
    free(tmp);
    free(lock);
    free(state);
    if (e) pkc_dir_close(d);
    return e;
}

void pkc_dir_close(pkc_dir *d) {
    if (d->lock_fd >= 0) close(d->lock_fd); /* releases the lock */
    free(d->root);
    state_free(&d->st);
    memset(d, 0, sizeof *d);
    d->lock_fd = -1;
}

pkg_error pkc_state_write(pkg_ctx *ctx, pkc_dir *d) {
    char *json = state_json(&d->st);
    char *path = pkc_path(d, "state.json", NULL);
    pkg_error e = (!json || !path) ? pkg_fail(ctx, PKG_E_NOMEM, "out of memory")
                                   : pkg_write_file_atomic(ctx, path, json, strlen(json));
    free(json);
    free(path);
    if (!e) d->exists = 1;
    return e;
}

pkg_error pkc_link_current(pkg_ctx *ctx, pkc_dir *d) { return link_current(ctx, d); }

pkg_error pkc_state_commit(pkg_ctx *ctx, pkc_dir *d) {
    pkg_error e = pkc_state_write(ctx, d);
    return e ? e : link_current(ctx, d);
}

static int wanted_version(const pkc_dir *d, const char *name) {
    const pkc_version *v[2] = {&d->st.current, &d->st.previous};
    for (int i = 0; i < 2; i++) {
        if (!v[i]->set) continue;
        size_t n = strlen(v[i]->id);
        if (!strncmp(name, v[i]->id, n) && (!name[n] || !strcmp(name + n, ".zip"))) return 1;
    }
    return 0;
}

static void clean_dir(const pkc_dir *d, const char *sub, int versions, const char *keep) {
    char *path = pkc_path(d, sub, NULL);
    DIR *dir = path ? opendir(path) : NULL;
    struct dirent *de;
    while (dir && (de = readdir(dir))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if (versions ? wanted_version(d, de->d_name) : (keep && !strcmp(de->d_name, keep))) continue;
        char *c = pkc_path(d, sub, de->d_name);
        if (c) pkc_remove_tree(c);
        free(c);
    }
    if (dir) closedir(dir);
    free(path);
}

void pkc_cleanup(pkc_dir *d, const char *keep_tmp) {
    clean_dir(d, "versions", 1, NULL);
    clean_dir(d, "tmp", 0, keep_tmp);
}

/* ---------------------------------------------------------------- operations */

/* current -> previous; the version left is rejected. */
static pkg_error roll_back(pkg_ctx *ctx, pkc_dir *d) {
    pkg_error e = pkc_reject(ctx, &d->st, d->st.current.id);
    if (e) return e;
    d->st.current = d->st.previous;
    memset(&d->st.previous, 0, sizeof d->st.previous);
    d->st.pending = 0;
    d->st.started = 0;
    e = pkc_state_commit(ctx, d);
    if (!e) pkc_cleanup(d, NULL);
    return e;
}

pkg_error pkc_start(pkg_ctx *ctx, const char *install_dir, char **run_dir, int *rolled_back) {
    if (!ctx) return PKG_E_MISUSE;
    if (!run_dir) return pkg_fail(ctx, PKG_E_MISUSE, "pkc_start: NULL argument");
    *run_dir = NULL;
    if (rolled_back) *rolled_back = 0;
    pkc_dir d;
    pkg_error e = pkc_dir_open(ctx, &d, install_dir, NULL, 0);
    if (e) return e;
    if (d.st.current.set && d.st.pending) {
        if (d.st.started >= 1) {
            /* started before and never confirmed: the app did not reach its healthy point */
            e = roll_back(ctx, &d);
            if (!e && rolled_back) *rolled_back = 1;
        } else {
            d.st.started++;
            e = pkc_state_commit(ctx, &d);
        }
    }
    if (!e && !d.st.current.set)
        e = pkg_fail(ctx, PKG_E_NOT_FOUND, "nothing is installed in %s: run the bundle the app ships with",
                     install_dir);
    if (!e) {
        *run_dir = pkc_path(&d, "versions", d.st.current.id);
        if (!*run_dir) e = pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
    }
    pkc_dir_close(&d);
    return e;
}

static pkg_error confirm(pkg_ctx *ctx, pkc_dir *d) {
    if (!d->st.pending) return PKG_OK;
    d->st.pending = 0;
    d->st.started = 0;
    return pkc_state_commit(ctx, d);
}

/* Opens install_dir and applies op to its current version (PKG_E_NOT_FOUND without one). */
static pkg_error on_current(pkg_ctx *ctx, const char *install_dir, pkg_error (*op)(pkg_ctx *, pkc_dir *)) {
    if (!ctx) return PKG_E_MISUSE;
    pkc_dir d;
    pkg_error e = pkc_dir_open(ctx, &d, install_dir, NULL, 0);
    if (e) return e;
    e = d.st.current.set ? op(ctx, &d) : pkg_fail(ctx, PKG_E_NOT_FOUND, "nothing is installed in %s", install_dir);
    pkc_dir_close(&d);
    return e;
}

pkg_error pkc_confirm(pkg_ctx *ctx, const char *install_dir) { return on_current(ctx, install_dir, confirm); }

pkg_error pkc_rollback(pkg_ctx *ctx, const char *install_dir) { return on_current(ctx, install_dir, roll_back); }

pkg_error pkc_status(pkg_ctx *ctx, const char *install_dir, char **json) {
    if (!ctx) return PKG_E_MISUSE;
    if (!json) return pkg_fail(ctx, PKG_E_MISUSE, "pkc_status: NULL argument");
    *json = NULL;
    pkc_dir d;
    pkg_error e = pkc_dir_open(ctx, &d, install_dir, NULL, 0);
    if (e) return e;
    *json = state_json(&d.st);
    if (!*json) e = pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
    pkc_dir_close(&d);
    return e;
}
