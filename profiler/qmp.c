// SPDX-License-Identifier: GPL-2.0
/*
 * Minimal QMP client: enough to run `info mtree -f` through
 * human-monitor-command.  Only used when an address was never seen by a USDT
 * probe (e.g. a QEMU without USDT), so it is read once per report.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "qmp.h"

/* Read until a line holding `want` arrives; returns malloc'd line or NULL. */
static char *qmp_read_reply(int fd, const char *want)
{
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap), *nl;

	if (!buf)
		return NULL;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		buf[len] = 0;
		while ((nl = strchr(buf, '\n'))) {
			*nl = 0;
			if (strstr(buf, want)) {
				char *line = strdup(buf);

				free(buf);
				return line;
			}
			memmove(buf, nl + 1, len - (nl + 1 - buf) + 1);
			len = strlen(buf);
		}
		if (poll(&p, 1, 3000) <= 0)
			break;
		if (len + 4096 >= cap) {
			char *nb = realloc(buf, cap * 2);

			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n <= 0)
			break;
		len += n;
	}
	free(buf);
	return NULL;
}

/* Unescape the JSON string value following "key": in line, in place. */
static char *json_string(char *line, const char *key)
{
	char *p = strstr(line, key), *o;

	if (!p)
		return NULL;
	p = strchr(p + strlen(key), '"');
	if (!p)
		return NULL;
	o = ++p;
	for (char *s = p; *s && *s != '"'; s++) {
		if (*s != '\\') {
			*o++ = *s;
			continue;
		}
		s++;
		switch (*s) {
		case 'n':
			*o++ = '\n';
			break;
		case 't':
			*o++ = '\t';
			break;
		case 'r':
			break;
		case 'u':
			/* mtree text is ASCII; drop the escape */
			if (strlen(s) >= 5)
				s += 4;
			break;
		default:
			*o++ = *s;
		}
	}
	*o = 0;
	return p;
}

int mtree_parse(struct vp_mtree *mt, const char *text)
{
	const char *l = text;
	bool io = false;

	while (l && *l) {
		const char *e = strchr(l, '\n');
		char line[512];
		size_t n = e ? (size_t)(e - l) : strlen(l);
		uint64_t s, end, off = 0;
		char kind[64], name[64];

		if (n >= sizeof(line))
			n = sizeof(line) - 1;
		memcpy(line, l, n);
		line[n] = 0;
		l = e ? e + 1 : NULL;
		if (strstr(line, "FlatView #"))
			io = false;
		if (strstr(line, "AS \"I/O\"") || strstr(line, "Root memory region: io"))
			io = true;
		if (sscanf(line, " %" SCNx64 "-%" SCNx64 " (prio %*d, %63[^)]): %63s", &s, &end,
			   kind, name) != 4)
			continue;
		const char *at = strstr(line, " @");
		if (at)
			off = strtoull(at + 2, NULL, 16);
		struct vp_mtree_range *nr = realloc(mt->r, (mt->n + 1) * sizeof(*nr));
		if (!nr)
			return -ENOMEM;
		mt->r = nr;
		nr[mt->n].io = io;
		nr[mt->n].start = s;
		nr[mt->n].end = end;
		nr[mt->n].offset = off;
		snprintf(nr[mt->n].name, sizeof(nr[mt->n].name), "%s", name);
		mt->n++;
	}
	return 0;
}

int mtree_load(struct vp_mtree *mt, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	static const char caps[] = "{\"execute\":\"qmp_capabilities\"}\n";
	static const char cmd[] = "{\"execute\":\"human-monitor-command\",\"arguments\":"
				  "{\"command-line\":\"info mtree -f\"},\"id\":\"vp\"}\n";
	char *line = NULL, *text;
	int fd, err = 0;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		fprintf(stderr, "vexitprof: cannot connect to QMP socket %s: %s\n", path,
			strerror(errno));
		goto out;
	}
	free(qmp_read_reply(fd, "\"QMP\""));
	if (write(fd, caps, sizeof(caps) - 1) < 0)
		goto fail;
	free(qmp_read_reply(fd, "\"return\""));
	if (write(fd, cmd, sizeof(cmd) - 1) < 0)
		goto fail;
	line = qmp_read_reply(fd, "\"vp\"");
	if (!line || !(text = json_string(line, "\"return\"")))
		goto fail;
	err = mtree_parse(mt, text);
	goto out;
fail:
	err = -EIO;
	fprintf(stderr, "vexitprof: QMP on %s did not answer `info mtree -f`\n", path);
out:
	free(line);
	if (fd >= 0)
		close(fd);
	return err;
}

bool mtree_lookup(const struct vp_mtree *mt, bool io, uint64_t addr, char *name, size_t len,
		  uint64_t *off)
{
	for (size_t i = 0; mt && i < mt->n; i++) {
		const struct vp_mtree_range *r = &mt->r[i];

		if (r->io != io || addr < r->start || addr > r->end)
			continue;
		snprintf(name, len, "%s", r->name);
		*off = addr - r->start + r->offset;
		return true;
	}
	return false;
}

void mtree_free(struct vp_mtree *mt)
{
	free(mt->r);
	mt->r = NULL;
	mt->n = 0;
}
