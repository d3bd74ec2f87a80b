/* The HTTP server and router on CivetWeb; see http.h. */
#include "hub/http.h"

#include <civetweb.h>
#include <errno.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hub/assets.h"
#include "hub/config.h"
#include "hub/log.h"
#include "hub/strbuf.h"

#define ROUTES_MAX 128
#define SEGS_MAX 16         /* segments of a route pattern */
#define PATH_SEGS_MAX 512   /* segments of a request path (HTTP_PATH_MAX bounds it too) */
#define SEG_MAX 64
#define JSON_DEPTH_MAX 64   /* jansson recurses; HTTP workers have 100 KiB stacks */
#define METRICS_MAX (1024 * 1024)

/* Latency histogram bounds, in seconds. */
static const double buckets[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
				  0.1,    0.25,  0.5,    1,     2.5,  5,    10 };
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct route {
	char method[8];
	char pattern[SEGS_MAX * SEG_MAX];
	char segs[SEGS_MAX][SEG_MAX]; /* "" marks a parameter */
	int greedy[SEGS_MAX];         /* 1 for "{name+}" */
	int nsegs;
	enum auth_scope need;
	http_handler_fn fn;
	void *ud;
	/* metrics */
	atomic_long by_class[6];      /* 1xx..5xx by status / 100 */
	atomic_long hist[NBUCKETS + 1];
	atomic_llong sum_us;
};

struct http_server {
	struct mg_context *ctx;
	struct catalog *cat;
	long long max_body;
	int anonymous_reads;
	int port;
	char *tls_cert, *tls_key;
	struct route routes[ROUTES_MAX];
	atomic_int nroutes;
	pthread_mutex_t route_lock;   /* serialises http_route() */
	atomic_long in_flight;
	atomic_long unmatched_by_class[6];
};

/* --- routes ---------------------------------------------------------------- */

/* Split PATH (after its leading '/') into at most MAX segments in place.
 * Returns the count, or -1 when there are too many. */
static int split_path(char *path, char **segs, int max)
{
	int n = 0;
	char *p = path;
	if (*p == '/')
		p++;
	if (*p == '\0')
		return 0;
	for (;;) {
		if (n == max)
			return -1;
		segs[n++] = p;
		char *slash = strchr(p, '/');
		if (!slash)
			break;
		*slash = '\0';
		p = slash + 1;
	}
	return n;
}

/* Whether S (LEN bytes) is well-formed UTF-8 (no overlongs, surrogates or
 * code points past U+10FFFF). */
static int utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		unsigned int cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (i + n >= len)
			return 0; /* the sequence runs past the end */
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n + 1;
	}
	return 1;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-decode SEG in place.  Returns 0, or -1 for a bad escape, an
 * encoded NUL, or a result that is not UTF-8.  ('+' stays '+': this is a
 * path, not a form.)
 */
static int decode_segment(char *seg)
{
	char *r = seg, *w = seg;
	while (*r) {
		if (*r != '%') {
			*w++ = *r++;
			continue;
		}
		int hi = hexval(r[1]), lo = hi < 0 ? -1 : hexval(r[2]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			return -1;
		*w++ = (char)(hi * 16 + lo);
		r += 3;
	}
	*w = '\0';
	return utf8_valid((const unsigned char *)seg, (size_t)(w - seg)) ? 0 : -1;
}

int http_route(struct http_server *srv, const char *method, const char *pattern,
	       enum auth_scope need, http_handler_fn fn, void *ud)
{
	int rc = -1;
	char copy[SEGS_MAX * SEG_MAX];
	char *segs[SEGS_MAX];
	pthread_mutex_lock(&srv->route_lock);
	int i = atomic_load(&srv->nroutes);
	if (i == ROUTES_MAX || strlen(pattern) >= sizeof(copy) || strlen(method) >= 8)
		goto out;
	struct route *r = &srv->routes[i];
	memset(r, 0, sizeof(*r));
	strcpy(copy, pattern);
	int n = split_path(copy, segs, SEGS_MAX);
	if (n < 0)
		goto out;
	int nparams = 0, ngreedy = 0;
	for (int k = 0; k < n; k++) {
		size_t len = strlen(segs[k]);
		if (len >= SEG_MAX)
			goto out;
		if (segs[k][0] == '{' && segs[k][len - 1] == '}') {
			r->greedy[k] = len > 3 && segs[k][len - 2] == '+';
			ngreedy += r->greedy[k];
			if (++nparams > HTTP_PARAMS_MAX)
				goto out;
			r->segs[k][0] = '\0';
		} else {
			strcpy(r->segs[k], segs[k]);
		}
	}
	if (ngreedy > 1)
		goto out;
	r->nsegs = n;
	strcpy(r->method, method);
	strcpy(r->pattern, pattern);
	r->need = need;
	r->fn = fn;
	r->ud = ud;
	atomic_store(&srv->nroutes, i + 1);
	rc = 0;
out:
	pthread_mutex_unlock(&srv->route_lock);
	return rc;
}

/*
 * Match PATH's segments against R.  On a match, parameters are written into
 * PBUF (joined with '/' for greedy ones) and pointed to from PARAMS.
 */
static int route_match(const struct route *r, char **segs, int n, char *pbuf, size_t pbuflen,
		       const char **params)
{
	int extra = n - r->nsegs; /* segments a greedy parameter takes beyond one */
	int has_greedy = 0;
	for (int k = 0; k < r->nsegs; k++)
		has_greedy |= r->greedy[k];
	if (extra < 0 || (extra > 0 && !has_greedy))
		return 0;
	size_t used = 0;
	int np = 0, s = 0;
	for (int k = 0; k < r->nsegs; k++) {
		if (r->segs[k][0] != '\0') {
			if (strcmp(r->segs[k], segs[s]) != 0)
				return 0;
			s++;
			continue;
		}
		int take = r->greedy[k] ? 1 + extra : 1;
		char *start = pbuf + used;
		for (int t = 0; t < take; t++, s++) {
			size_t len = strlen(segs[s]);
			if (used + len + 2 > pbuflen)
				return 0;
			if (t > 0)
				pbuf[used++] = '/';
			memcpy(pbuf + used, segs[s], len);
			used += len;
		}
		pbuf[used++] = '\0';
		if (start[0] == '\0')
			return 0;
		params[np++] = start;
	}
	return 1;
}

/* --- replies ----------------------------------------------------------------- */

static const char *status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	case 507: return "Insufficient Storage";
	default: return "Unknown";
	}
}

void http_reply(struct http_req *req, int status, const char *ctype, const void *body, size_t len,
		const char *extra_headers)
{
	if (req->replied)
		return;
	req->replied = 1;
	req->status = status;
	int head = strcmp(req->method, "HEAD") == 0;
	/* Headers and a small body leave in one write: one packet, not two. */
	char buf[8192];
	int n = snprintf(buf, sizeof(buf),
			 "HTTP/1.1 %d %s\r\n"
			 "Content-Type: %s\r\n"
			 "Content-Length: %zu\r\n"
			 "X-Content-Type-Options: nosniff\r\n"
			 "%s"
			 "%s"
			 "\r\n",
			 status, status_text(status), ctype, len,
			 status == 413 || status == 400 ? "Connection: close\r\n" : "",
			 extra_headers ? extra_headers : "");
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		log_event(LOG_ERROR, "reply headers too long", "path", req->path, NULL);
		mg_printf(req->conn, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
		req->status = 500;
		return;
	}
	if (!head && len && len <= sizeof(buf) - (size_t)n) {
		memcpy(buf + n, body, len);
		mg_write(req->conn, buf, (size_t)n + len);
		return;
	}
	mg_write(req->conn, buf, (size_t)n);
	if (!head && len)
		mg_write(req->conn, body, len);
}

void http_reply_json(struct http_req *req, int status, json_t *doc)
{
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (!text) {
		static const char oom[] = "{\"error\":\"internal\",\"detail\":\"cannot encode reply\"}";
		http_reply(req, 500, "application/json", oom, sizeof(oom) - 1,
			   "Cache-Control: no-store\r\n");
		return;
	}
	http_reply(req, status, "application/json", text, strlen(text), "Cache-Control: no-store\r\n");
	free(text);
}

void http_error(struct http_req *req, int status, const char *error, const char *detail_fmt, ...)
{
	char detail[1024];
	va_list ap;
	va_start(ap, detail_fmt);
	vsnprintf(detail, sizeof(detail), detail_fmt, ap);
	va_end(ap);
	/* Details may echo what the client sent: keep them valid UTF-8. */
	for (size_t i = 0; detail[i];) {
		size_t n = 1;
		unsigned char c = (unsigned char)detail[i];
		if (c >= 0x80) {
			n = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
			size_t have = strnlen(detail + i, n ? n : 1);
			if (n == 0 || have < n ||
			    !utf8_valid((const unsigned char *)detail + i, n)) {
				detail[i] = '?';
				n = 1;
			}
		}
		i += n;
	}
	json_t *doc = json_pack("{s:s, s:s}", "error", error, "detail", detail);
	http_reply_json(req, status, doc);
}

/* --- request helpers ------------------------------------------------------------ */

int http_read_body(struct http_req *req)
{
	if (req->body)
		return 0;
	const struct mg_request_info *ri = mg_get_request_info(req->conn);
	long long max = req->srv->max_body;
	if (ri->content_length > max) {
		http_error(req, 413, "payload too large", "the body is %lld bytes; the limit is %lld",
			   ri->content_length, max);
		return -1;
	}
	size_t cap = ri->content_length >= 0 ? (size_t)ri->content_length + 1 : 64 * 1024;
	char *buf = malloc(cap);
	size_t len = 0;
	if (!buf) {
		http_error(req, 500, "internal", "out of memory reading the body");
		return -1;
	}
	for (;;) {
		if (len + 1 == cap) {
			if ((long long)len > max)
				break;
			size_t ncap = cap * 2;
			if ((long long)ncap > max + 2)
				ncap = (size_t)max + 2;
			char *p = realloc(buf, ncap);
			if (!p) {
				free(buf);
				http_error(req, 500, "internal", "out of memory reading the body");
				return -1;
			}
			buf = p;
			cap = ncap;
		}
		int n = mg_read(req->conn, buf + len, cap - 1 - len);
		if (n < 0) {
			free(buf);
			http_error(req, 400, "bad request", "cannot read the request body");
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if ((long long)len > max) {
		free(buf);
		http_error(req, 413, "payload too large", "the body is over the limit of %lld bytes",
			   max);
		return -1;
	}
	buf[len] = '\0';
	req->body = buf;
	req->body_len = len;
	return 0;
}

long long http_content_length(const struct http_req *req)
{
	return mg_get_request_info(req->conn)->content_length;
}

long http_read(struct http_req *req, void *buf, size_t len)
{
	return mg_read(req->conn, buf, len);
}

/*
 * The deepest nesting of arrays and objects in TEXT, scanning iteratively
 * (jansson's parser recurses once per level), stopping once past LIMIT.
 */
static int json_depth(const char *text, size_t len, int limit)
{
	int depth = 0, deepest = 0, in_string = 0;
	for (size_t i = 0; i < len && deepest <= limit; i++) {
		char c = text[i];
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = 0;
		} else if (c == '"') {
			in_string = 1;
		} else if (c == '[' || c == '{') {
			if (++depth > deepest)
				deepest = depth;
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return deepest;
}

json_t *http_read_json(struct http_req *req)
{
	if (http_read_body(req) < 0)
		return NULL;
	if (json_depth(req->body, req->body_len, JSON_DEPTH_MAX) > JSON_DEPTH_MAX) {
		http_error(req, 400, "malformed json", "nested deeper than %d levels", JSON_DEPTH_MAX);
		return NULL;
	}
	json_error_t jerr;
	json_t *doc = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc)
		http_error(req, 400, "malformed json", "line %d, column %d: %s", jerr.line,
			   jerr.column, jerr.text);
	return doc;
}

int http_query(const struct http_req *req, const char *name, char *out, size_t outlen)
{
	size_t qlen = strlen(req->query);
	if (qlen == 0)
		return -1;
	int n = mg_get_var(req->query, qlen, name, out, outlen);
	if (n == -1)
		return -1;
	if (n < 0)
		return -2;
	return n;
}

int http_query_int(struct http_req *req, const char *name, long min, long max, long def,
		   long *out)
{
	char buf[32];
	int n = http_query(req, name, buf, sizeof(buf));
	if (n == -1) {
		*out = def;
		return 0;
	}
	char *end = NULL;
	errno = 0;
	long v = n > 0 ? strtol(buf, &end, 10) : 0;
	if (n <= 0 || errno || *end != '\0' || v < min || v > max) {
		http_error(req, 400, "bad parameter", "%s: expected an integer from %ld to %ld", name,
			   min, max);
		return -1;
	}
	*out = v;
	return 0;
}

const char *http_header(const struct http_req *req, const char *name)
{
	return mg_get_header(req->conn, name);
}

/* --- dispatch ------------------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The token the caller sent, or NULL; *LEN its length. */
static const char *find_token(const struct http_req *req, int allow_query, char *qbuf,
			      size_t qlen, size_t *len)
{
	const char *h = http_header(req, "Authorization");
	if (h) {
		if (strncasecmp(h, "Bearer ", 7) == 0) {
			h += 7;
			while (*h == ' ')
				h++;
		}
		*len = strlen(h);
		return h;
	}
	h = http_header(req, "X-API-Key");
	if (h) {
		*len = strlen(h);
		return h;
	}
	if (allow_query) {
		int n = http_query(req, "key", qbuf, qlen);
		if (n >= 0) {
			*len = (size_t)n;
			return qbuf;
		}
	}
	return NULL;
}

/* Whether PATH is one of the UI's own pages: /entity/<id> (ids hold dots),
 * /lineage/..., /search, /plugins, /ingest, /services. */
static int ui_page(const char *path)
{
	static const char *const pages[] = { "entity", "lineage", "search", "plugins", "ingest",
					     "services" };
	for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		size_t n = strlen(pages[i]);
		if (path[0] == '/' && strncmp(path + 1, pages[i], n) == 0 &&
		    (path[1 + n] == '\0' || path[1 + n] == '/'))
			return 1;
	}
	return 0;
}

static void serve_asset(struct http_req *req, const char *path)
{
	const struct web_asset *a = assets_find(path, strlen(path));
	/* The UI routes its own paths: a path of its pages, or any other that
	 * does not look like a file (no dot in its last segment). */
	if (!a && strncmp(path, "/api/", 5) != 0 &&
	    (ui_page(path) || !strchr(strrchr(path, '/'), '.')))
		a = assets_find("/", 1);
	if (!a) {
		http_error(req, 404, "not found", "no resource at '%s'", path);
		return;
	}
	int html = strncmp(a->mime, "text/html", 9) == 0;
	http_reply(req, 200, a->mime, a->data, a->len,
		   html ? "Cache-Control: no-cache\r\n"
			  "Content-Security-Policy: default-src 'self'; script-src 'self'; "
			  "style-src 'self'; img-src 'self' data:; object-src 'none'; "
			  "frame-ancestors 'none'; base-uri 'none'\r\n"
			  "Referrer-Policy: no-referrer\r\n"
			: "Cache-Control: public, max-age=300\r\n");
}

static void observe(struct route *r, struct http_server *srv, int status, double secs)
{
	int cls = status / 100;
	if (cls < 1 || cls > 5)
		cls = 5;
	if (!r) {
		atomic_fetch_add(&srv->unmatched_by_class[cls], 1);
		return;
	}
	atomic_fetch_add(&r->by_class[cls], 1);
	size_t b = 0;
	while (b < NBUCKETS && secs > buckets[b])
		b++;
	atomic_fetch_add(&r->hist[b], 1);
	atomic_fetch_add(&r->sum_us, (long long)(secs * 1e6));
}

static int dispatch(struct mg_connection *conn, void *cbdata)
{
	struct http_server *srv = cbdata;
	const struct mg_request_info *ri = mg_get_request_info(conn);
	double t0 = now_s();
	atomic_fetch_add(&srv->in_flight, 1);
	struct route *matched = NULL;
	struct http_req req = {
		.conn = conn,
		.srv = srv,
		.method = ri->request_method,
		.path = ri->local_uri_raw ? ri->local_uri_raw : "/",
		.query = ri->query_string ? ri->query_string : "",
	};
	char pathcopy[HTTP_PATH_MAX]; /* the raw path, split and decoded in place */
	char dpath[HTTP_PATH_MAX];    /* the decoded path, for messages and assets */
	char pbuf[HTTP_PATH_MAX];
	char *segs[PATH_SEGS_MAX];
	char qkey[128];
	if (strlen(req.path) >= sizeof(pathcopy)) {
		http_error(&req, 414, "uri too long", "the path is over %d bytes", HTTP_PATH_MAX);
		goto out;
	}
	/*
	 * CivetWeb runs with decode_url=no: split the raw path on '/' first and
	 * decode each segment, so "%2F" stays inside its segment and "%00" can
	 * never cut a path short.
	 */
	strcpy(pathcopy, req.path);
	int n = split_path(pathcopy, segs, PATH_SEGS_MAX);
	if (n < 0) {
		http_error(&req, 414, "uri too long", "the path has over %d segments", PATH_SEGS_MAX);
		goto out;
	}
	size_t dlen = 0;
	dpath[dlen++] = '/';
	for (int i = 0; i < n; i++) {
		if (decode_segment(segs[i]) < 0) {
			http_error(&req, 400, "bad path",
				   "segment %d of the path has a bad percent-escape, an encoded NUL, "
				   "or is not UTF-8", i + 1);
			goto out;
		}
		size_t sl = strlen(segs[i]);
		memcpy(dpath + dlen, segs[i], sl); /* decoding never lengthens a segment */
		dlen += sl;
		if (i + 1 < n)
			dpath[dlen++] = '/';
	}
	dpath[dlen] = '\0';
	req.path = dpath;
	int path_matched = 0;
	int nroutes = atomic_load(&srv->nroutes);
	for (int i = 0; n >= 0 && i < nroutes; i++) {
		struct route *r = &srv->routes[i];
		const char *params[HTTP_PARAMS_MAX] = { 0 };
		if (!route_match(r, segs, n, pbuf, sizeof(pbuf), params))
			continue;
		path_matched = 1;
		if (strcmp(r->method, req.method) != 0 &&
		    !(strcmp(req.method, "HEAD") == 0 && strcmp(r->method, "GET") == 0))
			continue;
		matched = r;
		memcpy(req.params, params, sizeof(params));
		break;
	}
	if (!matched) {
		if (path_matched)
			http_error(&req, 405, "method not allowed", "%s is not allowed on '%s'",
				   req.method, req.path);
		else if (strcmp(req.method, "GET") == 0 || strcmp(req.method, "HEAD") == 0)
			serve_asset(&req, req.path);
		else
			http_error(&req, 404, "not found", "no route for %s '%s'", req.method,
				   req.path);
		goto out;
	}
	size_t toklen = 0;
	const char *tok = find_token(&req, matched->need == AUTH_INGEST, qkey, sizeof(qkey),
				     &toklen);
	if (tok) {
		req.scope = auth_token_check(srv->cat, tok, toklen);
		if (req.scope == AUTH_NONE) {
			http_error(&req, 401, "unauthorized", "the token is not valid");
			goto out;
		}
	}
	if (matched->need != AUTH_NONE && !auth_allows(req.scope, matched->need) &&
	    !(matched->need == AUTH_READ && req.scope == AUTH_NONE && srv->anonymous_reads)) {
		if (req.scope == AUTH_NONE)
			http_error(&req, 401, "unauthorized",
				   "this needs a token of scope '%s' (Authorization: Bearer ...)",
				   auth_scope_name(matched->need));
		else
			http_error(&req, 403, "forbidden", "this needs scope '%s'; the token has '%s'",
				   auth_scope_name(matched->need), auth_scope_name(req.scope));
		goto out;
	}
	req.ud = matched->ud;
	matched->fn(&req);
	if (!req.replied) {
		log_event(LOG_ERROR, "handler did not reply", "route", matched->pattern, NULL);
		http_error(&req, 500, "internal", "the handler did not reply");
	}
out:;
	double secs = now_s() - t0;
	observe(matched, srv, req.status, secs);
	if (req.status >= 500 || log_get_level() == LOG_DEBUG) {
		char st[8], ms[32];
		snprintf(st, sizeof(st), "%d", req.status);
		snprintf(ms, sizeof(ms), "%.3f", secs * 1e3);
		log_event(req.status >= 500 ? LOG_WARN : LOG_DEBUG, "request", "method", req.method,
			  "path", req.path, "status", st, "ms", ms, NULL);
	}
	free(req.body);
	atomic_fetch_sub(&srv->in_flight, 1);
	return req.status ? req.status : 500;
}

static int log_message(const struct mg_connection *conn, const char *message)
{
	(void)conn;
	log_event(LOG_WARN, "civetweb", "detail", message, NULL);
	return 1;
}

static int init_ssl(void *ssl_ctx, void *user_data)
{
	struct http_server *srv = user_data;
	SSL_CTX *ctx = ssl_ctx;
	if (SSL_CTX_use_certificate_chain_file(ctx, srv->tls_cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, srv->tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		log_event(LOG_ERROR, "cannot load tls certificate", "cert", srv->tls_cert, "key",
			  srv->tls_key, NULL);
		return -1;
	}
	return 1;
}

struct http_server *http_start(const struct http_options *opt, struct catalog *cat, char *err,
			       size_t errlen)
{
	struct http_server *srv = calloc(1, sizeof(*srv));
	char host[256], ports[300], threads[16];
	int port = 0;
	if (!srv) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	pthread_mutex_init(&srv->route_lock, NULL);
	srv->cat = cat;
	srv->max_body = opt->max_body > 0 ? opt->max_body : 8 * 1024 * 1024;
	srv->anonymous_reads = opt->anonymous_reads;
	if (config_parse_listen(opt->listen, host, sizeof(host), &port) < 0) {
		snprintf(err, errlen, "bad listen address '%s': expected HOST:PORT", opt->listen);
		goto fail;
	}
	int tls = opt->tls_cert && opt->tls_key;
	if (tls) {
		srv->tls_cert = strdup(opt->tls_cert);
		srv->tls_key = strdup(opt->tls_key);
	}
	snprintf(ports, sizeof(ports), strchr(host, ':') ? "[%s]:%d%s" : "%s:%d%s", host, port,
		 tls ? "s" : "");
	snprintf(threads, sizeof(threads), "%d", opt->threads > 0 ? opt->threads : 16);
	const char *options[] = {
		"listening_ports", ports,
		"num_threads", threads,
		"enable_keep_alive", "yes",
		"keep_alive_timeout_ms", "5000",
		"request_timeout_ms", "10000",
		"tcp_nodelay", "1",
		"decode_url", "no",
		NULL,
	};
	struct mg_callbacks cb;
	memset(&cb, 0, sizeof(cb));
	cb.log_message = log_message;
	if (tls)
		cb.init_ssl = init_ssl;
	mg_init_library(tls ? MG_FEATURES_TLS : 0);
	srv->ctx = mg_start(&cb, srv, options);
	if (!srv->ctx) {
		snprintf(err, errlen, "cannot listen on %s", ports);
		goto fail;
	}
	struct mg_server_port sp[4];
	if (mg_get_server_ports(srv->ctx, 4, sp) > 0)
		srv->port = sp[0].port;
	mg_set_request_handler(srv->ctx, "/", dispatch, srv);
	return srv;
fail:
	if (srv) {
		free(srv->tls_cert);
		free(srv->tls_key);
		free(srv);
	}
	return NULL;
}

void http_stop(struct http_server *srv)
{
	if (!srv)
		return;
	mg_stop(srv->ctx);
	pthread_mutex_destroy(&srv->route_lock);
	free(srv->tls_cert);
	free(srv->tls_key);
	free(srv);
}

int http_port(const struct http_server *srv)
{
	return srv->port;
}

struct catalog *http_catalog(const struct http_server *srv)
{
	return srv->cat;
}

int http_metrics(struct http_server *srv, char **out, size_t *outlen)
{
	struct strbuf sb;
	strbuf_init(&sb, METRICS_MAX);
	int nroutes = atomic_load(&srv->nroutes);
	strbuf_adds(&sb, "# HELP terrarium_http_requests_total HTTP requests by route and status "
			 "class.\n# TYPE terrarium_http_requests_total counter\n");
	for (int i = 0; i < nroutes; i++) {
		struct route *r = &srv->routes[i];
		for (int c = 1; c <= 5; c++)
			strbuf_addf(&sb,
				    "terrarium_http_requests_total{route=\"%s\",method=\"%s\","
				    "code=\"%dxx\"} %ld\n",
				    r->pattern, r->method, c, atomic_load(&r->by_class[c]));
	}
	for (int c = 1; c <= 5; c++)
		strbuf_addf(&sb,
			    "terrarium_http_requests_total{route=\"other\",method=\"\",code=\"%dxx\"}"
			    " %ld\n",
			    c, atomic_load(&srv->unmatched_by_class[c]));
	strbuf_adds(&sb, "# HELP terrarium_http_request_duration_seconds Request latency by "
			 "route.\n# TYPE terrarium_http_request_duration_seconds histogram\n");
	for (int i = 0; i < nroutes; i++) {
		struct route *r = &srv->routes[i];
		long cum = 0;
		for (size_t b = 0; b <= NBUCKETS; b++) {
			cum += atomic_load(&r->hist[b]);
			if (b < NBUCKETS)
				strbuf_addf(&sb,
					    "terrarium_http_request_duration_seconds_bucket{route="
					    "\"%s\",method=\"%s\",le=\"%g\"} %ld\n",
					    r->pattern, r->method, buckets[b], cum);
			else
				strbuf_addf(&sb,
					    "terrarium_http_request_duration_seconds_bucket{route="
					    "\"%s\",method=\"%s\",le=\"+Inf\"} %ld\n",
					    r->pattern, r->method, cum);
		}
		strbuf_addf(&sb,
			    "terrarium_http_request_duration_seconds_sum{route=\"%s\",method=\"%s\"}"
			    " %.6f\n"
			    "terrarium_http_request_duration_seconds_count{route=\"%s\",method=\"%s\"}"
			    " %ld\n",
			    r->pattern, r->method, (double)atomic_load(&r->sum_us) / 1e6, r->pattern,
			    r->method, cum);
	}
	strbuf_addf(&sb,
		    "# HELP terrarium_http_in_flight Requests being served.\n"
		    "# TYPE terrarium_http_in_flight gauge\nterrarium_http_in_flight %ld\n",
		    atomic_load(&srv->in_flight));
	*out = strbuf_detach(&sb, outlen);
	return *out ? 0 : -1;
}
