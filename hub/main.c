/*
 * terrarium: the command line.
 *
 *   terrarium serve [--config FILE] [--listen HOST:PORT] [--data DIR] [--log-level L]
 *   terrarium token create --scope read|write|ingest|admin [--label TEXT] [--data DIR]
 *   terrarium search QUERY [--kind K] [--platform P] [--limit N] [--json] [--data DIR]
 *   terrarium lineage ID [--depth N] [--direction D] [--format json|svg|dot] [--data DIR]
 *   terrarium export [--output FILE] [--data DIR]
 *   terrarium import [FILE|-] [--data DIR]
 *   terrarium collect NAME [--dry-run] [--json] [--config FILE] [--data DIR]
 *   terrarium plugin new NAME [--dir DIR]
 *   terrarium plugin test FILE_test.lua [--config FILE]
 *   terrarium check [ID...] [--json] [--config FILE]
 *
 * Exit status: 0 success, 1 failure, 2 bad usage or bad config.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <malloc.h>
#include <sqlite3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "catalog/lineage.h"
#include "catalog/search.h"
#include "hub/api.h"
#include "hub/auth.h"
#include "hub/collector.h"
#include "hub/config.h"
#include "hub/health.h"
#include "hub/http.h"
#include "hub/log.h"
#include "hub/plugins.h"
#include "hub/render.h"
#include "hub/sched.h"
#include "hub/services.h"

#define TERRARIUM_VERSION "0.1.0"
#define EXIT_USAGE 2

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* Options every command shares. */
struct common {
	const char *config;
	const char *data;
	const char *listen;
	const char *log_level;
};

static const char usage_main[] =
	"usage: terrarium COMMAND [OPTIONS]\n"
	"\n"
	"A data catalog, lineage graph and service dashboard in one process.\n"
	"\n"
	"commands:\n"
	"  serve          serve the UI and REST API (default http://127.0.0.1:8080)\n"
	"  token create   make an API token and print it once\n"
	"  search QUERY   search the catalog without a server\n"
	"  lineage ID     print an entity's lineage as JSON, SVG or DOT\n"
	"  export         write the whole catalog as JSON lines\n"
	"  import [FILE]  read JSON lines written by export (or batches) into the catalog\n"
	"  collect NAME   run Lua collector NAME once and print what it emitted\n"
	"  plugin new NAME        write a skeleton collector and its test\n"
	"  plugin test FILE       run a collector's tests (FILE is NAME_test.lua)\n"
	"  check [ID...]  run the configured services' health checks once and print them\n"
	"\n"
	"Every command takes --config FILE (a Lua config, see docs/configuration.md) and\n"
	"--data DIR (default ./data; overrides the config).  `terrarium COMMAND --help`\n"
	"explains each command.  Exit status: 0 ok, 1 failed, 2 bad usage or config.\n";

static const char usage_serve[] =
	"usage: terrarium serve [--config FILE] [--listen HOST:PORT] [--data DIR]\n"
	"                       [--log-level debug|info|warn|error]\n"
	"\n"
	"Serve the UI, the REST API (/api/v1), /metrics, /healthz and /readyz.  The\n"
	"catalog lives in DIR/catalog.db (created if missing).  --listen 127.0.0.1:0\n"
	"picks a free port and logs it.  Flags override the config file.  SIGTERM or\n"
	"SIGINT stops it: requests in flight finish, running collectors finish (each\n"
	"within its own timeout), and the catalog is closed cleanly.\n"
	"\n"
	"Lua collectors: every `plugins` entry of the config with a file NAME.lua in\n"
	"lua/collectors or DIR/collectors runs on its interval (docs/plugin-guide.md).\n";

static const char usage_token[] =
	"usage: terrarium token create --scope read|write|ingest|admin [--label TEXT]\n"
	"                              [--data DIR] [--config FILE]\n"
	"\n"
	"Make a token and print it once, alone on the last line.  The catalog keeps\n"
	"only its SHA-256.  Clients send it as 'Authorization: Bearer TOKEN'.  admin\n"
	"may do everything, write may also read, ingest may only submit samples.\n";

static const char usage_search[] =
	"usage: terrarium search QUERY [--kind K] [--platform P] [--tag T] [--owner O]\n"
	"                        [--limit N] [--offset N] [--json] [--data DIR]\n"
	"\n"
	"Search the catalog file directly (no server needed).  Prints one hit a line\n"
	"(id, then description), or the API's JSON with --json.\n";

static const char usage_lineage[] =
	"usage: terrarium lineage ID [--depth N] [--direction upstream|downstream|both]\n"
	"                        [--hop-cap N] [--format json|svg|dot] [--data DIR]\n"
	"\n"
	"Print the lineage graph around entity ID (default depth 3, both directions).\n";

static const char usage_export[] =
	"usage: terrarium export [--output FILE] [--data DIR]\n"
	"\n"
	"Write the whole catalog as JSON lines (to standard output by default):\n"
	"entities, edges, history and token hashes.  `terrarium import` reads it back\n"
	"and loses nothing.\n";

static const char usage_collect[] =
	"usage: terrarium collect NAME [--dry-run] [--json] [--config FILE] [--data DIR]\n"
	"\n"
	"Run the Lua collector NAME once, in the foreground and without a server, with\n"
	"its settings from the config's `plugins.NAME` (or none).  The file is\n"
	"lua/collectors/NAME.lua, or DIR/collectors/NAME.lua.  What it emits is\n"
	"written to the catalog as one snapshot (what it no longer reports turns\n"
	"stale) and the run is recorded, as a scheduled run would be.\n"
	"\n"
	"  --dry-run   write nothing to the catalog; only print\n"
	"  --json      print the batch (loadable by POST /api/v1/entities) with the\n"
	"              tile, metrics and log, instead of a summary\n"
	"\n"
	"The collector's log lines go to standard error as they happen.  Exit status\n"
	"1 when the run failed (the reason is on standard error), 2 for bad usage or\n"
	"an unknown collector.\n";

static const char usage_plugin[] =
	"usage: terrarium plugin new NAME [--dir DIR]\n"
	"       terrarium plugin test FILE_test.lua [--config FILE]\n"
	"\n"
	"new   write DIR/NAME.lua (DIR defaults to lua/collectors), a working collector\n"
	"      to start from, and DIR/NAME_test.lua, its test; refuses to overwrite.\n"
	"test  run a collector's test file: Lua in the collector sandbox where\n"
	"      run_collector{...} runs FILE.lua (the test's name without _test) and\n"
	"      returns what it emitted instead of writing it, with mock(), test(),\n"
	"      assert_eq(), assert_match() and expect_emit() (docs/plugin-guide.md).\n"
	"      Settings come from the config's `plugins.NAME` when --config is given.\n"
	"      Prints one line per test(); exit status 1 when any failed.\n";

static const char usage_check[] =
	"usage: terrarium check [ID...] [--json] [--config FILE]\n"
	"\n"
	"Run the health check of every service in the config's `services` (or of the\n"
	"services ID..., ids being the slugs of their names) once, now, and print one\n"
	"line each: id, status, latency, detail.  Nothing is recorded.  With --json,\n"
	"print [{\"id\", \"status\", \"latency_ms\", \"detail\"}] instead.  Exit status 1\n"
	"when a service checked is down, 2 for bad usage or an unknown ID.\n";

static const char usage_import[] =
	"usage: terrarium import [FILE|-] [--data DIR]\n"
	"\n"
	"Read JSON lines written by `terrarium export` (standard input by default)\n"
	"into the catalog.\n";

/* Parse the common options and command-specific ones.  Returns the index of
 * the first operand, or -1 after printing an error, or -2 for --help. */
struct cmd_opts {
	struct common c;
	const char *scope, *label, *kind, *platform, *tag, *owner, *format, *direction, *output;
	const char *dir;
	long depth, hop_cap, limit, offset;
	int json, dry_run;
};

static int parse_opts(int argc, char **argv, struct cmd_opts *o)
{
	enum { O_CONFIG = 1000, O_DATA, O_LISTEN, O_LOG, O_SCOPE, O_LABEL, O_KIND, O_PLATFORM,
	       O_TAG, O_OWNER, O_FORMAT, O_DIRECTION, O_DEPTH, O_HOPCAP, O_LIMIT, O_OFFSET,
	       O_JSON, O_OUTPUT, O_HELP, O_DRY_RUN, O_DIR };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, O_CONFIG },
		{ "data", required_argument, NULL, O_DATA },
		{ "listen", required_argument, NULL, O_LISTEN },
		{ "log-level", required_argument, NULL, O_LOG },
		{ "scope", required_argument, NULL, O_SCOPE },
		{ "label", required_argument, NULL, O_LABEL },
		{ "kind", required_argument, NULL, O_KIND },
		{ "platform", required_argument, NULL, O_PLATFORM },
		{ "tag", required_argument, NULL, O_TAG },
		{ "owner", required_argument, NULL, O_OWNER },
		{ "format", required_argument, NULL, O_FORMAT },
		{ "direction", required_argument, NULL, O_DIRECTION },
		{ "depth", required_argument, NULL, O_DEPTH },
		{ "hop-cap", required_argument, NULL, O_HOPCAP },
		{ "limit", required_argument, NULL, O_LIMIT },
		{ "offset", required_argument, NULL, O_OFFSET },
		{ "json", no_argument, NULL, O_JSON },
		{ "output", required_argument, NULL, O_OUTPUT },
		{ "help", no_argument, NULL, O_HELP },
		{ "dry-run", no_argument, NULL, O_DRY_RUN },
		{ "dir", required_argument, NULL, O_DIR },
		{ NULL, 0, NULL, 0 },
	};
	long *num = NULL;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_CONFIG: o->c.config = optarg; break;
		case O_DATA: o->c.data = optarg; break;
		case O_LISTEN: o->c.listen = optarg; break;
		case O_LOG: o->c.log_level = optarg; break;
		case O_SCOPE: o->scope = optarg; break;
		case O_LABEL: o->label = optarg; break;
		case O_KIND: o->kind = optarg; break;
		case O_PLATFORM: o->platform = optarg; break;
		case O_TAG: o->tag = optarg; break;
		case O_OWNER: o->owner = optarg; break;
		case O_FORMAT: o->format = optarg; break;
		case O_DIRECTION: o->direction = optarg; break;
		case O_OUTPUT: o->output = optarg; break;
		case O_JSON: o->json = 1; break;
		case O_DRY_RUN: o->dry_run = 1; break;
		case O_DIR: o->dir = optarg; break;
		case O_DEPTH: num = &o->depth; break;
		case O_HOPCAP: num = &o->hop_cap; break;
		case O_LIMIT: num = &o->limit; break;
		case O_OFFSET: num = &o->offset; break;
		case 'h':
		case O_HELP: return -2;
		default:
			fprintf(stderr, "terrarium: unknown or incomplete option '%s'\n",
				argv[optind - 1]);
			return -1;
		}
		if (num) {
			char *end;
			errno = 0;
			*num = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || *num < 0) {
				fprintf(stderr, "terrarium: '%s' is not a valid number for --%s\n",
					optarg, longopts[c - O_CONFIG].name);
				return -1;
			}
			num = NULL;
		}
	}
	return optind;
}

/* Load the config (if any) and apply the flags over it.  0, or EXIT_USAGE. */
static int load_config(const struct common *c, struct config *cfg)
{
	char err[512];
	config_init(cfg);
	if (c->config && config_load(cfg, c->config, err, sizeof(err)) < 0) {
		fprintf(stderr, "terrarium: %s\n", err);
		return EXIT_USAGE;
	}
	if (c->data) {
		free(cfg->data_dir);
		cfg->data_dir = strdup(c->data);
	}
	if (c->listen) {
		char host[256];
		int port;
		if (config_parse_listen(c->listen, host, sizeof(host), &port) < 0) {
			fprintf(stderr, "terrarium: --listen '%s': expected HOST:PORT\n", c->listen);
			return EXIT_USAGE;
		}
		free(cfg->listen);
		cfg->listen = strdup(c->listen);
	}
	if (c->log_level) {
		int lvl = log_level_parse(c->log_level);
		if (lvl < 0) {
			fprintf(stderr, "terrarium: --log-level '%s': expected debug, info, warn "
					"or error\n", c->log_level);
			return EXIT_USAGE;
		}
		cfg->log_level = lvl;
	}
	log_set_level((enum log_level)cfg->log_level);
	return 0;
}

/* Open DATA_DIR/catalog.db, creating the directory.  NULL after a message. */
static struct catalog *open_catalog(const struct config *cfg, int create)
{
	char path[4096], err[512];
	if (create && mkdir(cfg->data_dir, 0750) < 0 && errno != EEXIST) {
		fprintf(stderr, "terrarium: cannot create data directory '%s': %s\n", cfg->data_dir,
			strerror(errno));
		return NULL;
	}
	if (snprintf(path, sizeof(path), "%s/catalog.db", cfg->data_dir) >= (int)sizeof(path)) {
		fprintf(stderr, "terrarium: data directory path too long\n");
		return NULL;
	}
	if (!create && access(path, F_OK) < 0) {
		fprintf(stderr, "terrarium: no catalog at '%s' (is --data right?)\n", path);
		return NULL;
	}
	struct catalog *cat = catalog_open(path, err, sizeof(err));
	if (!cat)
		fprintf(stderr, "terrarium: %s\n", err);
	return cat;
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Where collectors are looked for: lua/collectors, then DATA_DIR/collectors.
 * DIRS gets NULL-terminated pointers into BUF. */
static void collector_dirs(const struct config *cfg, char *buf, size_t len, const char *dirs[3])
{
	snprintf(buf, len, "%s/collectors", cfg->data_dir);
	dirs[0] = "lua/collectors";
	dirs[1] = buf;
	dirs[2] = NULL;
}

static struct sched *make_sched(const struct config *cfg, struct catalog *cat,
				struct plugins *plugins, char *err, size_t errlen)
{
	char buf[4096];
	const char *dirs[3];

	collector_dirs(cfg, buf, sizeof(buf), dirs);
	struct sched_env env = {
		.cat = cat,
		.plugins = plugins,
		.plugins_cfg = cfg->plugins,
		.dirs = dirs,
	};
	return sched_create(&env, err, errlen);
}

/*
 * Wait a second (or for a signal); every fifth, give the memory that malloc
 * holds free back to the system once there are more than 8 MiB of it.  A
 * big answer (a lineage graph of tens of thousands of nodes is megabytes
 * of JSON built from small allocations) leaves its pages in the arena of
 * the HTTP thread that built it, and with 64 threads those add up: ten
 * lineage answers of 1.8 MB took the idle 1M-entity server from 28 to
 * 137 MiB.  malloc_trim() walks every arena and releases whole free pages.
 */
static void heap_tidy_wait(void)
{
	static unsigned ticks;
	struct timespec one = { 1, 0 };
	nanosleep(&one, NULL); /* a signal cuts it short */
	if (++ticks % 5 == 0 && mallinfo2().fordblks > (8u << 20))
		malloc_trim(0);
}

static int cmd_serve(int argc, char **argv)
{
	struct cmd_opts o = { 0 };
	struct config cfg;
	struct catalog *cat = NULL;
	struct http_server *srv = NULL;
	struct api api = { 0 };
	struct plugins *plugins = NULL;
	struct sched *sched = NULL;
	struct health *health = NULL;
	struct services svcs = { 0 };
	char err[512];
	int rc = 1;
	double t0 = mono_s();
	int first = parse_opts(argc, argv, &o);

	/*
	 * glibc raises its mmap threshold to the largest mmapped block freed, so
	 * after one search the multi-MB buffers FTS5 makes would come from, and
	 * stay in, the arenas of the HTTP threads that searched (tens of MB).  A
	 * fixed threshold keeps blocks of 128 KiB and more in mappings that free()
	 * returns (docs/benchmarks.md, reader RSS).
	 */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	/* SQLite's memory statistics take a global mutex on every allocation;
	 * nothing here reads them. */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	if (first == -2) {
		fputs(usage_serve, stdout);
		return 0;
	}
	if (first < 0 || first != argc) {
		if (first >= 0)
			fprintf(stderr, "terrarium: serve takes no operands\n");
		fputs(usage_serve, stderr);
		return EXIT_USAGE;
	}
	if ((rc = load_config(&o.c, &cfg)) != 0)
		goto out;
	rc = 1;
	cat = open_catalog(&cfg, 1);
	if (!cat)
		goto out;
	api.cat = cat;
	api.cfg = &cfg;
	api.started_at = t0;
	api.svg_cache = render_cache_create(256, 64 * 1024 * 1024);
	if (render_init(err, sizeof(err)) < 0)
		log_event(LOG_WARN, "lineage svg unavailable", "detail", err, NULL);
	struct http_options hopt = {
		.listen = cfg.listen,
		.tls_cert = cfg.tls_cert,
		.tls_key = cfg.tls_key,
		.threads = cfg.http_threads,
		.max_body = cfg.max_body,
		.anonymous_reads = cfg.anonymous_reads,
	};
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	srv = http_start(&hopt, cat, err, sizeof(err));
	if (!srv) {
		log_event(LOG_ERROR, "cannot start the server", "detail", err, NULL);
		goto out;
	}
	api.srv = srv;
	struct plugins_env penv = { .srv = srv, .cat = cat, .cfg = &cfg, .data_dir = cfg.data_dir };
	char plugdir[4096];
	plugins = plugins_create(&penv);
	if (!plugins) {
		log_event(LOG_ERROR, "out of memory starting plugins", NULL);
		goto out;
	}
	api.plugins = plugins;
	sched = make_sched(&cfg, cat, plugins, err, sizeof(err));
	if (!sched) {
		log_event(LOG_ERROR, "cannot start the collectors", "detail", err, NULL);
		goto out;
	}
	api.sched = sched;
	struct health_env henv = { .cat = cat, .services = cfg.services };
	health = health_create(&henv, err, sizeof(err));
	if (!health) {
		log_event(LOG_ERROR, "cannot start the health checks", "detail", err, NULL);
		goto out;
	}
	svcs.health = health;
	svcs.cfg = &cfg;
	svcs.cat = cat;
	svcs.plugins = plugins;
	svcs.sched = sched;
	api.health = health;
	if (services_register(srv, &svcs) < 0) {
		log_event(LOG_ERROR, "cannot register the services routes", NULL);
		goto out;
	}
	if (sched_http_register(sched, srv) < 0 || api_register(srv, &api) < 0) {
		log_event(LOG_ERROR, "cannot register routes", NULL);
		goto out;
	}
	plugins_load_builtin(plugins);
	snprintf(plugdir, sizeof(plugdir), "%s/plugins", cfg.data_dir);
	plugins_load_dir(plugins, plugdir);
	if (sched_start(sched) < 0 && sched_count(sched) > 0)
		log_event(LOG_ERROR, "cannot start the collector workers", NULL);
	if (health_start(health) < 0)
		log_event(LOG_ERROR, "cannot start the health checker threads", NULL);
	char addr[300], ms[32];
	char host[256];
	int port;
	config_parse_listen(cfg.listen, host, sizeof(host), &port);
	snprintf(addr, sizeof(addr), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, http_port(srv));
	snprintf(ms, sizeof(ms), "%.1f", (mono_s() - t0) * 1e3);
	log_event(LOG_INFO, "listening", "addr", addr, "url_scheme", cfg.tls_cert ? "https" : "http",
		  "data_dir", cfg.data_dir, "startup_ms", ms, "version", TERRARIUM_VERSION, NULL);
	while (!stop_requested)
		heap_tidy_wait();
	log_event(LOG_INFO, "stopping", "reason", "signal", NULL);
	rc = 0;
out:
	http_stop(srv);
	health_destroy(health);
	sched_destroy(sched);
	plugins_destroy(plugins);
	render_cache_destroy(api.svg_cache);
	catalog_close(cat);
	if (first >= 0)
		config_release(&cfg);
	if (rc == 0)
		log_event(LOG_INFO, "stopped", NULL);
	return rc;
}

static int cmd_token(int argc, char **argv)
{
	struct cmd_opts o = { 0 };
	struct config cfg;
	struct catalog *cat = NULL;
	int rc;
	int first = parse_opts(argc, argv, &o);
	if (first == -2) {
		fputs(usage_token, stdout);
		return 0;
	}
	if (first < 0 || first != argc - 1 || strcmp(argv[first], "create") != 0 || !o.scope) {
		if (first >= 0)
			fprintf(stderr, "terrarium: expected 'token create --scope SCOPE'\n");
		fputs(usage_token, stderr);
		return EXIT_USAGE;
	}
	enum auth_scope scope = auth_scope_parse(o.scope);
	if (scope == AUTH_NONE) {
		fprintf(stderr, "terrarium: --scope '%s': expected read, write, ingest or admin\n",
			o.scope);
		return EXIT_USAGE;
	}
	if ((rc = load_config(&o.c, &cfg)) != 0)
		return rc;
	rc = 1;
	char token[AUTH_TOKEN_LEN + 1];
	cat = open_catalog(&cfg, 1);
	if (!cat)
		goto out;
	if (auth_token_create(cat, scope, o.label ? o.label : "", token, sizeof(token)) < 0) {
		fprintf(stderr, "terrarium: cannot store the token in '%s'\n", catalog_path(cat));
		goto out;
	}
	fprintf(stderr, "token of scope '%s' created; it is shown once, below:\n",
		auth_scope_name(scope));
	printf("%s\n", token);
	rc = 0;
out:
	catalog_close(cat);
	config_release(&cfg);
	return rc;
}

static int cmd_search(int argc, char **argv)
{
	struct cmd_opts o = { 0 };
	struct config cfg;
	struct catalog *cat = NULL;
	json_t *out = NULL;
	char err[256] = "";
	int rc;
	int first = parse_opts(argc, argv, &o);
	if (first == -2) {
		fputs(usage_search, stdout);
		return 0;
	}
	if (first < 0 || first != argc - 1) {
		if (first >= 0)
			fprintf(stderr, "terrarium: search takes one QUERY (quote it)\n");
		fputs(usage_search, stderr);
		return EXIT_USAGE;
	}
	if ((rc = load_config(&o.c, &cfg)) != 0)
		return rc;
	rc = 1;
	cat = open_catalog(&cfg, 0);
	if (!cat)
		goto out;
	struct search_query q = {
		.q = argv[first], .kind = o.kind, .platform = o.platform, .tag = o.tag,
		.owner = o.owner, .stale = -1, .limit = (int)o.limit, .offset = (int)o.offset,
	};
	int src = search_run(cat, &q, &out, err, sizeof(err));
	if (src != 0) {
		fprintf(stderr, "terrarium: search failed: %s\n", err);
		rc = src == CATALOG_EINVAL ? EXIT_USAGE : 1;
		goto out;
	}
	if (o.json) {
		json_dumpf(out, stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		size_t i;
		json_t *hit;
		json_array_foreach(json_object_get(out, "hits"), i, hit) {
			const char *desc = json_string_value(json_object_get(hit, "description"));
			printf("%s%s%s\n", json_string_value(json_object_get(hit, "id")),
			       desc && *desc ? "\t" : "", desc ? desc : "");
		}
		fprintf(stderr, "%lld hit(s)\n",
			(long long)json_integer_value(json_object_get(out, "total")));
	}
	rc = 0;
out:
	json_decref(out);
	catalog_close(cat);
	config_release(&cfg);
	return rc;
}

static int cmd_lineage(int argc, char **argv)
{
	struct cmd_opts o = { .depth = -1, .hop_cap = -1 };
	struct config cfg;
	struct catalog *cat = NULL;
	struct lineage_graph *g = NULL;
	char err[256] = "", *text = NULL;
	size_t len = 0;
	int rc;
	int first = parse_opts(argc, argv, &o);
	if (first == -2) {
		fputs(usage_lineage, stdout);
		return 0;
	}
	const char *format = o.format ? o.format : "json";
	enum lineage_direction dir = lineage_direction_parse(o.direction ? o.direction : "both");
	if (first < 0 || first != argc - 1 || !dir ||
	    (strcmp(format, "json") && strcmp(format, "svg") && strcmp(format, "dot"))) {
		if (first >= 0)
			fprintf(stderr, "terrarium: expected one ID, --format json|svg|dot and "
					"--direction upstream|downstream|both\n");
		fputs(usage_lineage, stderr);
		return EXIT_USAGE;
	}
	if ((rc = load_config(&o.c, &cfg)) != 0)
		return rc;
	rc = 1;
	cat = open_catalog(&cfg, 0);
	if (!cat)
		goto out;
	struct lineage_query q = {
		.node_id = argv[first],
		.depth = o.depth >= 0 ? (int)o.depth : LINEAGE_DEPTH_DEFAULT,
		.direction = dir,
		.hop_cap = o.hop_cap > 0 ? (int)o.hop_cap : cfg.lineage_hop_cap,
	};
	int lrc = lineage_query(cat, &q, &g, err, sizeof(err));
	if (lrc != 0) {
		fprintf(stderr, "terrarium: %s\n",
			lrc == CATALOG_ENOTFOUND ? "no such entity" : err);
		rc = lrc == CATALOG_EINVAL ? EXIT_USAGE : 1;
		goto out;
	}
	if (strcmp(format, "json") == 0) {
		json_t *doc = lineage_graph_json(g);
		json_dumpf(doc, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(doc);
	} else if (strcmp(format, "dot") == 0 ? render_dot(g, "/entity/", &text, &len)
					      : render_svg(g, "/entity/", &text, &len, err,
							   sizeof(err))) {
		fprintf(stderr, "terrarium: cannot render the graph: %s\n", err);
		goto out;
	} else {
		fwrite(text, 1, len, stdout);
	}
	rc = 0;
out:
	free(text);
	lineage_graph_destroy(g);
	catalog_close(cat);
	config_release(&cfg);
	return rc;
}

static int cmd_export(int argc, char **argv)
{
	struct cmd_opts o = { 0 };
	struct config cfg;
	struct catalog *cat = NULL;
	FILE *out = stdout;
	char err[512] = "";
	int rc;
	int first = parse_opts(argc, argv, &o);
	if (first == -2) {
		fputs(usage_export, stdout);
		return 0;
	}
	if (first < 0 || first != argc) {
		fputs(usage_export, stderr);
		return EXIT_USAGE;
	}
	if ((rc = load_config(&o.c, &cfg)) != 0)
		return rc;
	rc = 1;
	cat = open_catalog(&cfg, 0);
	if (!cat)
		goto out;
	if (o.output && !(out = fopen(o.output, "w"))) {
		fprintf(stderr, "terrarium: cannot write '%s': %s\n", o.output, strerror(errno));
		out = stdout;
		goto out;
	}
	long n = catalog_export(cat, out, err, sizeof(err));
	if (n < 0 || fflush(out) != 0) {
		fprintf(stderr, "terrarium: export failed: %s\n", n < 0 ? err : strerror(errno));
		goto out;
	}
	fprintf(stderr, "exported %ld line(s)\n", n);
	rc = 0;
out:
	if (out != stdout && fclose(out) != 0 && rc == 0) {
		fprintf(stderr, "terrarium: cannot write '%s': %s\n", o.output, strerror(errno));
		rc = 1;
	}
	catalog_close(cat);
	config_release(&cfg);
	return rc;
}

static int cmd_import(int argc, char **argv)
{
	struct cmd_opts o = { 0 };
	struct config cfg;
	struct catalog *cat = NULL;
	FILE *in = stdin;
	char err[512] = "";
	int rc;
	int first = parse_opts(argc, argv, &o);
	if (first == -2) {
		fputs(usage_import, stdout);
		return 0;
	}
	if (first < 0 || first < argc - 1) {
		fputs(usage_import, stderr);
		return EXIT_USAGE;
	}
	const char *file = first < argc ? argv[first] : "-";
	if ((rc = load_config(&o.c, &cfg)) != 0)
		return rc;
	rc = 1;
	if (strcmp(file, "-") != 0 && !(in = fopen(file, "r"))) {
		fprintf(stderr, "terrarium: cannot read '%s': %s\n", file, strerror(errno));
		in = stdin;
		goto out;
	}
	cat = open_catalog(&cfg, 1);
	if (!cat)
		goto out;
	double t0 = mono_s();
	long n = catalog_import(cat, in, err, sizeof(err));
	if (n < 0) {
		fprintf(stderr, "terrarium: import of '%s' failed: %s\n", file, err);
		goto out;
	}
	fprintf(stderr, "imported %ld line(s) in %.1f s\n", n, mono_s() - t0);
	rc = 0;
out:
	if (in != stdin)
		fclose(in);
	catalog_close(cat);
	config_release(&cfg);
	return rc;
}

/* --- collectors ----------------------------------------------------------------- */

/*
 * The built-in plugins that register Lua modules (the collectors' bindings,
 * listed in hub/builtin.c).  The offline commands load only these: the other
 * built-ins (ingest) serve HTTP routes and cannot start without a server.
 */
static struct plugins *bindings_host(const struct config *cfg, struct catalog *cat,
				     const char *data_dir)
{
	struct plugins_env env = { .srv = NULL, .cat = cat, .cfg = cfg, .data_dir = data_dir };
	struct plugins *p = plugins_create(&env);
	enum log_level level = log_get_level();

	/* "plugin loaded" lines are news for a server, noise for a command. */
	if (level < LOG_WARN)
		log_set_level(LOG_WARN);
	if (p)
		plugins_load_bindings(p);
	log_set_level(level);
	return p;
}

static void print_summary(const char *name, struct collector_result *r, int dry)
{
	json_t *ents = json_object_get(r->batch, "entities");
	json_t *edges = json_object_get(r->batch, "edges");
	json_t *v;
	size_t i;

	printf("collector %s: %s in %ld ms%s\n", name, r->ok ? "ok" : "failed", r->duration_ms,
	       dry ? " (dry run: nothing written)" : r->ok ? "" : " (nothing written)");
	printf("emitted %ld entit%s (%ld field%s), %ld edge%s\n", r->entities,
	       r->entities == 1 ? "y" : "ies", r->fields, r->fields == 1 ? "" : "s", r->edges,
	       r->edges == 1 ? "" : "s");
	json_array_foreach(ents, i, v) {
		char id[CATALOG_ID_MAX + 1];
		const char *given = json_string_value(json_object_get(v, "id"));

		if (i == 100) {
			printf("  ... and %zu more\n", json_array_size(ents) - i);
			break;
		}
		if (!given && catalog_id_format(json_string_value(json_object_get(v, "kind")),
						json_string_value(json_object_get(v, "namespace")),
						json_string_value(json_object_get(v, "name")), id,
						sizeof(id)) == 0)
			given = id;
		printf("  %s\n", given ? given : "?");
	}
	json_array_foreach(edges, i, v) {
		if (i == 100) {
			printf("  ... and %zu more edges\n", json_array_size(edges) - i);
			break;
		}
		printf("  %s -> %s (%s)\n", json_string_value(json_object_get(v, "src")),
		       json_string_value(json_object_get(v, "dst")),
		       json_string_value(json_object_get(v, "kind")));
	}
	if (r->tile) {
		char *numbers = json_dumps(json_object_get(r->tile, "numbers"),
					   JSON_COMPACT | JSON_ENCODE_ANY);
		const char *title = json_string_value(json_object_get(r->tile, "title"));

		printf("tile: %s%s%s%s%s%s\n", json_string_value(json_object_get(r->tile, "status")),
		       title ? " \"" : "", title ? title : "", title ? "\"" : "",
		       numbers ? " " : "", numbers ? numbers : "");
		free(numbers);
	}
	json_array_foreach(r->metrics, i, v) {
		char *labels = json_dumps(json_object_get(v, "labels"), JSON_COMPACT);

		printf("metric: %s %s %g\n", json_string_value(json_object_get(v, "name")),
		       labels ? labels : "{}", json_number_value(json_object_get(v, "value")));
		free(labels);
	}
	if (r->ok && !dry)
		printf("written: %ld created, %ld changed, %ld marked stale\n", r->stats.created,
		       r->stats.changed, r->stats.staled);
}

static void print_json(struct collector_result *r, json_t *counts)
{
	json_t *lines = json_array();
	const char *p = r->log;

	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		json_array_append_new(lines, json_stringn(p, n));
		p += n + (nl != NULL);
	}
	json_object_set(r->batch, "tile", r->tile ? r->tile : json_null());
	json_object_set(r->batch, "metrics", r->metrics);
	json_object_set_new(r->batch, "run",
			    json_pack("{s:s, s:s?, s:I, s:O, s:o}", "status",
				      r->ok ? "ok" : "failed", "error", r->ok ? NULL : r->error,
				      "duration_ms", (json_int_t)r->duration_ms, "counts", counts,
				      "log", lines));
	json_dumpf(r->batch, stdout, JSON_INDENT(2));
	putchar('\n');
}

static int cmd_collect(int argc, char **argv)
{
	struct cmd_opts o = { 0 };
	struct config cfg;
	struct catalog *cat = NULL;
	struct plugins *plugins = NULL;
	struct collector_result r = { 0 };
	struct collector_spec spec = { 0 };
	char err[512], buf[4096], path[4096], lib[4096];
	const char *dirs[3];
	json_t *counts = NULL;
	int rc, found = 0;
	int first = parse_opts(argc, argv, &o);

	if (first == -2) {
		fputs(usage_collect, stdout);
		return 0;
	}
	if (first < 0 || first != argc - 1) {
		if (first >= 0)
			fprintf(stderr, "terrarium: collect takes one NAME\n");
		fputs(usage_collect, stderr);
		return EXIT_USAGE;
	}
	const char *name = argv[first];
	if (!collector_name_valid(name)) {
		fprintf(stderr, "terrarium: '%s' is not a collector name ([a-z][a-z0-9_]*, at most "
				"31 characters)\n", name);
		return EXIT_USAGE;
	}
	if ((rc = load_config(&o.c, &cfg)) != 0)
		return rc;
	rc = EXIT_USAGE;
	collector_dirs(&cfg, buf, sizeof(buf), dirs);
	for (int i = 0; dirs[i] && !found; i++) {
		snprintf(path, sizeof(path), "%s/%s.lua", dirs[i], name);
		found = access(path, R_OK) == 0;
	}
	if (!found) {
		fprintf(stderr, "terrarium: no collector '%s': neither %s/%s.lua nor %s/%s.lua can "
				"be read\n", name, dirs[0], name, dirs[1], name);
		goto out;
	}
	spec.name = name;
	spec.path = path;
	spec.settings = json_object_get(cfg.plugins, name);
	spec.lib_dir = collector_lib_dir(path, lib, sizeof(lib)) == 0 ? lib : NULL;
	if (collector_settings_parse(spec.settings, &spec.set, err, sizeof(err)) < 0) {
		fprintf(stderr, "terrarium: plugins.%s: %s\n", name, err);
		goto out;
	}
	rc = 1;
	if (!o.dry_run && !(cat = open_catalog(&cfg, 1)))
		goto out;
	plugins = bindings_host(&cfg, cat, cfg.data_dir);
	if (!plugins) {
		fprintf(stderr, "terrarium: out of memory\n");
		goto out;
	}
	struct collector_env env = { .cat = cat, .plugins = plugins, .echo_logs = 1 };
	collector_run(&spec, &env, &r);
	counts = collector_result_counts(&r);
	if (cat) {
		struct catalog_collector_run rec = {
			.collector = name,
			.started_at = r.started_at,
			.ended_at = r.ended_at,
			.status = r.ok ? "ok" : "failed",
			.error = r.ok ? NULL : r.error,
			.counts = counts,
			.log = r.log,
		};

		if (catalog_collector_run_record(cat, &rec, NULL, err, sizeof(err)) != 0)
			fprintf(stderr, "terrarium: the run was not recorded: %s\n", err);
	}
	if (o.json)
		print_json(&r, counts);
	else
		print_summary(name, &r, o.dry_run);
	fflush(stdout);
	if (!r.ok) {
		fprintf(stderr, "terrarium: collector '%s' failed: %s\n", name, r.error);
		goto out;
	}
	rc = 0;
out:
	json_decref(counts);
	collector_result_release(&r);
	plugins_destroy(plugins);
	catalog_close(cat);
	config_release(&cfg);
	return rc;
}

/* The skeletons of `plugin new`; "@NAME@" becomes the collector's name. */
static const char skeleton_collector[] =
	"-- @NAME@: a Terrarium collector (docs/plugin-guide.md).\n"
	"--\n"
	"-- Turn it on in the config (terrarium.lua):\n"
	"--   plugins = { @NAME@ = { interval = 300, namespace = \"example://localhost\",\n"
	"--                          items = { \"alpha\", \"beta\" } } }\n"
	"-- Try it:   terrarium collect @NAME@ --dry-run --config terrarium.lua\n"
	"-- Test it:  terrarium plugin test lua/collectors/@NAME@_test.lua\n"
	"--\n"
	"-- `config` holds the settings above.  Everything emitted in one run is one\n"
	"-- snapshot: what a run no longer emits is marked stale.  Raising an error fails\n"
	"-- the run and changes nothing.\n"
	"\n"
	"local namespace = config.namespace or \"example://localhost\"\n"
	"local items = config.items or { \"alpha\", \"beta\" }\n"
	"\n"
	"-- A real collector asks its system here, for instance:\n"
	"--   local http = require \"http\"\n"
	"--   local doc, err = http.get_json(config.url .. \"/api/items\", { timeout = 5 })\n"
	"--   if not doc then error(err) end\n"
	"\n"
	"local job = emit.job{ namespace = namespace, name = \"@NAME@.loader\",\n"
	"                      description = \"loads the items\" }\n"
	"for i, item in ipairs(items) do\n"
	"  local id = emit.dataset{\n"
	"    namespace = namespace,\n"
	"    name = item,\n"
	"    subtype = \"table\",\n"
	"    description = \"item \" .. i .. \" of \" .. #items,\n"
	"    properties = { position = i },\n"
	"    fields = { { name = \"id\", type = \"integer\", nullable = false },\n"
	"               { name = \"value\", type = \"text\" } },\n"
	"  }\n"
	"  emit.edge(job, id)   -- the job writes the dataset\n"
	"end\n"
	"\n"
	"tile{ status = \"up\", title = \"@NAME@\", description = namespace,\n"
	"      numbers = { items = #items } }\n"
	"metric(\"items\", #items)\n"
	"log.info(\"collected\", { items = #items })\n";

static const char skeleton_test[] =
	"-- Tests of @NAME@.lua: terrarium plugin test lua/collectors/@NAME@_test.lua\n"
	"-- run_collector{...} runs the collector with that config and returns what it\n"
	"-- emitted (nothing is written).  See docs/plugin-guide.md.\n"
	"\n"
	"test(\"one dataset per item, written by the loader job\", function()\n"
	"  local out = assert(run_collector{ namespace = \"example://test\", items = { \"a\", \"b\" } })\n"
	"  assert_eq(#out.entities, 3)\n"
	"  local a = expect_emit(out, { kind = \"dataset\", namespace = \"example://test\", name = \"a\" })\n"
	"  assert_eq(#a.fields, 2)\n"
	"  expect_emit(out, { src = \"job:example://test:@NAME@.loader\",\n"
	"                     dst = \"dataset:example://test:b\" })\n"
	"  assert_eq(out.tile.status, \"up\")\n"
	"  assert_eq(out.tile.numbers, { items = 2 })\n"
	"end)\n"
	"\n"
	"test(\"no items, no datasets\", function()\n"
	"  local out = assert(run_collector{ items = {} })\n"
	"  assert_eq(#out.entities, 1)   -- the job only\n"
	"  assert_eq(out.metrics[1].value, 0)\n"
	"end)\n";

/* Write TEMPLATE with NAME into a new file PATH (never over an existing one). */
static int write_skeleton(const char *path, const char *template_, const char *name)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	FILE *f;
	int rc = 0;

	if (fd < 0) {
		fprintf(stderr, "terrarium: cannot create '%s': %s\n", path, strerror(errno));
		return -1;
	}
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return -1;
	}
	for (const char *p = template_; *p; p++) {
		if (strncmp(p, "@NAME@", 6) == 0) {
			fputs(name, f);
			p += 5;
		} else {
			fputc(*p, f);
		}
	}
	if (fclose(f) != 0) {
		fprintf(stderr, "terrarium: cannot write '%s': %s\n", path, strerror(errno));
		rc = -1;
	}
	return rc;
}

static int plugin_new(const char *name, const char *dir)
{
	char path[4096], tpath[4096];

	if (!collector_name_valid(name)) {
		fprintf(stderr, "terrarium: '%s' is not a collector name ([a-z][a-z0-9_]*, at most "
				"31 characters)\n", name);
		return EXIT_USAGE;
	}
	if (snprintf(path, sizeof(path), "%s/%s.lua", dir, name) >= (int)sizeof(path) ||
	    snprintf(tpath, sizeof(tpath), "%s/%s_test.lua", dir, name) >= (int)sizeof(tpath)) {
		fprintf(stderr, "terrarium: --dir is too long\n");
		return EXIT_USAGE;
	}
	if (access(path, F_OK) == 0 || access(tpath, F_OK) == 0) {
		fprintf(stderr, "terrarium: '%s' exists already; not overwriting\n",
			access(path, F_OK) == 0 ? path : tpath);
		return 1;
	}
	/* mkdir -p DIR */
	snprintf(tpath, sizeof(tpath), "%s", dir);
	for (char *p = tpath + 1;; p++) {
		char c = *p;

		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		if (mkdir(tpath, 0755) < 0 && errno != EEXIST) {
			fprintf(stderr, "terrarium: cannot create directory '%s': %s\n", tpath,
				strerror(errno));
			return 1;
		}
		*p = c;
		if (c == '\0')
			break;
	}
	snprintf(tpath, sizeof(tpath), "%s/%s_test.lua", dir, name);
	if (write_skeleton(path, skeleton_collector, name) < 0)
		return 1;
	if (write_skeleton(tpath, skeleton_test, name) < 0) {
		unlink(path);
		return 1;
	}
	printf("wrote %s and %s\n"
	       "test it:  terrarium plugin test %s\n"
	       "try it:   terrarium collect %s --dry-run\n"
	       "run it:   add  plugins = { %s = { interval = 300 } }  to the config\n",
	       path, tpath, tpath, name, name);
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int plugin_test(struct cmd_opts *o, const char *file)
{
	struct config cfg;
	struct plugins *plugins = NULL;
	struct collector_spec spec = { 0 };
	struct collector_test_result tr = { 0 };
	char path[4096], lib[4096], name[64], tmp[64] = "", err[512];
	const char *base = strrchr(file, '/');
	size_t n = strlen(file);
	int rc;

	base = base ? base + 1 : file;
	if (n < 9 || strcmp(file + n - 9, "_test.lua") != 0 || n - 9 >= sizeof(path) - 4 ||
	    strlen(base) - 9 >= sizeof(name)) {
		fprintf(stderr, "terrarium: expected a test file named NAME_test.lua, got '%s'\n",
			file);
		return EXIT_USAGE;
	}
	snprintf(path, sizeof(path), "%.*s.lua", (int)(n - 9), file);
	snprintf(name, sizeof(name), "%.*s", (int)(strlen(base) - 9), base);
	if (!collector_name_valid(name)) {
		fprintf(stderr, "terrarium: '%s' is not a collector name\n", name);
		return EXIT_USAGE;
	}
	if ((rc = load_config(&o->c, &cfg)) != 0)
		return rc;
	rc = EXIT_USAGE;
	spec.name = name;
	spec.path = path;
	spec.settings = json_object_get(cfg.plugins, name);
	spec.lib_dir = collector_lib_dir(path, lib, sizeof(lib)) == 0 ? lib : NULL;
	if (collector_settings_parse(spec.settings, &spec.set, err, sizeof(err)) < 0) {
		fprintf(stderr, "terrarium: plugins.%s: %s\n", name, err);
		goto out;
	}
	rc = 1;
	/* The bindings keep their files under a data directory: a scratch one. */
	snprintf(tmp, sizeof(tmp), "/tmp/terrarium-plugin-test-XXXXXX");
	if (!mkdtemp(tmp)) {
		fprintf(stderr, "terrarium: cannot create a scratch directory: %s\n",
			strerror(errno));
		tmp[0] = '\0';
		goto out;
	}
	plugins = bindings_host(&cfg, NULL, tmp);
	struct collector_env env = { .plugins = plugins };
	rc = collector_test(&spec, file, &env, &tr) == 0 ? 0 : 1;
	fputs(tr.output ? tr.output : "", stdout);
out:
	collector_test_release(&tr);
	plugins_destroy(plugins);
	if (tmp[0])
		nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	config_release(&cfg);
	return rc;
}

static int cmd_plugin(int argc, char **argv)
{
	struct cmd_opts o = { 0 };
	int first = parse_opts(argc, argv, &o);

	if (first == -2) {
		fputs(usage_plugin, stdout);
		return 0;
	}
	if (first < 0 || argc - first != 2 ||
	    (strcmp(argv[first], "new") != 0 && strcmp(argv[first], "test") != 0)) {
		if (first >= 0)
			fprintf(stderr, "terrarium: expected 'plugin new NAME' or 'plugin test "
					"FILE_test.lua'\n");
		fputs(usage_plugin, stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[first], "new") == 0)
		return plugin_new(argv[first + 1], o.dir ? o.dir : "lua/collectors");
	return plugin_test(&o, argv[first + 1]);
}

static int cmd_check(int argc, char **argv)
{
	struct cmd_opts o = { 0 };
	struct config cfg;
	json_t *out = NULL, *svc;
	size_t i;
	int rc, down = 0;
	int first = parse_opts(argc, argv, &o);

	if (first == -2) {
		fputs(usage_check, stdout);
		return 0;
	}
	if (first < 0) {
		fputs(usage_check, stderr);
		return EXIT_USAGE;
	}
	if ((rc = load_config(&o.c, &cfg)) != 0)
		return rc;
	for (int a = first; a < argc; a++) {
		int known = 0;

		json_array_foreach(cfg.services, i, svc) {
			char id[HEALTH_ID_MAX + 1];

			if (health_slug(json_string_value(json_object_get(svc, "name")), id,
					sizeof(id)) == 0 && strcmp(id, argv[a]) == 0)
				known = 1;
		}
		if (!known) {
			fprintf(stderr, "terrarium: no service '%s' in the config\n", argv[a]);
			rc = EXIT_USAGE;
			goto out;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	out = json_array();
	json_array_foreach(cfg.services, i, svc) {
		char id[HEALTH_ID_MAX + 1], lat[32] = "-";
		struct health_result r;
		int wanted = first == argc;

		health_slug(json_string_value(json_object_get(svc, "name")), id, sizeof(id));
		for (int a = first; a < argc; a++)
			wanted |= strcmp(argv[a], id) == 0;
		if (!wanted)
			continue;
		health_check_once(svc, &r);
		down |= strcmp(r.status, "down") == 0;
		if (r.latency_ms >= 0)
			snprintf(lat, sizeof(lat), "%.1f ms", r.latency_ms);
		if (o.json)
			json_array_append_new(out, json_pack("{s:s, s:s, s:o, s:s}", "id", id,
							     "status", r.status, "latency_ms",
							     r.latency_ms >= 0 ? json_real(r.latency_ms)
									       : json_null(),
							     "detail", r.detail));
		else
			printf("%-24s %-9s %10s  %s\n", id, r.status, lat, r.detail);
		fflush(stdout);
	}
	if (o.json) {
		json_dumpf(out, stdout, JSON_INDENT(2));
		putchar('\n');
	}
	rc = down ? 1 : 0;
out:
	json_decref(out);
	config_release(&cfg);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "serve", cmd_serve },   { "token", cmd_token },   { "search", cmd_search },
		{ "lineage", cmd_lineage }, { "export", cmd_export }, { "import", cmd_import },
		{ "collect", cmd_collect }, { "plugin", cmd_plugin }, { "check", cmd_check },
	};
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(usage_main, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("terrarium %s\n", TERRARIUM_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "terrarium: unknown command '%s'\n\n%s", argv[1], usage_main);
	return EXIT_USAGE;
}
