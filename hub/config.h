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
 *   http = { threads = 64, max_body = "8MiB" }
 *   services = { { name = "Orders DB", group = "Databases", icon = "postgres",
 *                  description = "...", href = "http://...", collector = "postgres",
 *                  check = { type = "postgres", dsn = env("PG_DSN"), interval = 30,
 *                            timeout = 5 } }, ... }
 *   bookmarks = { { group = "Links", name = "Runbook", href = "https://...",
 *                   icon = "book", description = "" }, ... }
 *   plugins = { postgres = { interval = 300, dsn = env("PG_DSN") }, ... }
 *
 * The file may call env("NAME") and file("PATH") to read secrets (values only:
 * nothing else of the process is reachable).  env() gives the variable's
 * value or nil.  file() gives a regular file's content (at most 1 MiB, less
 * one trailing newline); a relative PATH is taken from the config file's
 * directory.  Unknown top-level keys and values of the wrong type are errors;
 * so is any other global the file assigns (helpers must be `local`).  An
 * error message names the file, the line of the assignment and the key:
 *   "terrarium.lua:3: key 'listen': expected HOST:PORT, got 'abc'"
 *   "terrarium.lua:7: key 'lineage.max_depth': expected an integer, got string"
 * (the line where the assignment's statement starts, or of the bad field of
 * lineage/http/tls).  Syntax and runtime errors read as Lua gives them
 * ("terrarium.lua:4: unexpected symbol near '='"); a file that runs too long
 * or uses too much is stopped ("terrarium.lua: stopped: instruction limit of
 * 10000000 exceeded"; limits: 16 MiB, 1e7 instructions, 2 s); a missing file
 * is "cannot read config 'terrarium.lua': No such file or directory".
 *
 * Ranges: lineage.max_depth 1..100, lineage.hop_cap 1..100000, http.threads
 * 1..256, http.max_body 1 byte..1GiB (an integer or a size string).
 * Every service needs a name whose slug (hub/health.h: health_slug()) is its
 * id, unique; its check, href and the strings group, icon, description,
 * collector are checked as hub/health.h says (health_service_validate(),
 * not strict: other keys are kept and shown, secrets removed); an error
 * names the key, e.g. "key 'services[2].check.port': expected an integer
 * from 1 to 65535, got 0".  A bookmark takes only group, name (required),
 * href (required: http(s):// or /path), icon and description, all strings.
 * services, bookmarks and plugins become JSON: a Lua table whose keys are exactly 1..n
 * is an array, any other table (the empty one too) an object with integer
 * keys written as text; integers stay integers; functions and other
 * non-data values are errors; tables nest at most 32 deep.
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
	int http_threads;        /* 64 */
	long long max_body;      /* 8 MiB: the largest request body the API takes */
	json_t *services;        /* array of objects, as written; never NULL */
	json_t *bookmarks;       /* array of objects, as written; never NULL */
	json_t *plugins;         /* object: name -> settings object; never NULL */
};

/* Fill C with the defaults. */
void config_init(struct config *c);

/* Free what C holds (not C itself). */
void config_release(struct config *c);

/*
 * Evaluate the file at PATH over the defaults in C.  Returns 0, or -1 with
 * ERR as above (a missing file, a syntax error, a runtime error, an unknown
 * key, a bad value).  On error C is left as it was.
 */
int config_load(struct config *c, const char *path, char *err, size_t errlen);

/* Parse "HOST:PORT" (port 0..65535) or "[IPV6]:PORT" (HOST is then written
 * without brackets).  HOST and PORT may be NULL to only check S.  0, or -1
 * if S is malformed or the host does not fit HOSTLEN bytes with its NUL. */
int config_parse_listen(const char *s, char *host, size_t hostlen, int *port);

/* Parse a size such as 65536, "64KiB", "8MiB", "1GiB": decimal digits, then
 * optionally one space and a unit among B, KiB, MiB, GiB (powers of 1024).
 * Decimal units (KB, MB), lowercase units, fractions and signs are refused.
 * 0 or -1. */
int config_parse_size(const char *s, long long *out);

#endif
