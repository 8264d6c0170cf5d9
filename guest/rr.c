// rr: UDP request/response latency client for the vexit test guest.
//
// Sends COUNT 1-byte UDP requests to an echo server, one at a time, each
// waiting for its reply, and prints one JSON object with the latency
// distribution in microseconds.  Requests and replies are matched by their
// single byte (the request number modulo 256), so a late reply to a request
// that timed out is discarded instead of being taken for the current one.
//
// usage: rr -a ADDR -p PORT -n COUNT [-w WARMUP] [-t TIMEOUT_MS]
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

// Nearest-rank percentile: the smallest sample with at least pct% of the
// samples at or below it, so p99 of 100 samples is the 99th, not the max.
static uint64_t percentile(const uint64_t *s, size_t n, double pct)
{
	size_t rank = (size_t)(pct / 100.0 * (double)n + 0.999999);

	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return s[rank - 1];
}

static long parse_num(const char *s, const char *what, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "rr: bad %s '%s' (want %ld..%ld)\n", what, s, min, max);
		exit(2);
	}
	return v;
}

// One request; returns its round-trip time in ns, or 0 if no matching reply
// arrived within timeout_ms.
static uint64_t one_request(int fd, unsigned char tag, int timeout_ms)
{
	uint64_t t0 = now_ns(), deadline = t0 + (uint64_t)timeout_ms * 1000000ull;
	unsigned char buf[64];

	if (send(fd, &tag, 1, 0) != 1) {
		perror("rr: send");
		exit(1);
	}
	for (;;) {
		uint64_t t = now_ns();
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;
		int r;

		if (t >= deadline)
			return 0;
		r = poll(&pfd, 1, (int)((deadline - t + 999999) / 1000000));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			perror("rr: poll");
			exit(1);
		}
		if (r == 0)
			return 0;
		n = recv(fd, buf, sizeof(buf), 0);
		t = now_ns();
		if (n < 0 && (errno == EINTR || errno == ECONNREFUSED))
			continue; // ICMP port unreachable: keep waiting until timeout
		if (n < 0) {
			perror("rr: recv");
			exit(1);
		}
		if (n == 1 && buf[0] == tag)
			return t - t0 ? t - t0 : 1;
	}
}

int main(int argc, char **argv)
{
	const char *addr = NULL;
	long port = 0, count = 0, warmup = 10, timeout_ms = 1000;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	uint64_t *samples, sum = 0;
	size_t n = 0;
	long lost = 0, i;
	int opt, fd;

	while ((opt = getopt(argc, argv, "a:p:n:w:t:")) != -1) {
		switch (opt) {
		case 'a':
			addr = optarg;
			break;
		case 'p':
			port = parse_num(optarg, "port", 1, 65535);
			break;
		case 'n':
			count = parse_num(optarg, "count", 1, 100000000);
			break;
		case 'w':
			warmup = parse_num(optarg, "warmup", 0, 1000000);
			break;
		case 't':
			timeout_ms = parse_num(optarg, "timeout", 1, 600000);
			break;
		default:
			goto usage;
		}
	}
	if (!addr || !port || !count || optind != argc)
		goto usage;
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		fprintf(stderr, "rr: bad IPv4 address '%s'\n", addr);
		return 2;
	}
	sa.sin_port = htons((uint16_t)port);

	fd = socket(AF_INET, SOCK_DGRAM, 0);
	// connect() so that only the server's datagrams are delivered to us.
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("rr: socket/connect");
		return 1;
	}
	samples = calloc((size_t)count, sizeof(*samples));
	if (!samples) {
		perror("rr: calloc");
		return 1;
	}

	// Warm-up requests fill caches and settle interrupt moderation; they
	// are not part of the distribution.
	for (i = 0; i < warmup; i++)
		one_request(fd, (unsigned char)i, (int)timeout_ms);
	for (i = 0; i < count; i++) {
		uint64_t rtt = one_request(fd, (unsigned char)(warmup + i), (int)timeout_ms);

		if (!rtt) {
			lost++;
			continue;
		}
		samples[n++] = rtt;
		sum += rtt;
	}
	if (n == 0) {
		fprintf(stderr, "rr: no reply to any of %ld requests to %s:%ld\n", count, addr,
			port);
		return 1;
	}
	qsort(samples, n, sizeof(*samples), cmp_u64);
	printf("{\"count\":%zu,\"lost\":%ld,\"min_us\":%.3f,\"p50_us\":%.3f,\"p99_us\":%.3f,"
	       "\"mean_us\":%.3f,\"max_us\":%.3f}\n",
	       n, lost, samples[0] / 1e3, percentile(samples, n, 50) / 1e3,
	       percentile(samples, n, 99) / 1e3, (double)sum / (double)n / 1e3,
	       samples[n - 1] / 1e3);
	return 0;
usage:
	fprintf(stderr, "usage: rr -a ADDR -p PORT -n COUNT [-w WARMUP] [-t TIMEOUT_MS]\n");
	return 2;
}
