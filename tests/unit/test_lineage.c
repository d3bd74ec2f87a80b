/* Unit tests for catalog/lineage.c: depths, directions, cycles, the hop cap, stale edges, JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "catalog/lineage.h"

#define PG "postgres://db:5432"
#define AF "airflow://sched"
#define A "dataset:" PG ":shop.public.a"
#define J "job:" AF ":etl.j"
#define B "dataset:" PG ":shop.public.b"
#define J2 "job:" AF ":etl.j2"
#define C "dataset:" PG ":shop.public.c"

struct fixture {
	char dir[64];
	char path[128];
	struct catalog *cat;
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256] = "";

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_lineage.XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/catalog.db", f->dir);
	f->cat = catalog_open(f->path, err, sizeof(err));
	if (!f->cat) {
		fprintf(stderr, "catalog_open: %s\n", err);
		nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	catalog_close(f->cat);
	nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Assert the edges PAIRS (src, dst, src, dst, ..., NULL) as SOURCE in one batch. */
static void put_edges(struct catalog *cat, const char *source, int snapshot, ...)
{
	struct catalog_batch *b = catalog_batch_begin(cat, source, snapshot);
	char err[256] = "";
	const char *src, *dst;
	va_list ap;

	assert_non_null(b);
	va_start(ap, snapshot);
	while ((src = va_arg(ap, const char *)) != NULL) {
		dst = va_arg(ap, const char *);
		if (catalog_batch_edge(b, src, dst, NULL, NULL, err, sizeof(err)) != 0)
			fail_msg("catalog_batch_edge %s -> %s: %s", src, dst, err);
	}
	va_end(ap);
	if (catalog_batch_commit(b, NULL, err, sizeof(err)) != 0)
		fail_msg("catalog_batch_commit: %s", err);
}

static struct lineage_graph *walk(struct catalog *cat, const char *root, int depth,
				  enum lineage_direction dir, int cap, int stale)
{
	struct lineage_query q = { .node_id = root, .depth = depth, .direction = dir,
				   .hop_cap = cap, .include_stale = stale };
	struct lineage_graph *g = NULL;
	char err[256] = "";
	int rc = lineage_query(cat, &q, &g, err, sizeof(err));

	if (rc != 0)
		fail_msg("lineage_query(%s): %d %s", root, rc, err);
	assert_non_null(g);
	assert_int_equal(g->depth, depth);
	assert_int_equal(g->direction, dir);
	assert_string_equal(g->nodes[0].id, root);
	assert_int_equal(g->nodes[0].depth, 0);
	return g;
}

static const struct lineage_node *node_of(const struct lineage_graph *g, const char *id)
{
	for (size_t i = 0; i < g->n_nodes; i++)
		if (strcmp(g->nodes[i].id, id) == 0)
			return &g->nodes[i];
	return NULL;
}

/*
 * The graph has exactly the nodes given as (id, depth) pairs, NULL-terminated.
 */
static void nodes_are(const struct lineage_graph *g, ...)
{
	size_t n = 0;
	const char *id;
	va_list ap;

	va_start(ap, g);
	while ((id = va_arg(ap, const char *)) != NULL) {
		int depth = va_arg(ap, int);
		const struct lineage_node *nd = node_of(g, id);

		if (!nd)
			fail_msg("node %s missing", id);
		if (nd->depth != depth)
			fail_msg("node %s at depth %d, want %d", id, nd->depth, depth);
		n++;
	}
	va_end(ap);
	if (g->n_nodes != n) {
		for (size_t i = 0; i < g->n_nodes; i++)
			fprintf(stderr, "  have %s (%d)\n", g->nodes[i].id, g->nodes[i].depth);
		fail_msg("%zu nodes, want %zu", g->n_nodes, n);
	}
	/* No node twice. */
	for (size_t i = 0; i < g->n_nodes; i++)
		for (size_t k = i + 1; k < g->n_nodes; k++)
			assert_int_not_equal(g->nodes[i].eid, g->nodes[k].eid);
}

static int has_edge(const struct lineage_graph *g, const char *src, const char *dst)
{
	int n = 0;

	for (size_t i = 0; i < g->n_edges; i++)
		if (strcmp(g->nodes[g->edges[i].src].id, src) == 0 &&
		    strcmp(g->nodes[g->edges[i].dst].id, dst) == 0)
			n++;
	return n;
}

static void load_chain(struct catalog *cat)
{
	put_edges(cat, "airflow", 0, A, J, J, B, B, J2, J2, C, NULL);
}

static void test_chain_downstream(void **state)
{
	struct fixture *f = *state;
	struct lineage_graph *g;

	load_chain(f->cat);
	g = walk(f->cat, B, 1, LINEAGE_DOWNSTREAM, 100, 0);
	nodes_are(g, B, 0, J2, 1, NULL);
	assert_int_equal(g->n_edges, 1);
	assert_int_equal(has_edge(g, B, J2), 1);
	lineage_graph_destroy(g);

	g = walk(f->cat, B, 2, LINEAGE_DOWNSTREAM, 100, 0);
	nodes_are(g, B, 0, J2, 1, C, 2, NULL);
	assert_int_equal(g->n_edges, 2);
	assert_int_equal(has_edge(g, J2, C), 1);
	lineage_graph_destroy(g);

	g = walk(f->cat, B, 4, LINEAGE_DOWNSTREAM, 100, 0);
	nodes_are(g, B, 0, J2, 1, C, 2, NULL);
	lineage_graph_destroy(g);

	g = walk(f->cat, A, 4, LINEAGE_DOWNSTREAM, 100, 0);
	nodes_are(g, A, 0, J, 1, B, 2, J2, 3, C, 4, NULL);
	assert_int_equal(g->n_edges, 4);
	assert_int_equal(g->omitted, 0);
	lineage_graph_destroy(g);

	/* Attributes come from the entity. */
	g = walk(f->cat, A, 1, LINEAGE_DOWNSTREAM, 100, 0);
	assert_string_equal(g->nodes[0].kind, "dataset");
	assert_string_equal(g->nodes[0].namespace_, PG);
	assert_string_equal(g->nodes[0].name, "shop.public.a");
	assert_string_equal(g->nodes[0].platform, "postgres");
	assert_string_equal(node_of(g, J)->kind, "job");
	assert_string_equal(node_of(g, J)->name, "etl.j");
	lineage_graph_destroy(g);
}

static void test_chain_upstream_and_both(void **state)
{
	struct fixture *f = *state;
	struct lineage_graph *g;

	load_chain(f->cat);
	g = walk(f->cat, B, 1, LINEAGE_UPSTREAM, 100, 0);
	nodes_are(g, B, 0, J, -1, NULL);
	assert_int_equal(has_edge(g, J, B), 1);
	assert_int_equal(g->n_edges, 1);
	lineage_graph_destroy(g);

	g = walk(f->cat, B, 2, LINEAGE_UPSTREAM, 100, 0);
	nodes_are(g, B, 0, J, -1, A, -2, NULL);
	assert_int_equal(g->n_edges, 2);
	lineage_graph_destroy(g);

	g = walk(f->cat, B, 4, LINEAGE_UPSTREAM, 100, 0);
	nodes_are(g, B, 0, J, -1, A, -2, NULL);
	lineage_graph_destroy(g);

	g = walk(f->cat, B, 1, LINEAGE_BOTH, 100, 0);
	nodes_are(g, B, 0, J, -1, J2, 1, NULL);
	assert_int_equal(g->n_edges, 2);
	lineage_graph_destroy(g);

	g = walk(f->cat, B, 2, LINEAGE_BOTH, 100, 0);
	nodes_are(g, B, 0, J, -1, A, -2, J2, 1, C, 2, NULL);
	assert_int_equal(g->n_edges, 4);
	assert_int_equal(has_edge(g, A, J), 1);
	assert_int_equal(has_edge(g, J, B), 1);
	assert_int_equal(has_edge(g, B, J2), 1);
	assert_int_equal(has_edge(g, J2, C), 1);
	lineage_graph_destroy(g);

	g = walk(f->cat, B, 4, LINEAGE_BOTH, 100, 0);
	nodes_are(g, B, 0, J, -1, A, -2, J2, 1, C, 2, NULL);
	lineage_graph_destroy(g);

	/* Depth 0 is the root alone. */
	g = walk(f->cat, B, 0, LINEAGE_BOTH, 100, 0);
	nodes_are(g, B, 0, NULL);
	assert_int_equal(g->n_edges, 0);
	lineage_graph_destroy(g);

	/* Upstream of the head is nothing. */
	g = walk(f->cat, A, 3, LINEAGE_UPSTREAM, 100, 0);
	nodes_are(g, A, 0, NULL);
	lineage_graph_destroy(g);
}

static void test_cycle(void **state)
{
	struct fixture *f = *state;
	struct lineage_graph *g;

	put_edges(f->cat, "x", 0, A, B, B, C, C, A, NULL);
	g = walk(f->cat, A, LINEAGE_DEPTH_MAX, LINEAGE_DOWNSTREAM, 100, 0);
	nodes_are(g, A, 0, B, 1, C, 2, NULL);
	assert_int_equal(g->n_edges, 3);
	assert_int_equal(has_edge(g, A, B), 1);
	assert_int_equal(has_edge(g, B, C), 1);
	assert_int_equal(has_edge(g, C, A), 1);
	lineage_graph_destroy(g);

	g = walk(f->cat, A, LINEAGE_DEPTH_MAX, LINEAGE_BOTH, 100, 0);
	assert_int_equal(g->n_nodes, 3);
	assert_int_equal(g->n_edges, 3);
	lineage_graph_destroy(g);

	g = walk(f->cat, B, 10, LINEAGE_UPSTREAM, 100, 0);
	nodes_are(g, B, 0, A, -1, C, -2, NULL);
	assert_int_equal(g->n_edges, 3);
	lineage_graph_destroy(g);
}

static void test_same_edge_from_two_sources(void **state)
{
	struct fixture *f = *state;
	struct lineage_graph *g;

	put_edges(f->cat, "airflow", 0, A, J, J, B, NULL);
	put_edges(f->cat, "openlineage", 0, A, J, J, B, NULL);
	g = walk(f->cat, A, 5, LINEAGE_DOWNSTREAM, 100, 0);
	nodes_are(g, A, 0, J, 1, B, 2, NULL);
	assert_int_equal(g->n_edges, 2);
	assert_int_equal(has_edge(g, A, J), 1);
	lineage_graph_destroy(g);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

#define HUB_FANOUT 10000

static void test_hub_cap(void **state)
{
	struct fixture *f = *state;
	struct catalog_batch *b = catalog_batch_begin(f->cat, "spark", 0);
	const char *hub = "dataset:s3://lake:events";
	const char *sink = "dataset:s3://lake:everything";
	char id[128], err[256] = "";
	struct lineage_graph *g;
	double t0, t1;

	assert_non_null(b);
	for (int i = 0; i < HUB_FANOUT; i++) {
		snprintf(id, sizeof(id), "dataset:s3://lake:derived_%05d", i);
		if (catalog_batch_edge(b, hub, id, NULL, NULL, err, sizeof(err)) != 0 ||
		    catalog_batch_edge(b, id, sink, NULL, NULL, err, sizeof(err)) != 0)
			fail_msg("catalog_batch_edge: %s", err);
	}
	if (catalog_batch_commit(b, NULL, err, sizeof(err)) != 0)
		fail_msg("catalog_batch_commit: %s", err);

	t0 = now_ms();
	g = walk(f->cat, hub, 1, LINEAGE_DOWNSTREAM, 50, 0);
	t1 = now_ms();
	assert_int_equal(g->n_nodes, 51);
	assert_int_equal(g->n_edges, 50);
	assert_int_equal(g->nodes[0].omitted, HUB_FANOUT - 50);
	assert_int_equal(g->omitted, HUB_FANOUT - 50);
	for (size_t i = 1; i < g->n_nodes; i++)
		assert_int_equal(g->nodes[i].omitted, 0);
	print_message("hub downstream, %d edges, hop cap 50: %.2f ms\n", HUB_FANOUT, t1 - t0);
	lineage_graph_destroy(g);

	t0 = now_ms();
	g = walk(f->cat, sink, 1, LINEAGE_UPSTREAM, 50, 0);
	t1 = now_ms();
	assert_int_equal(g->n_nodes, 51);
	assert_int_equal(g->omitted, HUB_FANOUT - 50);
	print_message("sink upstream, %d edges, hop cap 50: %.2f ms\n", HUB_FANOUT, t1 - t0);
	lineage_graph_destroy(g);

	/* Two hops: every loaded node reaches the sink; the sink's own cap counts too. */
	t0 = now_ms();
	g = walk(f->cat, hub, 2, LINEAGE_DOWNSTREAM, 50, 0);
	t1 = now_ms();
	assert_int_equal(g->n_nodes, 52);
	assert_int_equal(g->n_edges, 100);
	assert_int_equal(node_of(g, sink)->depth, 2);
	assert_int_equal(g->omitted, HUB_FANOUT - 50);
	print_message("hub downstream depth 2, hop cap 50: %.2f ms\n", t1 - t0);
	lineage_graph_destroy(g);

	/* Both ways from a derived node with a cap of 1: one each side. */
	g = walk(f->cat, "dataset:s3://lake:derived_00007", 3, LINEAGE_BOTH, 1, 0);
	nodes_are(g, "dataset:s3://lake:derived_00007", 0, hub, -1, sink, 1, NULL);
	assert_int_equal(g->omitted, 0);
	lineage_graph_destroy(g);
}

static void test_unknown_root_and_validation(void **state)
{
	struct fixture *f = *state;
	struct lineage_query q = { .node_id = "dataset:nowhere:nothing", .depth = 2,
				   .direction = LINEAGE_BOTH, .hop_cap = 10 };
	struct lineage_graph *g = NULL;
	char err[256] = "";

	load_chain(f->cat);
	assert_int_equal(lineage_query(f->cat, &q, &g, err, sizeof(err)), CATALOG_ENOTFOUND);
	assert_null(g);

	q.node_id = A;
	q.depth = -1;
	assert_int_equal(lineage_query(f->cat, &q, &g, err, sizeof(err)), CATALOG_EINVAL);
	assert_non_null(strstr(err, "depth"));
	q.depth = LINEAGE_DEPTH_MAX + 1;
	assert_int_equal(lineage_query(f->cat, &q, &g, err, sizeof(err)), CATALOG_EINVAL);
	q.depth = 2;
	q.hop_cap = 0;
	assert_int_equal(lineage_query(f->cat, &q, &g, err, sizeof(err)), CATALOG_EINVAL);
	assert_non_null(strstr(err, "hop_cap"));
	q.hop_cap = 10;
	q.direction = 0;
	assert_int_equal(lineage_query(f->cat, &q, &g, err, sizeof(err)), CATALOG_EINVAL);
	q.direction = 7;
	assert_int_equal(lineage_query(f->cat, &q, &g, err, sizeof(err)), CATALOG_EINVAL);
	assert_null(g);
	q.direction = LINEAGE_UPSTREAM;
	assert_int_equal(lineage_query(f->cat, &q, &g, err, sizeof(err)), 0);
	lineage_graph_destroy(g);
	lineage_graph_destroy(NULL);

	assert_int_equal(lineage_direction_parse("upstream"), LINEAGE_UPSTREAM);
	assert_int_equal(lineage_direction_parse("downstream"), LINEAGE_DOWNSTREAM);
	assert_int_equal(lineage_direction_parse("both"), LINEAGE_BOTH);
	assert_int_equal(lineage_direction_parse("sideways"), 0);
	assert_int_equal(lineage_direction_parse(""), 0);
	assert_int_equal(lineage_direction_parse(NULL), 0);
	assert_string_equal(lineage_direction_name(LINEAGE_UPSTREAM), "upstream");
	assert_string_equal(lineage_direction_name(LINEAGE_BOTH), "both");
}

static void test_stale_edges(void **state)
{
	struct fixture *f = *state;
	struct lineage_graph *g;

	/* The source's snapshot asserts A -> J -> B, then only A -> J. */
	put_edges(f->cat, "airflow", 1, A, J, J, B, NULL);
	put_edges(f->cat, "airflow", 1, A, J, NULL);

	g = walk(f->cat, A, 5, LINEAGE_DOWNSTREAM, 100, 0);
	nodes_are(g, A, 0, J, 1, NULL);
	lineage_graph_destroy(g);

	g = walk(f->cat, A, 5, LINEAGE_DOWNSTREAM, 100, 1);
	nodes_are(g, A, 0, J, 1, B, 2, NULL);
	assert_int_equal(g->n_edges, 2);
	for (size_t i = 0; i < g->n_edges; i++)
		assert_int_equal(g->edges[i].stale,
				 strcmp(g->nodes[g->edges[i].dst].id, B) == 0 ? 1 : 0);
	lineage_graph_destroy(g);

	/* Another source still asserting J -> B keeps the edge fresh. */
	put_edges(f->cat, "openlineage", 0, J, B, NULL);
	g = walk(f->cat, A, 5, LINEAGE_DOWNSTREAM, 100, 0);
	nodes_are(g, A, 0, J, 1, B, 2, NULL);
	assert_int_equal(has_edge(g, J, B), 1);
	for (size_t i = 0; i < g->n_edges; i++)
		assert_int_equal(g->edges[i].stale, 0);
	lineage_graph_destroy(g);

	/* One fresh assertion is enough, whichever way the edge is walked. */
	g = walk(f->cat, A, 5, LINEAGE_DOWNSTREAM, 100, 1);
	assert_int_equal(g->n_edges, 2);
	for (size_t i = 0; i < g->n_edges; i++)
		assert_int_equal(g->edges[i].stale, 0);
	lineage_graph_destroy(g);
	g = walk(f->cat, B, 5, LINEAGE_UPSTREAM, 100, 1);
	nodes_are(g, B, 0, J, -1, A, -2, NULL);
	for (size_t i = 0; i < g->n_edges; i++)
		assert_int_equal(g->edges[i].stale, 0);
	lineage_graph_destroy(g);

	/* Upstream skips stale edges too: A -> J withdrawn, J -> B kept by openlineage. */
	put_edges(f->cat, "airflow", 1, NULL);
	g = walk(f->cat, B, 5, LINEAGE_UPSTREAM, 100, 0);
	nodes_are(g, B, 0, J, -1, NULL);
	lineage_graph_destroy(g);
	g = walk(f->cat, B, 5, LINEAGE_UPSTREAM, 100, 1);
	nodes_are(g, B, 0, J, -1, A, -2, NULL);
	assert_int_equal(has_edge(g, A, J), 1);
	for (size_t i = 0; i < g->n_edges; i++)
		assert_int_equal(g->edges[i].stale,
				 strcmp(g->nodes[g->edges[i].src].id, A) == 0 ? 1 : 0);
	lineage_graph_destroy(g);
}

static json_t *graph_entry(json_t *doc, const char *id)
{
	json_t *graph = json_object_get(doc, "graph");

	for (size_t i = 0; i < json_array_size(graph); i++)
		if (strcmp(json_string_value(json_object_get(json_array_get(graph, i), "id")),
			   id) == 0)
			return json_array_get(graph, i);
	return NULL;
}

static void test_json_shape(void **state)
{
	struct fixture *f = *state;
	struct lineage_graph *g;
	json_t *doc, *e, *in, *out;

	load_chain(f->cat);
	g = walk(f->cat, B, 1, LINEAGE_BOTH, 100, 0);
	doc = lineage_graph_json(g);
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "root")), B);
	assert_int_equal(json_integer_value(json_object_get(doc, "depth")), 1);
	assert_string_equal(json_string_value(json_object_get(doc, "direction")), "both");
	assert_int_equal(json_integer_value(json_object_get(doc, "omitted")), 0);
	assert_int_equal(json_array_size(json_object_get(doc, "nodes")), 3);
	assert_int_equal(json_array_size(json_object_get(doc, "edges")), 2);
	assert_int_equal(json_array_size(json_object_get(doc, "graph")), 3);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(doc, "nodes"), 0), "id")),
			    B);

	e = graph_entry(doc, B);
	assert_non_null(e);
	assert_string_equal(json_string_value(json_object_get(e, "type")), "DATASET");
	assert_string_equal(json_string_value(json_object_get(json_object_get(e, "data"),
							      "namespace")),
			    PG);
	assert_string_equal(json_string_value(json_object_get(json_object_get(e, "data"), "name")),
			    "shop.public.b");
	in = json_object_get(e, "inEdges");
	out = json_object_get(e, "outEdges");
	assert_int_equal(json_array_size(in), 1);
	assert_int_equal(json_array_size(out), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(in, 0), "origin")), J);
	assert_string_equal(
		json_string_value(json_object_get(json_array_get(in, 0), "destination")), B);
	assert_string_equal(json_string_value(json_object_get(json_array_get(out, 0), "origin")),
			    B);
	assert_string_equal(
		json_string_value(json_object_get(json_array_get(out, 0), "destination")), J2);

	e = graph_entry(doc, J);
	assert_string_equal(json_string_value(json_object_get(e, "type")), "JOB");
	assert_int_equal(json_array_size(json_object_get(e, "inEdges")), 0);
	assert_int_equal(json_array_size(json_object_get(e, "outEdges")), 1);
	assert_int_equal(json_integer_value(json_object_get(
				 json_array_get(json_object_get(doc, "nodes"), 1), "depth")) != 0,
			 1);
	json_decref(doc);
	lineage_graph_destroy(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_chain_downstream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chain_upstream_and_both, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_edge_from_two_sources, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hub_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_root_and_validation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_edges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_shape, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
