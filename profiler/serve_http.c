// SPDX-License-Identifier: GPL-2.0
/*
 * /metrics over libmicrohttpd.  The library parses HTTP (malformed requests
 * and oversized headers get its 400/431 answers) and runs one epoll thread:
 * a client that never reads its response holds a connection, not the
 * server, until the connection times out.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <microhttpd.h>
#include "serve_http.h"

/* Prometheus scrapes a few at a time; more than this many open connections are refused. */
#define HTTP_MAX_CONNECTIONS 256
/* seconds a connection may stay idle (a slow reader included) */
#define HTTP_TIMEOUT_S 10
/* per connection: the request line and headers must fit (larger: 431) */
#define HTTP_CONN_MEMORY (32 * 1024)

#define CT_TEXT	       "text/plain; version=0.0.4; charset=utf-8"
#define CT_OPENMETRICS "application/openmetrics-text; version=1.0.0; charset=utf-8"

struct http_server {
	struct MHD_Daemon *d;
	http_render_fn render;
	void *arg;
};

int http_parse_addr(const char *spec, char *host, size_t hlen, char *port, size_t plen)
{
	const char *colon, *p;
	char *end;
	long n;

	if (spec[0] == '[') {
		const char *rb = strchr(spec, ']');

		if (!rb || rb[1] != ':' || rb == spec + 1)
			return -EINVAL;
		snprintf(host, hlen, "%.*s", (int)(rb - spec - 1), spec + 1);
		p = rb + 2;
	} else if ((colon = strrchr(spec, ':'))) {
		if (colon == spec || memchr(spec, ':', colon - spec))
			return -EINVAL; /* an IPv6 address needs brackets */
		snprintf(host, hlen, "%.*s", (int)(colon - spec), spec);
		p = colon + 1;
	} else {
		host[0] = 0;
		p = spec;
	}
	errno = 0;
	n = strtol(p, &end, 10);
	if (errno || *end || !*p || n <= 0 || n > 65535)
		return -EINVAL;
	snprintf(port, plen, "%ld", n);
	return 0;
}

int http_listen(const char *spec)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res, *ai;
	char host[256], port[8];
	int fd = -1, err, one = 1, saved = 0;

	if (http_parse_addr(spec, host, sizeof(host), port, sizeof(port))) {
		fprintf(stderr, "vexitprof: --serve %s: expected [ADDR:]PORT\n", spec);
		return -1;
	}
	err = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
	if (err) {
		fprintf(stderr, "vexitprof: --serve %s: %s\n", spec, gai_strerror(err));
		return -1;
	}
	/* no ADDR: every interface; the IPv6 wildcard takes IPv4 too where the host allows */
	for (ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 128)) {
			saved = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		fprintf(stderr, "vexitprof: cannot listen on %s: %s\n", spec, strerror(saved));
	return fd;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int status, const char *type,
			     char *body, size_t len, bool owned)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, body,
					    owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!r) {
		if (owned)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

#define STATIC_REPLY(c, status, text)                                                              \
	reply(c, status, "text/plain; charset=utf-8", (char *)(text), sizeof(text) - 1, false)

/* The scraper asks for OpenMetrics by listing it in Accept (Prometheus does, first). */
static bool wants_openmetrics(struct MHD_Connection *c)
{
	const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);

	return a && strstr(a, "application/openmetrics-text");
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_len, void **req)
{
	struct http_server *h = cls;
	bool om;
	size_t len = 0;
	char *body;

	(void)version, (void)upload, (void)upload_len, (void)req;
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return STATIC_REPLY(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET /metrics\n");
	if (!strcmp(url, "/"))
		return STATIC_REPLY(c, MHD_HTTP_OK, "vexitprof --serve: metrics at /metrics\n");
	if (strcmp(url, "/metrics"))
		return STATIC_REPLY(c, MHD_HTTP_NOT_FOUND, "not found: metrics at /metrics\n");
	om = wants_openmetrics(c);
	body = h->render(om, &len, h->arg);
	if (!body)
		return STATIC_REPLY(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
				    "vexitprof: reading the BPF maps failed\n");
	return reply(c, MHD_HTTP_OK, om ? CT_OPENMETRICS : CT_TEXT, body, len, true);
}

struct http_server *http_start(int fd, http_render_fn render, void *arg, bool verbose)
{
	struct http_server *h = calloc(1, sizeof(*h));

	if (!h) {
		close(fd);
		return NULL;
	}
	h->render = render;
	h->arg = arg;
	h->d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | (verbose ? MHD_USE_ERROR_LOG : 0),
				0, NULL, NULL, handle, h, MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned int)HTTP_MAX_CONNECTIONS,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HTTP_TIMEOUT_S,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY,
				MHD_OPTION_END);
	if (!h->d) {
		fprintf(stderr, "vexitprof: cannot start the HTTP server (libmicrohttpd)\n");
		close(fd);
		free(h);
		return NULL;
	}
	return h;
}

void http_stop(struct http_server *h)
{
	if (!h)
		return;
	/* MHD_stop_daemon closes the listening socket it was given */
	MHD_stop_daemon(h->d);
	free(h);
}
