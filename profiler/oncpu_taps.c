// SPDX-License-Identifier: GPL-2.0
/*
 * The bytes QEMU's tap backends moved (oncpu_taps.h).  A tap file
 * descriptor's /proc/PID/fdinfo/FD has "iff:<TAB>NAME" (drivers/net/tun.c);
 * the interface's counters are read from /proc/PID/net/dev, the network
 * namespace QEMU runs in (scripts/vm runs QEMU in the namespace of its tap).
 * The tap's receive bytes are the frames QEMU wrote (the guest's TX), its
 * transmit bytes the frames QEMU read (the guest's RX); both count frames
 * without the virtio-net header.  A tap in another namespace than QEMU's is
 * not found in its net/dev and is left out.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "oncpu_taps.h"

/* rx + tx bytes of interface name in pid's namespace; false when not there */
static bool read_counters(int pid, const char *name, unsigned long long *bytes)
{
	char path[64], line[512];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/net/dev", pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':'), *p = line;
		unsigned long long v[9];

		if (!colon)
			continue;
		*colon = 0;
		while (*p == ' ')
			p++;
		if (strcmp(p, name))
			continue;
		/* rx: bytes packets errs drop fifo frame compressed multicast; tx: bytes ... */
		if (sscanf(colon + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
			   &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8]) == 9) {
			*bytes = v[0] + v[8];
			found = true;
		}
	}
	fclose(f);
	return found;
}

static bool tap_known(const struct vp_taps *t, const char *name)
{
	for (int i = 0; i < t->n; i++)
		if (!strcmp(t->tap[i].name, name))
			return true;
	return false;
}

/* The taps among pid's file descriptors not yet known: added with their counters now. */
static void find_taps(struct vp_taps *t)
{
	char path[64], line[128];
	struct dirent *d;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo", t->pid);
	dir = opendir(path);
	while (dir && (d = readdir(dir)) && t->n < VP_TAPS_MAX) {
		FILE *f;

		if (d->d_name[0] < '0' || d->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%.16s", t->pid, d->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			struct vp_tap *tp = &t->tap[t->n];
			char name[16];

			if (sscanf(line, "iff: %15s", name) != 1 || tap_known(t, name))
				continue;
			memcpy(tp->name, name, sizeof(tp->name));
			if (read_counters(t->pid, tp->name, &tp->base)) {
				tp->last = tp->base;
				t->n++;
			}
			break;
		}
		fclose(f);
	}
	if (dir)
		closedir(dir);
	t->names[0] = 0;
	for (int i = 0; i < t->n; i++) {
		size_t len = strlen(t->names);

		snprintf(t->names + len, sizeof(t->names) - len, "%s%s", i ? "," : "",
			 t->tap[i].name);
	}
}

void taps_init(struct vp_taps *t, int pid)
{
	memset(t, 0, sizeof(*t));
	t->pid = pid;
	find_taps(t);
}

void taps_refresh(struct vp_taps *t)
{
	for (int i = 0; i < t->n; i++) {
		unsigned long long b;

		/* counters only grow while the tap exists; a vanished one keeps its last */
		if (read_counters(t->pid, t->tap[i].name, &b) && b >= t->tap[i].last)
			t->tap[i].last = b;
	}
	find_taps(t);
}

unsigned long long taps_bytes(const struct vp_taps *t)
{
	unsigned long long n = 0;

	for (int i = 0; i < t->n; i++)
		n += t->tap[i].last - t->tap[i].base;
	return n;
}
