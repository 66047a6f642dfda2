/* http_transport.h - the command line's transport for pkgclient: HTTP(S) through libcurl,
 * with Range requests for resumption. */
#ifndef HTTP_TRANSPORT_H
#define HTTP_TRANSPORT_H

#include "pkgclient.h"

/* Sets up t to fetch files below base_url ("http://host/store"). Returns 0, or -1 when libcurl
 * cannot be initialized. Release with http_transport_free. */
int http_transport_init(pkc_transport *t, const char *base_url);
void http_transport_free(pkc_transport *t);

#endif
