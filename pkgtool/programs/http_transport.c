/* http_transport.c - pkgclient transport over HTTP(S) with libcurl. A transfer from an offset
 * sends "Range: bytes=OFFSET-"; a server that answers 200 instead of 206 sends the whole file,
 * and the first OFFSET bytes are skipped here, so the client sees the same bytes either way. */
#define _POSIX_C_SOURCE 200809L
#include "http_transport.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct http {
    char *base;
    CURL *curl;
} http;

typedef struct xfer {
    CURL *curl;
    uint64_t skip;   /* bytes still to drop (server ignored the range) */
    uint64_t offset;
    int checked;     /* the status code was looked at */
    long status;
    pkc_sink_fn sink;
    void *opaque;
    int stopped;     /* the sink refused */
    int bad_status;
} xfer;

static size_t on_data(char *p, size_t size, size_t n, void *opaque) {
    xfer *x = opaque;
    size_t len = size * n;
    if (!x->checked) {
        x->checked = 1;
        curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &x->status);
        if (x->status == 200) x->skip = x->offset;
        else if (!(x->status == 206 && x->offset)) {
            x->bad_status = 1;
            return 0;
        }
    }
    size_t off = 0;
    if (x->skip) {
        off = x->skip < len ? (size_t)x->skip : len;
        x->skip -= off;
    }
    if (off < len && x->sink(x->opaque, p + off, len - off)) {
        x->stopped = 1;
        return 0;
    }
    return len;
}

static int http_fetch(void *self, const char *path, uint64_t offset, pkc_sink_fn sink, void *opaque, char *err,
                      size_t errlen) {
    http *h = self;
    size_t n = strlen(h->base) + strlen(path) + 2;
    char *url = malloc(n);
    if (!url) {
        snprintf(err, errlen, "out of memory");
        return PKC_FETCH_FAILED;
    }
    snprintf(url, n, "%s/%s", h->base, path);
    CURL *c = h->curl;
    curl_easy_reset(c);
    xfer x = {c, 0, offset, 0, 0, sink, opaque, 0, 0};
    char range[48], cerr[CURL_ERROR_SIZE] = "";
    snprintf(range, sizeof range, "%llu-", (unsigned long long)offset);
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (offset) curl_easy_setopt(c, CURLOPT_RANGE, range);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#endif
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 20L);
    /* a stalled connection (under 1 byte/s for 30 s) counts as cut: the client resumes it */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 30L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "pkgtool (bsdelta) 0.1.0");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    if (!x.checked) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &x.status);
    free(url);
    if (x.stopped) return PKC_FETCH_STOPPED;
    if (rc == CURLE_OK && !x.checked && (x.status == 200 || x.status == 206)) return PKC_FETCH_OK; /* empty */
    if (x.bad_status || (rc == CURLE_OK && x.status >= 300)) {
        snprintf(err, errlen, "HTTP status %ld", x.status);
        return (x.status == 404 || x.status == 410) ? PKC_FETCH_NOT_FOUND : PKC_FETCH_FAILED;
    }
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "%s", cerr[0] ? cerr : curl_easy_strerror(rc));
        return PKC_FETCH_FAILED;
    }
    return PKC_FETCH_OK;
}

int http_transport_init(pkc_transport *t, const char *base_url) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return -1;
    http *h = calloc(1, sizeof *h);
    if (!h) return -1;
    h->base = strdup(base_url);
    h->curl = curl_easy_init();
    if (!h->base || !h->curl) {
        free(h->base);
        if (h->curl) curl_easy_cleanup(h->curl);
        free(h);
        return -1;
    }
    size_t n = strlen(h->base);
    while (n > 0 && h->base[n - 1] == '/') h->base[--n] = 0;
    t->fetch = http_fetch;
    t->self = h;
    return 0;
}

void http_transport_free(pkc_transport *t) {
    http *h = t->self;
    if (!h) return;
    curl_easy_cleanup(h->curl);
    free(h->base);
    free(h);
    t->self = NULL;
    curl_global_cleanup();
}
