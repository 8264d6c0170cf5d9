// SPDX-License-Identifier: GPL-2.0
/* Finding QEMU processes in /proc and reading their VM names from the command line. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "serve_discover.h"
#include "target.h"

int discover_qemus(void (*found)(int pid, void *arg), void *arg)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char exe[256], *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end || pid <= 0 || pid == getpid())
			continue;
		/* kernel threads and processes that just exited have no exe */
		if (!target_exe((int)pid, exe, sizeof(exe)) || !target_is_qemu((int)pid, exe))
			continue;
		found((int)pid, arg);
		n++;
	}
	closedir(d);
	return n;
}

/* The guest name in QEMU's -name argument: "guest=NAME,..." or "NAME,..." (no "key=" first). */
static bool name_from_arg(const char *a, char *buf, size_t len)
{
	const char *p = a, *comma;

	while (*p) {
		comma = strchrnul(p, ',');
		if (!strncmp(p, "guest=", 6)) {
			p += 6;
			break;
		}
		/* the first field without '=' is the name (QEMU's implied "guest" key) */
		if (p == a && !memchr(p, '=', comma - p))
			break;
		p = *comma ? comma + 1 : comma;
	}
	comma = strchrnul(p, ',');
	if (comma == p)
		return false;
	snprintf(buf, len, "%.*s", (int)(comma - p), p);
	return true;
}

void discover_vm_name(int pid, char *buf, size_t len)
{
	char path[64], cmd[8192];
	bool next_is_name = false, ok = false;
	char one[256];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, cmd, sizeof(cmd) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n > 0) {
		cmd[n] = 0;
		/* QEMU merges repeated -name options: a later guest name wins */
		for (const char *a = cmd; a < cmd + n; a += strlen(a) + 1) {
			const char *arg = next_is_name ? a : NULL;

			if (!strncmp(a, "-name=", 6) || !strncmp(a, "--name=", 7))
				arg = strchr(a, '=') + 1;
			next_is_name = !strcmp(a, "-name") || !strcmp(a, "--name");
			if (arg && name_from_arg(arg, one, sizeof(one))) {
				snprintf(buf, len, "%s", one);
				ok = true;
			}
		}
	}
	if (!ok)
		snprintf(buf, len, "pid-%d", pid);
}

unsigned long long discover_starttime(int pid)
{
	char path[64], st[1024], *p;
	unsigned long long t = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, st, sizeof(st) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	st[n] = 0;
	/* after the command in parentheses (which may hold anything), field 22 */
	p = strrchr(st, ')');
	if (!p)
		return 0;
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (p)
		t = strtoull(p + 1, NULL, 10);
	return t;
}
