// SPDX-License-Identifier: GPL-2.0
/*
 * Read one `vexitprof --json` profile for `vexitprof diff` (json-c) and check
 * it is one: every field the diff reads must be there with its type
 * (profiler/JSON.md), so a truncated or foreign file is refused with the
 * field it lacks rather than read as zeros.  Rows are summed per
 * device/register/direction (exit reason, function) over vCPUs, so a
 * per-vCPU profile compares with a merged one.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "diff.h"

/* Schema versions this diff reads: the fields it uses mean the same in each. */
static const char *const known_schemas[] = {"vexitprof/1", "vexitprof/2"};

#define FAIL(code, p, ...)                                                                         \
	({                                                                                         \
		fprintf(stderr, "vexitprof diff: %s: ", (p)->path);                                \
		fprintf(stderr, __VA_ARGS__);                                                      \
		fputc('\n', stderr);                                                               \
		code;                                                                              \
	})

/* o[key] of type t (json_type_double also takes integers); NULL if absent or another type. */
static struct json_object *get(struct json_object *o, const char *key, json_type t)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !v)
		return NULL;
	if (json_object_is_type(v, t) ||
	    (t == json_type_double && json_object_is_type(v, json_type_int)))
		return v;
	return NULL;
}

static const char *type_name(json_type t)
{
	return t == json_type_double ? "number" : json_type_to_name(t);
}

/* A required field: 0, or VP_DIFF_EXIT_NOTJSON naming it. */
static int need(const struct diff_profile *p, struct json_object *o, const char *where,
		const char *key, json_type t, struct json_object **out)
{
	*out = get(o, key, t);
	if (*out)
		return 0;
	return FAIL(VP_DIFF_EXIT_NOTJSON, p,
		    "not a vexitprof profile: %s%s\"%s\" is missing or not %s %s", where,
		    *where ? " " : "", key,
		    t == json_type_object || t == json_type_array ? "an" : "a", type_name(t));
}

static double num(struct json_object *o, const char *key)
{
	struct json_object *v = get(o, key, json_type_double);

	return v ? json_object_get_double(v) : 0;
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s ? s : "");

	if (!d) {
		fprintf(stderr, "vexitprof diff: out of memory\n");
		exit(1);
	}
	return d;
}

/* Add v, v2 to the item named (name, owner) of section s, creating it. */
static void add_item(struct diff_profile *p, int s, const char *name, const char *owner, double v,
		     double v2)
{
	struct diff_item *it;

	for (size_t i = 0; i < p->n[s]; i++) {
		it = &p->items[s][i];
		if (!strcmp(it->name, name) &&
		    !strcmp(it->owner ? it->owner : "", owner ? owner : "")) {
			it->v += v;
			it->v2 += v2;
			return;
		}
	}
	it = realloc(p->items[s], (p->n[s] + 1) * sizeof(*it));
	if (!it) {
		fprintf(stderr, "vexitprof diff: out of memory\n");
		exit(1);
	}
	p->items[s] = it;
	it = &p->items[s][p->n[s]++];
	*it = (struct diff_item){xstrdup(name), owner ? xstrdup(owner) : NULL, v, v2};
}

/* Every element of array arr is an object with the string fields keys: 0 or an exit code. */
static int check_rows(const struct diff_profile *p, struct json_object *arr, const char *where,
		      const char *const *keys)
{
	char w[64];

	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *row = json_object_array_get_idx(arr, i), *v;
		int err;

		snprintf(w, sizeof(w), "%s[%zu]", where, i);
		if (!json_object_is_type(row, json_type_object))
			return FAIL(VP_DIFF_EXIT_NOTJSON, p,
				    "not a vexitprof profile: %s is not an object", w);
		for (const char *const *k = keys; *k; k++)
			if ((err = need(p, row, w, *k, json_type_string, &v)))
				return err;
		if ((err = need(p, row, w, "count", json_type_double, &v)))
			return err;
	}
	return 0;
}

static const char *str(struct json_object *o, const char *key)
{
	struct json_object *v = get(o, key, json_type_string);

	return v ? json_object_get_string(v) : "";
}

static int load_rows(struct diff_profile *p, struct json_object *root)
{
	static const char *const acc_keys[] = {"device", "register", "dir", NULL};
	static const char *const exit_keys[] = {"reason", NULL};
	struct json_object *acc, *ex, *uex;
	int err;

	if ((err = need(p, root, "", "accesses", json_type_array, &acc)) ||
	    (err = need(p, root, "", "exits", json_type_array, &ex)) ||
	    (err = need(p, root, "", "userspace_exits", json_type_array, &uex)) ||
	    (err = check_rows(p, acc, "accesses", acc_keys)) ||
	    (err = check_rows(p, ex, "exits", exit_keys)) ||
	    (err = check_rows(p, uex, "userspace_exits", exit_keys)))
		return err;
	for (size_t i = 0; i < json_object_array_length(acc); i++) {
		struct json_object *r = json_object_array_get_idx(acc, i);
		char name[256];

		snprintf(name, sizeof(name), "%s %s %s", str(r, "device"), str(r, "register"),
			 str(r, "dir"));
		add_item(p, DIFF_ACCESSES, name, str(r, "device"), num(r, "count"), 0);
		/* null without kernel events (TCG): no time to compare */
		if (get(r, "user_ns", json_type_double))
			add_item(p, DIFF_ACC_TIME, name, str(r, "device"), num(r, "user_ns"), 0);
	}
	for (size_t i = 0; i < json_object_array_length(ex); i++) {
		struct json_object *r = json_object_array_get_idx(ex, i);

		add_item(p, DIFF_EXITS, str(r, "reason"), NULL, num(r, "count"), 0);
	}
	for (size_t i = 0; i < json_object_array_length(uex); i++) {
		struct json_object *r = json_object_array_get_idx(uex, i);

		add_item(p, DIFF_UEXITS, str(r, "reason"), NULL, num(r, "count"), 0);
	}
	return 0;
}

/* Folded stacks {"stack": ..., WEIGHT_KEY: N} of the array arr (NULL: none) in *out. */
static int load_stacks(struct diff_profile *p, struct json_object *arr, const char *where,
		       const char *weight_key, struct diff_stack **out, size_t *n)
{
	char w[48];
	int err;

	*n = arr ? json_object_array_length(arr) : 0;
	*out = calloc(*n + 1, sizeof(**out));
	if (!*out)
		return FAIL(1, p, "out of memory");
	for (size_t i = 0; i < *n; i++) {
		struct json_object *s = json_object_array_get_idx(arr, i), *x;

		snprintf(w, sizeof(w), "%s[%zu]", where, i);
		if ((err = need(p, s, w, "stack", json_type_string, &x)) ||
		    (err = need(p, s, w, weight_key, json_type_double, &x)))
			return err;
		(*out)[i].frames = xstrdup(str(s, "stack"));
		(*out)[i].weight = num(s, weight_key);
	}
	return 0;
}

/* on_cpu (optional): {"ns_per_sample", "functions": [...], "stacks": [...]} */
static int load_on_cpu(struct diff_profile *p, struct json_object *root)
{
	struct json_object *oc, *fns, *sts, *v;
	char w[64];
	int err;

	if (!json_object_object_get_ex(root, "on_cpu", &oc) || !oc)
		return 0;
	if ((err = need(p, root, "", "on_cpu", json_type_object, &oc)) ||
	    (err = need(p, oc, "on_cpu", "ns_per_sample", json_type_double, &v)) ||
	    (err = need(p, oc, "on_cpu", "functions", json_type_array, &fns)))
		return err;
	p->on_cpu = true;
	p->ns_per_sample = json_object_get_double(v);
	/*
	 * Bytes the tap moved in the profile's window: what --per gb divides by
	 * when the e1000 probes did not count them (virtio-net, or profiles
	 * taken without the packet probes).
	 */
	if (p->bytes < 0 && num(oc, "bytes") > 0)
		p->bytes = num(oc, "bytes");
	for (size_t i = 0; i < json_object_array_length(fns); i++) {
		struct json_object *f = json_object_array_get_idx(fns, i), *x;

		snprintf(w, sizeof(w), "on_cpu.functions[%zu]", i);
		if ((err = need(p, f, w, "function", json_type_string, &x)) ||
		    (err = need(p, f, w, "self", json_type_double, &x)) ||
		    (err = need(p, f, w, "total", json_type_double, &x)))
			return err;
		add_item(p, DIFF_FUNCTIONS, str(f, "function"), str(f, "module"), num(f, "self"),
			 num(f, "total"));
	}
	sts = get(oc, "stacks", json_type_array);
	return load_stacks(p, sts, "on_cpu.stacks", "samples", &p->cpu_stacks, &p->n_cpu_stacks);
}

/* The rows' folded stacks ("stacks"), when the profile has them. */
static int load_row_stacks(struct diff_profile *p, struct json_object *root)
{
	struct json_object *st, *fo, *v;
	int err;

	if (!json_object_object_get_ex(root, "stacks", &st))
		return 0; /* vexitprof/1: --flamegraph says so if asked */
	if ((err = need(p, root, "", "stacks", json_type_object, &st)) ||
	    (err = need(p, st, "stacks", "unit", json_type_string, &v)) ||
	    (err = need(p, st, "stacks", "folded", json_type_array, &fo)))
		return err;
	p->has_row_stacks = true;
	p->row_stacks_ns = !strcmp(json_object_get_string(v), "ns");
	return load_stacks(p, fo, "stacks.folded", "weight", &p->row_stacks, &p->n_row_stacks);
}

/* Packets and bytes the e1000 probes counted; unknown without them. */
static void load_e1000(struct diff_profile *p, struct json_object *root)
{
	struct json_object *e = get(root, "e1000", json_type_object);

	p->packets = p->bytes = -1;
	if (!e)
		return;
	p->packets = num(e, "tx_frames") + num(e, "rx_frames");
	/* vexitprof/1 counts received bytes only: they are all the bytes when nothing was sent */
	if (get(e, "tx_bytes", json_type_double))
		p->bytes = num(e, "tx_bytes") + num(e, "rx_bytes");
	else if (num(e, "tx_frames") == 0)
		p->bytes = num(e, "rx_bytes");
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0, n = 0, got;

	if (!f)
		return NULL;
	do {
		if (n + 1 >= cap) {
			char *nb = realloc(buf, cap = cap ? 2 * cap : 65536);

			if (!nb) {
				free(buf);
				fclose(f);
				errno = ENOMEM;
				return NULL;
			}
			buf = nb;
		}
		got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
	} while (got);
	if (ferror(f)) {
		int e = errno ? errno : EIO;

		free(buf);
		fclose(f);
		errno = e;
		return NULL;
	}
	fclose(f);
	buf[n] = 0;
	*len = n;
	return buf;
}

int diff_load(struct diff_profile *p, const char *path)
{
	struct json_tokener *tok;
	struct json_object *root, *v;
	enum json_tokener_error jerr;
	size_t len, i;
	char *text;
	int err;

	memset(p, 0, sizeof(*p));
	p->path = path;
	text = read_file(path, &len);
	if (!text)
		return FAIL(VP_DIFF_EXIT_READ, p, "cannot read: %s", strerror(errno));
	tok = json_tokener_new();
	if (!tok) {
		free(text);
		return FAIL(1, p, "out of memory");
	}
	root = json_tokener_parse_ex(tok, text, (int)len);
	jerr = json_tokener_get_error(tok);
	i = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	while (root && i < len && strchr(" \t\r\n", text[i]))
		i++;
	free(text);
	if (!root || jerr != json_tokener_success || i < len) {
		json_object_put(root);
		if (!root && jerr == json_tokener_continue)
			return FAIL(VP_DIFF_EXIT_NOTJSON, p, "not JSON: %s",
				    len ? "the document ends early" : "empty file");
		if (!root)
			return FAIL(VP_DIFF_EXIT_NOTJSON, p, "not JSON: %s at byte %zu",
				    json_tokener_error_desc(jerr), i);
		return FAIL(VP_DIFF_EXIT_NOTJSON, p,
			    "not JSON: more than one value (trailing data at byte %zu)", i);
	}
	p->root = root;
	if (!json_object_is_type(root, json_type_object))
		return FAIL(VP_DIFF_EXIT_NOTJSON, p, "not a vexitprof profile: not a JSON object");
	if ((err = need(p, root, "", "schema", json_type_string, &v)))
		return err;
	p->schema = xstrdup(json_object_get_string(v));
	if (strncmp(p->schema, "vexitprof/", 10))
		return FAIL(VP_DIFF_EXIT_NOTJSON, p,
			    "not a vexitprof profile: schema \"%s\", not vexitprof/N", p->schema);
	for (i = 0; i < sizeof(known_schemas) / sizeof(*known_schemas); i++)
		if (!strcmp(p->schema, known_schemas[i]))
			break;
	if (i == sizeof(known_schemas) / sizeof(*known_schemas))
		return FAIL(VP_DIFF_EXIT_SCHEMA, p,
			    "schema %s is not one this vexitprof reads (vexitprof/1, vexitprof/2)",
			    p->schema);
	if ((err = need(p, root, "", "qemu", json_type_string, &v)))
		return err;
	p->qemu = xstrdup(json_object_get_string(v));
	if ((err = need(p, root, "", "source", json_type_string, &v)))
		return err;
	p->source = xstrdup(json_object_get_string(v));
	if ((err = need(p, root, "", "per_vcpu", json_type_boolean, &v)))
		return err;
	p->per_vcpu = json_object_get_boolean(v);
	if ((err = need(p, root, "", "duration_s", json_type_double, &v)))
		return err;
	p->duration_s = json_object_get_double(v);
	if (!json_object_object_get_ex(root, "e1000", &v))
		return FAIL(VP_DIFF_EXIT_NOTJSON, p,
			    "not a vexitprof profile: \"e1000\" is missing");
	if (v && !json_object_is_type(v, json_type_object))
		return FAIL(VP_DIFF_EXIT_NOTJSON, p,
			    "not a vexitprof profile: \"e1000\" is not an object or null");
	load_e1000(p, root);
	if ((err = load_rows(p, root)) || (err = load_row_stacks(p, root)))
		return err;
	return load_on_cpu(p, root);
}

/* "qemu-system-x86_64" of ".../qemu-system-x86_64-asan": the target QEMU emulates */
static void target_of(const char *qemu, char *buf, size_t len)
{
	const char *b = strrchr(qemu, '/'), *t;
	size_t n;

	b = b ? b + 1 : qemu;
	t = strstr(b, "qemu-system-");
	if (!t) {
		snprintf(buf, len, "%s", b);
		return;
	}
	t += strlen("qemu-system-");
	n = strcspn(t, "-. ");
	snprintf(buf, len, "%.*s", (int)n, t);
}

/* A device both profiles have accesses of: none is a sign of two different machines. */
static bool share_device(const struct diff_profile *a, const struct diff_profile *b)
{
	for (size_t i = 0; i < a->n[DIFF_ACCESSES]; i++)
		for (size_t j = 0; j < b->n[DIFF_ACCESSES]; j++)
			if (!strcmp(a->items[DIFF_ACCESSES][i].owner,
				    b->items[DIFF_ACCESSES][j].owner))
				return true;
	return false;
}

int diff_check_comparable(const struct diff_profile *a, const struct diff_profile *b,
			  bool cross_device)
{
	char ta[64], tb[64];

	if (strcmp(a->schema, b->schema)) {
		fprintf(stderr,
			"vexitprof diff: %s is %s, %s is %s: only profiles of one schema version "
			"compare\n",
			a->path, a->schema, b->path, b->schema);
		return VP_DIFF_EXIT_SCHEMA;
	}
	/* Register addresses, exit reasons and devices are the target's. */
	target_of(a->qemu, ta, sizeof(ta));
	target_of(b->qemu, tb, sizeof(tb));
	if (strcmp(ta, tb)) {
		fprintf(
		    stderr,
		    "vexitprof diff: not comparable: %s profiles a QEMU for %s, %s one for %s\n",
		    a->path, ta, b->path, tb);
		return VP_DIFF_EXIT_INCOMPARABLE;
	}
	/* Guest accesses seen by KVM and QEMU's dispatches count different things. */
	if (strcmp(a->source, b->source)) {
		fprintf(stderr, "vexitprof diff: not comparable: %s counts %s, %s counts %s\n",
			a->path,
			strcmp(a->source, "kvm") ? "QEMU's dispatches (TCG/USDT)"
						 : "guest accesses seen by KVM",
			b->path,
			strcmp(b->source, "kvm") ? "QEMU's dispatches (TCG/USDT)"
						 : "guest accesses seen by KVM");
		return VP_DIFF_EXIT_INCOMPARABLE;
	}
	if (!cross_device && a->n[DIFF_ACCESSES] && b->n[DIFF_ACCESSES] && !share_device(a, b)) {
		fprintf(stderr,
			"vexitprof diff: not comparable: %s and %s have no device in common (%s vs "
			"%s ...); --cross-device compares them anyway\n",
			a->path, b->path, a->items[DIFF_ACCESSES][0].owner,
			b->items[DIFF_ACCESSES][0].owner);
		return VP_DIFF_EXIT_INCOMPARABLE;
	}
	return 0;
}

void diff_profile_free(struct diff_profile *p)
{
	for (int s = 0; s < DIFF_NSECT; s++) {
		for (size_t i = 0; i < p->n[s]; i++) {
			free(p->items[s][i].name);
			free(p->items[s][i].owner);
		}
		free(p->items[s]);
	}
	for (size_t i = 0; i < p->n_cpu_stacks; i++)
		free(p->cpu_stacks[i].frames);
	free(p->cpu_stacks);
	for (size_t i = 0; i < p->n_row_stacks; i++)
		free(p->row_stacks[i].frames);
	free(p->row_stacks);
	free(p->schema);
	free(p->qemu);
	free(p->source);
	json_object_put(p->root);
	memset(p, 0, sizeof(*p));
}
