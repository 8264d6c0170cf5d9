// SPDX-License-Identifier: GPL-2.0
/* Closing BPF links on worker threads (serve_detach.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "attach.h"
#include "serve_detach.h"

/* enough for a few VMs' windows ending at once (six links each) */
#define DETACH_WORKERS 12

struct job {
	struct job *next;
	struct bpf_link *l[VP_MAX_LINKS];
	int n, fd;
	int *pending;
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	struct job *head, *tail;
	pthread_t t[DETACH_WORKERS];
	int n_t;
	bool stop;
} p = {.mu = PTHREAD_MUTEX_INITIALIZER,
       .work = PTHREAD_COND_INITIALIZER,
       .done = PTHREAD_COND_INITIALIZER};

static void run(struct job *j)
{
	for (int i = 0; i < j->n; i++)
		bpf_link__destroy(j->l[i]);
	if (j->fd >= 0)
		close(j->fd);
}

static void *worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&p.mu);
	for (;;) {
		struct job *j;

		while (!p.head && !p.stop)
			pthread_cond_wait(&p.work, &p.mu);
		if (!p.head)
			break; /* stopping, and nothing left */
		j = p.head;
		p.head = j->next;
		if (!p.head)
			p.tail = NULL;
		pthread_mutex_unlock(&p.mu);
		run(j);
		pthread_mutex_lock(&p.mu);
		(*j->pending)--;
		pthread_cond_broadcast(&p.done);
		free(j);
	}
	pthread_mutex_unlock(&p.mu);
	return NULL;
}

int detach_start(void)
{
	for (int i = 0; i < DETACH_WORKERS; i++) {
		int err = pthread_create(&p.t[p.n_t], NULL, worker, NULL);

		if (err)
			return p.n_t ? 0 : -err;
		p.n_t++;
	}
	return 0;
}

void detach_stop(void)
{
	pthread_mutex_lock(&p.mu);
	p.stop = true;
	pthread_cond_broadcast(&p.work);
	pthread_mutex_unlock(&p.mu);
	for (int i = 0; i < p.n_t; i++)
		pthread_join(p.t[i], NULL);
	p.n_t = 0;
}

void detach_queue(struct bpf_link *const *l, int n, int fd, int *pending)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j || !p.n_t) {
		/* no worker (or no memory): here and now */
		struct job k = {.n = n, .fd = fd};

		memcpy(k.l, l, n * sizeof(*l));
		run(&k);
		free(j);
		return;
	}
	memcpy(j->l, l, n * sizeof(*l));
	j->n = n;
	j->fd = fd;
	j->pending = pending;
	pthread_mutex_lock(&p.mu);
	(*pending)++;
	if (p.tail)
		p.tail->next = j;
	else
		p.head = j;
	p.tail = j;
	pthread_cond_signal(&p.work);
	pthread_mutex_unlock(&p.mu);
}

bool detach_done(int *pending, bool wait)
{
	bool done;

	pthread_mutex_lock(&p.mu);
	while (wait && *pending)
		pthread_cond_wait(&p.done, &p.mu);
	done = !*pending;
	pthread_mutex_unlock(&p.mu);
	return done;
}
