#ifndef TERRARIUM_CONFIG_H
#define TERRARIUM_CONFIG_H
/*
 * Terrarium's configuration: a Lua file evaluated as data in a sandbox
 * (hub/sandbox.h).  It assigns globals:
 *
 *   listen = "127.0.0.1:8080"        -- HOST:PORT; port 0 picks a free one
 *   data_dir = "./data"
 *   tls = { cert = "/etc/t/cert.pem", key = "/etc/t/key.pem" }   -- optional
 *   anonymous_reads = true
 *   log_level = "info"                -- debug, info, warn, error
 *   lineage = { max_depth = 10, hop_cap = 100 }
 *   http = { threads = 16, max_body = "8MiB" }
 *   services = { { name = "orders-db", group = "Databases", type = "postgres",
 *                  url = "postgres://db:5432", ... }, ... }
 *   plugins = { postgres = { interval = 300, dsn = env("PG_DSN") }, ... }
 *
 * The file may call env("NAME") and file("PATH") to read secrets (values only:
 * nothing else of the process is reachable).  Unknown top-level keys and
 * values of the wrong type are errors.  An error message names the file, the
 * line of the assignment and the key:
 *   "terrarium.lua:3: key 'listen': expected HOST:PORT, got 'abc'"
 */
#include <jansson.h>
#include <stddef.h>

struct config {
	char *path;              /* the file loaded, or NULL for defaults */
	char *listen;            /* "127.0.0.1:8080" */
	char *data_dir;          /* "./data" */
	char *tls_cert;          /* NULL: plain HTTP */
	char *tls_key;
	int anonymous_reads;     /* 1 */
	int log_level;           /* enum log_level, LOG_INFO */
	int lineage_max_depth;   /* 10 */
	int lineage_hop_cap;     /* 100 */
	int http_threads;        /* 16 */
	long long max_body;      /* 8 MiB: the largest request body the API takes */
	json_t *services;        /* array of objects, as written; never NULL */
	json_t *plugins;         /* object: name -> settings object; never NULL */
};

/* Fill C with the defaults. */
void config_init(struct config *c);

/* Free what C holds (not C itself). */
void config_release(struct config *c);

/*
 * Evaluate the file at PATH over the defaults in C.  Returns 0, or -1 with
 * ERR as above (a missing file, a syntax error, a runtime error, an unknown
 * key, a bad value).
 */
int config_load(struct config *c, const char *path, char *err, size_t errlen);

/* Parse "HOST:PORT" (port 0..65535).  0 or -1. */
int config_parse_listen(const char *s, char *host, size_t hostlen, int *port);

/* Parse a size such as 65536, "64KiB", "8MiB", "1GiB".  0 or -1. */
int config_parse_size(const char *s, long long *out);

#endif
