/*
 * Lineage graphs as DOT and as SVG through Graphviz; the render cache.  See render.h.
 *
 * SVG: one Graphviz context (gvContext) is made once under gv_lock and warmed
 * up with a small graph, so its plugins are loaded.  Each render then forks:
 * the child reads the DOT, lays it out and writes the SVG to a pipe.  Graphviz
 * 2.43 (Debian 12) leaks about 1 MB in each layout of a 500-node graph with
 * clusters; in a child the leak goes away with it, a crash in Graphviz is an
 * error instead of the hub's death, and a layout that runs too long is killed
 * (RENDER_TIMEOUT_MS).  The fork happens under gv_lock, so no thread of the
 * hub is inside Graphviz at that moment; layouts in the children run in
 * parallel.  Graphviz's messages go to gv_error_hook (agseterrf), never to
 * stderr, and come back in ERR.
 */
#include "hub/render.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <graphviz/cgraph.h>
#include <graphviz/gvc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hub/log.h"

#define DOT_MAX (64u * 1024 * 1024)  /* the most DOT text one graph may become */
#define LABEL_CHARS_MAX 48           /* characters of a name shown in a node */
#define GV_ERR_MAX 1024              /* Graphviz messages kept from one render */
#define GV_STACK_SIZE (64u * 1024 * 1024) /* the layout thread's stack */
#define CHUNK_SIZE 65536             /* reads of the child's answer (on the heap) */
#define SVG_MAX (256u * 1024 * 1024) /* the most SVG one graph may become */
#define RENDER_TIMEOUT_MS 30000      /* the longest one layout may take */

/* --- a bounded growable buffer ------------------------------------------- */

struct buf {
	char *p;
	size_t len, cap;
	size_t max;  /* the most it may hold */
	int failed;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (n > b->max - b->len) {
		b->failed = 1;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->failed = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3)))
static void buf_addf(struct buf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		b->failed = 1;
		return;
	}
	buf_add(b, tmp, (size_t)n);
}

/* --- escaping ------------------------------------------------------------ */

/*
 * The length of the valid UTF-8 sequence at S (at most N bytes), or 0 if the
 * bytes there are not one (overlong, surrogate, truncated, above U+10FFFF).
 */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	unsigned cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

enum esc_mode {
	ESC_DOT,   /* inside a DOT "quoted string" */
	ESC_HTML,  /* inside a DOT <HTML-like label> */
};

/*
 * Append S escaped for MODE, at most MAXCHARS characters (0: no limit; a
 * longer string ends in an ellipsis).  Invalid UTF-8, and U+FFFE and U+FFFF
 * (which XML, hence SVG, does not allow), become U+FFFD; in HTML
 * control characters become spaces, in DOT a newline is the escape "\n" (a
 * line break in labels) and other control characters become spaces.
 */
static void buf_escape(struct buf *b, const char *s, enum esc_mode mode, size_t maxchars)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t n = strlen((const char *)p), chars = 0;
	while (n > 0) {
		if (maxchars && chars == maxchars) {
			buf_adds(b, "\xe2\x80\xa6");  /* … */
			break;
		}
		chars++;
		size_t len = utf8_seq(p, n);
		if (len == 0) {
			buf_adds(b, "\xef\xbf\xbd");  /* U+FFFD */
			p++;
			n--;
			continue;
		}
		if (len == 3 && p[0] == 0xef && p[1] == 0xbf && (p[2] == 0xbe || p[2] == 0xbf)) {
			buf_adds(b, "\xef\xbf\xbd");  /* U+FFFE, U+FFFF: not XML characters */
			p += 3;
			n -= 3;
			continue;
		}
		if (len > 1) {
			buf_add(b, (const char *)p, len);
			p += len;
			n -= len;
			continue;
		}
		unsigned char c = *p++;
		n--;
		if (mode == ESC_HTML) {
			switch (c) {
			case '&': buf_adds(b, "&amp;"); break;
			case '<': buf_adds(b, "&lt;"); break;
			case '>': buf_adds(b, "&gt;"); break;
			case '"': buf_adds(b, "&quot;"); break;
			case '\'': buf_adds(b, "&#39;"); break;
			default:
				if (c < 0x20 || c == 0x7f)
					buf_adds(b, " ");
				else
					buf_add(b, (const char *)&c, 1);
			}
		} else {
			if (c == '"' || c == '\\') {
				char e[2] = { '\\', (char)c };
				buf_add(b, e, 2);
			} else if (c == '\n') {
				buf_adds(b, "\\n");
			} else if (c < 0x20 || c == 0x7f) {
				buf_adds(b, " ");
			} else {
				buf_add(b, (const char *)&c, 1);
			}
		}
	}
}

/* Append S percent-encoded: everything but RFC 3986's unreserved characters. */
static void buf_urlencode(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		unsigned char c = *p;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			buf_add(b, (const char *)p, 1);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };
			buf_add(b, e, 3);
		}
	}
}

/*
 * Append the link prefix P: URL characters pass, anything else (quotes, '&',
 * '<', '>', backslashes, spaces, control and non-ASCII bytes) is
 * percent-encoded, since Graphviz 2.43 writes xlink:href without escaping it.
 */
static void buf_prefix(struct buf *b, const char *p)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *c = (const unsigned char *)(p ? p : ""); *c; c++) {
		if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
		    (*c >= '0' && *c <= '9') || strchr("-._~/:?#[]@!$()*+,;=%", *c)) {
			buf_add(b, (const char *)c, 1);
		} else {
			char e[3] = { '%', hex[*c >> 4], hex[*c & 15] };
			buf_add(b, e, 3);
		}
	}
}

/* --- DOT ------------------------------------------------------------------- */

struct kind_style {
	const char *kind, *shape, *fill, *border;
};

static const struct kind_style kind_styles[] = {
	{ "dataset", "cylinder", "#dbeafe", "#1d4ed8" },
	{ "job", "box", "#fef3c7", "#b45309" },
	{ "model", "hexagon", "#ede9fe", "#6d28d9" },
	{ "service", "component", "#dcfce7", "#15803d" },
	{ NULL, "box", "#f3f4f6", "#4b5563" },  /* every other kind */
};

static const struct kind_style *style_of(const char *kind)
{
	size_t i = 0;
	while (kind_styles[i].kind && !(kind && strcmp(kind, kind_styles[i].kind) == 0))
		i++;
	return &kind_styles[i];
}

static int empty(const char *s)
{
	return !s || !*s;
}

/*
 * The short name of NAME as a pointer into it and a length: after the last
 * '/' when there is one (a path keeps its file's extension), else after the
 * last '.'.  Trailing separators are ignored; a numeric last segment keeps the
 * one before it ("models/churn/3" -> "churn/3").
 */
static void short_name(const char *name, const char **start, size_t *len)
{
	size_t n = strlen(name);
	while (n > 1 && (name[n - 1] == '/' || name[n - 1] == '.'))
		n--;
	char sep = memchr(name, '/', n) ? '/' : '.';
	size_t i = n;
	while (i > 0 && name[i - 1] != sep)
		i--;
	int numeric = i < n;
	for (size_t k = i; k < n; k++)
		if (name[k] < '0' || name[k] > '9')
			numeric = 0;
	if (numeric && i > 1) {
		size_t j = i - 1;
		while (j > 0 && name[j - 1] != sep)
			j--;
		i = j;
	}
	*start = name + i;
	*len = n - i;
}

static void put_node(struct buf *b, const struct lineage_node *nd, size_t idx, int root,
		     const char *link_prefix)
{
	const struct kind_style *st = style_of(nd->kind);
	char *label = NULL;
	const char *shown = nd->display_name;
	size_t shown_len = empty(shown) ? 0 : strlen(shown);
	if (shown_len == 0 && !empty(nd->name))
		short_name(nd->name, &shown, &shown_len);
	if (shown_len == 0) {
		shown = nd->id ? nd->id : "";
		shown_len = strlen(shown);
	}
	label = strndup(shown, shown_len);
	if (!label) {
		b->failed = 1;
		return;
	}

	buf_addf(b, "  n%zu [label=<<B>", idx);
	buf_escape(b, label, ESC_HTML, LABEL_CHARS_MAX);
	buf_adds(b, "</B><BR/><FONT POINT-SIZE=\"9\" COLOR=\"#4b5563\">");
	buf_escape(b, empty(nd->kind) ? "entity" : nd->kind, ESC_HTML, LABEL_CHARS_MAX);
	if (!empty(nd->subtype) && !(nd->kind && strcmp(nd->subtype, nd->kind) == 0)) {
		buf_adds(b, "/");
		buf_escape(b, nd->subtype, ESC_HTML, LABEL_CHARS_MAX);
	}
	buf_adds(b, "</FONT>");
	if (nd->omitted > 0)
		buf_addf(b, "<BR/><FONT POINT-SIZE=\"9\" COLOR=\"#b91c1c\">+%ld more</FONT>",
			 nd->omitted);
	buf_adds(b, ">, tooltip=\"");
	buf_escape(b, nd->id, ESC_DOT, 0);
	buf_adds(b, "\", URL=\"");
	buf_prefix(b, link_prefix);
	buf_urlencode(b, nd->id);
	buf_addf(b, "\", shape=%s, fillcolor=\"%s\", color=\"%s\"", st->shape,
		 root ? "#fde68a" : nd->stale ? "#ffffff" : st->fill,
		 root ? "#dc2626" : st->border);
	buf_addf(b, ", style=\"filled%s\", penwidth=%s", nd->stale ? ",dashed" : "",
		 root ? "3" : "1");
	if (nd->stale)
		buf_adds(b, ", fontcolor=\"#6b7280\"");
	buf_addf(b, ", class=\"%s%s%s\"];\n", st->kind ? st->kind : "other", root ? " root" : "",
		 nd->stale ? " stale" : "");
	free(label);
}

int render_dot(const struct lineage_graph *g, const char *link_prefix, char **out, size_t *len)
{
	struct buf b = { .max = DOT_MAX };
	const char **platforms = NULL;  /* distinct platforms, in order of first appearance */
	size_t n_platforms = 0;
	int rc = -1;

	*out = NULL;
	*len = 0;
	if (!link_prefix)
		link_prefix = "";
	if (g->n_nodes > 0) {
		platforms = calloc(g->n_nodes, sizeof(*platforms));
		if (!platforms)
			goto out;
	}
	for (size_t i = 0; i < g->n_nodes; i++) {
		const char *p = g->nodes[i].platform ? g->nodes[i].platform : "";
		size_t k = 0;
		while (k < n_platforms && strcmp(platforms[k], p) != 0)
			k++;
		if (k == n_platforms)
			platforms[n_platforms++] = p;
	}

	buf_adds(&b, "digraph lineage {\n"
		     "  graph [rankdir=LR, bgcolor=\"transparent\", nodesep=0.3, ranksep=0.6, "
		     "fontname=\"Helvetica\", fontsize=11];\n"
		     "  node [fontname=\"Helvetica\", fontsize=11, margin=\"0.15,0.06\"];\n"
		     "  edge [color=\"#6b7280\", arrowsize=0.7];\n");
	for (size_t k = 0; k < n_platforms; k++) {
		int cluster = platforms[k][0] != '\0';
		if (cluster) {
			buf_addf(&b, "  subgraph \"cluster_%zu\" {\n  label=\"", k);
			buf_escape(&b, platforms[k], ESC_DOT, 0);
			buf_adds(&b, "\"; style=\"rounded,filled\"; color=\"#d1d5db\"; "
				     "fillcolor=\"#f9fafb\"; "
				     "fontcolor=\"#374151\"; labeljust=l;\n");
		}
		for (size_t i = 0; i < g->n_nodes; i++) {
			const char *p = g->nodes[i].platform ? g->nodes[i].platform : "";
			if (strcmp(p, platforms[k]) == 0)
				put_node(&b, &g->nodes[i], i, i == 0, link_prefix);
		}
		if (cluster)
			buf_adds(&b, "  }\n");
	}
	for (size_t i = 0; i < g->n_edges; i++) {
		const struct lineage_edge *e = &g->edges[i];
		if (e->src >= g->n_nodes || e->dst >= g->n_nodes)
			continue;
		int rel = e->kind && strcmp(e->kind, "lineage") != 0;
		buf_addf(&b, "  n%zu -> n%zu [tooltip=\"", e->src, e->dst);
		buf_escape(&b, g->nodes[e->src].id, ESC_DOT, 0);
		buf_adds(&b, " -> ");
		buf_escape(&b, g->nodes[e->dst].id, ESC_DOT, 0);
		buf_addf(&b, "\"%s%s];\n", e->stale ? ", style=dashed" : rel ? ", style=dotted" : "",
			 rel ? ", arrowhead=none" : "");
	}
	buf_adds(&b, "}\n");
	if (b.failed)
		goto out;
	*out = b.p;
	*len = b.len;
	b.p = NULL;
	rc = 0;
out:
	free(b.p);
	free(platforms);
	return rc;
}

/* --- SVG through Graphviz -------------------------------------------------- */

static pthread_mutex_t gv_lock = PTHREAD_MUTEX_INITIALIZER;
static GVC_t *gv_ctx;            /* created once, under gv_lock, kept for the process */
static char gv_errors[GV_ERR_MAX];  /* what Graphviz said during the current call */

/* Graphviz's error hook (installed with agseterrf): keep the messages. */
static int gv_error_hook(char *msg)
{
	size_t used = strlen(gv_errors);
	if (used + 1 < sizeof(gv_errors))
		snprintf(gv_errors + used, sizeof(gv_errors) - used, "%s", msg);
	return 0;
}

/* The messages as one line, trailing whitespace dropped, into ERR. */
static void gv_error_copy(const char *what, char *err, size_t errlen)
{
	char line[GV_ERR_MAX];
	size_t n = 0;
	for (const char *p = gv_errors; *p && n + 1 < sizeof(line); p++)
		line[n++] = (*p == '\n' || *p == '\r') ? ' ' : *p;
	while (n > 0 && line[n - 1] == ' ')
		n--;
	line[n] = '\0';
	snprintf(err, errlen, "%s%s%s", what, n ? ": " : "", line);
}

static int gv_has(GVC_t *gvc, const char *kind, const char *name)
{
	int n = 0, found = 0;
	char **list = gvPluginList(gvc, kind, &n, NULL);
	for (int i = 0; list && i < n; i++) {
		/* entries are "name" or "name:package" */
		size_t l = strlen(name);
		if (strncmp(list[i], name, l) == 0 && (list[i][l] == '\0' || list[i][l] == ':'))
			found = 1;
		free(list[i]);
	}
	free(list);
	return found;
}

/*
 * A context whose plugins are loaded from DIR/libgvplugin_*.so.6 directly,
 * for when Graphviz's plugin registry ("config6a" in 2.43, written by `dot -c`) is
 * missing.  NULL if they cannot be loaded.
 */
static GVC_t *gv_context_builtin(const char *dir)
{
	static const char *const libs[] = { "core", "dot_layout" };
	static char names[2][64];
	static lt_symlist_t syms[3];
	for (size_t i = 0; i < 2; i++) {
		char path[1024];
		snprintf(path, sizeof(path), "%s/libgvplugin_%s.so.6", dir, libs[i]);
		void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		if (!h)
			return NULL;
		snprintf(names[i], sizeof(names[i]), "gvplugin_%s_LTX_library", libs[i]);
		void *sym = dlsym(h, names[i]);
		if (!sym)
			return NULL;  /* the handle stays open: dlclose would not help */
		syms[i].name = names[i];
		syms[i].address = sym;
	}
	syms[2].name = NULL;
	syms[2].address = NULL;
	return gvContextPlugins(syms, 0);
}

/*
 * Lay out and render DOT in this process.  0 with *DATA (free with
 * gvFreeRenderData) or -1 with ERR.  Under gv_lock.
 */
static int gv_render(const char *dot, char **data, unsigned int *data_len, char *err,
		     size_t errlen)
{
	Agraph_t *graph = NULL;
	int laid_out = 0, rc = -1;

	*data = NULL;
	*data_len = 0;
	gv_errors[0] = '\0';
	agreseterrors();
	graph = agmemread(dot);
	if (!graph) {
		gv_error_copy("graphviz cannot read lineage graph", err, errlen);
		goto out;
	}
	if (gvLayout(gv_ctx, graph, "dot") != 0) {
		gv_error_copy("graphviz cannot lay out lineage graph", err, errlen);
		goto out;
	}
	laid_out = 1;
	if (gvRenderData(gv_ctx, graph, "svg", data, data_len) != 0 || !*data) {
		if (*data)
			gvFreeRenderData(*data);
		*data = NULL;
		gv_error_copy("graphviz cannot render lineage graph as svg", err, errlen);
		goto out;
	}
	rc = 0;
out:
	if (laid_out)
		gvFreeLayout(gv_ctx, graph);
	if (graph)
		agclose(graph);
	return rc;
}

/*
 * Make gv_ctx (under gv_lock) and render a small graph with it, so that the
 * plugins (layout, text layout, renderer) are loaded here, once, before any
 * child is forked.  0, or -1 with ERR.
 */
static int gv_init(char *err, size_t errlen)
{
	if (gv_ctx)
		return 0;
	agseterrf(gv_error_hook);
	agseterr(AGWARN);
	GVC_t *gvc = gvContext();
	char dir[1024] = "";
	if (gvc && gv_has(gvc, "layout", "dot") && gv_has(gvc, "render", "svg")) {
		gv_ctx = gvc;
	} else {
		if (gvc)
			gvFreeContext(gvc);
		/* No registry: load the plugins that ship beside libgvc (Debian:
		 * <libdir>/graphviz), or from $GVBINDIR. */
		Dl_info info;
		if (dladdr((void *)gvContext, &info) && info.dli_fname) {
			snprintf(dir, sizeof(dir), "%s", info.dli_fname);
			char *slash = strrchr(dir, '/');
			if (slash)
				snprintf(slash, sizeof(dir) - (size_t)(slash - dir), "/graphviz");
		}
		const char *env = getenv("GVBINDIR");
		const char *dirs[] = { env, dir };
		for (size_t i = 0; i < 2 && !gv_ctx; i++) {
			if (empty(dirs[i]))
				continue;
			gvc = gv_context_builtin(dirs[i]);
			if (gvc && gv_has(gvc, "layout", "dot") && gv_has(gvc, "render", "svg"))
				gv_ctx = gvc;
			else if (gvc)
				gvFreeContext(gvc);
		}
		if (!gv_ctx) {
			snprintf(err, errlen, "graphviz has no 'dot' layout or 'svg' renderer "
				 "(plugins in '%s' not registered: run 'dot -c' as root)", dir);
			return -1;
		}
		log_event(LOG_INFO, "graphviz plugins loaded directly", "dir", dir, NULL);
	}
	char *data = NULL;
	unsigned int data_len = 0;
	if (gv_render("digraph { a -> b; }", &data,
		      &data_len, err, errlen) < 0) {
		gvFreeContext(gv_ctx);
		gv_ctx = NULL;
		return -1;
	}
	gvFreeRenderData(data);
	return 0;
}

/* Write all of BUF to FD; 0 or -1. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * The forked child: lay out DOT, write 'S' and the SVG, or 'E' and the
 * error, to FD, and leave without running any exit handler.  Graphviz 2.43
 * leaks memory in every layout of a graph with clusters (virtual nodes and
 * edges of class1/class2, HTML labels); the child takes it away with it.
 */
struct gv_job {
	int fd;
	const char *dot;
	int status;
};

static void *gv_child_main(void *arg)
{
	struct gv_job *job = arg;
	char *data = NULL, err[GV_ERR_MAX + 128] = "";
	unsigned int data_len = 0;
	if (gv_render(job->dot, &data, &data_len, err, sizeof(err)) == 0)
		job->status = write_all(job->fd, "S", 1) < 0 ||
			      write_all(job->fd, data, data_len) < 0;
	else
		job->status = write_all(job->fd, "E", 1) < 0 ||
			      write_all(job->fd, err, strlen(err)) < 0;
	return NULL;
}

/*
 * The child was forked from an HTTP worker thread, whose stack is small
 * (CivetWeb's are 100 KiB), and dot's layout recurses deeply on large
 * graphs: lay out on a thread with a stack of its own.
 */
__attribute__((noreturn))
static void gv_child(int fd, const char *dot)
{
	struct gv_job job = { .fd = fd, .dot = dot, .status = 1 };
	pthread_attr_t attr;
	pthread_t t;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, GV_STACK_SIZE);
	if (pthread_create(&t, &attr, gv_child_main, &job) == 0)
		pthread_join(t, NULL);
	else
		job.status = write_all(fd, "E", 1) < 0 ||
			     write_all(fd, "cannot start layout thread", 26) < 0 || 1;
	_exit(job.status);
}

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int render_init(char *err, size_t errlen)
{
	pthread_mutex_lock(&gv_lock);
	int rc = gv_init(err, errlen);
	pthread_mutex_unlock(&gv_lock);
	return rc;
}

int render_svg(const struct lineage_graph *g, const char *link_prefix, char **out, size_t *len,
	       char *err, size_t errlen)
{
	char *dot = NULL, *chunk = NULL;
	size_t dot_len = 0;
	struct buf res = { .max = SVG_MAX + 1 };
	int fds[2] = { -1, -1 };
	pid_t pid = -1;
	int rc = -1;

	*out = NULL;
	*len = 0;
	if (render_dot(g, link_prefix, &dot, &dot_len) < 0) {
		snprintf(err, errlen, "cannot build lineage graph: out of memory");
		goto out;
	}
	pthread_mutex_lock(&gv_lock);
	if (gv_init(err, errlen) < 0) {
		pthread_mutex_unlock(&gv_lock);
		goto out;
	}
	if (pipe2(fds, O_CLOEXEC) < 0) {
		pthread_mutex_unlock(&gv_lock);
		snprintf(err, errlen, "cannot render lineage graph: pipe: %s", strerror(errno));
		goto out;
	}
	/* Forked under gv_lock: no other thread is inside Graphviz meanwhile. */
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		gv_child(fds[1], dot);
	}
	int fork_errno = errno;
	pthread_mutex_unlock(&gv_lock);
	close(fds[1]);
	fds[1] = -1;
	if (pid < 0) {
		snprintf(err, errlen, "cannot render lineage graph: fork: %s", strerror(fork_errno));
		goto out;
	}

	long long deadline = mono_ms() + RENDER_TIMEOUT_MS;
	/* On the heap: this runs on HTTP worker threads with small stacks. */
	chunk = malloc(CHUNK_SIZE);
	if (!chunk) {
		snprintf(err, errlen, "cannot render lineage graph: out of memory");
		goto out;
	}
	for (;;) {
		long long left = deadline - mono_ms();
		if (left <= 0) {
			snprintf(err, errlen, "graphviz took longer than %d s to lay out lineage graph "
				 "(%zu nodes, %zu edges)", RENDER_TIMEOUT_MS / 1000, g->n_nodes,
				 g->n_edges);
			goto out;
		}
		struct pollfd pfd = { .fd = fds[0], .events = POLLIN };
		int n = poll(&pfd, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "cannot render lineage graph: poll: %s", strerror(errno));
			goto out;
		}
		if (n == 0)
			continue;
		ssize_t r = read(fds[0], chunk, CHUNK_SIZE);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "cannot render lineage graph: read: %s", strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		if (res.len + (size_t)r > SVG_MAX + 1) {
			snprintf(err, errlen, "lineage graph as svg is larger than %u bytes", SVG_MAX);
			goto out;
		}
		buf_add(&res, chunk, (size_t)r);
		if (res.failed) {
			snprintf(err, errlen, "cannot render lineage graph: out of memory");
			goto out;
		}
	}
	int status = 0;
	pid_t w;
	while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	pid = -1;  /* reaped (or reaped by someone ignoring SIGCHLD) */
	if (res.len > 0 && res.p[0] == 'S' && (w < 0 || (WIFEXITED(status) &&
							 WEXITSTATUS(status) == 0))) {
		*out = malloc(res.len);
		if (!*out) {
			snprintf(err, errlen, "cannot render lineage graph: out of memory");
			goto out;
		}
		memcpy(*out, res.p + 1, res.len - 1);
		(*out)[res.len - 1] = '\0';
		*len = res.len - 1;
		rc = 0;
	} else if (res.len > 0 && res.p[0] == 'E') {
		snprintf(err, errlen, "%s", res.p + 1);
	} else if (w >= 0 && WIFSIGNALED(status)) {
		snprintf(err, errlen, "graphviz crashed laying out lineage graph (signal %d)",
			 WTERMSIG(status));
	} else {
		snprintf(err, errlen, "graphviz failed laying out lineage graph");
	}
out:
	if (pid > 0) {
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	free(chunk);
	free(res.p);
	free(dot);
	return rc;
}

/* --- the render cache ------------------------------------------------------ */

struct cache_entry {
	char *key;
	uint64_t generation;
	char *svg;
	size_t len;
	size_t hash;
	struct cache_entry *prev, *next;  /* LRU list: head is the most recent */
	struct cache_entry *chain;        /* the next entry in the same bucket */
};

struct render_cache {
	pthread_mutex_t lock;
	size_t max_entries, max_bytes;
	size_t n_entries, n_bytes;
	struct cache_entry *head, *tail;
	struct cache_entry **buckets;
	size_t n_buckets;  /* a power of two */
};

static size_t hash_str(const char *s)
{
	size_t h = 1469598103934665603ull;  /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static size_t entry_bytes(const struct cache_entry *e)
{
	return e->len + strlen(e->key) + 1 + sizeof(*e);
}

struct render_cache *render_cache_create(size_t max_entries, size_t max_bytes)
{
	struct render_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->max_entries = max_entries;
	c->max_bytes = max_bytes;
	c->n_buckets = 16;
	while (c->n_buckets < max_entries && c->n_buckets < (1u << 20))
		c->n_buckets *= 2;
	c->buckets = calloc(c->n_buckets, sizeof(*c->buckets));
	if (!c->buckets || pthread_mutex_init(&c->lock, NULL) != 0) {
		free(c->buckets);
		free(c);
		return NULL;
	}
	return c;
}

static struct cache_entry *cache_find(struct render_cache *c, const char *key, size_t hash)
{
	struct cache_entry *e = c->buckets[hash & (c->n_buckets - 1)];
	while (e && !(e->hash == hash && strcmp(e->key, key) == 0))
		e = e->chain;
	return e;
}

static void lru_unlink(struct render_cache *c, struct cache_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push_front(struct render_cache *c, struct cache_entry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
}

/* Unlink E from the list and its bucket, and free it. */
static void cache_remove(struct render_cache *c, struct cache_entry *e)
{
	struct cache_entry **pp = &c->buckets[e->hash & (c->n_buckets - 1)];
	while (*pp != e)
		pp = &(*pp)->chain;
	*pp = e->chain;
	lru_unlink(c, e);
	c->n_entries--;
	c->n_bytes -= entry_bytes(e);
	free(e->key);
	free(e->svg);
	free(e);
}

void render_cache_destroy(struct render_cache *c)
{
	if (!c)
		return;
	while (c->head)
		cache_remove(c, c->head);
	pthread_mutex_destroy(&c->lock);
	free(c->buckets);
	free(c);
}

char *render_cache_get(struct render_cache *c, const char *key, uint64_t generation, size_t *len)
{
	char *copy = NULL;
	size_t hash = hash_str(key);
	pthread_mutex_lock(&c->lock);
	struct cache_entry *e = cache_find(c, key, hash);
	if (e && e->generation != generation) {
		cache_remove(c, e);  /* never served again */
		e = NULL;
	}
	if (e) {
		copy = malloc(e->len + 1);
		if (copy) {
			memcpy(copy, e->svg, e->len);
			copy[e->len] = '\0';
			if (len)
				*len = e->len;
			lru_unlink(c, e);
			lru_push_front(c, e);
		}
	}
	pthread_mutex_unlock(&c->lock);
	return copy;
}

void render_cache_put(struct render_cache *c, const char *key, uint64_t generation,
		      const char *svg, size_t len)
{
	struct cache_entry *e = calloc(1, sizeof(*e));
	if (!e)
		return;
	e->key = strdup(key);
	e->svg = malloc(len + 1);
	if (!e->key || !e->svg) {
		free(e->key);
		free(e->svg);
		free(e);
		return;
	}
	memcpy(e->svg, svg, len);
	e->svg[len] = '\0';
	e->len = len;
	e->generation = generation;
	e->hash = hash_str(key);

	pthread_mutex_lock(&c->lock);
	struct cache_entry *old = cache_find(c, key, e->hash);
	if (old)
		cache_remove(c, old);
	if (c->max_entries == 0 || entry_bytes(e) > c->max_bytes) {
		pthread_mutex_unlock(&c->lock);
		free(e->key);
		free(e->svg);
		free(e);
		return;
	}
	while (c->tail && (c->n_entries + 1 > c->max_entries ||
			   c->n_bytes + entry_bytes(e) > c->max_bytes))
		cache_remove(c, c->tail);
	size_t b = e->hash & (c->n_buckets - 1);
	e->chain = c->buckets[b];
	c->buckets[b] = e;
	lru_push_front(c, e);
	c->n_entries++;
	c->n_bytes += entry_bytes(e);
	pthread_mutex_unlock(&c->lock);
}
