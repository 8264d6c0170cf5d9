// SPDX-License-Identifier: GPL-2.0
/*
 * `vexitprof diff` output: one line per changed row, largest change first,
 * "e1000-mmio TDT write: 1.00 -> 0.00 per packet (-1.00, x0.00)"; or the
 * same as JSON (schema vexitprof-diff/1, see vexitprof.8).
 */
#include <math.h>
#include <string.h>
#include <json-c/json.h>
#include "diff.h"

static const char *const titles[DIFF_NSECT] = {
    [DIFF_ACCESSES] = "Device accesses",
    [DIFF_ACC_TIME] = "QEMU time of the exits to QEMU, by device register",
    [DIFF_EXITS] = "VM exits",
    [DIFF_UEXITS] = "Exits to QEMU user space",
    [DIFF_FUNCTIONS] = "QEMU on-CPU functions (self time; with callees in parentheses)",
};
static const char *const json_names[DIFF_NSECT] = {
    [DIFF_ACCESSES] = "accesses",      [DIFF_ACC_TIME] = "access_time", [DIFF_EXITS] = "exits",
    [DIFF_UEXITS] = "userspace_exits", [DIFF_FUNCTIONS] = "functions",
};

/* Two decimals, fewer digits when large, two significant ones when tiny. */
static const char *val(double v, char *buf, size_t len, bool sign)
{
	double m = fabs(v);

	if (m >= 100)
		snprintf(buf, len, sign ? "%+.0f" : "%.0f", v);
	else if (m >= 0.01 || m == 0)
		snprintf(buf, len, sign ? "%+.2f" : "%.2f", v);
	else
		snprintf(buf, len, sign ? "%+.2g" : "%.2g", v);
	return buf;
}

static const char *ratio(double a, double b, char *buf, size_t len)
{
	if (a == 0 && b == 0)
		snprintf(buf, len, "-");
	else if (a == 0)
		snprintf(buf, len, "new");
	else if (b / a >= 100)
		snprintf(buf, len, "x%.0f", b / a);
	else
		snprintf(buf, len, "x%.2f", b / a);
	return buf;
}

/* A function's name, with its module when another row has the same name. */
static void fn_name(const struct diff_result *r, const struct diff_line *l, char *buf, size_t len)
{
	for (size_t i = 0; i < r->n[DIFF_FUNCTIONS]; i++) {
		const struct diff_line *o = &r->lines[DIFF_FUNCTIONS][i];

		if (o != l && !strcmp(o->name, l->name)) {
			snprintf(buf, len, l->owner && *l->owner == '[' ? "%s %s" : "%s [%s]",
				 l->name, l->owner ? l->owner : "?");
			return;
		}
	}
	snprintf(buf, len, "%s", l->name);
}

static void side(FILE *f, const struct diff_profile *p, double unit, const struct diff_result *r)
{
	fprintf(f, "%s (", p->path);
	if (r->per == DIFF_PER_PACKET)
		fprintf(f, "%.0f packets, ", unit);
	else if (r->per == DIFF_PER_GB)
		fprintf(f, "%.4g GB, ", unit);
	fprintf(f, "%.2f s)", p->duration_s);
}

void diff_render_text(FILE *f, const struct diff_result *r, const struct diff_profile *a,
		      const struct diff_profile *b, size_t top)
{
	char x[32], y[32], d[32], q[32], x2[32], y2[32], name[300];

	fprintf(f, "vexitprof diff, per %s: ", r->per_name);
	side(f, a, r->unit_a, r);
	fprintf(f, " -> ");
	side(f, b, r->unit_b, r);
	fputc('\n', f);
	for (int s = 0; s < DIFF_NSECT; s++) {
		const char *unit = s == DIFF_FUNCTIONS || s == DIFF_ACC_TIME ? "us per " : "per ";
		size_t n = r->n[s], shown = top && top < n ? top : n;

		if (s == DIFF_FUNCTIONS && !r->functions) {
			fprintf(f,
				"\nQEMU on-CPU functions: not compared, %s has no on-CPU samples "
				"(vexitprof --on-cpu)\n",
				!a->on_cpu ? a->path : b->path);
			continue;
		}
		if (s == DIFF_ACC_TIME && !r->access_time)
			continue; /* under TCG nothing times them */
		fprintf(f, "\n%s, per %s:\n", titles[s], r->per_name);
		if (!n)
			fprintf(f, "  (none in either profile)\n");
		for (size_t i = 0; i < shown; i++) {
			const struct diff_line *l = &r->lines[s][i];

			if (s == DIFF_FUNCTIONS)
				fn_name(r, l, name, sizeof(name));
			else
				snprintf(name, sizeof(name), "%s", l->name);
			fprintf(f, "  %s: %s -> %s %s%s (%s, %s", name,
				val(l->a, x, sizeof(x), false), val(l->b, y, sizeof(y), false),
				unit, r->per_name, val(l->d, d, sizeof(d), true),
				ratio(l->a, l->b, q, sizeof(q)));
			if (s == DIFF_FUNCTIONS)
				fprintf(f, "; with callees %s -> %s",
					val(l->a2, x2, sizeof(x2), false),
					val(l->b2, y2, sizeof(y2), false));
			fputs(")\n", f);
		}
		if (shown < n)
			fprintf(f, "  ... %zu more rows (--top 0 lists them)\n", n - shown);
	}
}

static struct json_object *jdouble(double v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%.6g", v);
	return json_object_new_double_s(v, buf);
}

static struct json_object *jside(const struct diff_profile *p, double unit)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "file", json_object_new_string(p->path));
	json_object_object_add(o, "schema", json_object_new_string(p->schema));
	json_object_object_add(o, "duration_s", jdouble(p->duration_s));
	json_object_object_add(o, "packets", p->packets >= 0 ? jdouble(p->packets) : NULL);
	json_object_object_add(o, "bytes", p->bytes >= 0 ? jdouble(p->bytes) : NULL);
	json_object_object_add(o, "units", jdouble(unit));
	json_object_object_add(o, "on_cpu", json_object_new_boolean(p->on_cpu));
	return o;
}

void diff_render_json(FILE *f, const struct diff_result *r, const struct diff_profile *a,
		      const struct diff_profile *b, size_t top)
{
	struct json_object *root = json_object_new_object();

	json_object_object_add(root, "schema", json_object_new_string("vexitprof-diff/1"));
	json_object_object_add(root, "per", json_object_new_string(r->per_name));
	json_object_object_add(root, "a", jside(a, r->unit_a));
	json_object_object_add(root, "b", jside(b, r->unit_b));
	for (int s = 0; s < DIFF_NSECT; s++) {
		struct json_object *rows;
		size_t n = r->n[s], shown = top && top < n ? top : n;

		if ((s == DIFF_FUNCTIONS && !r->functions) ||
		    (s == DIFF_ACC_TIME && !r->access_time)) {
			json_object_object_add(root, json_names[s], NULL);
			continue;
		}
		rows = json_object_new_array();
		for (size_t i = 0; i < shown; i++) {
			const struct diff_line *l = &r->lines[s][i];
			struct json_object *o = json_object_new_object();

			json_object_object_add(o, "name", json_object_new_string(l->name));
			if (l->owner)
				json_object_object_add(o, s == DIFF_FUNCTIONS ? "module" : "device",
						       json_object_new_string(l->owner));
			json_object_object_add(o, "a", jdouble(l->a));
			json_object_object_add(o, "b", jdouble(l->b));
			json_object_object_add(o, "delta", jdouble(l->d));
			json_object_object_add(o, "ratio", l->a ? jdouble(l->b / l->a) : NULL);
			if (s == DIFF_FUNCTIONS) {
				json_object_object_add(o, "total_a", jdouble(l->a2));
				json_object_object_add(o, "total_b", jdouble(l->b2));
			}
			json_object_array_add(rows, o);
		}
		json_object_object_add(root, json_names[s], rows);
		if (shown < n) {
			char k[48];

			snprintf(k, sizeof(k), "%s_more", json_names[s]);
			json_object_object_add(root, k, json_object_new_uint64(n - shown));
		}
	}
	fputs(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
						       JSON_C_TO_STRING_SPACED |
						       JSON_C_TO_STRING_NOSLASHESCAPE),
	      f);
	fputc('\n', f);
	json_object_put(root);
}
