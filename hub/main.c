/*
 * terrarium: the command line.
 *
 *   terrarium serve [--config FILE] [--listen HOST:PORT] [--data DIR] [--log-level L]
 *   terrarium token create --scope read|write|ingest|admin [--label TEXT] [--data DIR]
 *   terrarium search QUERY [--kind K] [--platform P] [--limit N] [--json] [--data DIR]
 *   terrarium lineage ID [--depth N] [--direction D] [--format json|svg|dot] [--data DIR]
 *   terrarium export [--output FILE] [--data DIR]
 *   terrarium import [FILE|-] [--data DIR]
 *
 * Exit status: 0 success, 1 failure, 2 bad usage or bad config.
 */
#include <errno.h>
#include <getopt.h>
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
#include "hub/config.h"
#include "hub/http.h"
#include "hub/log.h"
#include "hub/plugins.h"
#include "hub/render.h"

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
	"SIGINT stops it: requests in flight finish and the catalog is closed cleanly.\n";

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
	long depth, hop_cap, limit, offset;
	int json;
};

static int parse_opts(int argc, char **argv, struct cmd_opts *o)
{
	enum { O_CONFIG = 1000, O_DATA, O_LISTEN, O_LOG, O_SCOPE, O_LABEL, O_KIND, O_PLATFORM,
	       O_TAG, O_OWNER, O_FORMAT, O_DIRECTION, O_DEPTH, O_HOPCAP, O_LIMIT, O_OFFSET,
	       O_JSON, O_OUTPUT, O_HELP };
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

static int cmd_serve(int argc, char **argv)
{
	struct cmd_opts o = { 0 };
	struct config cfg;
	struct catalog *cat = NULL;
	struct http_server *srv = NULL;
	struct api api = { 0 };
	struct plugins *plugins = NULL;
	char err[512];
	int rc = 1;
	double t0 = mono_s();
	int first = parse_opts(argc, argv, &o);
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
	if (api_register(srv, &api) < 0) {
		log_event(LOG_ERROR, "cannot register routes", NULL);
		goto out;
	}
	struct plugins_env penv = { .srv = srv, .cat = cat, .cfg = &cfg, .data_dir = cfg.data_dir };
	char plugdir[4096];
	plugins = plugins_create(&penv);
	if (!plugins) {
		log_event(LOG_ERROR, "out of memory starting plugins", NULL);
		goto out;
	}
	api.plugins = plugins;
	plugins_load_builtin(plugins);
	snprintf(plugdir, sizeof(plugdir), "%s/plugins", cfg.data_dir);
	plugins_load_dir(plugins, plugdir);
	char addr[300], ms[32];
	char host[256];
	int port;
	config_parse_listen(cfg.listen, host, sizeof(host), &port);
	snprintf(addr, sizeof(addr), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, http_port(srv));
	snprintf(ms, sizeof(ms), "%.1f", (mono_s() - t0) * 1e3);
	log_event(LOG_INFO, "listening", "addr", addr, "url_scheme", cfg.tls_cert ? "https" : "http",
		  "data_dir", cfg.data_dir, "startup_ms", ms, "version", TERRARIUM_VERSION, NULL);
	while (!stop_requested)
		pause();
	log_event(LOG_INFO, "stopping", "reason", "signal", NULL);
	rc = 0;
out:
	http_stop(srv);
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

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "serve", cmd_serve },   { "token", cmd_token },   { "search", cmd_search },
		{ "lineage", cmd_lineage }, { "export", cmd_export }, { "import", cmd_import },
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
