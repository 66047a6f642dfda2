/* pkg_index.c - reads and writes a store's index.json (schema in docs/STORE.md). The index is
 * parsed with cJSON and every field is type-checked: a damaged index is PKG_E_STORE, never a
 * crash. */
#define _POSIX_C_SOURCE 200809L
#define _FILE_OFFSET_BITS 64 /* files over 2 GiB and readdir on 32-bit targets */
#include "pkg_index.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void pkg_index_free(pkg_index *ix) {
    for (size_t i = 0; i < ix->nrel; i++) {
        free(ix->rel[i].label);
        free(ix->rel[i].min_native);
        free(ix->rel[i].message);
        free(ix->rel[i].patches);
    }
    free(ix->rel);
    free(ix->app);
    memset(ix, 0, sizeof *ix);
}

int pkg_valid_app(const char *app) {
    if (!app || !*app || app[0] == '.' || strlen(app) > 100) return 0;
    for (const char *p = app; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return 0;
    return 1;
}

int pkg_valid_id(const char *id) {
    if (!id || strlen(id) != 64) return 0;
    for (const char *p = id; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return 0;
    return 1;
}

void pkg_bundle_name(const char *id, char out[200]) { snprintf(out, 200, "bundles/%s.zip", id); }

void pkg_patch_name(const char *from, const char *to, char out[200]) {
    snprintf(out, 200, "patches/%s-%s.bsdelta", from, to);
}

long pkg_find_id(const pkg_index *ix, const char *id) {
    if (!id) return -1;
    for (size_t i = 0; i < ix->nrel; i++)
        if (!strcmp(ix->rel[i].id, id)) return (long)i;
    return -1;
}

void pkg_iso_time(int64_t t, char out[32]) {
    /* civil from days (proleptic Gregorian) in 64 bits: right beyond 2038 on 32-bit time_t */
    int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400), secs = t - days * 86400;
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097, doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9, y = yoe + era * 400 + (m <= 2);
    char buf[128];
    snprintf(buf, sizeof buf, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lldZ", (long long)y, (long long)m, (long long)d,
             (long long)(secs / 3600), (long long)(secs / 60 % 60), (long long)(secs % 60));
    snprintf(out, 32, "%.31s", buf);
}

static int parse_iso_time(const char *s, int64_t *out) {
    /* exactly YYYY-MM-DDTHH:MM:SSZ with values in range: the index is untrusted input */
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
    for (size_t i = 0; i < sizeof shape - 1; i++)
        if (shape[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != shape[i]) return -1;
    if (s[sizeof shape - 1]) return -1;
    int Y, M, D, h, m, sec;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ", &Y, &M, &D, &h, &m, &sec) != 6) return -1;
    if (Y < 1970 || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60) return -1;
    /* days from civil (proleptic Gregorian), independent of the host time zone */
    int y = Y - (M <= 2);
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (M + (M > 2 ? -3 : 9)) + 2) / 5 + D - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = (int64_t)era * 146097 + doe - 719468;
    *out = days * 86400 + h * 3600 + m * 60 + sec;
    return 0;
}

static const char *get_str(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int get_u64(const cJSON *o, const char *k, uint64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9007199254740992.0) return -1;
    *out = (uint64_t)v->valuedouble;
    return 0;
}

static pkg_error bad(pkg_ctx *ctx, const char *path, const char *what) {
    return pkg_fail(ctx, PKG_E_STORE, "%s is damaged: %s (run 'pkgtool verify')", path, what);
}

pkg_error pkg_index_load(pkg_ctx *ctx, const char *appdir, const char *app, pkg_index *ix, int *exists) {
    memset(ix, 0, sizeof *ix);
    *exists = 0;
    char *path = pkg_join(appdir, "index.json");
    if (!path) return pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
    if (!pkg_file_exists(path)) {
        free(path);
        ix->app = strdup(app);
        return ix->app ? PKG_OK : pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
    }
    unsigned char *data;
    size_t len;
    pkg_error e = pkg_read_file(ctx, path, &data, &len);
    if (!e) {
        *exists = 1;
        e = pkg_index_parse(ctx, data, len, path, app, ix);
        free(data);
    }
    free(path);
    return e;
}

pkg_error pkg_index_parse(pkg_ctx *ctx, const void *data, size_t len, const char *path, const char *app,
                          pkg_index *ix) {
    memset(ix, 0, sizeof *ix);
    ix->app = strdup(app);
    if (!ix->app) return pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
    pkg_error e = PKG_OK;
    cJSON *root = cJSON_ParseWithLength((const char *)data, len);
    const cJSON *rels, *expires = root ? cJSON_GetObjectItemCaseSensitive(root, "expires") : NULL;
    uint64_t schema = 0;
    if (!root) {
        e = bad(ctx, path, "not valid JSON");
    } else if (get_u64(root, "schema", &schema) || schema != PKG_INDEX_SCHEMA) {
        e = bad(ctx, path, "unknown schema");
    } else if (!get_str(root, "app") || strcmp(get_str(root, "app"), app)) {
        e = bad(ctx, path, "it names another app");
    } else if (get_u64(root, "version", &ix->version)) {
        e = bad(ctx, path, "no version number");
    } else if (expires && (!cJSON_IsString(expires) || parse_iso_time(expires->valuestring, &ix->expires))) {
        e = bad(ctx, path, "the expiry time is not an ISO-8601 UTC time");
    } else if (!cJSON_IsArray(rels = cJSON_GetObjectItemCaseSensitive(root, "releases"))) {
        e = bad(ctx, path, "no release list");
    } else {
        int n = cJSON_GetArraySize(rels);
        ix->rel = calloc((size_t)n + 1, sizeof *ix->rel);
        if (!ix->rel) e = pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
        const cJSON *r;
        cJSON_ArrayForEach(r, rels) {
            if (e) break;
            pkg_rel *x = &ix->rel[ix->nrel];
            const char *label = get_str(r, "label"), *id = get_str(r, "id"),
                       *mn = get_str(r, "min_native"), *msg = get_str(r, "message"),
                       *created = get_str(r, "created");
            const cJSON *bundle = cJSON_GetObjectItemCaseSensitive(r, "bundle");
            const cJSON *patches = cJSON_GetObjectItemCaseSensitive(r, "patches");
            const cJSON *mand = cJSON_GetObjectItemCaseSensitive(r, "mandatory");
            const cJSON *pin = cJSON_GetObjectItemCaseSensitive(r, "pinned");
            if (!label || !pkg_valid_id(id) || !mn || !msg || !created || !cJSON_IsBool(mand) ||
                !cJSON_IsBool(pin) || !cJSON_IsArray(patches) || get_u64(r, "size", &x->size) ||
                parse_iso_time(created, &x->created) || !(cJSON_IsNull(bundle) || cJSON_IsString(bundle))) {
                e = bad(ctx, path, "a release entry lacks a field or has a wrong type");
                break;
            }
            ix->nrel++;
            x->label = strdup(label);
            x->min_native = strdup(mn);
            x->message = strdup(msg);
            if (!x->label || !x->min_native || !x->message) {
                e = pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
                break;
            }
            memcpy(x->id, id, 65);
            x->mandatory = cJSON_IsTrue(mand);
            x->pinned = cJSON_IsTrue(pin);
            x->retained = cJSON_IsString(bundle);
            char want[200];
            pkg_bundle_name(x->id, want);
            if (x->retained && strcmp(bundle->valuestring, want)) {
                e = bad(ctx, path, "a bundle file name does not match its id");
                break;
            }
            int np = cJSON_GetArraySize(patches);
            x->patches = calloc((size_t)np + 1, sizeof *x->patches);
            if (!x->patches) {
                e = pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
                break;
            }
            const cJSON *p;
            cJSON_ArrayForEach(p, patches) {
                pkg_patch_ref *pr = &x->patches[x->npatches];
                const char *from = get_str(p, "from"), *file = get_str(p, "file"), *sha = get_str(p, "sha256");
                if (!pkg_valid_id(from) || !file || !pkg_valid_id(sha) || get_u64(p, "size", &pr->size)) {
                    e = bad(ctx, path, "a patch entry lacks a field or has a wrong type");
                    break;
                }
                memcpy(pr->from, from, 65);
                memcpy(pr->sha256, sha, 65);
                pkg_patch_name(from, x->id, want);
                if (strcmp(file, want)) {
                    e = bad(ctx, path, "a patch file name does not match its ids");
                    break;
                }
                memcpy(pr->file, want, sizeof want);
                x->npatches++;
            }
        }
    }
    cJSON_Delete(root);
    if (e) pkg_index_free(ix);
    return e;
}

char *pkg_index_json(const pkg_index *ix) {
    pkg_buf b = {0};
    char t[32];
    pkg_buf_printf(&b, "{\n  \"schema\": %d,\n  \"app\": ", PKG_INDEX_SCHEMA);
    pkg_buf_json_str(&b, ix->app);
    pkg_buf_printf(&b, ",\n  \"version\": %llu,\n", (unsigned long long)ix->version);
    if (ix->expires) {
        pkg_iso_time(ix->expires, t);
        pkg_buf_printf(&b, "  \"expires\": \"%s\",\n", t);
    }
    pkg_buf_str(&b, "  \"releases\": [");
    for (size_t i = 0; i < ix->nrel; i++) {
        const pkg_rel *r = &ix->rel[i];
        pkg_buf_str(&b, i ? ",\n    {\n      \"label\": " : "\n    {\n      \"label\": ");
        pkg_buf_json_str(&b, r->label);
        pkg_buf_printf(&b, ",\n      \"id\": \"%s\",\n      \"size\": %llu,\n      \"min_native\": ", r->id,
                       (unsigned long long)r->size);
        pkg_buf_json_str(&b, r->min_native);
        pkg_buf_printf(&b, ",\n      \"mandatory\": %s,\n      \"message\": ", r->mandatory ? "true" : "false");
        pkg_buf_json_str(&b, r->message);
        pkg_iso_time(r->created, t);
        pkg_buf_printf(&b, ",\n      \"created\": \"%s\",\n      \"pinned\": %s,\n      \"bundle\": ", t,
                       r->pinned ? "true" : "false");
        if (r->retained) {
            char name[200];
            pkg_bundle_name(r->id, name);
            pkg_buf_json_str(&b, name);
        } else {
            pkg_buf_str(&b, "null");
        }
        pkg_buf_str(&b, ",\n      \"patches\": [");
        for (size_t j = 0; j < r->npatches; j++) {
            const pkg_patch_ref *p = &r->patches[j];
            pkg_buf_printf(&b, "%s\n        {\"from\": \"%s\", \"file\": \"%s\", \"size\": %llu, \"sha256\": \"%s\"}",
                           j ? "," : "", p->from, p->file, (unsigned long long)p->size, p->sha256);
        }
        pkg_buf_str(&b, r->npatches ? "\n      ]\n    }" : "]\n    }");
    }
    pkg_buf_str(&b, ix->nrel ? "\n  ]\n}\n" : "]\n}\n");
    if (b.oom) {
        free(b.data);
        return NULL;
    }
    return b.data;
}

pkg_error pkg_index_save(pkg_ctx *ctx, const char *appdir, const pkg_index *ix, const char *sign_key) {
    char *json = pkg_index_json(ix);
    char *path = pkg_join(appdir, "index.json");
    char *sigpath = pkg_join(appdir, "index.json.sig");
    char *sig = NULL;
    pkg_error e = (!json || !path || !sigpath) ? pkg_fail(ctx, PKG_E_NOMEM, "out of memory") : PKG_OK;
    /* sign before writing anything: a bad key leaves the store as it was */
    if (!e && sign_key) e = pkg_sign_data(ctx, sign_key, json, strlen(json), &sig);
    if (!e) e = pkg_write_file_atomic(ctx, path, json, strlen(json));
    if (!e && sig) e = pkg_write_file_atomic(ctx, sigpath, sig, strlen(sig));
    free(sig);
    free(json);
    free(path);
    free(sigpath);
    return e;
}
