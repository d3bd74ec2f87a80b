/*
 * gen_catalog: write a synthetic catalog as JSON lines for `terrarium import`.
 *
 *   cc -std=c11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -o gen_catalog gen_catalog.c
 *   gen_catalog [-n ENTITIES] [-e EDGES] [-s SEED] [-m META] [-q QUERIES] > catalog.jsonl
 *
 * Deterministic: the same flags give the same bytes.  Defaults: 1,000,000
 * entities, 2,000,000 edges, seed 42.
 *
 * What it writes, in order: every entity line, then every edge line.
 *
 *  - Entities across five platforms, named the OpenLineage way:
 *      40% PostgreSQL tables   dataset:postgres://pg-3.prod.internal:5432:shop.public.orders_123
 *      20% Kafka topics        dataset:kafka://broker-1.prod.internal:9092:payments.refund_issued-77
 *       8% Redis keyspaces and streams   dataset:redis://cache-0.prod.internal:6379:0/session:12:*
 *      12% MLflow model versions         model:mlflow://mlflow-1.prod.internal:5000:models/churn_9/3
 *      20% Airflow tasks (jobs)          job:airflow://airflow-2.prod.internal:etl_orders_12.load_orders_120
 *    Datasets and models carry typed fields (tables about 14, topics 12, models 12,
 *    Redis 6, tasks none: about 10 per entity overall), half have a description, a
 *    quarter of fields have one, 20% have tags and 30% owners, and a few properties.
 *
 *  - Lineage edges forming a layered DAG, dataset -> job -> dataset: datasets sit on
 *    layers 0..L-1, a job on layer l reads datasets of layers <= l and writes
 *    datasets of layer l+1, so there is no cycle.  One read in ten goes to one of
 *    a thousand "hub" datasets, skewed so a few hubs feed thousands of jobs.
 *
 *  - A "neighbourhood": the last NEIGH_NODES entities form a separate component,
 *    a tree (plus cross edges) of alternating tables and tasks around one root
 *    table, so that lineage of the root at depth 4 in both directions is exactly
 *    NEIGH_NODES nodes.  It is what the SVG benchmark renders.
 *
 * META (if given) receives key=value lines: the neighbourhood root, a busy
 * dataset for the deep lineage benchmark, and the counts actually written.
 * QUERIES (if given) receives one search query a line: exact names, last name
 * segments, prefixes, column names and description words, all of entities that
 * exist in the catalog.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LAYERS 6
#define HUBS 1000
#define NEIGH_NODES 494   /* 1 + up (8, 32, 64, 128) + down (9, 36, 72, 144) */
#define NAME_MAX_LEN 256

enum etype { T_PG, T_KAFKA, T_REDIS, T_MLFLOW, T_AIRFLOW };

static uint64_t seed = 42;

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* A hash of (entity, purpose): names and shapes are pure functions of the index. */
static uint64_t h2(uint64_t i, uint64_t salt)
{
	return mix64(mix64(seed ^ (salt * 0x1000193ULL)) ^ i);
}

struct rng {
	uint64_t s;
};

static uint64_t rnext(struct rng *r)
{
	r->s += 0x9e3779b97f4a7c15ULL;
	return mix64(r->s);
}

static uint32_t rbelow(struct rng *r, uint32_t n)
{
	return (uint32_t)(rnext(r) % n);
}

static double runit(struct rng *r)
{
	return (double)(rnext(r) >> 11) / 9007199254740992.0;
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *const pg_dbs[] = { "shop", "billing", "crm", "analytics", "inventory",
				      "auth", "logistics", "marketing" };
static const char *const pg_schemas[] = { "public", "staging", "mart", "raw", "reporting" };
static const char *const nouns[] = {
	"orders",    "customers", "payments",   "invoices", "shipments",     "products",
	"sessions",  "events",    "refunds",    "subscriptions", "accounts", "addresses",
	"line_items", "carts",    "reviews",    "coupons",  "suppliers",     "warehouses",
	"returns",   "campaigns", "clicks",     "impressions", "tickets",    "users",
	"devices",   "transfers", "ledger",     "balances", "prices",        "stock_levels",
};
static const char *const kafka_domains[] = { "payments", "orders", "users", "inventory",
					     "shipping", "fraud", "notifications", "search" };
static const char *const kafka_events[] = { "created", "updated", "deleted", "refund_issued",
					    "charge_failed", "status_changed", "viewed",
					    "scored", "dispatched", "delivered" };
static const char *const redis_prefixes[] = { "session", "cart", "ratelimit", "feature_flags",
					      "user_profile", "leaderboard", "orders", "cache" };
static const char *const ml_models[] = { "churn", "fraud_score", "ltv", "recommendations",
					 "demand_forecast", "eta", "spam_filter", "price_elasticity" };
static const char *const af_verbs[] = { "extract", "load", "transform", "aggregate", "dedupe",
					"validate", "publish", "train", "score", "snapshot" };

struct col {
	const char *name, *pg, *avro, *desc;
};
/* Column vocabulary: name, PostgreSQL type, Avro type, description. */
static const struct col cols[] = {
	{ "customer_id", "bigint", "long", "Customer who placed it, references customers.id" },
	{ "order_id", "bigint", "long", "Order this row belongs to" },
	{ "created_at", "timestamptz", "long", "When the row was created, UTC" },
	{ "updated_at", "timestamptz", "long", "When the row last changed, UTC" },
	{ "amount", "numeric(12,2)", "double", "Amount in the account currency" },
	{ "currency", "char(3)", "string", "ISO 4217 currency code" },
	{ "status", "text", "string", "Lifecycle state" },
	{ "email", "text", "string", "Contact email address (PII)" },
	{ "phone", "text", "string", "Contact phone number (PII)" },
	{ "country", "char(2)", "string", "ISO 3166 country code" },
	{ "city", "text", "string", NULL },
	{ "postal_code", "text", "string", NULL },
	{ "product_id", "bigint", "long", "Product, references products.id" },
	{ "sku", "text", "string", "Stock keeping unit" },
	{ "quantity", "integer", "int", NULL },
	{ "unit_price", "numeric(12,2)", "double", NULL },
	{ "discount", "numeric(5,2)", "double", "Discount applied, percent" },
	{ "tax", "numeric(12,2)", "double", NULL },
	{ "payment_method", "text", "string", "card, transfer, wallet" },
	{ "card_last4", "char(4)", "string", "Last four digits of the card (PII)" },
	{ "ip_address", "inet", "string", "Client IP address (PII)" },
	{ "user_agent", "text", "string", NULL },
	{ "session_id", "uuid", "string", "Web session" },
	{ "device_id", "uuid", "string", NULL },
	{ "is_active", "boolean", "boolean", NULL },
	{ "is_deleted", "boolean", "boolean", "Soft delete marker" },
	{ "source_system", "text", "string", "System the row was ingested from" },
	{ "batch_id", "bigint", "long", "Load batch that wrote the row" },
	{ "event_time", "timestamptz", "long", "When the event happened" },
	{ "event_type", "text", "string", NULL },
	{ "payload", "jsonb", "string", "Raw event payload" },
	{ "score", "double precision", "double", "Model score between 0 and 1" },
	{ "label", "text", "string", NULL },
	{ "region", "text", "string", "Sales region" },
	{ "warehouse_id", "integer", "int", NULL },
	{ "supplier_id", "integer", "int", NULL },
	{ "shipped_at", "timestamptz", "long", NULL },
	{ "delivered_at", "timestamptz", "long", NULL },
	{ "tracking_number", "text", "string", "Carrier tracking number" },
	{ "carrier", "text", "string", NULL },
	{ "first_name", "text", "string", "Given name (PII)" },
	{ "last_name", "text", "string", "Family name (PII)" },
	{ "birth_date", "date", "int", "Date of birth (PII)" },
	{ "signup_date", "date", "int", NULL },
	{ "plan", "text", "string", "Subscription plan" },
	{ "mrr", "numeric(12,2)", "double", "Monthly recurring revenue" },
	{ "churned_at", "timestamptz", "long", NULL },
	{ "campaign_id", "bigint", "long", NULL },
	{ "utm_source", "text", "string", NULL },
	{ "utm_medium", "text", "string", NULL },
	{ "clicks", "integer", "int", NULL },
	{ "impressions", "integer", "int", NULL },
	{ "revenue", "numeric(14,2)", "double", "Recognised revenue" },
	{ "cost", "numeric(14,2)", "double", NULL },
	{ "balance", "numeric(14,2)", "double", "Balance after the transaction" },
	{ "account_id", "bigint", "long", "Account, references accounts.id" },
	{ "ticket_id", "bigint", "long", NULL },
	{ "priority", "smallint", "int", NULL },
	{ "assignee", "text", "string", NULL },
	{ "notes", "text", "string", "Free text" },
};
static const char *const desc_adj[] = { "Daily", "Hourly", "Raw", "Cleaned", "Deduplicated",
					"Aggregated", "Incremental", "Curated", "Partitioned",
					"Historical" };
static const char *const desc_what[] = { "snapshot of", "feed of", "ledger of", "export of",
					 "rollup of", "audit trail of", "staging copy of",
					 "features derived from" };
static const char *const desc_why[] = { "for finance reporting", "used by the churn model",
					"for the GDPR deletion job", "consumed by the BI dashboards",
					"for fraud detection", "kept for seven years",
					"refreshed by the nightly ETL", "for the marketing team" };
static const char *const tags[] = { "pii", "gold", "silver", "bronze", "finance", "gdpr",
				    "deprecated", "critical", "marketing", "ml-feature" };
static const char *const owners[] = { "team-data-platform", "team-growth", "team-payments",
				      "team-ml", "alice", "bob", "carol", "dave", "erin",
				      "frank", "grace", "heidi" };

static uint32_t n_entities = 1000000;
static uint64_t n_edges = 2000000;
static unsigned char *types; /* enum etype per entity */

static FILE *out;

static void die(const char *what)
{
	fprintf(stderr, "gen_catalog: %s: %s\n", what, strerror(errno ? errno : EIO));
	exit(1);
}

/* Write a JSON string literal; S is ASCII from the tables above, escaped anyway. */
static void jstr(const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static const char *pick(const char *const *a, size_t n, uint64_t h)
{
	return a[h % n];
}

static const char *kind_of(uint32_t i)
{
	switch (types[i]) {
	case T_AIRFLOW: return "job";
	case T_MLFLOW: return "model";
	default: return "dataset";
	}
}

/* Namespace and name of entity I, pure functions of I (and the seed). */
static void ns_name(uint32_t i, char *ns, size_t nslen, char *name, size_t namelen)
{
	uint64_t h = h2(i, 1), k = (h >> 40) % 6;
	const char *noun = pick(nouns, COUNT(nouns), h >> 8);

	switch (types[i]) {
	case T_PG:
		snprintf(ns, nslen, "postgres://pg-%u.prod.internal:5432", (unsigned)k);
		snprintf(name, namelen, "%s.%s.%s_%u", pick(pg_dbs, COUNT(pg_dbs), h >> 16),
			 pick(pg_schemas, COUNT(pg_schemas), h >> 24), noun, i);
		break;
	case T_KAFKA:
		snprintf(ns, nslen, "kafka://broker-%u.prod.internal:9092", (unsigned)(k % 3));
		snprintf(name, namelen, "%s.%s-%u",
			 pick(kafka_domains, COUNT(kafka_domains), h >> 16),
			 pick(kafka_events, COUNT(kafka_events), h >> 24), i);
		break;
	case T_REDIS:
		snprintf(ns, nslen, "redis://cache-%u.prod.internal:6379", (unsigned)(k % 4));
		if (h & 1)
			snprintf(name, namelen, "%u/%s:%u:*", (unsigned)((h >> 4) % 4),
				 pick(redis_prefixes, COUNT(redis_prefixes), h >> 16), i);
		else
			snprintf(name, namelen, "%u/%s:stream:%u", (unsigned)((h >> 4) % 4),
				 pick(redis_prefixes, COUNT(redis_prefixes), h >> 16), i);
		break;
	case T_MLFLOW:
		snprintf(ns, nslen, "mlflow://mlflow-%u.prod.internal:5000", (unsigned)(k % 2));
		snprintf(name, namelen, "models/%s_%u/%u", pick(ml_models, COUNT(ml_models), h >> 16),
			 i, (unsigned)(1 + (h >> 24) % 9));
		break;
	default:
		snprintf(ns, nslen, "airflow://airflow-%u.prod.internal", (unsigned)(k % 3));
		snprintf(name, namelen, "etl_%s_%u.%s_%s_%u", noun, i / 8,
			 pick(af_verbs, COUNT(af_verbs), h >> 16), noun, i);
		break;
	}
}

static void id_of(uint32_t i, char *id, size_t idlen)
{
	char ns[NAME_MAX_LEN], name[NAME_MAX_LEN];

	ns_name(i, ns, sizeof(ns), name, sizeof(name));
	snprintf(id, idlen, "%s:%s:%s", kind_of(i), ns, name);
}

static uint64_t fields_written;

static void write_fields(uint32_t i, struct rng *r)
{
	unsigned nf;
	unsigned char idx[COUNT(cols)];

	switch (types[i]) {
	case T_PG: nf = 8 + rbelow(r, 13); break;     /* 8..20, mean 14 */
	case T_KAFKA: nf = 6 + rbelow(r, 13); break;  /* 6..18, mean 12 */
	case T_REDIS: nf = 3 + rbelow(r, 7); break;   /* 3..9, mean 6 */
	case T_MLFLOW: nf = 6 + rbelow(r, 13); break; /* 6..18, mean 12 */
	default: return;
	}
	for (unsigned k = 0; k < COUNT(cols); k++)
		idx[k] = (unsigned char)k;
	fputs(",\"fields\":[", out);
	/* The first is the key column; the rest a partial shuffle of the vocabulary. */
	fprintf(out, "{\"name\":\"id\",\"type\":\"%s\",\"nullable\":false,\"ordinal\":1,"
		     "\"description\":\"Primary key\"}",
		types[i] == T_PG ? "bigint" : types[i] == T_MLFLOW ? "long" : "string");
	for (unsigned k = 1; k < nf; k++) {
		unsigned j = k - 1 + rbelow(r, (uint32_t)(COUNT(cols) - (k - 1)));
		unsigned char t = idx[k - 1];
		const struct col *c;

		idx[k - 1] = idx[j];
		idx[j] = t;
		c = &cols[idx[k - 1]];
		fputs(",{\"name\":", out);
		jstr(c->name);
		fputs(",\"type\":", out);
		jstr(types[i] == T_PG ? c->pg : c->avro);
		fprintf(out, ",\"nullable\":%s,\"ordinal\":%u", rbelow(r, 3) ? "true" : "false",
			k + 1);
		if (c->desc && rbelow(r, 2) == 0) {
			fputs(",\"description\":", out);
			jstr(c->desc);
		}
		fputc('}', out);
	}
	fputc(']', out);
	fields_written += nf;
}

static const char *subtype_of(uint32_t i)
{
	uint64_t h = h2(i, 1);

	switch (types[i]) {
	case T_PG: return (h >> 50) % 5 == 0 ? "view" : "table";
	case T_KAFKA: return "topic";
	case T_REDIS: return (h & 1) ? "keyspace" : "stream";
	case T_MLFLOW: return "model_version";
	default: return "task";
	}
}

static void write_entity(uint32_t i)
{
	char ns[NAME_MAX_LEN], name[NAME_MAX_LEN];
	struct rng r = { h2(i, 2) };
	const char *kind = kind_of(i);
	const char *seg;

	ns_name(i, ns, sizeof(ns), name, sizeof(name));
	seg = strrchr(name, '.');
	seg = seg && types[i] == T_PG ? seg + 1 : name;
	fputs("{\"type\":\"entity\",\"id\":", out);
	fprintf(out, "\"%s:%s:%s\",\"kind\":\"%s\",\"namespace\":", kind, ns, name, kind);
	jstr(ns);
	fputs(",\"name\":", out);
	jstr(name);
	fprintf(out, ",\"subtype\":\"%s\"", subtype_of(i));
	if (types[i] == T_PG) {
		fputs(",\"display_name\":", out);
		jstr(seg);
	}
	if (rbelow(&r, 2) == 0)
		fprintf(out, ",\"description\":\"%s %s %s %s\"",
			desc_adj[rbelow(&r, COUNT(desc_adj))], desc_what[rbelow(&r, COUNT(desc_what))],
			nouns[rbelow(&r, COUNT(nouns))], desc_why[rbelow(&r, COUNT(desc_why))]);
	switch (types[i]) {
	case T_PG:
		fprintf(out, ",\"properties\":{\"rows\":%u,\"bytes\":%u}", rbelow(&r, 50000000),
			rbelow(&r, 2000000000));
		break;
	case T_KAFKA:
		fprintf(out, ",\"properties\":{\"partitions\":%u,\"retention_ms\":%u}",
			1u << rbelow(&r, 6), 86400000u * (1 + rbelow(&r, 14)));
		break;
	case T_AIRFLOW:
		fprintf(out, ",\"properties\":{\"schedule\":\"%s\",\"retries\":%u}",
			rbelow(&r, 3) ? "@daily" : "@hourly", rbelow(&r, 4));
		break;
	case T_MLFLOW:
		fprintf(out, ",\"properties\":{\"stage\":\"%s\"}",
			rbelow(&r, 4) ? "Production" : "Staging");
		break;
	default:
		break;
	}
	if (rbelow(&r, 5) == 0) {
		unsigned a = rbelow(&r, COUNT(tags)), b = rbelow(&r, COUNT(tags));

		fprintf(out, ",\"tags\":[\"%s\"", tags[a]);
		if (b != a)
			fprintf(out, ",\"%s\"", tags[b]);
		fputc(']', out);
	}
	if (rbelow(&r, 10) < 3)
		fprintf(out, ",\"owners\":[\"%s\"]", owners[rbelow(&r, COUNT(owners))]);
	write_fields(i, &r);
	fputs("}\n", out);
}

static void write_edge(uint32_t src, uint32_t dst)
{
	char a[NAME_MAX_LEN * 2 + 64], b[NAME_MAX_LEN * 2 + 64];

	id_of(src, a, sizeof(a));
	id_of(dst, b, sizeof(b));
	fputs("{\"type\":\"edge\",\"src\":", out);
	jstr(a);
	fputs(",\"dst\":", out);
	jstr(b);
	fputs(",\"kind\":\"lineage\",\"source\":\"bench\"}\n", out);
}

/* --- the neighbourhood ------------------------------------------------------- */

static const unsigned neigh_up[] = { 8, 4, 2, 2 };   /* children per node, by level */
static const unsigned neigh_down[] = { 9, 4, 2, 2 };

/* Lay out one side of the tree: node indexes from *NEXT; edges written when
 * WRITE.  Level 1 nodes are jobs, level 2 datasets, and so on.  Downstream,
 * every job of level 3 also reads a second dataset of level 2 (a cross edge).
 * Returns the number of edges. */
static uint64_t neigh_side(uint32_t root, const unsigned *fan, int down, uint32_t *next, int write)
{
	uint32_t level[4][1024];
	unsigned n[4] = { 0 };
	uint64_t edges = 0;

	for (int l = 0; l < 4; l++) {
		unsigned parents = l ? n[l - 1] : 1;

		for (unsigned p = 0; p < parents; p++) {
			uint32_t parent = l ? level[l - 1][p] : root;

			for (unsigned c = 0; c < fan[l]; c++) {
				uint32_t node = (*next)++;

				level[l][n[l]++] = node;
				types[node] = (l % 2 == 0) ? T_AIRFLOW : T_PG;
				if (write) {
					if (down)
						write_edge(parent, node);
					else
						write_edge(node, parent);
				}
				edges++;
			}
		}
	}
	if (down) {
		/* Cross edges: job k of level 3 also reads dataset k+1 of level 2. */
		for (unsigned k = 0; k < n[2]; k++) {
			uint32_t ds = level[1][(k / fan[2] + 1) % n[1]];

			if (write)
				write_edge(ds, level[2][k]);
			edges++;
		}
	}
	return edges;
}

static uint64_t neigh(uint32_t root, int write)
{
	uint32_t next = root + 1;
	uint64_t e;

	types[root] = T_PG;
	e = neigh_side(root, neigh_up, 0, &next, write);
	e += neigh_side(root, neigh_down, 1, &next, write);
	if (next != n_entities) {
		fprintf(stderr, "gen_catalog: neighbourhood layout is %u nodes, expected %u\n",
			next - root, NEIGH_NODES);
		exit(1);
	}
	return e;
}

/* --- the random DAG ------------------------------------------------------------ */

struct pool {
	uint32_t *v;
	uint32_t n;
};

static void pool_push(struct pool *p, uint32_t x)
{
	p->v[p->n++] = x;
}

static int usage(void)
{
	fputs("usage: gen_catalog [-n ENTITIES] [-e EDGES] [-s SEED] [-m META] [-q QUERIES]\n",
	      stderr);
	return 2;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || end == s || *end ? -1 : 0;
}

int main(int argc, char **argv)
{
	const char *meta_path = NULL, *queries_path = NULL;
	struct pool layer[LAYERS] = { { 0 } }, jobs = { 0 };
	uint32_t *reads = NULL, *writes = NULL;
	uint32_t n_rand, root;
	uint64_t e_neigh, e_rand, e_done = 0, v;
	char outbuf[1 << 16];

	for (int a = 1; a < argc; a++) {
		if (a + 1 >= argc)
			return usage();
		if (!strcmp(argv[a], "-n") && !parse_u64(argv[a + 1], &v) && v <= 50000000)
			n_entities = (uint32_t)v;
		else if (!strcmp(argv[a], "-e") && !parse_u64(argv[a + 1], &v))
			n_edges = v;
		else if (!strcmp(argv[a], "-s") && !parse_u64(argv[a + 1], &v))
			seed = v;
		else if (!strcmp(argv[a], "-m"))
			meta_path = argv[a + 1];
		else if (!strcmp(argv[a], "-q"))
			queries_path = argv[a + 1];
		else
			return usage();
		a++;
	}
	if (n_entities < 20 * NEIGH_NODES) {
		fprintf(stderr, "gen_catalog: -n must be at least %u\n", 20 * NEIGH_NODES);
		return 2;
	}
	out = stdout;
	setvbuf(out, outbuf, _IOFBF, sizeof(outbuf));
	types = malloc(n_entities);
	reads = calloc(n_entities, sizeof(*reads));
	writes = calloc(n_entities, sizeof(*writes));
	if (!types || !reads || !writes)
		die("out of memory");
	n_rand = n_entities - NEIGH_NODES;
	root = n_rand;
	for (uint32_t i = 0; i < n_rand; i++) {
		unsigned p = (unsigned)(h2(i, 0) % 100);

		types[i] = p < 40 ? T_PG : p < 60 ? T_KAFKA : p < 68 ? T_REDIS : p < 80 ? T_MLFLOW
										 : T_AIRFLOW;
	}
	e_neigh = neigh(root, 0);
	if (n_edges < e_neigh) {
		fprintf(stderr, "gen_catalog: -e must be at least %" PRIu64 "\n", e_neigh);
		return 2;
	}
	e_rand = n_edges - e_neigh;

	/* Pools: datasets by layer (models too: they are trained outputs), jobs. */
	for (int l = 0; l < LAYERS; l++)
		if (!(layer[l].v = malloc(n_rand * sizeof(uint32_t))))
			die("out of memory");
	if (!(jobs.v = malloc(n_rand * sizeof(uint32_t))))
		die("out of memory");
	for (uint32_t i = 0; i < n_rand; i++) {
		if (types[i] == T_AIRFLOW)
			pool_push(&jobs, i);
		else
			pool_push(&layer[types[i] == T_MLFLOW ? LAYERS - 1 : h2(i, 3) % (LAYERS - 1)], i);
	}

	for (uint32_t i = 0; i < n_entities; i++)
		write_entity(i);

	/* Each job gets about e_rand / jobs edges: the exact share, plus or minus a
	 * deterministic swing that cancels between neighbouring jobs. */
	for (uint32_t jj = 0; jj < jobs.n; jj++) {
		uint32_t job = jobs.v[jj];
		uint64_t share = (jj + 1) * e_rand / jobs.n - jj * e_rand / jobs.n;
		int paired = !(jobs.n % 2 == 1 && jj + 1 == jobs.n);
		uint64_t k = share;
		unsigned l = jj % (LAYERS - 1);
		uint64_t n_out;
		uint32_t picked[256];
		unsigned np = 0;
		struct rng r = { h2(job, 5) };

		/* Both jobs of a pair draw the same swing, below half the smaller share. */
		if (paired && e_rand / jobs.n > 4) {
			uint64_t swing = h2(jj / 2, 4) % (e_rand / jobs.n / 2);

			k = jj % 2 == 0 ? share + swing : share - swing;
		}
		if (k > COUNT(picked))
			k = COUNT(picked);
		n_out = k * 2 / 5 ? k * 2 / 5 : 1;
		for (uint64_t e = 0; e < k; e++) {
			int out_edge = e < n_out;
			uint32_t ds;

			for (int tries = 0;; tries++) {
				if (out_edge) {
					struct pool *p = &layer[l + 1];

					ds = p->v[rbelow(&r, p->n)];
				} else if (rbelow(&r, 10) == 0) {
					/* A hub: skewed towards the first ones of layer 0. */
					double u = runit(&r);
					uint32_t hubs = layer[0].n < HUBS ? layer[0].n : HUBS;

					ds = layer[0].v[(uint32_t)(u * u * u * hubs)];
				} else {
					struct pool *p = &layer[rbelow(&r, l + 1)];

					ds = p->v[rbelow(&r, p->n)];
				}
				unsigned q;
				for (q = 0; q < np && picked[q] != ds; q++)
					;
				if (q == np || tries > 50)
					break;
			}
			picked[np++] = ds;
			if (out_edge) {
				write_edge(job, ds);
				writes[ds]++;
			} else {
				write_edge(ds, job);
				reads[ds]++;
			}
			e_done++;
		}
	}
	e_done += neigh(root, 1);
	if (fflush(out) != 0 || ferror(out))
		die("cannot write the catalog");

	if (queries_path) {
		FILE *q = fopen(queries_path, "w");
		char ns[NAME_MAX_LEN], name[NAME_MAX_LEN];
		static const enum etype want[] = { T_PG, T_KAFKA, T_AIRFLOW, T_MLFLOW, T_REDIS,
						   T_PG };
		unsigned found = 0;

		if (!q)
			die(queries_path);
		/* Exact names and last segments of a few entities of each platform. */
		for (uint32_t i = n_rand / 3; i < n_rand && found < COUNT(want); i += 7) {
			if (types[i] != want[found])
				continue;
			ns_name(i, ns, sizeof(ns), name, sizeof(name));
			fprintf(q, "%s\n", name);
			if (types[i] == T_PG) {
				const char *seg = strrchr(name, '.') + 1;
				char prefix[NAME_MAX_LEN];

				fprintf(q, "%s\n", seg);
				/* A prefix, as typed: the table noun and the first digits. */
				snprintf(prefix, sizeof(prefix), "%.*s", (int)(strlen(seg) - 2), seg);
				fprintf(q, "%s\n", prefix);
			}
			found++;
		}
		fputs("customer_id\ncreated_at\nemail\ntracking_number\n"
		      "refund\nchurn\ngdpr deletion\ndaily snapshot\n"
		      "shop orders\npayments refund_issued\nsess\nwareh\n", q);
		if (fclose(q) != 0)
			die(queries_path);
	}
	if (meta_path) {
		FILE *m = fopen(meta_path, "w");
		char id[NAME_MAX_LEN * 2 + 64];
		uint32_t busy = 0;
		int best = -1;

		if (!m)
			die(meta_path);
		/* The busy node: a hub source table read by about fifty jobs (below
		 * the default hop cap of 100, so its lineage is complete), whose
		 * downstream fans out for several hops. */
		for (uint32_t k = 0; k < layer[0].n && k < HUBS; k++) {
			uint32_t d = layer[0].v[k];
			int score = 1000000 - abs((int)reads[d] - 50);

			if (score > best) {
				best = score;
				busy = d;
			}
		}
		id_of(root, id, sizeof(id));
		fprintf(m, "neighbourhood_root=%s\nneighbourhood_nodes=%u\nneighbourhood_depth=4\n",
			id, NEIGH_NODES);
		id_of(busy, id, sizeof(id));
		fprintf(m, "busy_node=%s\nbusy_node_reads=%u\nbusy_node_writes=%u\n", id,
			reads[busy], writes[busy]);
		fprintf(m, "entities=%u\nedges=%" PRIu64 "\nfields=%" PRIu64 "\njobs=%u\nseed=%" PRIu64
			   "\n", n_entities, e_done, fields_written, jobs.n, seed);
		if (fclose(m) != 0)
			die(meta_path);
	}
	fprintf(stderr, "gen_catalog: %u entities, %" PRIu64 " edges, %" PRIu64 " fields\n",
		n_entities, e_done, fields_written);
	for (int l = 0; l < LAYERS; l++)
		free(layer[l].v);
	free(jobs.v);
	free(types);
	free(reads);
	free(writes);
	return 0;
}
