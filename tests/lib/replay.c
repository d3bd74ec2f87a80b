/*
 * tests/lib/replay.c - a replay server for recorded HTTP answers (replay.h).
 */
#include "tests/lib/replay.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ROUTES_MAX 64
#define HEAD_MAX (64 * 1024)
#define BODY_MAX (1024 * 1024)
#define FILE_MAX (16 * 1024 * 1024)
#define ARRIVE_MS 5000
#define HOLD_MS 120000
#define WRITE_MS 5000
#define PATH_MAX_LEN 1024

struct route {
	char method[16];
	char *target;
	int status;
	char *ctype;
	char *body;
	size_t len;
};

struct replay_server {
	int fd;
	int port;
	char url[64];
	pthread_t thread;
	int thread_up;
	atomic_int stop;
	pthread_mutex_t mu;
	enum replay_flavor flavor;
	char *dir, *user, *password, *bearer;
	struct route routes[ROUTES_MAX];
	int nroutes;
	enum replay_fault fault;
	char *fault_match;
	int delay_ms;
	struct replay_request *log;   /* ring of REPLAY_LOG_MAX */
	size_t log_start, log_n;
};

/* One request as read from the connection. */
struct req {
	char method[16];
	char target[PATH_MAX_LEN];
	char path[PATH_MAX_LEN];      /* percent-decoded, without the query */
	char query[PATH_MAX_LEN];     /* raw, without '?' */
	char authorization[256];
	int expect_continue;
	char *body;
	size_t body_len;
};

/* One answer. */
struct answer {
	int status;
	char ctype[96];
	char *body;      /* malloc'd */
	size_t len;
};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *dup_or_null(const char *s, int *fail)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*fail = 1;
	return d;
}

/* --- answers ------------------------------------------------------------------------ */

static int answer_set(struct answer *a, int status, const char *ctype, const char *body,
		      size_t len)
{
	char *copy = malloc(len + 1);

	if (!copy)
		return -1;
	memcpy(copy, body, len);
	copy[len] = '\0';
	free(a->body);
	a->body = copy;
	a->len = len;
	a->status = status;
	snprintf(a->ctype, sizeof(a->ctype), "%s", ctype ? ctype : "application/json");
	return 0;
}

static int answer_text(struct answer *a, int status, const char *ctype, const char *text)
{
	return answer_set(a, status, ctype, text, strlen(text));
}

/* Read DIR/NAME into A with STATUS.  0, or -1 when it cannot be read. */
static int answer_file(struct answer *a, const char *dir, const char *name, int status,
		       const char *ctype)
{
	char path[2048];
	FILE *f;
	char *buf = NULL;
	long n;
	int rc = -1;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return -1;
	f = fopen(path, "rb");
	if (!f)
		return -1;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || n > FILE_MAX ||
	    fseek(f, 0, SEEK_SET) != 0)
		goto out;
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
		goto out;
	buf[n] = '\0';
	free(a->body);
	a->body = buf;
	buf = NULL;
	a->len = (size_t)n;
	a->status = status;
	snprintf(a->ctype, sizeof(a->ctype), "%s", ctype);
	rc = 0;
out:
	free(buf);
	fclose(f);
	return rc;
}

/* --- request parsing ---------------------------------------------------------------- */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Percent-decode the LEN bytes of S into OUT (OUTLEN); '+' is a space when PLUS. */
static void pct_decode(const char *s, size_t len, char *out, size_t outlen, int plus)
{
	size_t j = 0;

	for (size_t i = 0; i < len && j + 1 < outlen; i++) {
		if (s[i] == '%' && i + 2 < len && hexval((unsigned char)s[i + 1]) >= 0 &&
		    hexval((unsigned char)s[i + 2]) >= 0) {
			out[j++] = (char)(hexval((unsigned char)s[i + 1]) * 16 +
					  hexval((unsigned char)s[i + 2]));
			i += 2;
		} else if (plus && s[i] == '+') {
			out[j++] = ' ';
		} else {
			out[j++] = s[i];
		}
	}
	out[j] = '\0';
}

/* The decoded value of query parameter NAME of Q into OUT.  0, or -1 when absent. */
static int query_param(const char *q, const char *name, char *out, size_t outlen)
{
	size_t nlen = strlen(name);

	while (q && *q) {
		const char *amp = strchr(q, '&');
		size_t len = amp ? (size_t)(amp - q) : strlen(q);
		const char *eq = memchr(q, '=', len);
		char key[128];

		if (eq) {
			pct_decode(q, (size_t)(eq - q), key, sizeof(key), 1);
			if (strlen(key) == nlen && strcmp(key, name) == 0) {
				pct_decode(eq + 1, len - (size_t)(eq + 1 - q), out, outlen, 1);
				return 0;
			}
		}
		q = amp ? amp + 1 : NULL;
	}
	return -1;
}

static int send_all(int c, const char *buf, size_t len)
{
	long long deadline = mono_ms() + WRITE_MS;

	while (len > 0) {
		struct pollfd p = { .fd = c, .events = POLLOUT };
		long long left = deadline - mono_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return -1;
		n = send(c, buf, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Read one request from C into R (R->body malloc'd).  0, or -1 when the
 * request is malformed, too big, too slow or the server stops.
 */
static int read_request(struct replay_server *s, int c, struct req *r)
{
	char *buf = malloc(HEAD_MAX + 1);
	size_t len = 0, head_len = 0, clen = 0;
	long long deadline = mono_ms() + ARRIVE_MS;
	char *end = NULL, *line, *next;
	int rc = -1;

	if (!buf)
		return -1;
	while (!end) {
		struct pollfd p = { .fd = c, .events = POLLIN };
		long long left = deadline - mono_ms();
		ssize_t n;

		if (left <= 0 || atomic_load(&s->stop) || len >= HEAD_MAX)
			goto out;
		if (poll(&p, 1, left > 100 ? 100 : (int)left) <= 0)
			continue;
		n = recv(c, buf + len, HEAD_MAX - len, 0);
		if (n <= 0)
			goto out;
		len += (size_t)n;
		buf[len] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	head_len = (size_t)(end - buf) + 4;
	*end = '\0';

	/* the request line */
	next = strstr(buf, "\r\n");
	if (next)
		*next = '\0';
	{
		char *sp1 = strchr(buf, ' '), *sp2;
		if (!sp1 || (size_t)(sp1 - buf) >= sizeof(r->method))
			goto out;
		sp2 = strchr(sp1 + 1, ' ');
		if (!sp2 || (size_t)(sp2 - sp1 - 1) >= sizeof(r->target))
			goto out;
		memcpy(r->method, buf, (size_t)(sp1 - buf));
		r->method[sp1 - buf] = '\0';
		memcpy(r->target, sp1 + 1, (size_t)(sp2 - sp1 - 1));
		r->target[sp2 - sp1 - 1] = '\0';
	}
	{
		char *q = strchr(r->target, '?');
		size_t plen = q ? (size_t)(q - r->target) : strlen(r->target);
		pct_decode(r->target, plen, r->path, sizeof(r->path), 0);
		snprintf(r->query, sizeof(r->query), "%s", q ? q + 1 : "");
	}

	/* headers */
	for (line = next ? next + 2 : NULL; line && *line; line = next) {
		char *colon;
		next = strstr(line, "\r\n");
		if (next) {
			*next = '\0';
			next += 2;
		}
		colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		char *v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		if (strcasecmp(line, "content-length") == 0) {
			char *e;
			unsigned long long n = strtoull(v, &e, 10);
			if (e == v || n > BODY_MAX)
				goto out;
			clen = (size_t)n;
		} else if (strcasecmp(line, "authorization") == 0) {
			snprintf(r->authorization, sizeof(r->authorization), "%s", v);
		} else if (strcasecmp(line, "expect") == 0 && strcasecmp(v, "100-continue") == 0) {
			r->expect_continue = 1;
		} else if (strcasecmp(line, "transfer-encoding") == 0) {
			goto out;   /* chunked bodies are not needed by any client here */
		}
	}

	/* the body */
	r->body = malloc(clen + 1);
	if (!r->body)
		goto out;
	r->body_len = len - head_len < clen ? len - head_len : clen;
	memcpy(r->body, buf + head_len, r->body_len);
	if (r->expect_continue && r->body_len < clen &&
	    send_all(c, "HTTP/1.1 100 Continue\r\n\r\n", 25) < 0)
		goto out;
	while (r->body_len < clen) {
		struct pollfd p = { .fd = c, .events = POLLIN };
		long long left = deadline - mono_ms();
		ssize_t n;

		if (left <= 0 || atomic_load(&s->stop))
			goto out;
		if (poll(&p, 1, left > 100 ? 100 : (int)left) <= 0)
			continue;
		n = recv(c, r->body + r->body_len, clen - r->body_len, 0);
		if (n <= 0)
			goto out;
		r->body_len += (size_t)n;
	}
	r->body[r->body_len] = '\0';
	rc = 0;
out:
	free(buf);
	return rc;
}

/* --- authentication ----------------------------------------------------------------- */

/* Whether R carries the credentials S wants (basic user:password or the bearer). */
static int authorized(struct replay_server *s, const struct req *r, const char *user,
		      const char *password)
{
	if (s->bearer && strncasecmp(r->authorization, "Bearer ", 7) == 0 &&
	    strcmp(r->authorization + 7, s->bearer) == 0)
		return 1;
	if (user && strncasecmp(r->authorization, "Basic ", 6) == 0) {
		char plain[300], want[300];
		unsigned char dec[300];
		const char *b64 = r->authorization + 6;
		size_t blen = strlen(b64);
		int n;

		if (blen == 0 || blen % 4 || blen * 3 / 4 >= sizeof(dec))
			return 0;
		n = EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)blen);
		if (n < 0)
			return 0;
		while (blen && b64[blen - 1] == '=') {
			blen--;
			n--;
		}
		if (n < 0 || (size_t)n >= sizeof(plain))
			return 0;
		memcpy(plain, dec, (size_t)n);
		plain[n] = '\0';
		snprintf(want, sizeof(want), "%s:%s", user, password ? password : "");
		return strcmp(plain, want) == 0;
	}
	return 0;
}

/* --- paging --------------------------------------------------------------------------- */

/* The first array member of object DOC, and its key. */
static json_t *first_array(json_t *doc, const char **key_out)
{
	const char *key;
	json_t *v;

	json_object_foreach(doc, key, v) {
		if (json_is_array(v)) {
			*key_out = key;
			return v;
		}
	}
	return NULL;
}

/* base64 of {"offset": N} (MLflow 2.x's page token) into OUT. */
static void page_token(long n, char *out, size_t outlen)
{
	char plain[64];
	unsigned char enc[128];
	int len = snprintf(plain, sizeof(plain), "{\"offset\": %ld}", n);
	int elen = EVP_EncodeBlock(enc, (const unsigned char *)plain, len);

	snprintf(out, outlen, "%.*s", elen, (const char *)enc);
}

/* The offset a page token names, or -1 when it is not one. */
static long token_offset(const char *tok)
{
	unsigned char dec[256];
	size_t tlen = strlen(tok), pad = 0;
	json_t *j;
	long off = -1;
	int n;

	if (tlen == 0 || tlen % 4 || tlen * 3 / 4 >= sizeof(dec))
		return -1;
	n = EVP_DecodeBlock(dec, (const unsigned char *)tok, (int)tlen);
	while (pad < tlen && tok[tlen - 1 - pad] == '=')
		pad++;
	if (n < 0 || (size_t)n < pad)
		return -1;
	j = json_loadb((const char *)dec, (size_t)n - pad, 0, NULL);
	if (json_is_integer(json_object_get(j, "offset")))
		off = (long)json_integer_value(json_object_get(j, "offset"));
	json_decref(j);
	return off;
}

/*
 * Slice A's recorded list to [OFFSET, OFFSET + LIMIT); with MLFLOW, add a
 * next_page_token while items remain.  A stays as it is when it is not an
 * object with an array.
 */
static int page(struct answer *a, long offset, long limit, int mlflow)
{
	json_t *doc = json_loadb(a->body, a->len, 0, NULL), *list, *slice = NULL;
	const char *key = NULL;
	char *text = NULL;
	int rc = -1;

	if (!doc || !(list = first_array(doc, &key))) {
		rc = 0;
		goto out;
	}
	slice = json_array();
	if (!slice)
		goto out;
	for (long i = offset; i < offset + limit && i < (long)json_array_size(list); i++)
		if (json_array_append(slice, json_array_get(list, (size_t)i)) < 0)
			goto out;
	if (mlflow && offset + limit < (long)json_array_size(list)) {
		char tok[128];
		page_token(offset + limit, tok, sizeof(tok));
		if (json_object_set_new(doc, "next_page_token", json_string(tok)) < 0)
			goto out;
	}
	if (json_object_set(doc, key, slice) < 0)
		goto out;
	text = json_dumps(doc, JSON_INDENT(2));
	if (!text)
		goto out;
	{
		char ctype[sizeof(a->ctype)];
		memcpy(ctype, a->ctype, sizeof(ctype));
		rc = answer_text(a, a->status, ctype, text);
	}
out:
	free(text);
	json_decref(slice);
	json_decref(doc);
	return rc;
}

/* --- routing ---------------------------------------------------------------------------- */

static const char problem_404[] =
	"{\n  \"detail\": \"replay: nothing recorded for this path\",\n  \"status\": 404,\n"
	"  \"title\": \"Not Found\",\n  \"type\": \"about:blank\"\n}\n";

/* Whether NAME is a safe file name (no slash, no leading dot, no ".."). */
static int safe_name(const char *name)
{
	if (!*name || name[0] == '.' || strstr(name, ".."))
		return 0;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("_.:+-", *p))
			return 0;
	return 1;
}

static int route_mlflow(struct replay_server *s, const struct req *r, struct answer *a)
{
	static const char prefix[] = "/api/2.0/mlflow/";
	char ep[600], name[700], val[64];

	if (strncmp(r->path, prefix, sizeof(prefix) - 1) != 0)
		return answer_text(a, 404, "application/json",
				   "{\"error_code\": \"ENDPOINT_NOT_FOUND\", "
				   "\"message\": \"replay: no such endpoint\"}");
	if ((s->user || s->bearer) && !authorized(s, r, s->user, s->password))
		return answer_text(a, 401, "text/plain",
				   "You are not authenticated. Please provide valid credentials.");
	snprintf(ep, sizeof(ep), "%s", r->path + sizeof(prefix) - 1);
	for (char *p = ep; *p; p++)
		if (*p == '/' || *p == '-')
			*p = '_';
	snprintf(name, sizeof(name), "%s_%s.json", ep, r->method);
	if (safe_name(ep) && answer_file(a, s->dir, name, 200, "application/json") == 0) {
		long limit = -1, offset = 0;
		if (strcmp(r->method, "GET") == 0) {
			if (query_param(r->query, "max_results", val, sizeof(val)) == 0)
				limit = atol(val);
			if (query_param(r->query, "page_token", val, sizeof(val)) == 0)
				offset = token_offset(val);
		} else if (r->body_len) {
			json_t *b = json_loadb(r->body, r->body_len, 0, NULL);
			json_t *mr = json_object_get(b, "max_results");
			json_t *pt = json_object_get(b, "page_token");
			if (json_is_integer(mr))
				limit = (long)json_integer_value(mr);
			if (json_is_string(pt) && json_string_length(pt) > 0)
				offset = token_offset(json_string_value(pt));
			json_decref(b);
		}
		if (offset < 0)
			return answer_text(a, 400, "application/json",
					   "{\"error_code\": \"INVALID_PARAMETER_VALUE\", "
					   "\"message\": \"Invalid page token, could not base64-decode\"}");
		if (limit > 0)
			return page(a, offset, limit, 1);
		return 0;
	}
	snprintf(name, sizeof(name), "%s_%s.405.html", ep, r->method);
	if (safe_name(ep) && answer_file(a, s->dir, name, 405, "text/html; charset=utf-8") == 0)
		return 0;
	return answer_text(a, 404, "application/json",
			   "{\"error_code\": \"ENDPOINT_NOT_FOUND\", "
			   "\"message\": \"replay: nothing recorded for this endpoint\"}");
}

static int route_airflow(struct replay_server *s, const struct req *r, struct answer *a)
{
	static const char prefix[] = "/api/v1/";
	char name[PATH_MAX_LEN + 8], val[64];
	const char *user = s->user ? s->user : "admin";
	const char *password = s->user ? s->password : "admin";
	long limit = -1, offset = 0;

	if (strcmp(r->path, "/health") == 0 || strcmp(r->path, "/api/v1/health") == 0)
		return answer_file(a, s->dir, "health.json", 200, "application/json");
	if (strncmp(r->path, prefix, sizeof(prefix) - 1) != 0)
		return answer_text(a, 404, "application/problem+json", problem_404);
	if (strcmp(r->path, "/api/v1/version") != 0 && !authorized(s, r, user, password))
		return answer_file(a, s->dir, "dags_unauthorized.401.json", 401,
				   "application/problem+json");
	if (strcmp(r->method, "GET") != 0)
		return answer_text(a, 405, "application/problem+json",
				   "{\n  \"detail\": \"Method Not Allowed\",\n  \"status\": 405,\n"
				   "  \"title\": \"Method Not Allowed\",\n  \"type\": \"about:blank\"\n}\n");
	snprintf(name, sizeof(name), "%s", r->path + sizeof(prefix) - 1);
	for (char *p = name; *p; p++)
		if (*p == '/')
			*p = '_';
	if (!safe_name(name))
		return answer_text(a, 404, "application/problem+json", problem_404);
	strcat(name, ".json");
	if (answer_file(a, s->dir, name, 200, "application/json") != 0)
		return answer_text(a, 404, "application/problem+json", problem_404);
	if (query_param(r->query, "limit", val, sizeof(val)) == 0)
		limit = atol(val);
	if (query_param(r->query, "offset", val, sizeof(val)) == 0)
		offset = atol(val);
	if (offset < 0)
		offset = 0;
	if (limit > 0)
		return page(a, offset, limit, 0);
	return 0;
}

/* The answer to R (from a route, a recording or a 404).  0, or -1 (out of memory). */
static int route(struct replay_server *s, const struct req *r, struct answer *a)
{
	int found = -1;

	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < s->nroutes; i++) {
		const struct route *rt = &s->routes[i];
		size_t plen = strcspn(r->target, "?");
		int hit = strchr(rt->target, '?') ? strcmp(rt->target, r->target) == 0
						 : strlen(rt->target) == plen &&
							   strncmp(rt->target, r->target, plen) == 0;
		if (hit && strcmp(rt->method, r->method) == 0) {
			found = answer_set(a, rt->status, rt->ctype, rt->body, rt->len);
			break;
		}
	}
	pthread_mutex_unlock(&s->mu);
	if (found == 0)
		return 0;
	if (s->flavor == REPLAY_MLFLOW)
		return route_mlflow(s, r, a);
	if (s->flavor == REPLAY_AIRFLOW)
		return route_airflow(s, r, a);
	return answer_text(a, 404, "application/json", "{\"error\": \"replay: no route\"}");
}

/* --- serving ---------------------------------------------------------------------------- */

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 500: return "Internal Server Error";
	default: return "Status";
	}
}

static int send_head(int c, const struct answer *a, size_t content_length)
{
	char head[512];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\nServer: terrarium-replay\r\n\r\n",
			 a->status, reason(a->status), a->ctype, content_length);

	return send_all(c, head, (size_t)n);
}

/* Hold C open until the client closes it, the server stops, or HOLD_MS pass. */
static void hold(struct replay_server *s, int c)
{
	long long deadline = mono_ms() + HOLD_MS;
	char sink[512];

	while (!atomic_load(&s->stop) && mono_ms() < deadline) {
		struct pollfd p = { .fd = c, .events = POLLIN };
		if (poll(&p, 1, 100) > 0) {
			ssize_t n = recv(c, sink, sizeof(sink), 0);
			if (n <= 0)
				return;
		}
	}
}

static void log_request(struct replay_server *s, const struct req *r, int status)
{
	struct replay_request *e;

	pthread_mutex_lock(&s->mu);
	if (s->log_n == REPLAY_LOG_MAX) {
		s->log_start = (s->log_start + 1) % REPLAY_LOG_MAX;
		s->log_n--;
	}
	e = &s->log[(s->log_start + s->log_n) % REPLAY_LOG_MAX];
	s->log_n++;
	memset(e, 0, sizeof(*e));
	snprintf(e->method, sizeof(e->method), "%s", r->method);
	snprintf(e->target, sizeof(e->target), "%s", r->target);
	snprintf(e->body, sizeof(e->body), "%.*s", (int)(r->body_len < sizeof(e->body) ? r->body_len
								: sizeof(e->body) - 1),
		 r->body ? r->body : "");
	snprintf(e->authorization, sizeof(e->authorization), "%s", r->authorization);
	e->status = status;
	pthread_mutex_unlock(&s->mu);
}

static void serve(struct replay_server *s, int c)
{
	struct req r;
	struct answer a = { 0 };
	enum replay_fault fault = REPLAY_OK;
	int delay_ms = 0;

	memset(&r, 0, sizeof(r));
	if (read_request(s, c, &r) < 0)
		goto out;
	pthread_mutex_lock(&s->mu);
	if (s->fault != REPLAY_OK && (!s->fault_match || strstr(r.target, s->fault_match))) {
		fault = s->fault;
		delay_ms = s->delay_ms;
	}
	pthread_mutex_unlock(&s->mu);

	if (fault == REPLAY_HANG) {
		log_request(s, &r, 0);
		hold(s, c);
		goto out;
	}
	if (route(s, &r, &a) < 0 && answer_text(&a, 500, "text/plain", "replay: out of memory") < 0)
		goto out;
	if (fault == REPLAY_GARBAGE) {
		static const char junk[] = "<html><body>\x01\x02 this is not {\"json\": [ at all";
		if (answer_set(&a, 200, "application/json", junk, sizeof(junk) - 1) < 0)
			goto out;
	} else if (fault == REPLAY_500) {
		if (answer_text(&a, 500, "application/json",
				"{\"error_code\": \"INTERNAL_ERROR\", "
				"\"message\": \"replay: injected server error\"}") < 0)
			goto out;
	} else if (fault == REPLAY_TRUNCATED) {
		a.len /= 2;
		a.status = 200;
	}
	log_request(s, &r, a.status);

	if (fault == REPLAY_CUT) {
		if (send_head(c, &a, a.len) == 0)
			send_all(c, a.body, a.len / 2);
		goto out;
	}
	if (send_head(c, &a, a.len) < 0)
		goto out;
	if (fault == REPLAY_SLOW) {
		for (size_t i = 0; i < a.len && !atomic_load(&s->stop); i++) {
			struct timespec ts = { delay_ms / 1000, (long)(delay_ms % 1000) * 1000000L };
			if (send_all(c, a.body + i, 1) < 0)
				break;
			nanosleep(&ts, NULL);
		}
		goto out;
	}
	send_all(c, a.body, a.len);
	/* let the client read everything before the close */
	shutdown(c, SHUT_WR);
	{
		char sink[256];
		long long deadline = mono_ms() + 1000;
		while (mono_ms() < deadline) {
			struct pollfd p = { .fd = c, .events = POLLIN };
			if (poll(&p, 1, 50) <= 0)
				continue;
			if (recv(c, sink, sizeof(sink), 0) <= 0)
				break;
		}
	}
out:
	free(r.body);
	free(a.body);
}

static void *loop(void *arg)
{
	struct replay_server *s = arg;

	while (!atomic_load(&s->stop)) {
		struct pollfd p = { .fd = s->fd, .events = POLLIN };
		int c;

		if (poll(&p, 1, 50) <= 0)
			continue;
		c = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		serve(s, c);
		close(c);
	}
	return NULL;
}

/* --- the public functions ------------------------------------------------------------------ */

static void free_server(struct replay_server *s)
{
	if (s->fd >= 0)
		close(s->fd);
	for (int i = 0; i < s->nroutes; i++) {
		free(s->routes[i].target);
		free(s->routes[i].ctype);
		free(s->routes[i].body);
	}
	free(s->dir);
	free(s->user);
	free(s->password);
	free(s->bearer);
	free(s->fault_match);
	free(s->log);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

struct replay_server *replay_start(const struct replay_config *cfg, char *err, size_t errlen)
{
	struct replay_server *s = calloc(1, sizeof(*s));
	struct sockaddr_in addr = { 0 };
	socklen_t alen = sizeof(addr);
	int fail = 0, one = 1;

	if (!s) {
		seterr(err, errlen, "replay: out of memory");
		return NULL;
	}
	s->fd = -1;
	pthread_mutex_init(&s->mu, NULL);
	atomic_init(&s->stop, 0);
	s->flavor = cfg->flavor;
	s->dir = dup_or_null(cfg->dir, &fail);
	s->user = dup_or_null(cfg->user, &fail);
	s->password = dup_or_null(cfg->password, &fail);
	s->bearer = dup_or_null(cfg->bearer, &fail);
	s->log = calloc(REPLAY_LOG_MAX, sizeof(*s->log));
	if (fail || !s->log) {
		seterr(err, errlen, "replay: out of memory");
		goto fail;
	}
	if (cfg->flavor != REPLAY_PLAIN && (!cfg->dir || access(cfg->dir, R_OK | X_OK) != 0)) {
		seterr(err, errlen, "replay: cannot read the recordings in '%s': %s",
		       cfg->dir ? cfg->dir : "(none)", strerror(errno));
		goto fail;
	}
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		seterr(err, errlen, "replay: socket: %s", strerror(errno));
		goto fail;
	}
	setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = 0;
	if (bind(s->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(s->fd, 16) < 0 ||
	    getsockname(s->fd, (struct sockaddr *)&addr, &alen) < 0) {
		seterr(err, errlen, "replay: cannot listen on 127.0.0.1: %s", strerror(errno));
		goto fail;
	}
	s->port = ntohs(addr.sin_port);
	snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d", s->port);
	if (pthread_create(&s->thread, NULL, loop, s) != 0) {
		seterr(err, errlen, "replay: cannot start its thread");
		goto fail;
	}
	s->thread_up = 1;
	return s;
fail:
	free_server(s);
	return NULL;
}

void replay_stop(struct replay_server *s)
{
	if (!s)
		return;
	atomic_store(&s->stop, 1);
	if (s->thread_up)
		pthread_join(s->thread, NULL);
	free_server(s);
}

int replay_port(const struct replay_server *s)
{
	return s->port;
}

const char *replay_url(const struct replay_server *s)
{
	return s->url;
}

int replay_add(struct replay_server *s, const char *method, const char *target, int status,
	       const char *ctype, const char *body, size_t len)
{
	struct route nr = { 0 };
	int rc = -1, i;

	if (strlen(method) >= sizeof(nr.method))
		return -1;
	snprintf(nr.method, sizeof(nr.method), "%s", method);
	nr.target = strdup(target);
	nr.ctype = strdup(ctype ? ctype : "application/json");
	nr.body = malloc(len + 1);
	if (!nr.target || !nr.ctype || !nr.body)
		goto out;
	memcpy(nr.body, body, len);
	nr.body[len] = '\0';
	nr.len = len;
	nr.status = status;
	pthread_mutex_lock(&s->mu);
	for (i = 0; i < s->nroutes; i++)
		if (strcmp(s->routes[i].method, method) == 0 &&
		    strcmp(s->routes[i].target, target) == 0)
			break;
	if (i < ROUTES_MAX) {
		if (i < s->nroutes) {
			free(s->routes[i].target);
			free(s->routes[i].ctype);
			free(s->routes[i].body);
		} else {
			s->nroutes++;
		}
		s->routes[i] = nr;
		memset(&nr, 0, sizeof(nr));
		rc = 0;
	}
	pthread_mutex_unlock(&s->mu);
out:
	free(nr.target);
	free(nr.ctype);
	free(nr.body);
	return rc;
}

void replay_fault(struct replay_server *s, enum replay_fault fault, const char *match,
		  int delay_ms)
{
	char *m = match ? strdup(match) : NULL;

	pthread_mutex_lock(&s->mu);
	free(s->fault_match);
	s->fault_match = m;
	/* out of memory for MATCH: the fault applies to every request */
	s->fault = fault;
	s->delay_ms = delay_ms > 0 ? delay_ms : 500;
	pthread_mutex_unlock(&s->mu);
}

size_t replay_count(struct replay_server *s)
{
	size_t n;

	pthread_mutex_lock(&s->mu);
	n = s->log_n;
	pthread_mutex_unlock(&s->mu);
	return n;
}

int replay_request(struct replay_server *s, size_t i, struct replay_request *out)
{
	int rc = -1;

	pthread_mutex_lock(&s->mu);
	if (i < s->log_n) {
		*out = s->log[(s->log_start + i) % REPLAY_LOG_MAX];
		rc = 0;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

size_t replay_matching(struct replay_server *s, const char *method, const char *part)
{
	size_t n = 0;

	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < s->log_n; i++) {
		const struct replay_request *e = &s->log[(s->log_start + i) % REPLAY_LOG_MAX];
		if ((!method || strcmp(e->method, method) == 0) && strstr(e->target, part))
			n++;
	}
	pthread_mutex_unlock(&s->mu);
	return n;
}

void replay_clear(struct replay_server *s)
{
	pthread_mutex_lock(&s->mu);
	s->log_start = 0;
	s->log_n = 0;
	pthread_mutex_unlock(&s->mu);
}
