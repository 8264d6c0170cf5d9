// SPDX-License-Identifier: GPL-2.0
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>
#include "target.h"

bool target_alive(int pid)
{
	char p[64];

	snprintf(p, sizeof(p), "/proc/%d/stat", pid);
	if (access(p, F_OK))
		return false;
	/* a zombie has exited: its exe link is gone */
	snprintf(p, sizeof(p), "/proc/%d/exe", pid);
	char b[8];
	return readlink(p, b, sizeof(b)) > 0 || errno != ENOENT;
}

bool target_exe(int pid, char *buf, size_t len)
{
	char p[64];
	ssize_t n;

	snprintf(p, sizeof(p), "/proc/%d/exe", pid);
	n = readlink(p, buf, len - 1);
	if (n < 0)
		return false;
	buf[n] = 0;
	return true;
}

bool target_is_qemu(int pid, const char *exe)
{
	const char *base = strrchr(exe, '/');
	char p[64], comm[64] = "";
	FILE *f;

	base = base ? base + 1 : exe;
	if (!strncmp(base, "qemu-system-", 12))
		return true;
	snprintf(p, sizeof(p), "/proc/%d/comm", pid);
	f = fopen(p, "r");
	if (f) {
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = 0;
		fclose(f);
	}
	return !strncmp(comm, "qemu-system-", 12);
}

/* Length of the nop at vaddr in an executable section: 5 for 0f 1f 44 00 00, else 1. */
static int site_nop_len(Elf *e, GElf_Addr vaddr)
{
	static const unsigned char nop5[5] = {0x0f, 0x1f, 0x44, 0x00, 0x00};
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS ||
		    !(sh.sh_flags & SHF_EXECINSTR) || vaddr < sh.sh_addr ||
		    vaddr + sizeof(nop5) > sh.sh_addr + sh.sh_size)
			continue;
		d = elf_getdata(scn, NULL);
		if (d && d->d_buf && vaddr - sh.sh_addr + sizeof(nop5) <= d->d_size &&
		    !memcmp((const char *)d->d_buf + (vaddr - sh.sh_addr), nop5, sizeof(nop5)))
			return 5;
		return 1;
	}
	return 1;
}

int target_has_usdt(const char *path, const char *provider, int *nop_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), found = 0;
	Elf *e;
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (fd < 0)
		return -errno;
	elf_version(EV_CURRENT);
	e = elf_begin(fd, ELF_C_READ, NULL);
	if (!e || elf_getshdrstrndx(e, &shstrndx)) {
		if (e)
			elf_end(e);
		close(fd);
		return -EINVAL;
	}
	while (!found && (scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;
		GElf_Nhdr nh;
		size_t off = 0, noff, doff;
		const char *name;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		name = elf_strptr(e, shstrndx, sh.sh_name);
		if (!name || strcmp(name, ".note.stapsdt"))
			continue;
		d = elf_getdata(scn, NULL);
		while (d && d->d_buf && (off = gelf_getnote(d, off, &nh, &noff, &doff)) > 0) {
			/* desc: 3 addresses, then "provider\0name\0args\0" */
			const char *desc = (const char *)d->d_buf + doff;
			size_t asz = gelf_getclass(e) == ELFCLASS32 ? 4 : 8;
			size_t plen = strlen(provider);

			/*
			 * Compare within the note only: a malformed note need not hold the
			 * NUL that ends the provider, and strcmp would read on past it.
			 */
			if (nh.n_type == 3 && doff <= d->d_size &&
			    nh.n_descsz <= d->d_size - doff && nh.n_descsz > 3 * asz + plen &&
			    !memcmp(desc + 3 * asz, provider, plen) && desc[3 * asz + plen] == 0) {
				GElf_Addr loc = 0;

				memcpy(&loc, desc, asz); /* little-endian hosts */
				found = 1;
				if (nop_len)
					*nop_len = site_nop_len(e, loc);
				break;
			}
		}
	}
	elf_end(e);
	close(fd);
	return found;
}

static int comm_vcpu(const char *comm)
{
	int n;
	char kind[16];

	/* QEMU names vCPU threads "CPU <index>/<accel>" */
	if (sscanf(comm, "CPU %d/%15s", &n, kind) == 2)
		return n;
	return -1;
}

/*
 * tid -> vCPU learned from KVM_RUN (its fd, or BPF), one table per QEMU
 * process, so one vexitprof can hold many targets (--serve) and a thread id
 * reused by another process is never taken for a vCPU of the wrong one.  A
 * table survives its QEMU's exit for the final report (target_forget drops
 * it).  Tables grow as needed: a full one would leave the rows of threads that
 * are gone by then without their vCPU.
 */
struct tid_vcpu {
	int tid, vcpu;
};

struct pid_vcpus {
	int pid;
	struct tid_vcpu *t;
	int n, cap;
};

static struct pid_vcpus *targets;
static int n_targets;

/* pid's table; NULL if it has none and add is false, or out of memory */
static struct pid_vcpus *pid_table(int pid, bool add)
{
	struct pid_vcpus *t;

	for (int i = 0; i < n_targets; i++)
		if (targets[i].pid == pid)
			return &targets[i];
	if (!add)
		return NULL;
	t = realloc(targets, (n_targets + 1) * sizeof(*t));
	if (!t)
		return NULL;
	targets = t;
	t = &targets[n_targets++];
	memset(t, 0, sizeof(*t));
	t->pid = pid;
	return t;
}

static int table_vcpu(const struct pid_vcpus *t, int tid)
{
	for (int i = 0; t && i < t->n; i++)
		if (t->t[i].tid == tid)
			return t->t[i].vcpu;
	return -1;
}

/* Remember tid -> vcpu in pid's table; false (one line printed, once) if out of memory. */
static bool add_tid_vcpu(int pid, int tid, int vcpu)
{
	static bool warned;
	struct pid_vcpus *t = pid_table(pid, true);

	if (t && t->n == t->cap) {
		int cap = t->cap ? 2 * t->cap : 64;
		struct tid_vcpu *nt = realloc(t->t, cap * sizeof(*nt));

		if (nt) {
			t->t = nt;
			t->cap = cap;
		}
	}
	if (!t || t->n == t->cap) {
		if (!warned)
			fprintf(stderr, "vexitprof: out of memory for the thread -> vCPU table: "
					"rows of threads that exit may show no vCPU\n");
		warned = true;
		return false;
	}
	t->t[t->n].tid = tid;
	t->t[t->n].vcpu = vcpu;
	t->n++;
	return true;
}

void target_forget(int pid)
{
	for (int i = 0; i < n_targets; i++) {
		if (targets[i].pid != pid)
			continue;
		free(targets[i].t);
		targets[i] = targets[--n_targets];
		return;
	}
}

static int fd_vcpu(int pid, int fd)
{
	char p[96], l[128];
	ssize_t n;
	int v;

	snprintf(p, sizeof(p), "/proc/%d/fd/%d", pid, fd);
	n = readlink(p, l, sizeof(l) - 1);
	if (n <= 0)
		return -1;
	l[n] = 0;
	if (sscanf(l, "anon_inode:kvm-vcpu:%d", &v) == 1)
		return v;
	return -1;
}

void target_note_vcpu(int pid, int tid, int vcpu)
{
	if (vcpu >= 0 && table_vcpu(pid_table(pid, false), tid) < 0)
		add_tid_vcpu(pid, tid, vcpu);
}

void target_note_run_fd(int pid, int tid, int fd)
{
	int v;

	if (table_vcpu(pid_table(pid, false), tid) >= 0)
		return;
	v = fd_vcpu(pid, fd);
	if (v >= 0)
		add_tid_vcpu(pid, tid, v);
}

/* Calls f(pid, n) for each numeric entry n of /proc/PID/sub; returns how many gave >= 0. */
static int proc_count(int pid, const char *sub, int (*f)(int pid, int n, void *), void *arg)
{
	char p[64];
	DIR *d;
	struct dirent *de;
	int n = 0;

	snprintf(p, sizeof(p), "/proc/%d/%s", pid, sub);
	d = opendir(p);
	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && f(pid, atoi(de->d_name), arg) >= 0)
			n++;
	closedir(d);
	return n;
}

static int fd_vcpu_cb(int pid, int fd, void *arg)
{
	(void)arg;
	return fd_vcpu(pid, fd);
}

int target_count_vcpu_fds(int pid)
{
	return proc_count(pid, "fd", fd_vcpu_cb, NULL);
}

int target_tid_vcpu(int pid, int tid)
{
	char p[96], comm[64] = "";
	FILE *f;
	int v = table_vcpu(pid_table(pid, false), tid);

	if (v >= 0)
		return v;
	snprintf(p, sizeof(p), "/proc/%d/task/%d/comm", pid, tid);
	f = fopen(p, "r");
	if (!f)
		return -1;
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = 0;
	fclose(f);
	return comm_vcpu(comm);
}

struct thread_cb {
	void (*cb)(int tid, int vcpu, void *);
	void *arg;
};

static int thread_vcpu_cb(int pid, int tid, void *arg)
{
	struct thread_cb *t = arg;
	int v = tid > 0 ? target_tid_vcpu(pid, tid) : -1;

	if (v >= 0 && t->cb)
		t->cb(tid, v, t->arg);
	return v;
}

int target_vcpu_threads(int pid, void (*cb)(int tid, int vcpu, void *), void *arg)
{
	struct thread_cb t = {cb, arg};

	return proc_count(pid, "task", thread_vcpu_cb, &t);
}

bool target_have_caps(void)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2] = {};
	unsigned long long eff;

	if (syscall(SYS_capget, &h, d))
		return geteuid() == 0;
	eff = d[0].effective | ((unsigned long long)d[1].effective << 32);
#define HAS(c) (eff & (1ULL << (c)))
	return HAS(CAP_SYS_ADMIN) || (HAS(CAP_BPF) && HAS(CAP_PERFMON));
#undef HAS
}

int target_check_tracefs(const char *dir)
{
	char p[512];
	struct stat st;

	snprintf(p, sizeof(p), "%s/events", dir);
	if (stat(p, &st)) {
		if (mount("nodev", dir, "tracefs", 0, NULL)) {
			fprintf(
			    stderr,
			    "vexitprof: tracefs is not mounted at %s and mounting it failed (%s); "
			    "run: mount -t tracefs nodev %s\n",
			    dir, strerror(errno), dir);
			return VP_EXIT_NOTRACE;
		}
		fprintf(stderr, "vexitprof: mounted tracefs on %s\n", dir);
	}
	snprintf(p, sizeof(p), "%s/events/kvm/kvm_mmio", dir);
	if (stat(p, &st)) {
		fprintf(stderr,
			"vexitprof: this kernel has no kvm tracepoints (%s/events/kvm missing): "
			"is KVM enabled (CONFIG_KVM, kvm module loaded)?\n",
			dir);
		return VP_EXIT_NOTRACE;
	}
	return 0;
}

#define VP_LOCK_DIR "/run/vexitprof"

static void lock_path(char *p, size_t len, int pid)
{
	snprintf(p, len, VP_LOCK_DIR "/%d.lock", pid);
}

int target_lock(int pid, int *holder)
{
	char p[96], buf[32];
	struct stat fst, pst;
	ssize_t n;

	*holder = 0;
	lock_path(p, sizeof(p), pid);
	/*
	 * The holder removes the file when it is done (target_unlock), so the
	 * file we opened may be unlinked by the time our flock succeeds, and a
	 * third vexitprof could lock a new file of the same name: the lock
	 * counts only if the path still names the inode we locked.  Start over
	 * otherwise (also when the directory went away between mkdir and open).
	 */
	for (int tries = 0; tries < 100; tries++) {
		int fd;

		if (mkdir(VP_LOCK_DIR, 0755) && errno != EEXIST)
			return -1;
		fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0) {
			if (errno == ENOENT)
				continue;
			return -1;
		}
		if (flock(fd, LOCK_EX | LOCK_NB)) {
			n = pread(fd, buf, sizeof(buf) - 1, 0);
			if (n > 0) {
				buf[n] = 0;
				*holder = atoi(buf);
			}
			close(fd);
			return -1;
		}
		if (fstat(fd, &fst) || stat(p, &pst) || fst.st_ino != pst.st_ino ||
		    fst.st_dev != pst.st_dev) {
			close(fd);
			continue;
		}
		/*
		 * The lock dies with the process, so a vexitprof that was killed
		 * and left its file behind never blocks the next one.
		 */
		n = snprintf(buf, sizeof(buf), "%d\n", getpid());
		if (ftruncate(fd, 0) || pwrite(fd, buf, n, 0) != n) {
			/* the pid in the file is informational only */
		}
		return fd;
	}
	return -1;
}

void target_unlock(int pid, int fd)
{
	char p[96];

	if (fd < 0)
		return;
	lock_path(p, sizeof(p), pid);
	/* unlink while still holding the lock: see target_lock */
	unlink(p);
	close(fd);
	/* the directory goes too once no other vexitprof has a lock in it */
	rmdir(VP_LOCK_DIR);
}
