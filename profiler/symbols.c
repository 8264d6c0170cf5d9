// SPDX-License-Identifier: GPL-2.0
/*
 * Symbols for --on-cpu (see symbols.h).  Mapped files are read lazily, once,
 * with libelf; a file without .symtab (stripped) falls back to .dynsym, and
 * an address no symbol covers becomes "module+0xoffset".
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "symbols.h"

struct sym {
	uint64_t addr, size;
	const char *name;
};

struct seg {
	uint64_t off, filesz, vaddr;
};

struct module {
	char *path;
	/*
	 * /proc/PID/map_files/START-END of one of its mappings: the file QEMU
	 * mapped even when path now names another one (rebuilt, replaced).
	 */
	char mapped[96];
	const char *base;
	bool loaded, has_symtab, ok;
	struct sym *syms;
	size_t n_syms;
	struct seg *segs;
	size_t n_segs;
	char *strs; /* the names: one block per module */
};

struct map {
	uint64_t start, end, pgoff;
	int mod; /* -1: anonymous executable memory (TCG's translated code) */
};

struct vp_syms {
	int pid;
	struct map *maps;
	size_t n_maps;
	struct module *mods;
	size_t n_mods;
	struct sym *ksyms;
	size_t n_ksyms;
	bool kloaded;
	/* interned "module+0x..." frames */
	char **names;
	size_t n_names, cap_names;
};

static const char *intern(struct vp_syms *s, const char *str)
{
	for (size_t i = s->n_names; i-- > 0;)
		if (!strcmp(s->names[i], str))
			return s->names[i];
	if (s->n_names == s->cap_names) {
		size_t cap = s->cap_names ? 2 * s->cap_names : 64;
		char **p = realloc(s->names, cap * sizeof(*p));

		if (!p)
			return "[nomem]";
		s->names = p;
		s->cap_names = cap;
	}
	s->names[s->n_names] = strdup(str);
	return s->names[s->n_names] ? s->names[s->n_names++] : "[nomem]";
}

static int mod_index(struct vp_syms *s, const char *path)
{
	struct module *m;

	for (size_t i = 0; i < s->n_mods; i++)
		if (!strcmp(s->mods[i].path, path))
			return (int)i;
	m = realloc(s->mods, (s->n_mods + 1) * sizeof(*m));
	if (!m)
		return -1;
	s->mods = m;
	m = &s->mods[s->n_mods];
	memset(m, 0, sizeof(*m));
	m->path = strdup(path);
	if (!m->path)
		return -1;
	m->base = strrchr(m->path, '/') ? strrchr(m->path, '/') + 1 : m->path;
	return (int)s->n_mods++;
}

static int cmp_sym(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* The function symbols of one section (SHT_SYMTAB or SHT_DYNSYM); false if it has none. */
static bool read_symtab(Elf *e, struct module *m, Elf_Scn *scn, GElf_Shdr *sh)
{
	Elf_Data *d = elf_getdata(scn, NULL);
	size_t n = sh->sh_entsize ? sh->sh_size / sh->sh_entsize : 0, len = 0, k = 0;
	GElf_Sym sym;

	if (!d || !n)
		return false;
	/* two passes: the names' total length, then the copies */
	for (size_t i = 0; i < n; i++) {
		const char *name;

		if (!gelf_getsym(d, (int)i, &sym) || GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
		    !sym.st_value || !(name = elf_strptr(e, sh->sh_link, sym.st_name)))
			continue;
		len += strlen(name) + 1;
		k++;
	}
	if (!k)
		return false;
	m->syms = calloc(k, sizeof(*m->syms));
	m->strs = malloc(len);
	if (!m->syms || !m->strs)
		return false;
	len = 0;
	for (size_t i = 0; i < n && m->n_syms < k; i++) {
		const char *name;

		if (!gelf_getsym(d, (int)i, &sym) || GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
		    !sym.st_value || !(name = elf_strptr(e, sh->sh_link, sym.st_name)))
			continue;
		strcpy(m->strs + len, name);
		m->syms[m->n_syms++] = (struct sym){sym.st_value, sym.st_size, m->strs + len};
		len += strlen(name) + 1;
	}
	qsort(m->syms, m->n_syms, sizeof(*m->syms), cmp_sym);
	return true;
}

static void load_module(struct module *m)
{
	Elf_Scn *scn = NULL, *dyn = NULL;
	GElf_Shdr sh, dsh;
	size_t nph = 0;
	Elf *e;
	int fd;

	m->loaded = true;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return;
	fd = m->mapped[0] ? open(m->mapped, O_RDONLY | O_CLOEXEC) : -1;
	if (fd < 0)
		fd = open(m->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	e = elf_begin(fd, ELF_C_READ, NULL);
	if (!e || elf_kind(e) != ELF_K_ELF || elf_getphdrnum(e, &nph))
		goto out;
	m->segs = calloc(nph + 1, sizeof(*m->segs));
	for (size_t i = 0; m->segs && i < nph; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(e, (int)i, &ph) && ph.p_type == PT_LOAD)
			m->segs[m->n_segs++] = (struct seg){ph.p_offset, ph.p_filesz, ph.p_vaddr};
	}
	m->ok = true;
	while ((scn = elf_nextscn(e, scn))) {
		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_SYMTAB && !m->has_symtab)
			m->has_symtab = read_symtab(e, m, scn, &sh);
		else if (sh.sh_type == SHT_DYNSYM) {
			dyn = scn;
			dsh = sh;
		}
	}
	if (!m->has_symtab && dyn)
		read_symtab(e, m, dyn, &dsh);
out:
	if (e)
		elf_end(e);
	close(fd);
}

/* file offset -> the ELF's virtual address (what symbols use) */
static bool file_vaddr(const struct module *m, uint64_t off, uint64_t *va)
{
	for (size_t i = 0; i < m->n_segs; i++)
		if (off >= m->segs[i].off && off < m->segs[i].off + m->segs[i].filesz) {
			*va = off - m->segs[i].off + m->segs[i].vaddr;
			return true;
		}
	return false;
}

/* The symbol covering a (its size, or up to the next symbol when it has none). */
static const struct sym *find(const struct sym *v, size_t n, uint64_t a, bool sizeless_ok)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (v[mid].addr <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i-- > 0 && v[i].addr == v[lo - 1].addr;)
		if (a < v[i].addr + v[i].size)
			return &v[i];
	if (lo && sizeless_ok && !v[lo - 1].size)
		return &v[lo - 1];
	return NULL;
}

static int cmp_map(const void *a, const void *b)
{
	const struct map *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

int syms_refresh(struct vp_syms *s)
{
	char path[64], line[4096];
	struct map *maps = NULL;
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", s->pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long start, end, pgoff;
		char perms[8], file[4096] = "";
		struct map *p;

		if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %4095[^\n]", &start, &end, perms,
			   &pgoff, file) < 4 ||
		    perms[2] != 'x')
			continue;
		p = realloc(maps, (n + 1) * sizeof(*maps));
		if (!p)
			break;
		maps = p;
		maps[n] = (struct map){start, end, pgoff, -1};
		/* "[vdso]", "[vsyscall]" and anonymous memory have no file */
		if (file[0] == '/') {
			char *del = strstr(file, " (deleted)");

			if (del)
				*del = 0;
			maps[n].mod = mod_index(s, file);
			if (maps[n].mod >= 0 && !s->mods[maps[n].mod].mapped[0])
				snprintf(s->mods[maps[n].mod].mapped,
					 sizeof(s->mods[maps[n].mod].mapped),
					 "/proc/%d/map_files/%llx-%llx", s->pid, start, end);
		} else if (file[0] == '[') {
			maps[n].mod = mod_index(s, file);
			if (maps[n].mod >= 0)
				s->mods[maps[n].mod].loaded = true;
		}
		n++;
	}
	fclose(f);
	if (!n) {
		free(maps);
		return -ENOENT;
	}
	qsort(maps, n, sizeof(*maps), cmp_map);
	free(s->maps);
	s->maps = maps;
	s->n_maps = n;
	return 0;
}

struct vp_syms *syms_new(int pid)
{
	struct vp_syms *s = calloc(1, sizeof(*s));

	if (s) {
		s->pid = pid;
		syms_refresh(s);
	}
	return s;
}

bool syms_exe_stripped(struct vp_syms *s, const char **exe)
{
	char path[64], buf[4096];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/exe", s->pid);
	n = readlink(path, buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	buf[n] = 0;
	if (strstr(buf, " (deleted)"))
		*strstr(buf, " (deleted)") = 0;
	for (size_t i = 0; i < s->n_mods; i++) {
		struct module *m = &s->mods[i];

		if (strcmp(m->path, buf))
			continue;
		if (!m->loaded)
			load_module(m);
		*exe = m->base;
		return m->ok && !m->has_symtab;
	}
	return false;
}

struct vp_sym syms_user(struct vp_syms *s, uint64_t addr)
{
	struct vp_sym r = {.function = "[unknown]", .module = NULL};
	size_t lo = 0, hi = s->n_maps;
	const struct map *mp = NULL;
	struct module *m;
	const struct sym *sy;
	uint64_t va;
	char buf[512];

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (s->maps[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo && addr < s->maps[lo - 1].end)
		mp = &s->maps[lo - 1];
	if (!mp)
		return r; /* not code: module NULL */
	if (mp->mod < 0) {
		r.function = r.module = "[jit]";
		return r;
	}
	m = &s->mods[mp->mod];
	r.module = m->base;
	if (!m->loaded)
		load_module(m);
	if (m->ok && file_vaddr(m, addr - mp->start + mp->pgoff, &va)) {
		sy = find(m->syms, m->n_syms, va, false);
		if (sy) {
			r.function = sy->name;
			r.named = true;
			return r;
		}
	} else {
		va = addr - mp->start + mp->pgoff;
	}
	snprintf(buf, sizeof(buf), "%s+0x%llx", m->base, (unsigned long long)va);
	r.function = intern(s, buf);
	return r;
}

static void load_kallsyms(struct vp_syms *s)
{
	char line[512], name[256], type;
	unsigned long long a;
	size_t cap = 0, len = 0;
	FILE *f;

	s->kloaded = true;
	f = fopen("/proc/kallsyms", "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%llx %c %255s", &a, &type, name) != 3 || !a ||
		    (type != 't' && type != 'T' && type != 'w' && type != 'W'))
			continue;
		if (s->n_ksyms == cap) {
			struct sym *p;

			cap = cap ? 2 * cap : 65536;
			p = realloc(s->ksyms, cap * sizeof(*p));
			if (!p)
				break;
			s->ksyms = p;
		}
		s->ksyms[s->n_ksyms++] = (struct sym){a, 0, strdup(name)};
		len++;
	}
	fclose(f);
	qsort(s->ksyms, s->n_ksyms, sizeof(*s->ksyms), cmp_sym);
	(void)len;
}

struct vp_sym syms_kernel(struct vp_syms *s, uint64_t addr)
{
	struct vp_sym r = {.function = "[kernel]", .module = "[kernel]"};
	const struct sym *sy;

	if (!s->kloaded)
		load_kallsyms(s);
	/* kallsyms has no sizes: the nearest symbol below */
	sy = find(s->ksyms, s->n_ksyms, addr, true);
	if (sy && sy->name) {
		r.function = sy->name;
		r.named = true;
	}
	return r;
}

void syms_free(struct vp_syms *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_mods; i++) {
		free(s->mods[i].path);
		free(s->mods[i].syms);
		free(s->mods[i].segs);
		free(s->mods[i].strs);
	}
	for (size_t i = 0; i < s->n_ksyms; i++)
		free((void *)s->ksyms[i].name);
	for (size_t i = 0; i < s->n_names; i++)
		free(s->names[i]);
	free(s->names);
	free(s->ksyms);
	free(s->mods);
	free(s->maps);
	free(s);
}
