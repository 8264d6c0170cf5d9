// udp-echo: host-side UDP echo server for the guest's rr workload.
//
// Runs inside the network namespace that scripts/vm creates and sends every
// datagram back to its sender unchanged.  A plain blocking loop: rr keeps one
// request in flight, so there is nothing to batch, and a loop this small
// adds the least host-side latency to what rr measures.
//
// usage: udp-echo [-a ADDR] [-p PORT]      (default 0.0.0.0:7777)
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(7777)};
	unsigned char buf[65536];
	const char *addr = "0.0.0.0";
	int opt, fd;

	while ((opt = getopt(argc, argv, "a:p:")) != -1) {
		switch (opt) {
		case 'a':
			addr = optarg;
			break;
		case 'p': {
			char *end;
			long p = strtol(optarg, &end, 10);

			if (*optarg == '\0' || *end != '\0' || p < 1 || p > 65535) {
				fprintf(stderr, "udp-echo: bad port '%s'\n", optarg);
				return 2;
			}
			sa.sin_port = htons((unsigned short)p);
			break;
		}
		default:
			fprintf(stderr, "usage: udp-echo [-a ADDR] [-p PORT]\n");
			return 2;
		}
	}
	if (optind != argc || inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		fprintf(stderr, "usage: udp-echo [-a ADDR] [-p PORT]\n");
		return 2;
	}
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "udp-echo: bind %s:%u: %s\n", addr, ntohs(sa.sin_port),
			strerror(errno));
		return 1;
	}
	for (;;) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("udp-echo: recvfrom");
			return 1;
		}
		// A failed send (e.g. no neighbour entry yet) only loses this
		// reply; the client times it out and counts it as lost.
		(void)sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
	}
}
