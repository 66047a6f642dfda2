/* test_client.c - the device client library (pkgclient.h) on the committed fixture store
 * (tests/client/fixture, made by make_fixture.sh): updates by full bundle and by patch, cut
 * transfers resumed, altered files, every index refusal, start/confirm/rollback, hostile local
 * bundles. Transports wrap the directory transport to cut, alter or hide files, so the test
 * needs no network and runs on the device targets (ARM under qemu) as well.
 * Usage: test_client FIXTURE_DIR WORK_DIR */
#define _POSIX_C_SOURCE 200809L
#define _FILE_OFFSET_BITS 64 /* files over 2 GiB and readdir on 32-bit targets */
#include "pkgclient.h"
#include "t_check.h"

#include <dirent.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *fixture, *work;
static char s1[512], s3[512], test_pub[512], other_pub[512];

/* ---------------------------------------------------------------- transports */

/* A wrapper around the directory transport. For files whose path contains `match`:
 * cut_after > 0 delivers at most that many bytes of the first `cuts` transfers and then fails;
 * flip_at >= 0 inverts the byte at that file offset; hide answers "not found". Every call is
 * logged (path and offset). */
typedef struct wrap {
    pkc_transport inner;
    const char *match, *match2; /* second pattern: flip only */
    uint64_t cut_after;
    int cuts;
    long long flip_at;
    int hide;
    int calls;
    char paths[32][200];
    uint64_t offsets[32];
} wrap;

typedef struct wsink {
    wrap *w;
    pkc_sink_fn sink;
    void *opaque;
    uint64_t pos, limit;
    int cut, flip;
    int limited;
} wsink;

static int wsink_fn(void *opaque, const void *p, size_t n) {
    wsink *s = opaque;
    if (s->cut && s->pos + n > s->limit) {
        n = (size_t)(s->limit - s->pos);
        s->limited = 1;
    }
    unsigned char buf[16384];
    const unsigned char *src = p;
    while (n) {
        size_t k = n < sizeof buf ? n : sizeof buf;
        memcpy(buf, src, k);
        if (s->flip && s->w->flip_at >= 0 && (uint64_t)s->w->flip_at >= s->pos && (uint64_t)s->w->flip_at < s->pos + k)
            buf[s->w->flip_at - (long long)s->pos] ^= 0xFF;
        if (s->sink(s->opaque, buf, k)) return 1;
        s->pos += k;
        src += k;
        n -= k;
    }
    return s->limited ? 1 : 0;
}

static int wrap_fetch(void *self, const char *path, uint64_t offset, pkc_sink_fn sink, void *opaque, char *err,
                      size_t errlen) {
    wrap *w = self;
    if (w->calls < 32) {
        snprintf(w->paths[w->calls], sizeof w->paths[0], "%s", path);
        w->offsets[w->calls] = offset;
    }
    w->calls++;
    int hit = w->match && strstr(path, w->match);
    int hit2 = w->match2 && strstr(path, w->match2);
    if (hit && w->hide) {
        snprintf(err, errlen, "hidden by the test");
        return PKC_FETCH_NOT_FOUND;
    }
    wsink s = {w, sink, opaque, offset, offset + w->cut_after, hit && w->cut_after && w->cuts > 0, hit || hit2, 0};
    if (s.cut) w->cuts--;
    int rc = w->inner.fetch(w->inner.self, path, offset, wsink_fn, &s, err, errlen);
    if (s.limited) {
        snprintf(err, errlen, "connection cut by the test after %llu bytes", (unsigned long long)s.pos);
        return PKC_FETCH_FAILED;
    }
    return rc;
}

static void wrap_init(wrap *w, const char *store) {
    memset(w, 0, sizeof *w);
    pkc_transport_dir(&w->inner, store);
    w->flip_at = -1;
}

/* ---------------------------------------------------------------- helpers */

static char *readall(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = t_alloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, f);
    b[*len] = 0;
    fclose(f);
    return b;
}

static int same_file(const char *a, const char *b) {
    size_t la, lb;
    char *x = readall(a, &la), *y = readall(b, &lb);
    int same = x && y && la == lb && !memcmp(x, y, la);
    free(x);
    free(y);
    return same;
}

/* The installed current version holds exactly fixture/app/vN's files. */
static int tree_is(const char *D, int v) {
    static const char *files[] = {"index.html", "js/main.js", "img/logo.bin"};
    char a[1024], b[1024];
    snprintf(a, sizeof a, "%s/current", D);
    struct stat sb;
    if (lstat(a, &sb) != 0 || !S_ISLNK(sb.st_mode)) return 0;
    for (int i = 0; i < 3; i++) {
        snprintf(a, sizeof a, "%s/current/%s", D, files[i]);
        snprintf(b, sizeof b, "%s/app/v%d/%s", fixture, v, files[i]);
        if (!same_file(a, b)) return 0;
    }
    /* and nothing else: .bsdelta is not unpacked, only the three files and two dirs */
    snprintf(a, sizeof a, "%s/current", D);
    DIR *d = opendir(a);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) n++;
    if (d) closedir(d);
    return n == 3; /* index.html, js, img */
}

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) n++;
    if (d) closedir(d);
    return n;
}

static void rm_rf(const char *p) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", p);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", p);
}

static char *newdir(const char *name) {
    static char buf[8][1024];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 1024, "%s/%s", work, name);
    rm_rf(p);
    return p;
}

static pkg_error update(pkg_ctx *ctx, const char *D, wrap *w, const char *trust, int retries, int64_t now,
                        pkc_update_result *r) {
    pkc_update_opts o;
    pkc_update_opts_init(&o);
    o.install_dir = D;
    o.app = "demo";
    o.native = "1";
    o.trust_key = trust;
    o.retries = retries;
    o.retry_delay_ms = 1;
    o.now = now;
    o.transport.fetch = wrap_fetch;
    o.transport.self = w;
    return pkc_update(ctx, &o, r);
}

/* state.json without its index_version line: what is installed. (A failed update may still
 * have accepted a newer index, which is remembered for replay protection.) */
static char *state_of(const char *D) {
    size_t n;
    char p[1024];
    snprintf(p, sizeof p, "%s/state.json", D);
    char *s = readall(p, &n);
    if (!s) return strcpy(t_alloc(1), "");
    char *iv = strstr(s, "\"index_version\"");
    char *eol = iv ? strchr(iv, '\n') : NULL;
    if (eol) memmove(iv, eol + 1, strlen(eol + 1) + 1);
    return s;
}

/* A device at release 1.0 (installed over the network from s1, confirmed). */
static void at_v1(pkg_ctx *ctx, const char *D) {
    wrap w;
    wrap_init(&w, s1);
    pkc_update_result r;
    pkg_error e = update(ctx, D, &w, test_pub, 0, 0, &r);
    CHECK(e == PKG_OK && r.result == PKC_UPDATED && r.method == PKC_METHOD_FULL, "install 1.0: %s", pkg_detail(ctx));
    CHECK(pkc_confirm(ctx, D) == PKG_OK, "confirm 1.0: %s", pkg_detail(ctx));
}

/* ---------------------------------------------------------------- cases */

static void test_full_then_patch(pkg_ctx *ctx) {
    const char *D = newdir("d-basic");
    pkc_update_result r;
    wrap w;
    at_v1(ctx, D);
    CHECK(tree_is(D, 1), "1.0's files are current");
    wrap_init(&w, s3);
    CHECK(update(ctx, D, &w, test_pub, 0, 0, &r) == PKG_OK, "update to 3.0: %s", pkg_detail(ctx));
    CHECK(r.result == PKC_UPDATED && r.method == PKC_METHOD_PATCH, "by patch (%d, %d)", r.result, r.method);
    CHECK(!strcmp(r.to_label, "3.0") && !strcmp(r.from_label, "1.0"), "from 1.0 to 3.0 (%s, %s)", r.from_label,
          r.to_label);
    CHECK(r.signature_checked && r.index_version == 3, "signature checked, index version 3");
    CHECK(r.download_size < 21000 / 2, "the patch is small (%llu)", (unsigned long long)r.download_size);
    CHECK(tree_is(D, 3), "3.0's files are current");
    char *st = state_of(D);
    CHECK(strstr(st, "\"pending\": true") && strstr(st, "\"label\": \"1.0\""), "pending, previous 1.0: %s", st);
    free(st);
    CHECK(update(ctx, D, &w, test_pub, 0, 0, &r) == PKG_OK && r.result == PKC_UP_TO_DATE, "then up to date");
    /* only the index and its signature were fetched for that */
    CHECK(w.calls >= 2 && strstr(w.paths[w.calls - 1], "index.json.sig"), "no download when up to date");
    char vers[1024];
    snprintf(vers, sizeof vers, "%s/versions", D);
    CHECK(count_entries(vers) == 4, "versions/ holds current and previous (dir + zip each): %d", count_entries(vers));
}

static void test_resume(pkg_ctx *ctx) {
    pkc_update_result r;
    wrap w;
    /* a patch cut in the middle, resumed into the same patcher in the same run */
    const char *D = newdir("d-cut-patch");
    at_v1(ctx, D);
    wrap_init(&w, s3);
    w.match = ".bsdelta";
    w.cut_after = 300;
    w.cuts = 1;
    CHECK(update(ctx, D, &w, test_pub, 3, 0, &r) == PKG_OK, "cut patch resumed: %s", pkg_detail(ctx));
    CHECK(r.method == PKC_METHOD_PATCH && r.resumes == 1, "by patch, one resume (%d, %u)", r.method, r.resumes);
    int found = 0;
    for (int i = 0; i < w.calls && i < 32; i++)
        if (strstr(w.paths[i], ".bsdelta") && w.offsets[i] == 300) found = 1;
    CHECK(found, "the patch was requested again from byte 300");
    CHECK(tree_is(D, 3), "3.0 installed after the resume");

    /* the index (a file that changes between releases) is fetched again from byte 0, never
     * resumed: two versions must not be spliced together */
    D = newdir("d-cut-index");
    at_v1(ctx, D);
    wrap_init(&w, s3);
    w.match = "index.json";
    w.cut_after = 50;
    w.cuts = 1;
    CHECK(update(ctx, D, &w, test_pub, 3, 0, &r) == PKG_OK, "cut index: %s", pkg_detail(ctx));
    CHECK(w.calls >= 2 && strstr(w.paths[1], "index.json") && !strstr(w.paths[1], ".sig") && w.offsets[1] == 0,
          "the index was fetched again from byte 0 (%s at %llu)", w.paths[1], (unsigned long long)w.offsets[1]);
    CHECK(r.resumes == 0, "a restart is not a resume");

    /* no retries: the update fails as a network error and changes nothing */
    D = newdir("d-cut-noretry");
    at_v1(ctx, D);
    char *before = state_of(D);
    wrap_init(&w, s3);
    w.match = ".bsdelta";
    w.cut_after = 300;
    w.cuts = 1;
    CHECK(update(ctx, D, &w, test_pub, 0, 0, &r) == PKG_E_NETWORK, "cut without retries: network error");
    char *after = state_of(D);
    CHECK(!strcmp(before, after) && tree_is(D, 1), "the install is unchanged");
    free(before);
    free(after);

    /* a full bundle cut: the partial file stays and the next run resumes it */
    D = newdir("d-cut-full");
    wrap_init(&w, s3);
    w.match = "bundles/";
    w.cut_after = 5000;
    w.cuts = 1;
    CHECK(update(ctx, D, &w, NULL, 0, 0, &r) == PKG_E_NETWORK, "full bundle cut: network error");
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s/tmp", D);
    CHECK(count_entries(tmp) == 1, "one partial download kept in tmp/");
    wrap_init(&w, s3);
    CHECK(update(ctx, D, &w, NULL, 0, 0, &r) == PKG_OK && r.method == PKC_METHOD_FULL, "second run: %s",
          pkg_detail(ctx));
    CHECK(r.resumes == 1 && w.offsets[1] == 5000, "resumed from byte 5000 (%u, %llu)", r.resumes,
          (unsigned long long)w.offsets[1]);
    CHECK(tree_is(D, 3), "3.0 installed from the resumed download");
    CHECK(count_entries(tmp) == 0, "tmp/ is clean after the install: %d", count_entries(tmp));
}

static void test_integrity(pkg_ctx *ctx) {
    pkc_update_result r;
    wrap w;
    const char *D = newdir("d-flip-patch");
    at_v1(ctx, D);
    wrap_init(&w, s3);
    w.match = ".bsdelta";
    w.flip_at = 200;
    CHECK(update(ctx, D, &w, test_pub, 0, 0, &r) == PKG_OK, "altered patch: %s", pkg_detail(ctx));
    CHECK(r.method == PKC_METHOD_FULL && r.fallback[0], "fell back to the full bundle (%s)", r.fallback);
    CHECK(tree_is(D, 3), "3.0 installed from the full bundle");

    D = newdir("d-flip-both");
    at_v1(ctx, D);
    char *before = state_of(D);
    wrap_init(&w, s3);
    w.match = ".bsdelta";
    w.match2 = "bundles/";
    w.flip_at = 200;
    CHECK(update(ctx, D, &w, test_pub, 0, 0, &r) == PKG_E_INTEGRITY, "altered patch and bundle: integrity error");
    char *after = state_of(D);
    CHECK(!strcmp(before, after) && tree_is(D, 1), "the install is unchanged");
    free(before);
    free(after);

    /* a patch the store lacks: the full bundle */
    D = newdir("d-no-patch");
    at_v1(ctx, D);
    wrap_init(&w, s3);
    w.match = ".bsdelta";
    w.hide = 1;
    CHECK(update(ctx, D, &w, test_pub, 0, 0, &r) == PKG_OK && r.method == PKC_METHOD_FULL, "missing patch: full");
}

static void test_index_checks(pkg_ctx *ctx) {
    pkc_update_result r;
    wrap w;
    const char *D = newdir("d-sig");
    at_v1(ctx, D);
    char *before = state_of(D);
    wrap_init(&w, s3);
    CHECK(update(ctx, D, &w, other_pub, 0, 0, &r) == PKG_E_SIGNATURE, "another key: signature error");
    wrap_init(&w, s3);
    w.match = "index.json.sig";
    w.hide = 1;
    CHECK(update(ctx, D, &w, test_pub, 0, 0, &r) == PKG_E_SIGNATURE, "no signature: signature error");
    CHECK(strstr(pkg_detail(ctx), "not signed") != NULL, "says unsigned: %s", pkg_detail(ctx));
    wrap_init(&w, s3);
    w.match = "index.json";
    w.flip_at = 40;
    CHECK(update(ctx, D, &w, test_pub, 0, 0, &r) == PKG_E_SIGNATURE, "altered index: signature error");
    wrap_init(&w, s3);
    /* the fixture's index expires 36500 days after 2026-01-01 */
    CHECK(update(ctx, D, &w, test_pub, 0, (int64_t)1767225600 + 36501LL * 86400, &r) == PKG_E_EXPIRED,
          "expired index refused");
    char *after = state_of(D);
    CHECK(!strcmp(before, after) && tree_is(D, 1), "no refusal changed the install");
    size_t n;
    char sp[1024];
    snprintf(sp, sizeof sp, "%s/state.json", D);
    char *raw = readall(sp, &n);
    CHECK(raw && strstr(raw, "\"index_version\": 1,"), "no refused index was remembered");
    free(raw);
    free(before);
    free(after);
    /* replay: after seeing s3's index (version 3), s1's (version 1) is refused */
    wrap_init(&w, s3);
    CHECK(update(ctx, D, &w, test_pub, 0, 0, &r) == PKG_OK, "update from s3");
    wrap_init(&w, s1);
    CHECK(update(ctx, D, &w, test_pub, 0, 0, &r) == PKG_E_REPLAY, "older index refused: %s", pkg_detail(ctx));
    /* without a key, the index is used unverified but replay is still refused */
    wrap_init(&w, s1);
    CHECK(update(ctx, D, &w, NULL, 0, 0, &r) == PKG_E_REPLAY, "older index refused without a key too");
}

static void test_start_rollback(pkg_ctx *ctx) {
    pkc_update_result r;
    wrap w;
    char *run = NULL;
    int rolled = 0;
    const char *D = newdir("d-rollback");
    at_v1(ctx, D);
    wrap_init(&w, s3);
    CHECK(update(ctx, D, &w, test_pub, 0, 0, &r) == PKG_OK, "update to 3.0");
    CHECK(pkc_start(ctx, D, &run, &rolled) == PKG_OK && !rolled && strstr(run, r.to_id), "first start runs 3.0");
    pkg_buffer_free(run);
    CHECK(pkc_start(ctx, D, &run, &rolled) == PKG_OK && rolled && !strstr(run, r.to_id),
          "second unconfirmed start rolls back");
    pkg_buffer_free(run);
    CHECK(tree_is(D, 1), "1.0 is current again");
    CHECK(update(ctx, D, &w, test_pub, 0, 0, &r) == PKG_OK && r.result == PKC_REJECTED, "3.0 is not reinstalled");

    D = newdir("d-confirm");
    at_v1(ctx, D);
    wrap_init(&w, s3);
    CHECK(update(ctx, D, &w, test_pub, 0, 0, &r) == PKG_OK, "update to 3.0");
    CHECK(pkc_start(ctx, D, &run, &rolled) == PKG_OK, "start");
    pkg_buffer_free(run);
    CHECK(pkc_confirm(ctx, D) == PKG_OK, "confirm");
    for (int i = 0; i < 3; i++) {
        CHECK(pkc_start(ctx, D, &run, &rolled) == PKG_OK && !rolled, "confirmed version stays (start %d)", i);
        pkg_buffer_free(run);
    }
    CHECK(tree_is(D, 3), "3.0 stays current");
    CHECK(pkc_rollback(ctx, D) == PKG_OK && tree_is(D, 1), "explicit rollback to 1.0");
    CHECK(pkc_rollback(ctx, D) == PKG_OK, "rollback without a previous version empties the install");
    CHECK(pkc_start(ctx, D, &run, &rolled) == PKG_E_NOT_FOUND, "then nothing to start");
    CHECK(pkc_confirm(ctx, newdir("d-none")) == PKG_E_NOT_FOUND, "confirm without an install");
}

static void test_local_bundles(pkg_ctx *ctx) {
    char b[1024], bad[1024];
    /* the fixture's 1.0 bundle, installed from a file, then updated */
    const char *D = newdir("d-local");
    DIR *dir;
    snprintf(b, sizeof b, "%s/demo/bundles", s1);
    dir = opendir(b);
    struct dirent *de;
    while (dir && (de = readdir(dir)))
        if (strstr(de->d_name, ".zip")) snprintf(b, sizeof b, "%s/demo/bundles/%s", s1, de->d_name);
    if (dir) closedir(dir);
    CHECK(pkc_install_bundle(ctx, D, NULL, b) == PKG_E_MISUSE, "a fresh install needs the app name");
    CHECK(pkc_install_bundle(ctx, D, "demo", b) == PKG_OK, "install a local bundle: %s", pkg_detail(ctx));
    CHECK(tree_is(D, 1), "its files are current");
    wrap w;
    wrap_init(&w, s3);
    pkc_update_result r;
    CHECK(update(ctx, D, &w, test_pub, 0, 0, &r) == PKG_OK && r.method == PKC_METHOD_PATCH &&
              !strcmp(r.from_label, "1.0"),
          "a local bundle known to the store is patched (%d, '%s')", r.method, r.from_label);

    /* a bundle with one byte of a file altered: refused while unpacking, nothing installed */
    size_t n;
    char *z = readall(b, &n);
    char *hit = NULL;
    for (size_t i = 0; z && !hit && i + 20 <= n; i++)
        if (!memcmp(z + i, "export function f10(", 20)) hit = z + i;
    CHECK(hit != NULL, "the fixture bundle holds main.js stored");
    if (hit) hit[7] ^= 1;
    snprintf(bad, sizeof bad, "%s/altered.zip", work);
    FILE *f = fopen(bad, "wb");
    if (f && z) fwrite(z, 1, n, f);
    if (f) fclose(f);
    free(z);
    D = newdir("d-altered");
    CHECK(pkc_install_bundle(ctx, D, "demo", bad) == PKG_E_INTEGRITY, "altered bundle refused: %s", pkg_detail(ctx));
    char p[1024];
    snprintf(p, sizeof p, "%s/state.json", D);
    CHECK(access(p, F_OK) != 0, "nothing installed");
    snprintf(p, sizeof p, "%s/versions", D);
    CHECK(count_entries(p) == 0, "no version directory left");
    snprintf(p, sizeof p, "%s/tmp", D);
    CHECK(count_entries(p) == 0, "no temporary files left");
    /* not a zip at all */
    snprintf(p, sizeof p, "%s/app/v1/index.html", fixture);
    CHECK(pkc_install_bundle(ctx, D, "demo", p) == PKG_E_INTEGRITY, "a non-bundle refused");
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: test_client FIXTURE_DIR WORK_DIR\n");
        return 2;
    }
    fixture = argv[1];
    work = argv[2];
    mkdir(work, 0755);
    snprintf(s1, sizeof s1, "%s/s1", fixture);
    snprintf(s3, sizeof s3, "%s/s3", fixture);
    snprintf(test_pub, sizeof test_pub, "%s/test.pub", fixture);
    snprintf(other_pub, sizeof other_pub, "%s/other.pub", fixture);
    pkg_ctx *ctx = pkg_create();
    test_full_then_patch(ctx);
    test_resume(ctx);
    test_integrity(ctx);
    test_index_checks(ctx);
    test_start_rollback(ctx);
    test_local_bundles(ctx);
    pkg_free(ctx);
    return t_done("test_client");
}
