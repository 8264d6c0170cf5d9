// SPDX-License-Identifier: GPL-2.0
/*
 * Flame graph SVG writer.  Stacks are sorted frame by frame, so that every
 * run of stacks sharing a prefix is contiguous; one pass over the sorted
 * list then turns each maximal shared prefix into one rectangle whose width
 * is the summed weight of the run.  Siblings come out in name order, as in
 * Brendan Gregg's flamegraph.pl, which keeps graphs of similar runs
 * comparable side by side.
 */
#define _GNU_SOURCE
#include "flamegraph.h"

#include <sys/stat.h>
#include <unistd.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FONT_SIZE  12
#define FONT_WIDTH 0.59 /* average glyph width of Verdana, in font sizes */
#define FRAME_H	   16
#define XPAD	   10
#define MIN_PX	   0.1 /* narrower frames are invisible; leaving them out keeps files small */

struct frame {
	const char *name;
	size_t len;
	size_t depth; /* 0 is the root ("all") */
	unsigned long long start, end;
	double delta; /* differential graphs: sum of the deltas of the stacks ending here */
};

struct graph {
	struct frame *f;
	size_t n, cap;
	struct fg_stack *sorted; /* normalized copies; frame names point into them */
	double *sdelta;		 /* differential graphs: the sorted stacks' deltas */
	size_t nsorted;
	unsigned long long total;
};

static void graph_free(struct graph *g)
{
	flamegraph_free_stacks(g->sorted, g->nsorted);
	free(g->sdelta);
	free(g->f);
}

static int graph_push(struct graph *g, const struct frame *x)
{
	if (g->n == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 256;
		struct frame *v = realloc(g->f, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		g->f = v;
		g->cap = cap;
	}
	g->f[g->n++] = *x;
	return 0;
}

/* Orders byte strings frame by frame: the end of a frame sorts before any
 * byte of a longer name, so all stacks starting with frame "a" stay
 * together even when a sibling like "a-b" exists. */
static int key_of(unsigned char c)
{
	return c == 0 ? 0 : c == ';' ? 1 : c + 2;
}

static int cmp_stacks(const void *pa, const void *pb)
{
	const unsigned char *a = (const unsigned char *)((const struct fg_stack *)pa)->frames;
	const unsigned char *b = (const unsigned char *)((const struct fg_stack *)pb)->frames;

	for (;; a++, b++) {
		int ka = key_of(*a), kb = key_of(*b);

		if (ka != kb)
			return ka < kb ? -1 : 1;
		if (!ka)
			return 0;
	}
}

/* Copy of s without empty frames ("a;;b;" is "a;b"), so that equal stacks
 * written differently sort next to each other. */
static char *normalize(const char *s)
{
	char *out = malloc(strlen(s) + 1), *o = out;

	if (!out)
		return NULL;
	while (*s) {
		const char *e = strchrnul(s, ';');

		if (e > s) {
			if (o > out)
				*o++ = ';';
			memcpy(o, s, (size_t)(e - s));
			o += e - s;
		}
		s = *e ? e + 1 : e;
	}
	*o = 0;
	return out;
}

/* A stack and its delta, sorted together. */
struct dstack {
	struct fg_stack s;
	double delta;
};

static int cmp_dstacks(const void *pa, const void *pb)
{
	return cmp_stacks(&((const struct dstack *)pa)->s, &((const struct dstack *)pb)->s);
}

/* Sort the stacks and their deltas alike (the deltas' order must follow the stacks'). */
static int sort_with_deltas(struct graph *g, const double *deltas, const size_t *from)
{
	struct dstack *v = calloc(g->nsorted ? g->nsorted : 1, sizeof(*v));
	size_t i;

	g->sdelta = calloc(g->nsorted ? g->nsorted : 1, sizeof(*g->sdelta));
	if (!v || !g->sdelta) {
		free(v);
		return -ENOMEM;
	}
	for (i = 0; i < g->nsorted; i++)
		v[i] = (struct dstack){g->sorted[i], deltas[from[i]]};
	qsort(v, g->nsorted, sizeof(*v), cmp_dstacks);
	for (i = 0; i < g->nsorted; i++) {
		g->sorted[i] = v[i].s;
		g->sdelta[i] = v[i].delta;
	}
	free(v);
	return 0;
}

static int graph_build(struct graph *g, const struct fg_stack *in, size_t n, const double *deltas)
{
	size_t *open = NULL, nopen = 0, capopen = 0, i;
	unsigned long long off = 0;
	int err;

	size_t *from = NULL;

	g->sorted = calloc(n ? n : 1, sizeof(*g->sorted));
	if (!g->sorted)
		return -ENOMEM;
	if (deltas && !(from = calloc(n ? n : 1, sizeof(*from))))
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		char *s;

		if (!in[i].frames || !in[i].weight)
			continue;
		s = normalize(in[i].frames);
		if (!s) {
			free(from);
			return -ENOMEM;
		}
		if (from)
			from[g->nsorted] = i;
		g->sorted[g->nsorted].frames = s;
		g->sorted[g->nsorted++].weight = in[i].weight;
	}
	if (deltas) {
		err = sort_with_deltas(g, deltas, from);
		free(from);
		if (err)
			return err;
	} else {
		qsort(g->sorted, g->nsorted, sizeof(*g->sorted), cmp_stacks);
	}

	/* The root's extent is known only at the end. */
	err = graph_push(g, &(struct frame){.name = "all", .len = 3});
	for (i = 0; !err && i < g->nsorted; i++) {
		const char *p = g->sorted[i].frames;
		size_t depth = 0;

		/* Keep the open frames this stack shares, close the rest. */
		while (*p && depth < nopen) {
			const char *e = strchrnul(p, ';');
			const struct frame *f = &g->f[open[depth]];

			if (f->len != (size_t)(e - p) || memcmp(f->name, p, f->len))
				break;
			depth++;
			p = *e ? e + 1 : e;
		}
		while (nopen > depth)
			g->f[open[--nopen]].end = off;
		while (!err && *p) {
			const char *e = strchrnul(p, ';');
			struct frame f = {p, (size_t)(e - p), nopen + 1, off, 0, 0};

			if (nopen == capopen) {
				size_t cap = capopen ? 2 * capopen : 64;
				size_t *v = realloc(open, cap * sizeof(*v));

				if (!v) {
					err = -ENOMEM;
					break;
				}
				open = v;
				capopen = cap;
			}
			err = graph_push(g, &f);
			open[nopen++] = g->n - 1;
			p = *e ? e + 1 : e;
		}
		/* The stack's own change belongs to its last frame (self). */
		if (!err && g->sdelta)
			g->f[nopen ? open[nopen - 1] : 0].delta += g->sdelta[i];
		off += g->sorted[i].weight;
	}
	while (!err && nopen > 0)
		g->f[open[--nopen]].end = off;
	if (!err) {
		g->f[0].end = off;
		g->total = off;
	}
	free(open);
	return err;
}

/* Writes s[0..len) as XML character data.  Bytes that would make the file
 * malformed (control characters, broken UTF-8) become '?'. */
static void xml_put(FILE *out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	while (p < end) {
		unsigned char c = *p;
		size_t need = 0, i;

		if (c < 0x80) {
			static const char *const ent[0x80] = {
			    ['&'] = "&amp;",  ['<'] = "&lt;",	 ['>'] = "&gt;",
			    ['"'] = "&quot;", ['\''] = "&apos;",
			};

			if (ent[c])
				fputs(ent[c], out);
			else
				fputc(c < 0x20 && c != '\t' ? '?' : c, out);
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			need = 1;
		else if (c >= 0xe0 && c <= 0xef)
			need = 2;
		else if (c >= 0xf0 && c <= 0xf4)
			need = 3;
		for (i = 1; need && i <= need; i++)
			if (p + i >= end || (p[i] & 0xc0) != 0x80)
				need = 0;
		/* Overlong 3/4-byte forms and surrogates are not valid XML text. */
		if (need == 2 && ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] >= 0xa0)))
			need = 0;
		if (need == 3 && ((c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] >= 0x90)))
			need = 0;
		if (!need) {
			fputc('?', out);
			p++;
			continue;
		}
		fwrite(p, 1, need + 1, out);
		p += need + 1;
	}
}

static void xml_puts(FILE *out, const char *s)
{
	xml_put(out, s, strlen(s));
}

/* Length in bytes of the first `chars` UTF-8 characters of s[0..len). */
static size_t utf8_prefix(const char *s, size_t len, size_t chars)
{
	size_t i = 0;

	while (i < len && chars > 0) {
		i++;
		while (i < len && ((unsigned char)s[i] & 0xc0) == 0x80)
			i++;
		chars--;
	}
	return i;
}

static size_t utf8_chars(const char *s, size_t len)
{
	size_t n = 0, i;

	for (i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xc0) != 0x80;
	return n;
}

static const char *thousands(unsigned long long v, char buf[32])
{
	char t[32];
	int n = snprintf(t, sizeof(t), "%llu", v), i, o = 0;

	for (i = 0; i < n; i++) {
		if (i > 0 && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = t[i];
	}
	buf[o] = 0;
	return buf;
}

/* FNV-1a: a fixed hash, so a frame keeps its colour across graphs. */
static uint32_t name_hash(const char *s, size_t len)
{
	uint32_t h = 2166136261u;

	while (len--) {
		h ^= (unsigned char)*s++;
		h *= 16777619u;
	}
	return h;
}

/* Warm palette: red to yellow, a little blue so neighbours differ. */
static void frame_color(const char *name, size_t len, int rgb[3])
{
	uint32_t h = name_hash(name, len);

	rgb[0] = 205 + (int)(50 * ((h >> 0) & 0xff) / 255);
	rgb[1] = (int)(230 * ((h >> 8) & 0xff) / 255);
	rgb[2] = (int)(55 * ((h >> 16) & 0xff) / 255);
}

/*
 * Differential colours as in Brendan Gregg's flamegraph.pl: full red or blue
 * with the other channels from 210 (smallest change) down to 0 (the largest),
 * so any change at all is visibly tinted and only an unchanged frame is white.
 */
void flamegraph_diff_color(double delta, double max_abs, int rgb[3])
{
	int c;

	if (delta == 0 || !(max_abs > 0)) {
		rgb[0] = rgb[1] = rgb[2] = 255;
		return;
	}
	c = (int)(210.0 * (1.0 - (delta < 0 ? -delta : delta) / max_abs) + 0.5);
	if (c < 0)
		c = 0;
	rgb[0] = delta > 0 ? 255 : c;
	rgb[1] = c;
	rgb[2] = delta > 0 ? c : 255;
}

/* Written from scratch for this tool: click a frame to zoom to it, "Reset
 * Zoom" to go back, "Search" to highlight frames by regular expression and
 * show the share of the total they cover.  The SVG is complete without it. */
static const char script[] =
    "\"use strict\";\n"
    "var fg = { frames: [] };\n"
    "function fgLabel(f, x, w) {\n"
    "\tvar fit = Math.floor((w - 6) / fg.charw), s = '';\n"
    "\tif (fit >= 3) s = f.name.length <= fit ? f.name : f.name.slice(0, fit - 2) + '..';\n"
    "\tf.t.textContent = s;\n"
    "\tf.t.setAttribute('x', (x + 3).toFixed(2));\n"
    "}\n"
    "function fgPlace(f, x, w, show, faded) {\n"
    "\tf.g.style.display = show ? '' : 'none';\n"
    "\tf.g.style.opacity = faded ? 0.5 : '';\n"
    "\tif (!show) return;\n"
    "\tf.r.setAttribute('x', x.toFixed(2));\n"
    "\tf.r.setAttribute('width', w.toFixed(2));\n"
    "\tfgLabel(f, x, w);\n"
    "}\n"
    "function fgZoom(z) {\n"
    "\tvar e = 1e-6, ratio = fg.fullw / z.w;\n"
    "\tfg.frames.forEach(function (f) {\n"
    "\t\tif (f.d < z.d && f.x <= z.x + e && f.x + f.w >= z.x + z.w - e)\n"
    "\t\t\tfgPlace(f, fg.xpad, fg.fullw, true, true);\n"
    "\t\telse if (f.d >= z.d && f.x >= z.x - e && f.x + f.w <= z.x + z.w + e)\n"
    "\t\t\tfgPlace(f, fg.xpad + (f.x - z.x) * ratio, f.w * ratio, true, false);\n"
    "\t\telse\n"
    "\t\t\tfgPlace(f, 0, 0, false, false);\n"
    "\t});\n"
    "\tfg.unzoom.style.opacity = 1;\n"
    "}\n"
    "function fgUnzoom() {\n"
    "\tfg.frames.forEach(function (f) { fgPlace(f, f.x, f.w, true, false); });\n"
    "\tfg.unzoom.style.opacity = 0;\n"
    "}\n"
    "function fgSearch() {\n"
    "\tvar term = window.prompt('Search frames (regular expression):', ''), re, spans = [];\n"
    "\tfg.frames.forEach(function (f) { f.r.setAttribute('fill', f.fill); });\n"
    "\tfg.matched.textContent = '';\n"
    "\tif (!term) return;\n"
    "\ttry { re = new RegExp(term); } catch (err) { fg.matched.textContent = 'bad regexp'; "
    "return; }\n"
    "\tfg.frames.forEach(function (f) {\n"
    "\t\tif (f.d > 0 && re.test(f.name)) {\n"
    "\t\t\tf.r.setAttribute('fill', 'rgb(230,0,230)');\n"
    "\t\t\tspans.push([f.x, f.x + f.w]);\n"
    "\t\t}\n"
    "\t});\n"
    "\t/* Nested matches cover the same time once. */\n"
    "\tspans.sort(function (a, b) { return a[0] - b[0]; });\n"
    "\tvar sum = 0, end = -1;\n"
    "\tspans.forEach(function (s) {\n"
    "\t\tif (s[0] >= end) { sum += s[1] - s[0]; end = s[1]; }\n"
    "\t\telse if (s[1] > end) { sum += s[1] - end; end = s[1]; }\n"
    "\t});\n"
    "\tfg.matched.textContent = 'Matched: ' + (100 * sum / fg.fullw).toFixed(2) + '%';\n"
    "}\n"
    "function fgInit() {\n"
    "\tvar svg = document.documentElement;\n"
    "\tfg.xpad = +svg.getAttribute('data-xpad');\n"
    "\tfg.fullw = +svg.getAttribute('width') - 2 * fg.xpad;\n"
    "\tfg.charw = +svg.getAttribute('data-charw');\n"
    "\tfg.details = document.getElementById('details');\n"
    "\tfg.unzoom = document.getElementById('unzoom');\n"
    "\tfg.matched = document.getElementById('matched');\n"
    "\tfg.unzoom.addEventListener('click', fgUnzoom);\n"
    "\tdocument.getElementById('search').addEventListener('click', fgSearch);\n"
    "\tArray.prototype.forEach.call(document.querySelectorAll('#frames > g'), function (g) {\n"
    "\t\tvar r = g.querySelector('rect'), tip = g.querySelector('title').textContent;\n"
    "\t\tvar f = { g: g, r: r, t: g.querySelector('text'), fill: r.getAttribute('fill'),\n"
    "\t\t\tname: tip.slice(0, tip.lastIndexOf(' (')), d: +g.getAttribute('data-depth'),\n"
    "\t\t\tx: +r.getAttribute('x'), w: +r.getAttribute('width') };\n"
    "\t\tfg.frames.push(f);\n"
    "\t\tg.addEventListener('click', function () { fgZoom(f); });\n"
    "\t\tg.addEventListener('mouseover', function () { fg.details.textContent = tip; });\n"
    "\t\tg.addEventListener('mouseout', function () { fg.details.textContent = ' '; });\n"
    "\t});\n"
    "}\n"
    "window.addEventListener('load', fgInit);\n";

static void write_header(FILE *out, const struct fg_options *o, int width, int height)
{
	fprintf(out,
		"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
		"<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
		"height=\"%d\" viewBox=\"0 0 %d %d\" data-xpad=\"%d\" data-charw=\"%.2f\">\n",
		width, height, width, height, XPAD, FONT_SIZE * FONT_WIDTH);
	fprintf(out,
		"<defs><linearGradient id=\"bg\" x1=\"0\" y1=\"0\" x2=\"0\" y2=\"1\">"
		"<stop stop-color=\"#eeeeee\" offset=\"5%%\"/>"
		"<stop stop-color=\"#eeeeb0\" offset=\"95%%\"/></linearGradient></defs>\n"
		"<style type=\"text/css\">\n"
		"text { font-family: Verdana, 'DejaVu Sans', sans-serif; font-size: %dpx; "
		"fill: #000; }\n"
		"#title { text-anchor: middle; font-size: %dpx; }\n"
		"#subtitle { text-anchor: middle; fill: #a0a0a0; }\n"
		"#frames > g:hover > rect { stroke: #000; stroke-width: 0.5; }\n"
		"#frames > g, #unzoom, #search { cursor: pointer; }\n"
		"#frames text { pointer-events: none; }\n"
		"</style>\n",
		FONT_SIZE, FONT_SIZE + 5);
	if (!o->no_script) {
		/* The script holds no "]]>", so CDATA keeps it verbatim. */
		fputs("<script type=\"text/ecmascript\"><![CDATA[\n", out);
		fputs(script, out);
		fputs("]]></script>\n", out);
	}
	fprintf(out, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"url(#bg)\"/>\n",
		width, height);
	fprintf(out, "<text id=\"title\" x=\"%.1f\" y=\"%d\">", width / 2.0, FONT_SIZE * 2);
	xml_puts(out, o->title ? o->title : "Flame Graph");
	fputs("</text>\n", out);
	if (o->subtitle) {
		fprintf(out, "<text id=\"subtitle\" x=\"%.1f\" y=\"%d\">", width / 2.0,
			FONT_SIZE * 4);
		xml_puts(out, o->subtitle);
		fputs("</text>\n", out);
	}
	if (!o->no_script) {
		fprintf(
		    out,
		    "<text id=\"unzoom\" x=\"%d\" y=\"%d\" style=\"opacity:0\">Reset Zoom</text>\n"
		    "<text id=\"search\" x=\"%d\" y=\"%d\" text-anchor=\"end\">Search</text>\n"
		    "<text id=\"matched\" x=\"%d\" y=\"%d\" text-anchor=\"end\"></text>\n",
		    XPAD, FONT_SIZE * 2, width - XPAD, FONT_SIZE * 2, width - XPAD,
		    height - FONT_SIZE);
	}
	fprintf(out, "<text id=\"details\" x=\"%d\" y=\"%d\"> </text>\n", XPAD, height - FONT_SIZE);
}

int flamegraph_write_svg_opts(FILE *out, const struct fg_stack *stacks, size_t n,
			      const struct fg_options *opt)
{
	static const struct fg_options defaults;
	const struct fg_options *o = opt ? opt : &defaults;
	const char *unit = o->unit ? o->unit : "samples";
	int width = o->width > 0 ? o->width : 1200;
	int top = FONT_SIZE * (o->subtitle ? 5 : 3), bottom = FONT_SIZE * 2 + 10, height;
	struct graph g = {0};
	size_t i, maxdepth = 0;
	double scale, max_delta = 0;
	int err;

	if (!out || (n && !stacks) || width <= 2 * XPAD)
		return -EINVAL;
	err = graph_build(&g, stacks, n, o->deltas);
	if (err) {
		graph_free(&g);
		return err;
	}
	scale = g.total ? (double)(width - 2 * XPAD) / (double)g.total : 0;
	for (i = 0; i < g.n; i++) {
		if ((double)(g.f[i].end - g.f[i].start) * scale < MIN_PX)
			continue;
		if (g.f[i].depth > maxdepth)
			maxdepth = g.f[i].depth;
		if (g.f[i].delta > max_delta || -g.f[i].delta > max_delta)
			max_delta = g.f[i].delta > 0 ? g.f[i].delta : -g.f[i].delta;
	}
	height = top + bottom + (int)(maxdepth + 1) * FRAME_H;

	write_header(out, o, width, height);
	if (!g.total) {
		fprintf(out, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">no data</text>\n",
			width / 2.0, top + FRAME_H);
	}
	fputs("<g id=\"frames\">\n", out);
	for (i = 0; g.total && i < g.n; i++) {
		const struct frame *f = &g.f[i];
		unsigned long long w = f->end - f->start;
		double x = XPAD + (double)f->start * scale, px = (double)w * scale;
		double y = o->inverted ? top + (double)f->depth * FRAME_H
				       : height - bottom - (double)(f->depth + 1) * FRAME_H;
		size_t fit, chars, cut;
		char num[32];
		int rgb[3];

		if (px < MIN_PX)
			continue;
		if (o->deltas)
			flamegraph_diff_color(f->delta, max_delta, rgb);
		else
			frame_color(f->name, f->len, rgb);
		fprintf(out, "<g data-depth=\"%zu\"><title>", f->depth);
		xml_put(out, f->name, f->len);
		fprintf(out, " (%s %s, %.2f%%", thousands(w, num), unit,
			100.0 * (double)w / (double)g.total);
		if (o->deltas) {
			fprintf(out, ", self %+.4g ", f->delta);
			xml_puts(out, o->delta_unit ? o->delta_unit : unit);
		}
		fputs(")</title>", out);
		fprintf(out,
			"<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%d\" "
			"fill=\"rgb(%d,%d,%d)\" rx=\"2\" ry=\"2\"/>",
			x, y, px, FRAME_H - 1, rgb[0], rgb[1], rgb[2]);
		fprintf(out, "<text x=\"%.2f\" y=\"%.1f\">", x + 3, y + FRAME_H - 5);
		/* Labels that do not fit end in "..", too short ones are left out. */
		fit = px > 6 ? (size_t)((px - 6) / (FONT_SIZE * FONT_WIDTH)) : 0;
		chars = utf8_chars(f->name, f->len);
		if (fit >= 3 && chars <= fit) {
			xml_put(out, f->name, f->len);
		} else if (fit >= 3) {
			cut = utf8_prefix(f->name, f->len, fit - 2);
			xml_put(out, f->name, cut);
			fputs("..", out);
		}
		fputs("</text></g>\n", out);
	}
	fputs("</g>\n</svg>\n", out);
	graph_free(&g);
	errno = 0;
	if (fflush(out))
		return errno ? -errno : -EIO;
	return ferror(out) ? -EIO : 0;
}

int flamegraph_write_svg(FILE *out, const struct fg_stack *stacks, size_t n, const char *title,
			 const char *unit)
{
	struct fg_options o = {.title = title, .unit = unit};

	return flamegraph_write_svg_opts(out, stacks, n, &o);
}

/* "frames weight": the weight is the last blank-separated field, so frame
 * names may contain blanks. */
static int parse_line(char *line, struct fg_stack *st)
{
	size_t len = strlen(line);
	char *sp, *end;
	unsigned long long w;

	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ' ||
		       line[len - 1] == '\t'))
		line[--len] = 0;
	sp = strrchr(line, ' ');
	if (!sp) {
		sp = strrchr(line, '\t');
		if (!sp)
			return -1;
	}
	if (sp[1] < '0' || sp[1] > '9')
		return -1;
	errno = 0;
	w = strtoull(sp + 1, &end, 10);
	if (errno || *end)
		return -1;
	while (sp > line && (sp[-1] == ' ' || sp[-1] == '\t'))
		sp--;
	if (sp == line)
		return -1;
	*sp = 0;
	st->frames = strdup(line);
	if (!st->frames)
		return -ENOMEM;
	st->weight = w;
	return 0;
}

/* "frames countA countB": the frames and countA are parse_line's frames. */
static int parse_diff_line(char *line, struct fg_stack *st, double *delta)
{
	struct fg_stack a;
	int r = parse_line(line, st);

	if (r)
		return r;
	r = parse_line((char *)st->frames, &a);
	free((char *)st->frames);
	st->frames = NULL;
	if (r)
		return r;
	st->frames = a.frames;
	*delta = (double)st->weight - (double)a.weight;
	return 0;
}

/* deltas: NULL for plain folded text, else "frames countA countB" lines */
static int parse(FILE *in, struct fg_stack **stacks, double **deltas, size_t *n, size_t *bad)
{
	struct fg_stack *v = NULL;
	double *dv = NULL;
	size_t cnt = 0, cap = 0, nbad = 0;
	char *line = NULL;
	size_t linecap = 0;
	ssize_t got;
	int err = 0;

	if (!in || !stacks || !n)
		return -EINVAL;
	while ((got = getline(&line, &linecap, in)) >= 0) {
		struct fg_stack st = {0};
		size_t i;
		int r;

		for (i = 0; i < (size_t)got && (line[i] == ' ' || line[i] == '\t' ||
						line[i] == '\r' || line[i] == '\n');
		     i++)
			;
		if (i == (size_t)got)
			continue;
		/* A NUL inside the line would silently cut the stack short. */
		if (strlen(line) != (size_t)got) {
			nbad++;
			continue;
		}
		double delta = 0;

		r = deltas ? parse_diff_line(line, &st, &delta) : parse_line(line, &st);
		if (r == -ENOMEM) {
			err = r;
			break;
		}
		if (r) {
			nbad++;
			continue;
		}
		if (cnt == cap) {
			size_t nc = cap ? 2 * cap : 256;
			struct fg_stack *nv = realloc(v, nc * sizeof(*nv));
			double *nd = nv && deltas ? realloc(dv, nc * sizeof(*nd)) : NULL;

			if (nv)
				v = nv;
			if (nd)
				dv = nd;
			if (!nv || (deltas && !nd)) {
				free((char *)st.frames);
				err = -ENOMEM;
				break;
			}
			cap = nc;
		}
		if (deltas)
			dv[cnt] = delta;
		v[cnt++] = st;
	}
	if (!err && ferror(in))
		err = -EIO;
	free(line);
	if (err) {
		flamegraph_free_stacks(v, cnt);
		free(dv);
		return err;
	}
	*stacks = v;
	if (deltas)
		*deltas = dv;
	*n = cnt;
	if (bad)
		*bad = nbad;
	return 0;
}

int flamegraph_parse_folded(FILE *in, struct fg_stack **stacks, size_t *n, size_t *bad)
{
	return parse(in, stacks, NULL, n, bad);
}

int flamegraph_parse_diff(FILE *in, struct fg_stack **stacks, double **deltas, size_t *n,
			  size_t *bad)
{
	if (!deltas)
		return -EINVAL;
	return parse(in, stacks, deltas, n, bad);
}

void flamegraph_free_stacks(struct fg_stack *stacks, size_t n)
{
	size_t i;

	for (i = 0; stacks && i < n; i++)
		free((char *)stacks[i].frames);
	free(stacks);
}

int flamegraph_write_file(const char *path, const struct fg_stack *stacks, size_t n,
			  const struct fg_options *opt)
{
	struct stat st;
	int regular = stat(path, &st) ? errno == ENOENT : S_ISREG(st.st_mode);
	char *tmp = NULL;
	FILE *out;
	int err;

	if (regular && asprintf(&tmp, "%s.tmp", path) < 0)
		return -ENOMEM;
	out = fopen(tmp ? tmp : path, "w");
	if (!out) {
		err = -errno;
		free(tmp);
		return err;
	}
	err = flamegraph_write_svg_opts(out, stacks, n, opt);
	if (fclose(out) && !err)
		err = -errno;
	if (!err && tmp && rename(tmp, path))
		err = -errno;
	if (err && tmp)
		unlink(tmp);
	free(tmp);
	return err;
}
