/* SPDX-License-Identifier: GPL-2.0 */
/* vexitprof --serve's HTTP side: /metrics over libmicrohttpd (no HTTP parsing of our own). */
#ifndef VP_SERVE_HTTP_H
#define VP_SERVE_HTTP_H
#include <stdbool.h>
#include <stddef.h>

/* "[ADDR:]PORT" ("9477", "127.0.0.1:9477", "[::1]:9477", "localhost:9477"): 0, or -EINVAL. */
int http_parse_addr(const char *spec, char *host, size_t hlen, char *port, size_t plen);
/* Bind and listen on spec; returns the socket, or -1 with one line printed. */
int http_listen(const char *spec);

/*
 * The body for one scrape, malloc'ed (*len bytes), in the OpenMetrics text
 * format if openmetrics, else the Prometheus text format 0.0.4; NULL: the
 * scrape fails (500).  Called from the server's thread.
 */
typedef char *(*http_render_fn)(bool openmetrics, size_t *len, void *arg);

struct http_server;
/* Serve on the listening socket fd (taken over); NULL with one line printed on failure. */
struct http_server *http_start(int fd, http_render_fn render, void *arg, bool verbose);
void http_stop(struct http_server *h);
#endif
