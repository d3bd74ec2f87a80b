/* Unit tests for hub/render.c: DOT text, SVG through Graphviz, the render cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <malloc.h>
#include <unistd.h>
#if defined(__SANITIZE_ADDRESS__)
/* from the ASan runtime (sanitizer/allocator_interface.h, not always installed) */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

#include "hub/render.h"

#define PREFIX "/entity/"

/*
 * Under LeakSanitizer: fontconfig, which Graphviz's pango text layout loads
 * once per process, keeps its font caches in memory it never frees.  Nothing
 * else is suppressed: leaks of Graphviz's layouts would show (they stay in
 * render.c's child processes).
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libfontconfig.so\n";
}

/* The hostile names: markup, quotes and backslashes, a newline, non-ASCII text. */
#define ID0 "dataset:postgres://db:5432:shop.public.<script>alert(1)</script>"
#define ID1 "job:airflow://sched:etl.a\"b\\c"
#define ID2 "dataset:kafka://b:9092:line1\nline2"
#define ID3 "dataset:s3://bucket:donn\xc3\xa9" "es/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e.csv"
#define ID4 "model:mlflow://ml:5000:m & <b>"
#define ID5 "other:nowhere:thing"

static struct lineage_node hostile_nodes[] = {
	{ .id = ID0, .kind = "dataset", .namespace_ = "postgres://db:5432",
	  .name = "shop.public.<script>alert(1)</script>", .platform = "postgres",
	  .subtype = "table", .display_name = "<script>alert(1)</script>" },
	{ .id = ID1, .kind = "job", .namespace_ = "airflow://sched", .name = "etl.a\"b\\c",
	  .platform = "airflow", .subtype = "task", .omitted = 7, .depth = 1 },
	{ .id = ID2, .kind = "dataset", .namespace_ = "kafka://b:9092", .name = "line1\nline2",
	  .platform = "kafka", .subtype = "topic", .stale = 1, .depth = 2 },
	{ .id = ID3, .kind = "dataset", .namespace_ = "s3://bucket",
	  .name = "donn\xc3\xa9" "es/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e.csv", .platform = "s3",
	  .depth = 2 },
	{ .id = ID4, .kind = "model", .namespace_ = "mlflow://ml:5000", .name = "m & <b>",
	  .platform = "plat\"form\\x\n</title>", .depth = 3 },
	{ .id = ID5, .kind = "other", .namespace_ = "nowhere", .name = "thing", .platform = "",
	  .depth = 4 },
};

static struct lineage_edge hostile_edges[] = {
	{ .src = 0, .dst = 1, .kind = "lineage" },
	{ .src = 1, .dst = 2, .kind = "lineage", .stale = 1 },
	{ .src = 1, .dst = 3, .kind = "lineage" },
	{ .src = 3, .dst = 4, .kind = "relationship" },
	{ .src = 4, .dst = 5, .kind = "lineage" },
};

static const struct lineage_graph hostile = {
	.nodes = hostile_nodes, .n_nodes = 6, .edges = hostile_edges, .n_edges = 5,
	.omitted = 7, .depth = 3, .direction = LINEAGE_BOTH,
};

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0, l = strlen(needle);
	for (const char *p = strstr(hay, needle); p; p = strstr(p + l, needle))
		n++;
	return n;
}

/* The DOT statement of node N ("  nN [...];"), copied into OUT. */
static void node_stmt(const char *dot, int n, char *out, size_t outlen)
{
	char head[32];
	snprintf(head, sizeof(head), "  n%d [", n);
	const char *p = strstr(dot, head);
	assert_non_null(p);
	const char *end = strstr(p, "];\n");
	assert_non_null(end);
	size_t len = (size_t)(end - p);
	assert_true(len < outlen);
	memcpy(out, p, len);
	out[len] = '\0';
}

static void test_dot_clusters_and_escaping(void **state)
{
	(void)state;
	char *dot = NULL;
	size_t len = 0;
	char stmt[4096];
	assert_int_equal(render_dot(&hostile, PREFIX, &dot, &len), 0);
	assert_non_null(dot);
	assert_int_equal(strlen(dot), len);
	assert_non_null(strstr(dot, "rankdir=LR"));

	/* one cluster per non-empty platform, labelled with it; the node without
	 * a platform stands outside every cluster */
	assert_int_equal(count(dot, "subgraph \"cluster_"), 5);
	assert_non_null(strstr(dot, "label=\"postgres\""));
	assert_non_null(strstr(dot, "label=\"airflow\""));
	assert_non_null(strstr(dot, "label=\"kafka\""));
	assert_non_null(strstr(dot, "label=\"s3\""));
	assert_non_null(strstr(dot, "label=\"plat\\\"form\\\\x\\n</title>\""));
	const char *c0 = strstr(dot, "subgraph \"cluster_0\"");
	const char *n0 = strstr(dot, "  n0 [");
	const char *c1 = strstr(dot, "subgraph \"cluster_1\"");
	assert_true(c0 && n0 && c1 && c0 < n0 && n0 < c1);

	/* root: short name over kind/subtype, escaped for HTML, highlighted */
	node_stmt(dot, 0, stmt, sizeof(stmt));
	assert_non_null(strstr(stmt, "label=<<B>&lt;script&gt;alert(1)&lt;/script&gt;</B><BR/>"));
	assert_non_null(strstr(stmt, ">dataset/table</FONT>"));
	assert_non_null(strstr(stmt, "penwidth=3"));
	assert_null(strstr(stmt, "dashed"));
	assert_non_null(strstr(stmt, "URL=\"" PREFIX "dataset%3Apostgres%3A%2F%2Fdb%3A5432%3Ashop.public."
				  "%3Cscript%3Ealert%281%29%3C%2Fscript%3E\""));
	assert_non_null(strstr(stmt, "tooltip=\"" ID0 "\""));
	/* in a quoted tooltip markup is plain text; in the HTML-like label it never appears raw */
	const char *tip = strstr(stmt, ", tooltip=");
	assert_non_null(tip);
	const char *raw = strstr(stmt, "<script");
	assert_true(raw > tip);

	/* quotes and backslashes: HTML entities in the label, DOT escapes in tooltip */
	node_stmt(dot, 1, stmt, sizeof(stmt));
	assert_non_null(strstr(stmt, "<B>a&quot;b\\c</B>"));
	assert_non_null(strstr(stmt, "tooltip=\"job:airflow://sched:etl.a\\\"b\\\\c\""));
	assert_non_null(strstr(stmt, "URL=\"" PREFIX "job%3Aairflow%3A%2F%2Fsched%3Aetl.a%22b%5Cc\""));
	assert_non_null(strstr(stmt, "+7 more"));
	assert_non_null(strstr(stmt, "penwidth=1"));

	/* a newline never reaches the DOT text raw; the stale node is dashed */
	node_stmt(dot, 2, stmt, sizeof(stmt));
	assert_non_null(strstr(stmt, "<B>line1 line2</B>"));
	assert_non_null(strstr(stmt, "tooltip=\"dataset:kafka://b:9092:line1\\nline2\""));
	assert_non_null(strstr(stmt, "URL=\"" PREFIX "dataset%3Akafka%3A%2F%2Fb%3A9092%3Aline1%0Aline2\""));
	assert_non_null(strstr(stmt, "style=\"filled,dashed\""));
	assert_null(strstr(stmt, "more"));

	/* unicode passes through labels; a path keeps its file name */
	node_stmt(dot, 3, stmt, sizeof(stmt));
	assert_non_null(strstr(stmt, "<B>\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e.csv</B>"));
	assert_non_null(strstr(stmt, "URL=\"" PREFIX "dataset%3As3%3A%2F%2Fbucket%3Adonn%C3%A9es%2F"
				  "%E6%97%A5%E6%9C%AC%E8%AA%9E.csv\""));
	node_stmt(dot, 4, stmt, sizeof(stmt));
	assert_non_null(strstr(stmt, "<B>m &amp; &lt;b&gt;</B>"));

	/* colours differ by kind */
	char s0[4096], s4[4096], s5[4096];
	node_stmt(dot, 3, s0, sizeof(s0));
	node_stmt(dot, 4, s4, sizeof(s4));
	node_stmt(dot, 5, s5, sizeof(s5));
	const char *f0 = strstr(s0, "fillcolor="), *f4 = strstr(s4, "fillcolor="),
		   *f5 = strstr(s5, "fillcolor=");
	assert_true(f0 && f4 && f5);
	assert_memory_not_equal(f0, f4, 20);
	assert_memory_not_equal(f4, f5, 20);

	/* edges: one statement each, the stale one dashed */
	assert_int_equal(count(dot, " -> n"), 5);
	const char *e12 = strstr(dot, "  n1 -> n2 [");
	assert_non_null(e12);
	assert_true(strstr(e12, "style=dashed") < strstr(e12, "\n"));
	const char *e01 = strstr(dot, "  n0 -> n1 [");
	assert_non_null(e01);
	const char *nl = strstr(e01, "\n");
	const char *dashed = strstr(e01, "dashed");
	assert_true(!dashed || dashed > nl);
	free(dot);
}

static void test_dot_invalid_utf8_and_long_names(void **state)
{
	(void)state;
	char longname[600];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	struct lineage_node nodes[] = {
		{ .id = "dataset:file:bad\xff\xfe", .kind = "dataset", .name = "bad\xff\xfe\x01z",
		  .namespace_ = "file", .platform = "file" },
		{ .id = "dataset:file:long", .kind = "dataset", .name = longname,
		  .namespace_ = "file", .platform = "file" },
	};
	struct lineage_graph g = { .nodes = nodes, .n_nodes = 2 };
	char *dot = NULL;
	size_t len = 0;
	assert_int_equal(render_dot(&g, PREFIX, &dot, &len), 0);
	/* invalid bytes become U+FFFD, the control character a space */
	assert_non_null(strstr(dot, "<B>bad\xef\xbf\xbd\xef\xbf\xbd z</B>"));
	assert_null(strstr(dot, "\xff"));
	assert_non_null(strstr(dot, "%FF%FE"));
	/* a long name is cut, with an ellipsis */
	assert_null(strstr(dot, longname));
	assert_non_null(strstr(dot, "xxxx\xe2\x80\xa6</B>"));
	free(dot);

	char *svg = NULL, err[512] = "";
	assert_int_equal(render_svg(&g, PREFIX, &svg, &len, err, sizeof(err)), 0);
	assert_non_null(strstr(svg, "bad\xef\xbf\xbd"));
	free(svg);

	/* U+FFFE and U+FFFF are valid UTF-8 but not XML: the SVG must not hold them */
	struct lineage_node nonchar[] = {
		{ .id = "dataset:file:a\xef\xbf\xbf" "b", .kind = "dataset",
		  .name = "a\xef\xbf\xbf" "b", .namespace_ = "file",
		  .platform = "p\xef\xbf\xbe" },
	};
	struct lineage_graph g2 = { .nodes = nonchar, .n_nodes = 1 };
	assert_int_equal(render_svg(&g2, PREFIX, &svg, &len, err, sizeof(err)), 0);
	assert_null(strstr(svg, "\xef\xbf\xbf"));
	assert_null(strstr(svg, "\xef\xbf\xbe"));
	assert_non_null(strstr(svg, "a\xef\xbf\xbd" "b"));
	assert_non_null(strstr(svg, "%EF%BF%BFb"));
	free(svg);
}

/* The first line of a label: the display name, else the name's last segment. */
static void test_dot_short_names(void **state)
{
	(void)state;
	struct lineage_node nodes[] = {
		{ .id = "dataset:postgres://h:5432:shop.public.orders", .kind = "dataset",
		  .name = "shop.public.orders" },
		{ .id = "model:mlflow://m:5000:models/churn/3", .kind = "model",
		  .name = "models/churn/3" },
		{ .id = "job:airflow://a:etl_orders.load_orders", .kind = "job",
		  .name = "etl_orders.load_orders", .subtype = "task" },
		{ .id = "dataset:file:/data/in/events.parquet", .kind = "dataset",
		  .name = "/data/in/events.parquet" },
		{ .id = "dataset:redis://c:6379:0/orders:stream", .kind = "dataset",
		  .name = "0/orders:stream", .display_name = "Orders stream" },
		{ .id = "service:x:y", .kind = "service", .name = "" },
	};
	struct lineage_graph g = { .nodes = nodes, .n_nodes = 6 };
	char *dot = NULL;
	size_t len = 0;
	assert_int_equal(render_dot(&g, "", &dot, &len), 0);
	assert_non_null(strstr(dot, "<B>orders</B>"));
	assert_non_null(strstr(dot, "<B>churn/3</B>"));
	assert_non_null(strstr(dot, "<B>load_orders</B>"));
	assert_non_null(strstr(dot, ">job/task</FONT>"));
	assert_non_null(strstr(dot, "<B>events.parquet</B>"));
	assert_non_null(strstr(dot, "<B>Orders stream</B>"));
	assert_non_null(strstr(dot, "<B>service:x:y</B>"));
	assert_non_null(strstr(dot, "URL=\"service%3Ax%3Ay\""));
	/* no platform: no cluster */
	assert_null(strstr(dot, "cluster"));
	free(dot);
}

static void test_svg_hostile(void **state)
{
	(void)state;
	char *svg = NULL, err[512] = "";
	size_t len = 0;
	int rc = render_svg(&hostile, PREFIX, &svg, &len, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "render_svg: %s\n", err);
	assert_int_equal(rc, 0);
	assert_non_null(svg);
	assert_int_equal(strlen(svg), len);
	assert_true(strncmp(svg, "<?xml", 5) == 0 || strncmp(svg, "<svg", 4) == 0);
	assert_non_null(strstr(svg, "</svg>"));

	/* one group per node and per edge */
	assert_int_equal(count(svg, "class=\"node"), 6);
	assert_int_equal(count(svg, "class=\"edge"), 5);
	assert_int_equal(count(svg, "class=\"cluster"), 5);

	/* markup from the catalog is text, never markup */
	assert_non_null(strstr(svg, "&lt;script&gt;alert(1)&lt;/script&gt;"));
	for (const char *p = svg; (p = strchr(p, '<')); p++)
		assert_true(strncasecmp(p, "<script", 7) != 0);
	assert_non_null(strstr(svg, "m &amp; &lt;b&gt;"));
	assert_null(strstr(svg, "<b>"));
	assert_int_equal(count(svg, "</title>"), count(svg, "<title>"));
	assert_non_null(strstr(svg, "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e.csv"));
	assert_non_null(strstr(svg, "+7 more"));

	/* links: the prefix and the percent-encoded id; the tooltip is the full id */
	assert_non_null(strstr(svg, "xlink:href=\"" PREFIX "dataset%3Apostgres%3A%2F%2Fdb%3A5432%3A"
				 "shop.public.%3Cscript%3Ealert%281%29%3C%2Fscript%3E\""));
	assert_non_null(strstr(svg, "xlink:href=\"" PREFIX
				 "job%3Aairflow%3A%2F%2Fsched%3Aetl.a%22b%5Cc\""));
	assert_non_null(strstr(svg, "xlink:title=\"dataset:postgres://db:5432:shop.public."
				 "&lt;script&gt;alert(1)&lt;/script&gt;\""));
	assert_non_null(strstr(svg, "xlink:title=\"job:airflow://sched:etl.a&quot;b\\c\""));
	/* the stale node (a cylinder: two paths) and the stale edge are drawn dashed,
	 * nothing else is */
	assert_int_equal(count(svg, "stroke-dasharray=\"5,2\""), 3);
	assert_int_equal(count(svg, "class=\"node dataset stale\""), 1);
	assert_int_equal(count(svg, "class=\"node dataset root\""), 1);
	free(svg);
}

/* A link prefix with characters that are not URL characters is encoded, not trusted. */
static void test_link_prefix_encoded(void **state)
{
	(void)state;
	char *svg = NULL, err[512] = "";
	size_t len = 0;
	assert_int_equal(render_svg(&hostile, "/e?x=\"1\"&y=<z> ", &svg, &len, err, sizeof(err)),
			 0);
	assert_non_null(strstr(svg, "xlink:href=\"/e?x=%221%22%26y=%3Cz%3E%20job%3Aairflow"));
	assert_null(strstr(svg, "x=\"1"));
	free(svg);
}

static void test_svg_empty_graph(void **state)
{
	(void)state;
	struct lineage_graph g = { 0 };
	char *svg = NULL, err[512] = "";
	size_t len = 0;
	assert_int_equal(render_svg(&g, PREFIX, &svg, &len, err, sizeof(err)), 0);
	assert_non_null(strstr(svg, "<svg"));
	assert_int_equal(count(svg, "class=\"node"), 0);
	free(svg);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Bytes of heap in use by this process. */
static size_t heap_in_use(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return __sanitizer_get_current_allocated_bytes();
#else
	return mallinfo2().uordblks;
#endif
}

static void test_svg_500_nodes(void **state)
{
	(void)state;
	enum { N = 500 };
	static const char *const platforms[] = { "postgres", "kafka", "airflow", "s3", "mlflow" };
	static const char *const kinds[] = { "dataset", "dataset", "job", "dataset", "model" };
	struct lineage_node *nodes = calloc(N, sizeof(*nodes));
	struct lineage_edge *edges = calloc(N, sizeof(*edges));
	char (*ids)[64] = calloc(N, 64);
	assert_true(nodes && edges && ids);
	size_t n_edges = 0;
	for (int i = 0; i < N; i++) {
		snprintf(ids[i], 64, "%s:ns%d:db.t%d", kinds[i % 5], i % 5, i);
		nodes[i].id = ids[i];
		nodes[i].kind = (char *)kinds[i % 5];
		nodes[i].name = ids[i] + strlen(kinds[i % 5]) + 5;
		nodes[i].platform = (char *)platforms[i % 5];
		nodes[i].stale = (i % 17 == 0);
		if (i > 0) {  /* a tree: each node fed by one earlier node */
			edges[n_edges].src = (size_t)((i - 1) / 3);
			edges[n_edges].dst = (size_t)i;
			edges[n_edges].kind = "lineage";
			n_edges++;
		}
	}
	struct lineage_graph g = { .nodes = nodes, .n_nodes = N, .edges = edges,
				   .n_edges = n_edges };
	char *svg = NULL, err[512] = "";
	size_t len = 0;
	double t0 = now_s();
	int rc = render_svg(&g, PREFIX, &svg, &len, err, sizeof(err));
	double t1 = now_s();
	if (rc != 0)
		fprintf(stderr, "render_svg: %s\n", err);
	assert_int_equal(rc, 0);
	printf("    500 nodes, %zu edges: %.3f s, %zu bytes of svg\n", n_edges, t1 - t0, len);
	assert_int_equal(count(svg, "class=\"node"), N);
	assert_int_equal(count(svg, "class=\"edge"), n_edges);
	free(svg);

	/* Graphviz 2.43 leaks ~1 MB in each layout of this graph; rendering again
	 * and again must not grow this process */
	size_t before = heap_in_use();
	for (int i = 0; i < 4; i++) {
		assert_int_equal(render_svg(&g, PREFIX, &svg, &len, err, sizeof(err)), 0);
		free(svg);
	}
	size_t after = heap_in_use();
	printf("    heap after 4 more renders: %zu -> %zu bytes\n", before, after);
	assert_true(after < before + 64 * 1024);
	free(nodes);
	free(edges);
	free(ids);
}

/* Child mode (see main): render with Graphviz's plugin registry out of reach. */
static int child_render_without_registry(void)
{
	char *svg = NULL, err[512] = "";
	size_t len = 0;
	if (render_svg(&hostile, PREFIX, &svg, &len, err, sizeof(err)) != 0) {
		fprintf(stderr, "child render failed: %s\n", err);
		return 1;
	}
	int ok = count(svg, "class=\"node") == hostile.n_nodes;
	free(svg);
	return ok ? 0 : 2;
}

/*
 * With GVBINDIR pointing at a directory with no plugin registry (config6), as
 * when Debian's postinst `dot -c` did not run, render_svg() still works: it
 * loads the plugins that ship beside libgvc directly and says so.
 */
static void test_svg_without_plugin_registry(void **state)
{
	(void)state;
	char dir[] = "/tmp/terrarium-gv-XXXXXX";
	assert_non_null(mkdtemp(dir));
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], 2);
		close(fds[0]);
		setenv("GVBINDIR", dir, 1);
		execl("/proc/self/exe", "test_render", "--child-no-registry", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	char out[8192];
	size_t n = 0;
	ssize_t r;
	while (n < sizeof(out) - 1 && (r = read(fds[0], out + n, sizeof(out) - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = '\0';
	close(fds[0]);
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	rmdir(dir);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fprintf(stderr, "child said: %s\n", out);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_non_null(strstr(out, "graphviz plugins loaded directly"));
	/* Graphviz's own messages are captured, never printed */
	assert_null(strstr(out, "Error"));
	assert_null(strstr(out, "Warning"));
}

/* --- cache ------------------------------------------------------------------ */

static void test_cache_hit_and_generation(void **state)
{
	(void)state;
	struct render_cache *c = render_cache_create(8, 1 << 20);
	assert_non_null(c);
	size_t len = 0;
	assert_null(render_cache_get(c, "q=a", 1, &len));
	render_cache_put(c, "q=a", 1, "<svg>a</svg>", 12);
	char *got = render_cache_get(c, "q=a", 1, &len);
	assert_non_null(got);
	assert_int_equal(len, 12);
	assert_string_equal(got, "<svg>a</svg>");
	free(got);
	/* a different key misses */
	assert_null(render_cache_get(c, "q=b", 1, &len));
	/* the catalog changed: the old entry is never served again */
	assert_null(render_cache_get(c, "q=a", 2, &len));
	assert_null(render_cache_get(c, "q=a", 1, &len));
	/* a put at the new generation replaces it */
	render_cache_put(c, "q=a", 2, "<svg>a2</svg>", 13);
	got = render_cache_get(c, "q=a", 2, &len);
	assert_non_null(got);
	assert_string_equal(got, "<svg>a2</svg>");
	free(got);
	render_cache_destroy(c);
	render_cache_destroy(NULL);
}

static void test_cache_evicts_lru_by_entries(void **state)
{
	(void)state;
	struct render_cache *c = render_cache_create(3, 1 << 20);
	size_t len;
	render_cache_put(c, "a", 1, "A", 1);
	render_cache_put(c, "b", 1, "B", 1);
	render_cache_put(c, "c", 1, "C", 1);
	free(render_cache_get(c, "a", 1, &len));  /* a is now the most recent; b the least */
	render_cache_put(c, "d", 1, "D", 1);
	char *a = render_cache_get(c, "a", 1, &len), *b = render_cache_get(c, "b", 1, &len),
	     *cc = render_cache_get(c, "c", 1, &len), *d = render_cache_get(c, "d", 1, &len);
	assert_non_null(a);
	assert_null(b);
	assert_non_null(cc);
	assert_non_null(d);
	free(a);
	free(cc);
	free(d);
	render_cache_destroy(c);
}

static void test_cache_evicts_lru_by_bytes(void **state)
{
	(void)state;
	enum { SZ = 10000 };
	char *svg = malloc(SZ);
	assert_non_null(svg);
	memset(svg, 's', SZ);
	/* room for two entries of SZ bytes (plus bookkeeping), not three */
	struct render_cache *c = render_cache_create(100, 2 * SZ + 1000);
	size_t len;
	render_cache_put(c, "one", 1, svg, SZ);
	render_cache_put(c, "two", 1, svg, SZ);
	char *one = render_cache_get(c, "one", 1, &len);
	assert_non_null(one);
	assert_int_equal(len, SZ);
	free(one);
	render_cache_put(c, "three", 1, svg, SZ);  /* evicts "two", the least recent */
	char *two = render_cache_get(c, "two", 1, &len);
	assert_null(two);
	one = render_cache_get(c, "one", 1, &len);
	char *three = render_cache_get(c, "three", 1, &len);
	assert_non_null(one);
	assert_non_null(three);
	free(one);
	free(three);
	/* an entry bigger than the whole cache is not kept, and evicts nothing */
	char *huge = malloc(3 * SZ);
	assert_non_null(huge);
	memset(huge, 'h', 3 * SZ);
	render_cache_put(c, "huge", 1, huge, 3 * SZ);
	assert_null(render_cache_get(c, "huge", 1, &len));
	three = render_cache_get(c, "three", 1, &len);
	assert_non_null(three);
	free(three);
	free(huge);
	free(svg);
	render_cache_destroy(c);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--child-no-registry") == 0)
		return child_render_without_registry();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dot_clusters_and_escaping),
		cmocka_unit_test(test_dot_invalid_utf8_and_long_names),
		cmocka_unit_test(test_dot_short_names),
		cmocka_unit_test(test_svg_hostile),
		cmocka_unit_test(test_link_prefix_encoded),
		cmocka_unit_test(test_svg_empty_graph),
		cmocka_unit_test(test_svg_500_nodes),
		cmocka_unit_test(test_svg_without_plugin_registry),
		cmocka_unit_test(test_cache_hit_and_generation),
		cmocka_unit_test(test_cache_evicts_lru_by_entries),
		cmocka_unit_test(test_cache_evicts_lru_by_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
