#ifndef TERRARIUM_HTTP_H
#define TERRARIUM_HTTP_H
/*
 * The HTTP server: CivetWeb underneath, a router, auth, bounded bodies, JSON
 * replies, and per-route metrics.
 *
 * Routes are patterns of '/'-separated segments.  A segment "{name}" matches
 * one segment; "{name+}" matches one or more (greedy, leaving enough segments
 * for the fixed ones after it), so an entity id holding '/' and "://" can sit
 * in the path as it is.  CivetWeb hands us the path already percent-decoded;
 * the query string arrives raw and http_query() decodes it.  Routes are tried
 * in the order they were added.
 *
 * Auth: every route names the scope it needs.  Routes needing AUTH_READ are
 * open to anonymous callers when the server allows anonymous reads.  A
 * request that sends a token (Authorization: Bearer, or X-API-Key) must send
 * a valid one, or gets 401; a valid token of too small a scope gets 403.
 *
 * Handlers run on CivetWeb's worker threads and must reply exactly once.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "hub/auth.h"

struct mg_connection;
struct catalog;
struct http_server;

#define HTTP_PARAMS_MAX 4
#define HTTP_PATH_MAX 4096

struct http_req {
	struct mg_connection *conn;
	struct http_server *srv;
	const char *method;
	const char *path;          /* decoded, without the query */
	const char *query;         /* raw, without '?'; "" when none */
	/* Route parameters, decoded, NUL-terminated, in pattern order. */
	const char *params[HTTP_PARAMS_MAX];
	char *body;                /* after http_read_body(): malloc'd, NUL-terminated */
	size_t body_len;
	enum auth_scope scope;     /* the caller's token's scope, AUTH_NONE when anonymous */
	void *ud;                  /* the route's user data */
	int status;                /* set by the reply */
	int replied;
};

typedef void (*http_handler_fn)(struct http_req *req);

struct http_options {
	const char *listen;        /* "HOST:PORT"; port 0 picks one */
	const char *tls_cert;      /* PEM files, or NULL for plain HTTP */
	const char *tls_key;
	int threads;
	long long max_body;
	int anonymous_reads;
};

/*
 * Start serving with OPT on CAT (borrowed: must outlive the server; used for
 * token checks).  Routes may be added before or after start.  NULL with ERR.
 */
struct http_server *http_start(const struct http_options *opt, struct catalog *cat, char *err,
			       size_t errlen);

/* Stop: finish the requests in flight, then free.  NULL does nothing. */
void http_stop(struct http_server *srv);

/* The port actually listened on (useful with port 0). */
int http_port(const struct http_server *srv);

/* The catalog given to http_start(). */
struct catalog *http_catalog(const struct http_server *srv);

/*
 * Add a route.  METHOD is "GET", "POST", ...; PATTERN as above (copied);
 * NEED the scope it requires (AUTH_NONE: open to all).  Returns 0 or -1 (too
 * many routes, bad pattern).
 */
int http_route(struct http_server *srv, const char *method, const char *pattern,
	       enum auth_scope need, http_handler_fn fn, void *ud);

/* --- inside a handler ------------------------------------------------------ */

/*
 * Read the whole body into req->body (at most the server's max_body bytes).
 * Returns 0; or replies 413 (too large) / 400 (unreadable) itself and returns -1.
 */
int http_read_body(struct http_req *req);

/* The declared Content-Length, or -1 when the body is chunked. */
long long http_content_length(const struct http_req *req);

/* Stream the body instead: up to LEN bytes into BUF.  The count, 0 at the
 * end, -1 on error.  Do not mix with http_read_body(). */
long http_read(struct http_req *req, void *buf, size_t len);

/*
 * The body parsed as JSON (new reference).  Replies 400 with the parse error
 * (line and column) and returns NULL when it is not JSON, and 413 when too large.
 */
json_t *http_read_json(struct http_req *req);

/*
 * Copy query parameter NAME, decoded, into OUT.  Returns its length, -1 when
 * absent, -2 when longer than OUTLEN - 1.
 */
int http_query(const struct http_req *req, const char *name, char *out, size_t outlen);

/*
 * Query parameter NAME as an integer in [MIN, MAX], or DEF when absent.
 * Replies 400 naming the parameter and returns -1 when it is malformed or out
 * of range; 0 otherwise.
 */
int http_query_int(struct http_req *req, const char *name, long min, long max, long def,
		   long *out);

/* A request header's value, or NULL.  Borrowed for the request's life. */
const char *http_header(const struct http_req *req, const char *name);

/* Reply with BODY (LEN bytes, borrowed) of CTYPE, plus EXTRA header lines
 * ("Name: value\r\n"..., or NULL). */
void http_reply(struct http_req *req, int status, const char *ctype, const void *body, size_t len,
		const char *extra_headers);

/* Reply with JSON (steals the reference to DOC). */
void http_reply_json(struct http_req *req, int status, json_t *doc);

/* Reply {"error": ERROR, "detail": <formatted>}. */
void http_error(struct http_req *req, int status, const char *error, const char *detail_fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* --- metrics ------------------------------------------------------------------ */

/*
 * Append the server's metrics in Prometheus text format to BUF (jansson-free
 * growing string; *BUF malloc'd, *LEN its length): requests by route, method
 * and status class; latency histograms by route; requests in flight.
 */
int http_metrics(struct http_server *srv, char **buf, size_t *len);

#endif
