#ifndef TERRARIUM_TEST_HARNESS_H
#define TERRARIUM_TEST_HARNESS_H
/*
 * Integration-test harness: run the real terrarium binary on a free loopback
 * port with a fresh data directory, and talk HTTP to it with libcurl.
 *
 * The binary is $TERRARIUM_BIN (default build/terrarium).  Every request has
 * a 10 s timeout; tests make a bounded number of them.
 */
#include <stddef.h>
#include <jansson.h>

struct th_server {
	int pid;
	int port;
	char dir[256];        /* the temporary data directory (removed by th_stop) */
	char log_path[300];   /* the server's stderr */
	char base[64];        /* "http://127.0.0.1:PORT" */
};

struct th_resp {
	long status;
	char *body;           /* NUL-terminated, malloc'd */
	size_t len;
	char ctype[128];
	char headers[4096];   /* raw response headers */
};

/*
 * Start a server.  CONFIG_LUA (may be NULL) is written to DIR/terrarium.lua
 * and passed with --config.  EXTRA_ARGS (NULL-terminated, may be NULL) are
 * appended.  Waits until /healthz answers (at most 10 s).  Returns 0 or -1.
 */
int th_start(struct th_server *s, const char *config_lua, const char *const *extra_args);

/* Start again on the same data directory (after th_kill or th_terminate). */
int th_restart(struct th_server *s);

/* SIGTERM, wait for exit; returns the exit status (or -1).  Keeps the dir. */
int th_terminate(struct th_server *s);

/* SIGTERM if running, then remove the data directory. */
void th_stop(struct th_server *s);

/* Run `terrarium ARGS...` (NULL-terminated) with --data pointing at S's dir;
 * capture stdout into *OUT (malloc'd).  Returns the exit status. */
int th_cli(struct th_server *s, char **out, const char *const *args);

/* Create a token of SCOPE for S's catalog (via the CLI) into TOKEN (64 bytes). */
int th_token(struct th_server *s, const char *scope, char *token);

/*
 * One request.  PATH is appended to the base URL as it is; BODY (may be NULL)
 * is sent with content type CTYPE (NULL: application/json); TOKEN (may be
 * NULL) as a bearer token.  Returns 0 (any status) or -1 (transport error).
 */
int th_req(struct th_server *s, const char *method, const char *path, const char *body,
	   size_t body_len, const char *ctype, const char *token, struct th_resp *r);

/* The same, parsing the body as JSON into *DOC (NULL if it is not JSON). */
int th_json(struct th_server *s, const char *method, const char *path, const char *body,
	    const char *token, long *status, json_t **doc);

void th_resp_free(struct th_resp *r);

/* Percent-encode S (everything but unreserved characters) into OUT. */
void th_urlencode(const char *s, char *out, size_t outlen);


/*
 * Raw HTTP for what libcurl will not send: open a TCP connection to S, write
 * the LEN bytes of RAW, then (when SHUT_WR_AFTER) shut down the write side,
 * and read until the server closes or TIMEOUT_MS pass without data.  *OUT
 * (may be NULL) gets what was read, malloc'd and NUL-terminated.  Returns the
 * number of bytes read, or -1 when it cannot connect.  A server that resets
 * the connection while we write is not an error: what was read is returned.
 */
long th_raw(struct th_server *s, const void *raw, size_t len, int shut_wr_after, int timeout_ms,
	    char **out);

/* The status code of a raw HTTP reply ("HTTP/1.1 404 ..."), or 0. */
int th_raw_status(const char *reply);

/* Copy response header NAME's value (case-insensitive name) into OUT.  0, or
 * -1 when R has no such header. */
int th_header(const struct th_resp *r, const char *name, char *out, size_t outlen);

/* Read the whole file at PATH (relative to the repository root, where tests
 * run); malloc'd and NUL-terminated, *LEN its length (LEN may be NULL).  NULL
 * when it cannot be read. */
char *th_read_file(const char *path, size_t *len);

#endif
