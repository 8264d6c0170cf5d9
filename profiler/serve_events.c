// SPDX-License-Identifier: GPL-2.0
/* Process events from the netlink proc connector (serve_events.h). */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include "serve_events.h"

int events_open(void)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = CN_IDX_PROC};
	struct {
		struct nlmsghdr nl;
		struct cn_msg cn;
		enum proc_cn_mcast_op op;
	} __attribute__((packed)) req = {
	    .nl = {.nlmsg_len = sizeof(req), .nlmsg_type = NLMSG_DONE, .nlmsg_pid = 0},
	    .cn = {.id = {CN_IDX_PROC, CN_VAL_PROC}, .len = sizeof(enum proc_cn_mcast_op)},
	    .op = PROC_CN_MCAST_LISTEN,
	};
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_CONNECTOR);
	int err;

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    send(fd, &req, sizeof(req), 0) != (ssize_t)sizeof(req)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int events_read(int fd, void (*exec)(int pid, void *arg), void *arg)
{
	int lost = 0;

	for (;;) {
		char buf[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return lost;
			if (errno == ENOBUFS) { /* the socket overflowed: events lost */
				lost = 1;
				continue;
			}
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (struct nlmsghdr *nl = (struct nlmsghdr *)buf; NLMSG_OK(nl, (size_t)n);
		     nl = NLMSG_NEXT(nl, n)) {
			struct cn_msg *cn = NLMSG_DATA(nl);
			struct proc_event *ev = (struct proc_event *)cn->data;

			if (nl->nlmsg_type == NLMSG_OVERRUN || nl->nlmsg_type == NLMSG_ERROR) {
				lost = 1;
				continue;
			}
			if (cn->id.idx != CN_IDX_PROC || cn->id.val != CN_VAL_PROC)
				continue;
			if (ev->what == PROC_EVENT_EXEC)
				exec(ev->event_data.exec.process_tgid, arg);
		}
	}
}
