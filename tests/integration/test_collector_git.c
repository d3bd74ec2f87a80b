/*
 * The git collector (lua/collectors/git.lua, on the git binding of
 * plugins/git/git.c) against a repository the harness builds with the git
 * CLI: tests/data/dbt committed in three commits by two authors (Alice: the
 * project; Bob: the customers mart; Alice: a README), plus a branch "dev".
 * It is run the way a user runs it: `terrarium collect git --config CFG
 * --data DIR` with the real binary ($TERRARIUM_BIN, default
 * build/terrarium), and what it wrote is read back from DIR/catalog.db.
 *
 * In order (the tests share the repository and the catalog):
 *   1. the repository by path: the repository entity (branches, HEAD, recent
 *      commits, authors, owners), the dbt models, seed, snapshot and sources
 *      with columns, descriptions, tests, files, last commits and web URLs,
 *      the lineage source -> job -> model -> job -> model, and the tile;
 *   2. the same repository by file:// URL: cloned into the data directory;
 *      after a new commit upstream, the next run fetches it;
 *   3. bad input: a missing path, a manifest that is not JSON, a URL with no
 *      repository and a server that never answers each fail the run with a
 *      clear reason, in bounded time, and leave the catalog unchanged.
 * Every process started is bounded in time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "tests/lib/collect.h"

#define DBT_DIR "tests/data/dbt"
#define RUN_MS 60000   /* one `terrarium collect` */
#define GIT_MS 20000   /* one git command */
#define NS "postgres://127.0.0.1:5432"

static struct tc_dirs td;      /* the temporary directory, the data dir, outputs */
static char repo[300];         /* the repository the harness builds */
static char commit1[41], commit2[41], commit3[41], commit4[41];

/* --- processes ---------------------------------------------------------------------- */

/* `git ARGS...` in the repository REPO_DIR as AUTHOR ("Name <email>", may be
 * NULL) at DATE (may be NULL), without the user's or the system's git config;
 * fails the test when it does not exit 0. */
static void git_in(const char *repo_dir, const char *author, const char *date,
		   const char *const *args)
{
	const char *argv[32] = { "git" };
	char envs[6][200], log_path[400], name[100] = "", mail[100] = "";
	const char *env[12] = { "GIT_CONFIG_NOSYSTEM=1", "HOME=/nonexistent" };
	int n = 1, e = 2;

	for (int i = 0; args[i] && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	if (author) {
		const char *lt = strchr(author, '<');
		assert_non_null(lt);
		snprintf(name, sizeof(name), "%.*s", (int)(lt - author - 1), author);
		snprintf(mail, sizeof(mail), "%.*s", (int)strlen(lt + 1) - 1, lt + 1);
		snprintf(envs[0], sizeof(envs[0]), "GIT_AUTHOR_NAME=%s", name);
		snprintf(envs[1], sizeof(envs[1]), "GIT_COMMITTER_NAME=%s", name);
		snprintf(envs[2], sizeof(envs[2]), "GIT_AUTHOR_EMAIL=%s", mail);
		snprintf(envs[3], sizeof(envs[3]), "GIT_COMMITTER_EMAIL=%s", mail);
		for (int i = 0; i < 4; i++)
			env[e++] = envs[i];
	}
	if (date) {
		snprintf(envs[4], sizeof(envs[4]), "GIT_AUTHOR_DATE=%s", date);
		snprintf(envs[5], sizeof(envs[5]), "GIT_COMMITTER_DATE=%s", date);
		env[e++] = envs[4];
		env[e++] = envs[5];
	}
	env[e] = NULL;
	snprintf(log_path, sizeof(log_path), "%s/git.out", td.dir);
	int rc = tc_run(argv, repo_dir, env, log_path, NULL, GIT_MS);
	if (rc != 0) {
		char *text = tc_slurp(log_path);
		fail_msg("git %s exited %d:\n%s", args[0], rc, text ? text : "");
	}
}

/* The commit id of HEAD in REPO_DIR into OUT (41 bytes). */
static void head_of(const char *repo_dir, char *out)
{
	const char *argv[] = { "git", "rev-parse", "HEAD", NULL };
	const char *env[] = { "GIT_CONFIG_NOSYSTEM=1", "HOME=/nonexistent", NULL };
	char path[400];
	char *text;

	snprintf(path, sizeof(path), "%s/rev.out", td.dir);
	assert_int_equal(tc_run(argv, repo_dir, env, path, NULL, GIT_MS), 0);
	text = tc_slurp(path);
	assert_non_null(text);
	assert_true(strlen(text) >= 40);
	memcpy(out, text, 40);
	out[40] = '\0';
	free(text);
}

/* `terrarium collect git --json --config CFG --data DATA_DIR`: the exit
 * status; *OUT and *ERRTEXT (may be NULL) get stdout and stderr. */
static int collect(const char *cfg, char **out, char **errtext)
{
	return tc_collect(&td, "git", cfg, RUN_MS, out, errtext);
}

/* --- the catalog -------------------------------------------------------------------- */

/* Dataset NAME in the warehouse namespace. */
static const char *ds(const char *name)
{
	return tc_id("dataset", NS, name);
}

/* The dbt job of MODEL ("analytics.customers" -> warehouse.analytics.jaffle_shop.customers). */
static const char *job(const char *schema, const char *model)
{
	static char ids[8][CATALOG_ID_MAX + 1];
	static int next;
	char *id = ids[next++ % 8];

	snprintf(id, CATALOG_ID_MAX + 1, "job:dbt:warehouse.%s.jaffle_shop.%s", schema, model);
	return id;
}

static const char *repo_id(void)
{
	static char id[CATALOG_ID_MAX + 1];

	snprintf(id, sizeof(id), "service:file:%s", repo);
	return id;
}

static int linked(const json_t *doc, const char *key, const char *id)
{
	return tc_linked(doc, key, id, "lineage");
}

/* The names of the tests listed on DOC, comma-separated, sorted. */
static void test_names(const json_t *doc, char *out, size_t outlen)
{
	size_t i, n = 0;
	json_t *t;

	out[0] = '\0';
	json_array_foreach(tc_prop(doc, "dbt_tests"), i, t)
		n += (size_t)snprintf(out + n, outlen - n, "%s%s", n ? "," : "", tc_str(t, "name"));
}

/* --- setup: the repository ---------------------------------------------------------------- */

static int setup(void **state)
{
	char cmd_out[400];
	(void)state;

	if (tc_dirs_make(&td, "gitcoll") < 0)
		return -1;
	snprintf(repo, sizeof(repo), "%s/shop", td.dir);
	snprintf(cmd_out, sizeof(cmd_out), "%s/cp.out", td.dir);
	const char *cp[] = { "cp", "-R", DBT_DIR, repo, NULL };
	if (tc_run(cp, NULL, NULL, cmd_out, NULL, GIT_MS) != 0) {
		fprintf(stderr, "cannot copy %s to %s\n", DBT_DIR, repo);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tc_dirs_remove(&td);
	return 0;
}

/* Commit what is staged in REPO as AUTHOR at DATE with MESSAGE; the id into OUT. */
static void commit_as(const char *author, const char *date, const char *message, char *out)
{
	const char *args[] = { "commit", "-q", "-m", message, NULL };
	git_in(repo, author, date, args);
	head_of(repo, out);
}

static void build_repository(void)
{
	const char *init[] = { "init", "-q", "-b", "main", NULL };
	const char *add1[] = { "add", "-A", ".", ":!models/marts/customers.sql", NULL };
	const char *add2[] = { "add", "models/marts/customers.sql", NULL };
	const char *add3[] = { "add", "README.md", NULL };
	const char *branch[] = { "branch", "dev", NULL };
	char readme[400];

	git_in(repo, NULL, NULL, init);
	git_in(repo, NULL, NULL, add1);
	commit_as("Alice Doe <alice@example.com>", "2024-09-01T10:00:00Z", "Start the dbt project",
		  commit1);
	git_in(repo, NULL, NULL, add2);
	commit_as("Bob Roe <bob@example.com>", "2024-09-02T10:00:00Z", "Add the customers mart",
		  commit2);
	snprintf(readme, sizeof(readme), "%s/README.md", repo);
	tc_write_file(readme, "# shop analytics\n");
	git_in(repo, NULL, NULL, add3);
	commit_as("Alice Doe <alice@example.com>", "2024-09-03T10:00:00Z", "Describe the project",
		  commit3);
	git_in(repo, NULL, NULL, branch);
}

/* --- 1. a repository by path ------------------------------------------------------------- */

static void test_repository_by_path(void **state)
{
	char cfg[400], text[1024], names[1024], want[600];
	struct catalog *cat;
	json_t *d, *batch, *num, *c, *a;
	char *out = NULL;
	(void)state;

	build_repository();
	snprintf(cfg, sizeof(cfg), "%s/path.lua", td.dir);
	snprintf(text, sizeof(text),
		 "plugins = { git = { timeout = 50,\n"
		 "  repos = { { path = \"%s\",\n"
		 "             web_url = \"https://git.example.com/shop/blob/{commit}/{path}\" } },\n"
		 "  dbt = { namespace = \"%s\" } } }\n",
		 repo, NS);
	tc_write_file(cfg, text);
	long long t0 = tc_now_ms();
	assert_int_equal(collect(cfg, &out, NULL), 0);
	fprintf(stderr, "git collect (path): %lld ms\n", tc_now_ms() - t0);
	batch = json_loads(out, 0, NULL);
	if (!batch)
		fail_msg("`terrarium collect --json` printed no JSON:\n%s", out);
	free(out);
	cat = tc_open_catalog(td.data_dir);

	/* the repository */
	d = tc_entity(cat, repo_id());
	assert_string_equal(tc_str(d, "kind"), "service");
	assert_string_equal(tc_str(d, "subtype"), "git_repository");
	assert_string_equal(tc_str(d, "platform"), "git");
	assert_string_equal(tc_str(d, "display_name"), "shop");
	tc_assert_json_eq(tc_prop(d, "branch_count"), "2");
	assert_string_equal(json_string_value(tc_prop(d, "default_branch")), "main");
	assert_string_equal(json_string_value(tc_prop(d, "head_commit")), commit3);
	assert_string_equal(json_string_value(tc_prop(d, "head_summary")), "Describe the project");
	assert_string_equal(tc_str(json_array_get(tc_prop(d, "branches"), 0), "name"), "dev");
	assert_string_equal(tc_str(json_array_get(tc_prop(d, "branches"), 1), "name"), "main");
	assert_true(json_is_true(json_object_get(json_array_get(tc_prop(d, "branches"), 1), "is_head")));
	assert_string_equal(tc_str(json_array_get(tc_prop(d, "branches"), 0), "commit"), commit3);
	/* recent commits, newest first */
	assert_int_equal(json_array_size(tc_prop(d, "recent_commits")), 3);
	c = json_array_get(tc_prop(d, "recent_commits"), 0);
	assert_string_equal(tc_str(c, "id"), commit3);
	assert_string_equal(tc_str(c, "author"), "Alice Doe");
	assert_string_equal(tc_str(c, "time"), "2024-09-03T10:00:00Z");
	c = json_array_get(tc_prop(d, "recent_commits"), 1);
	assert_string_equal(tc_str(c, "id"), commit2);
	assert_string_equal(tc_str(c, "author"), "Bob Roe");
	assert_string_equal(tc_str(c, "email"), "bob@example.com");
	assert_string_equal(tc_str(c, "summary"), "Add the customers mart");
	assert_string_equal(tc_str(json_array_get(tc_prop(d, "recent_commits"), 2), "id"), commit1);
	/* authors by commit count; the top ones are the owners */
	a = tc_prop(d, "authors");
	assert_int_equal(json_array_size(a), 2);
	assert_string_equal(tc_str(json_array_get(a, 0), "email"), "alice@example.com");
	tc_assert_json_eq(json_object_get(json_array_get(a, 0), "commits"), "2");
	assert_string_equal(tc_str(json_array_get(a, 1), "name"), "Bob Roe");
	tc_assert_json_eq(json_object_get(json_array_get(a, 1), "commits"), "1");
	tc_assert_json_eq(json_object_get(d, "owners"), "[\"alice@example.com\", \"bob@example.com\"]");
	assert_string_equal(tc_str(tc_prop(d, "dbt"), "project"), "jaffle_shop");
	json_decref(d);

	/* a staging model: columns, description, materialization, file, last commit, tests */
	d = tc_entity(cat, ds("warehouse.analytics.stg_orders"));
	assert_string_equal(tc_str(d, "kind"), "dataset");
	assert_string_equal(tc_str(d, "platform"), "postgres");
	assert_string_equal(tc_str(d, "subtype"), "view");
	assert_string_equal(tc_str(d, "description"), "Orders, cleaned up.");
	tc_assert_json_eq(tc_prop(d, "dbt_resource_type"), "\"model\"");
	tc_assert_json_eq(tc_prop(d, "dbt_materialized"), "\"view\"");
	tc_assert_json_eq(tc_prop(d, "dbt_unique_id"), "\"model.jaffle_shop.stg_orders\"");
	tc_assert_json_eq(tc_prop(d, "dbt_path"), "\"models/staging/stg_orders.sql\"");
	assert_string_equal(tc_str(tc_prop(d, "dbt_last_commit"), "id"), commit1);
	assert_string_equal(tc_str(tc_prop(d, "dbt_last_commit"), "author"), "Alice Doe");
	assert_string_equal(json_string_value(tc_prop(d, "dbt_repository")), repo_id());
	assert_int_equal(json_array_size(json_object_get(d, "fields")), 4);
	assert_string_equal(tc_str(tc_field(d, "order_id"), "type"), "integer");
	assert_string_equal(tc_str(tc_field(d, "order_id"), "description"), "Primary key of an order");
	assert_string_equal(tc_str(tc_field(d, "status"), "description"),
			    "placed, shipped, completed, returned");
	test_names(d, names, sizeof(names));
	assert_string_equal(names, "not_null_stg_orders_order_id,unique_stg_orders_order_id");
	assert_string_equal(tc_str(json_array_get(tc_prop(d, "dbt_tests"), 1), "type"), "unique");
	assert_string_equal(tc_str(json_array_get(tc_prop(d, "dbt_tests"), 1), "column"), "order_id");
	/* lineage: source -> job -> stg_orders -> jobs of the marts */
	assert_true(linked(d, "upstream", job("analytics", "stg_orders")));
	assert_true(linked(d, "downstream", job("analytics", "customers")));
	assert_true(linked(d, "downstream", job("analytics", "orders")));
	json_decref(d);

	/* the mart: an alias, tags, a meta owner, Bob's commit, the web URL */
	d = tc_entity(cat, ds("warehouse.analytics.dim_customers"));
	assert_string_equal(tc_str(d, "subtype"), "table");
	assert_string_equal(tc_str(d, "description"), "One row per customer, with order counts.");
	tc_assert_json_eq(json_object_get(d, "tags"), "[\"finance\"]");
	tc_assert_json_eq(json_object_get(d, "owners"), "[\"analytics@example.com\"]");
	assert_string_equal(tc_str(tc_prop(d, "dbt_last_commit"), "id"), commit2);
	assert_string_equal(tc_str(tc_prop(d, "dbt_last_commit"), "author"), "Bob Roe");
	snprintf(want, sizeof(want), "https://git.example.com/shop/blob/%s/models/marts/customers.sql",
		 commit2);
	assert_string_equal(json_string_value(tc_prop(d, "dbt_url")), want);
	assert_string_equal(tc_str(tc_field(d, "number_of_orders"), "type"), "bigint");
	assert_string_equal(tc_str(tc_field(d, "number_of_orders"), "description"), "Orders placed so far");
	test_names(d, names, sizeof(names));
	assert_string_equal(names, "not_null_customers_customer_id");
	assert_true(linked(d, "upstream", job("analytics", "customers")));
	json_decref(d);

	/* the incremental model holds the relationships test and the singular one */
	d = tc_entity(cat, ds("warehouse.analytics.orders"));
	tc_assert_json_eq(tc_prop(d, "dbt_materialized"), "\"incremental\"");
	test_names(d, names, sizeof(names));
	assert_string_equal(names, "assert_no_future_orders,relationships_orders_customer_id__"
				   "customer_id__ref_customers_");
	assert_string_equal(tc_str(json_array_get(tc_prop(d, "dbt_tests"), 0), "type"), "singular");
	json_decref(d);

	/* the jobs: upstream datasets in, the model out */
	d = tc_entity(cat, job("analytics", "customers"));
	assert_string_equal(tc_str(d, "platform"), "dbt");
	assert_string_equal(tc_str(d, "display_name"), "customers");
	assert_true(linked(d, "upstream", ds("warehouse.analytics.stg_orders")));
	assert_true(linked(d, "upstream", ds("warehouse.analytics.stg_customers")));
	assert_true(linked(d, "downstream", ds("warehouse.analytics.dim_customers")));
	tc_assert_json_eq(json_object_get(d, "upstream_total"), "2");
	json_decref(d);
	d = tc_entity(cat, job("analytics", "stg_customers"));
	assert_true(linked(d, "upstream", ds("warehouse.raw.raw_customers")));
	assert_true(linked(d, "upstream", ds("warehouse.analytics.country_codes")));
	json_decref(d);
	d = tc_entity(cat, job("snapshots", "orders_snapshot"));
	assert_true(linked(d, "upstream", ds("warehouse.raw.orders")));
	assert_true(linked(d, "downstream", ds("warehouse.snapshots.orders_snapshot")));
	json_decref(d);

	/* sources: named by identifier, with their tests */
	d = tc_entity(cat, ds("warehouse.raw.orders"));
	tc_assert_json_eq(tc_prop(d, "dbt_resource_type"), "\"source\"");
	tc_assert_json_eq(tc_prop(d, "dbt_source_name"), "\"shop_raw\"");
	tc_assert_json_eq(tc_prop(d, "dbt_loader"), "\"shop-app\"");
	assert_string_equal(tc_str(d, "description"), "One row per order, as the application writes it.");
	assert_string_equal(tc_str(tc_field(d, "user_id"), "description"), "Who ordered");
	test_names(d, names, sizeof(names));
	assert_string_equal(names, "source_not_null_shop_raw_orders_id");
	assert_true(linked(d, "downstream", job("analytics", "stg_orders")));
	assert_true(linked(d, "downstream", job("snapshots", "orders_snapshot")));
	/* dbt cannot say what a source is (table, view, ...): no subtype */
	assert_true(!json_is_string(json_object_get(d, "subtype")) ||
		    json_string_length(json_object_get(d, "subtype")) == 0);
	json_decref(d);
	d = tc_entity(cat, ds("warehouse.raw.raw_customers"));
	assert_string_equal(tc_str(d, "description"), "Customer accounts.");
	json_decref(d);
	d = tc_entity(cat, ds("warehouse.analytics.country_codes"));
	tc_assert_json_eq(tc_prop(d, "dbt_resource_type"), "\"seed\"");
	assert_string_equal(tc_str(tc_field(d, "code"), "description"), "ISO 3166 alpha-2");
	assert_string_equal(tc_str(tc_prop(d, "dbt_last_commit"), "id"), commit1);
	json_decref(d);

	/* tests are not datasets */
	d = NULL;
	assert_int_equal(catalog_entity_get(cat, ds("warehouse.analytics_dbt_test__audit."
						     "unique_stg_orders_order_id"), &d),
			 CATALOG_ENOTFOUND);

	/* the tile */
	num = json_object_get(json_object_get(batch, "tile"), "numbers");
	assert_string_equal(tc_str(json_object_get(batch, "tile"), "status"), "up");
	tc_assert_json_eq(json_object_get(num, "repositories"), "1");
	tc_assert_json_eq(json_object_get(num, "branches"), "2");
	tc_assert_json_eq(json_object_get(num, "commits"), "3");
	tc_assert_json_eq(json_object_get(num, "dbt models"), "4");
	tc_assert_json_eq(json_object_get(num, "sources"), "2");
	json_decref(batch);
	catalog_close(cat);
}

/* --- 2. a clone, then a fetch ------------------------------------------------------------- */

static void test_clone_then_fetch(void **state)
{
	char cfg[400], text[1024], path[600];
	const char *add[] = { "add", "models/marts/orders.sql", NULL };
	struct catalog *cat;
	struct stat st;
	json_t *d;
	(void)state;

	snprintf(cfg, sizeof(cfg), "%s/clone.lua", td.dir);
	snprintf(text, sizeof(text),
		 "plugins = { git = { timeout = 50, git_timeout = 20,\n"
		 "  repos = { { url = \"file://%s\", dir = \"shop\" } },\n"
		 "  dbt = { namespace = \"%s\" } } }\n",
		 repo, NS);
	tc_write_file(cfg, text);
	long long t0 = tc_now_ms();
	assert_int_equal(collect(cfg, NULL, NULL), 0);
	fprintf(stderr, "git collect (clone): %lld ms\n", tc_now_ms() - t0);
	snprintf(path, sizeof(path), "%s/plugins/lua_git/clones/shop/HEAD", td.data_dir);
	assert_int_equal(stat(path, &st), 0);

	cat = tc_open_catalog(td.data_dir);
	/* a file:// URL names the repository it points at */
	d = tc_entity(cat, repo_id());
	assert_string_equal(json_string_value(tc_prop(d, "sync")), "cloned");
	assert_string_equal(json_string_value(tc_prop(d, "head_commit")), commit3);
	assert_string_equal(json_string_value(tc_prop(d, "default_branch")), "main");
	tc_assert_json_eq(tc_prop(d, "branch_count"), "2");
	assert_false(json_is_true(json_object_get(d, "stale")));
	json_decref(d);
	d = tc_entity(cat, ds("warehouse.analytics.orders"));
	assert_string_equal(tc_str(tc_prop(d, "dbt_last_commit"), "id"), commit1);
	json_decref(d);
	catalog_close(cat);

	/* Bob changes a model upstream; the next run fetches it */
	snprintf(path, sizeof(path), "%s/models/marts/orders.sql", repo);
	tc_write_file(path, "select order_id, customer_id from {{ ref('stg_orders') }}\n");
	git_in(repo, NULL, NULL, add);
	commit_as("Bob Roe <bob@example.com>", "2024-09-04T10:00:00Z", "Slim the orders mart",
		  commit4);
	assert_int_equal(collect(cfg, NULL, NULL), 0);
	cat = tc_open_catalog(td.data_dir);
	d = tc_entity(cat, repo_id());
	assert_string_equal(json_string_value(tc_prop(d, "sync")), "fetched");
	assert_string_equal(json_string_value(tc_prop(d, "head_commit")), commit4);
	assert_string_equal(tc_str(json_array_get(tc_prop(d, "recent_commits"), 0), "summary"),
			    "Slim the orders mart");
	json_decref(d);
	d = tc_entity(cat, ds("warehouse.analytics.orders"));
	assert_string_equal(tc_str(tc_prop(d, "dbt_last_commit"), "id"), commit4);
	assert_string_equal(tc_str(tc_prop(d, "dbt_last_commit"), "author"), "Bob Roe");
	json_decref(d);
	d = tc_entity(cat, ds("warehouse.analytics.dim_customers"));
	assert_string_equal(tc_str(tc_prop(d, "dbt_last_commit"), "id"), commit2);
	json_decref(d);
	catalog_close(cat);
}

/* --- 3. bad input ------------------------------------------------------------------------------ */

/* A run of config TEXT fails within LIMIT_MS, naming WANT on stderr, and
 * leaves the catalog as it was. */
static void fails_cleanly(const char *name, const char *text, const char *want, long limit_ms)
{
	char cfg[400];
	char *before, *after, *errtext = NULL;

	snprintf(cfg, sizeof(cfg), "%s/%s.lua", td.dir, name);
	tc_write_file(cfg, text);
	before = tc_export_text(td.data_dir);
	long long t0 = tc_now_ms();
	td.quiet = 1;
	int rc = collect(cfg, NULL, &errtext);
	td.quiet = 0;
	if (rc != 1)
		fail_msg("%s: exited %d, not 1:\n%s", name, rc, errtext ? errtext : "");
	long long took = tc_now_ms() - t0;
	assert_non_null(errtext);
	if (!strstr(errtext, want))
		fail_msg("%s: the failure does not say '%s':\n%s", name, want, errtext);
	if (took > limit_ms)
		fail_msg("%s: took %lld ms (limit %ld)", name, took, limit_ms);
	free(errtext);
	after = tc_export_text(td.data_dir);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

/* How many clones the data directory holds. */
static int clone_count(void)
{
	char path[400];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/plugins/lua_git/clones", td.data_dir);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void test_bad_input(void **state)
{
	char text[2048], want[600], bad[400], path[500];
	const char *init[] = { "init", "-q", "-b", "main", NULL };
	const char *add[] = { "add", "-A", ".", NULL };
	char id[41];
	int lfd;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t salen = sizeof(sa);
	(void)state;

	/* a path that is no repository */
	snprintf(text, sizeof(text),
		 "plugins = { git = { repos = { { path = \"%s/nope\" } } } }\n", td.dir);
	snprintf(want, sizeof(want), "failed: git: %s/nope: cannot open repository '%s/nope': ",
		 td.dir, td.dir);
	fails_cleanly("missing", text, want, 10000);

	/* a dbt project whose manifest is not JSON */
	snprintf(bad, sizeof(bad), "%s/badjson", td.dir);
	assert_int_equal(mkdir(bad, 0700), 0);
	snprintf(path, sizeof(path), "%s/target", bad);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/dbt_project.yml", bad);
	tc_write_file(path, "name: 'broken'\nversion: '1.0.0'\n");
	snprintf(path, sizeof(path), "%s/target/manifest.json", bad);
	tc_write_file(path, "{\"metadata\": {\"dbt_schema_version\": \"https://schemas.getdbt.com/dbt/"
			 "manifest/v12.json\"}, \"nodes\": {\"model.broken.a\": {\"resource_ty");
	git_in(bad, NULL, NULL, init);
	git_in(bad, NULL, NULL, add);
	const char *commit[] = { "commit", "-q", "-m", "broken manifest", NULL };
	git_in(bad, "Carol <carol@example.com>", NULL, commit);
	head_of(bad, id);
	snprintf(text, sizeof(text),
		 "plugins = { git = { repos = { { path = \"%s\" }, { path = \"%s\" } },\n"
		 "  dbt = { namespace = \"%s\" } } }\n", repo, bad, NS);
	snprintf(want, sizeof(want), "failed: git: %s: target/manifest.json is not JSON: ", bad);
	fails_cleanly("badjson", text, want, 10000);

	/* a URL with no repository behind it */
	snprintf(text, sizeof(text),
		 "plugins = { git = { repos = { { url = \"file://%s/none.git\" } } } }\n", td.dir);
	snprintf(want, sizeof(want), "failed: git: file://%s/none.git: cannot clone: ", td.dir);
	fails_cleanly("nourl", text, want, 10000);
	/* ...and no half-made clone left behind */
	assert_int_equal(clone_count(), 1);

	/* a server that accepts the connection and never answers: the run stops at
	 * git_timeout */
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 8), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &salen), 0);
	snprintf(text, sizeof(text),
		 "plugins = { git = { git_timeout = 2, repos = { { url = "
		 "\"http://127.0.0.1:%d/shop.git\", dir = \"silent\" } } } }\n", ntohs(sa.sin_port));
	snprintf(want, sizeof(want), "cannot clone: timeout after 2 s (clone http://127.0.0.1:%d/"
				     "shop.git)", ntohs(sa.sin_port));
	fails_cleanly("silent", text, want, 8000);
	close(lfd);
	assert_int_equal(clone_count(), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_repository_by_path),
		cmocka_unit_test(test_clone_then_fetch),
		cmocka_unit_test(test_bad_input),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
