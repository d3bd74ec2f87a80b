/*
 * plugins/http/http.c - the HTTP client binding for Lua collectors:
 * `local http = require "http"` (module registered by the built-in plugin
 * "lua_http"), on libcurl.
 *
 *   resp, err  = http.get(url [, opts])
 *   resp, err  = http.post(url, body [, opts])
 *   value, err = http.get_json(url [, opts])
 *   value, err = http.post_json(url, value [, opts])
 *   for page in http.pages(url, opts, next_fn) do ... end
 *
 * resp = { status = 200, headers = { ["content-type"] = "..." }, body = "..." }
 * with header names lowercased (repeated headers joined with ", ").  Any
 * status is a response; get_json/post_json also fail on a status that is not
 * 2xx and on a body that is not JSON (a 204/205 reply is json.null).  JSON
 * mapping: luajson.h.
 *
 * opts = { headers = { name = value }, timeout = 10 (s, whole transfer,
 *          connect included), basic = { user, password }, bearer = token,
 *          verify = true (TLS peer and host name), query = { k = v or {v1, v2} }
 *          (sorted by key, url-encoded, appended), max_bytes = 64 MiB (body
 *          bound, after decompression), max_pages = 1000 (pages only) }
 *
 * Redirects are followed up to 5, only to http and https.  Failures return
 * nil and a message that starts "http: " and ends with the method and the URL
 * "(GET https://host/path?page=2)", with userinfo removed and the values of
 * query parameters named like secrets (token, key, secret, pass, auth, sig,
 * session, credential) shown as "***"; the basic password and the bearer
 * token never appear.  Wrong arguments raise a Lua error.  pages() raises the
 * failure of a page as a Lua error.
 *
 * Every C resource of a call is owned by a userdata with a __gc metamethod,
 * so a Lua error in the middle (a memory limit) leaks nothing.
 */
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>

#include "hub/plugin.h"
#include "luajson.h"

#define DEFAULT_TIMEOUT 10.0
#define MAX_TIMEOUT 3600.0
#define DEFAULT_MAX_BYTES (64 * 1024 * 1024)
#define MAX_REDIRS 5
#define DEFAULT_MAX_PAGES 1000
#define MAX_URL 8192
#define MAX_HEADERS 100
#define MAX_QUERY 256
#define SHOWN_URL 300
#define SECRETS_MAX 4
#define REQUEST_MT "terrarium.http.request"

struct request {
	CURL *curl;
	struct curl_slist *headers;
	char *url;                  /* the full URL with the query appended */
	size_t url_len, url_cap;
	char *body;                 /* the response body */
	size_t len, cap, max;
	int over, nomem;
	char *send;                 /* post_json: the encoded request body */
	json_t *json;               /* the decoded response */
	char *secrets[SECRETS_MAX]; /* strings that must not appear in errors */
	int nsecrets;
	double timeout;
	const char *method;
	char shown[SHOWN_URL + 32]; /* "GET http://..." for messages */
	char curlerr[CURL_ERROR_SIZE];
	char err[1200];
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* --- the request object ------------------------------------------------------------ */

static void request_release(struct request *r)
{
	if (r->curl)
		curl_easy_cleanup(r->curl);
	curl_slist_free_all(r->headers);
	free(r->url);
	free(r->body);
	free(r->send);
	json_decref(r->json);
	for (int i = 0; i < r->nsecrets; i++) {
		if (r->secrets[i])
			memset(r->secrets[i], 0, strlen(r->secrets[i]));
		free(r->secrets[i]);
	}
	memset(r, 0, sizeof(*r));
}

static int request_gc(lua_State *L)
{
	request_release(luaL_checkudata(L, 1, REQUEST_MT));
	return 0;
}

static struct request *request_new(lua_State *L)
{
	struct request *r = lua_newuserdatauv(L, sizeof(*r), 0);
	memset(r, 0, sizeof(*r));
	luaL_setmetatable(L, REQUEST_MT);
	return r;
}

static void add_secret(lua_State *L, struct request *r, const char *s, size_t len)
{
	if (len < 3 || r->nsecrets == SECRETS_MAX)
		return;
	r->secrets[r->nsecrets] = strndup(s, len);
	if (!r->secrets[r->nsecrets])
		luaL_error(L, "http: out of memory");
	r->nsecrets++;
}

/* Replace every secret in R->err by "***". */
static void scrub(struct request *r)
{
	for (int i = 0; i < r->nsecrets; i++) {
		size_t n = strlen(r->secrets[i]);
		char *p;
		while ((p = strstr(r->err, r->secrets[i]))) {
			memmove(p + 3, p + n, strlen(p + n) + 1);
			memcpy(p, "***", 3);
		}
	}
}

static void set_err(struct request *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* R->err = "http: <fmt...> (<METHOD> <url>)". */
static void set_err(struct request *r, const char *fmt, ...)
{
	char what[700];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(r->err, sizeof(r->err), "http: %s (%s)", what, r->shown);
	scrub(r);
}

/* Append LEN bytes to R->url, bounded by MAX_URL. */
static int url_add(struct request *r, const char *s, size_t len)
{
	if (r->url_len + len + 1 > MAX_URL)
		return -1;
	if (r->url_len + len + 1 > r->url_cap) {
		size_t cap = r->url_cap ? r->url_cap : 256;
		while (cap < r->url_len + len + 1)
			cap *= 2;
		char *p = realloc(r->url, cap);
		if (!p)
			return -1;
		r->url = p;
		r->url_cap = cap;
	}
	memcpy(r->url + r->url_len, s, len);
	r->url_len += len;
	r->url[r->url_len] = '\0';
	return 0;
}

/* --- URLs in messages ---------------------------------------------------------------- */

static int secret_name(const char *name, size_t len)
{
	static const char *const words[] = { "token", "key", "secret", "pass", "auth",
					     "sig", "session", "credential" };
	char low[64];
	if (len >= sizeof(low))
		len = sizeof(low) - 1;
	for (size_t i = 0; i < len; i++)
		low[i] = (char)tolower((unsigned char)name[i]);
	low[len] = '\0';
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strstr(low, words[i]))
			return 1;
	return 0;
}

/*
 * OUT = URL without userinfo and fragment, with secret-looking query values
 * as "***", control characters as '?', cut at SHOWN_URL bytes.
 */
static void shown_url(const char *url, char *out, size_t outlen)
{
	char buf[SHOWN_URL + 8];
	size_t n = 0;
	const char *p = url;
	const char *scheme = strstr(url, "://");
	if (scheme) {
		const char *auth = scheme + 3;
		size_t alen = strcspn(auth, "/?#");
		const char *at = NULL;
		for (size_t i = 0; i < alen; i++)
			if (auth[i] == '@')
				at = auth + i;
		size_t head = (size_t)(auth - url);
		if (head > SHOWN_URL)
			head = SHOWN_URL;
		memcpy(buf, url, head);
		n = head;
		p = at ? at + 1 : auth;
	}
	int in_query = 0, redact = 0;
	const char *name = NULL;
	for (; *p && *p != '#' && n < SHOWN_URL; p++) {
		char c = *p;
		if (c == '?' && !in_query) {
			in_query = 1;
			name = p + 1;
		} else if (in_query && c == '&') {
			redact = 0;
			name = p + 1;
		} else if (in_query && c == '=' && name) {
			redact = secret_name(name, (size_t)(p - name));
			name = NULL;
			buf[n++] = c;
			if (redact && n + 3 <= SHOWN_URL) {
				memcpy(buf + n, "***", 3);
				n += 3;
			}
			continue;
		}
		if (redact)
			continue;
		buf[n++] = (unsigned char)c < 0x20 || c == 0x7f ? '?' : c;
	}
	buf[n] = '\0';
	snprintf(out, outlen, "%s%s", buf, *p && *p != '#' ? "..." : "");
}

/* --- options ----------------------------------------------------------------------- */

struct opts {
	double timeout;
	long long max_bytes;
	int verify;
	int has_ctype, has_accept;
};

static void append_header(lua_State *L, struct request *r, const char *line)
{
	struct curl_slist *l = curl_slist_append(r->headers, line);
	if (!l)
		luaL_error(L, "http: out of memory");
	r->headers = l;
}

static int header_ok(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
			return 0;
	return 1;
}

/* opts.headers at index T: into R->headers. */
static void read_headers(lua_State *L, struct request *r, int t, struct opts *o)
{
	int count = 0;
	lua_pushnil(L);
	while (lua_next(L, t)) {
		size_t nlen, vlen;
		if (lua_type(L, -2) != LUA_TSTRING ||
		    (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER))
			luaL_error(L, "http: opts.headers must map names to strings");
		if (++count > MAX_HEADERS)
			luaL_error(L, "http: more than %d headers", MAX_HEADERS);
		const char *name = lua_tolstring(L, -2, &nlen);
		lua_pushvalue(L, -1); /* tolstring on a number converts: work on a copy */
		const char *value = lua_tolstring(L, -1, &vlen);
		if (nlen == 0 || nlen > 256 || vlen > 8192 || strcspn(name, ": \t") != nlen ||
		    !header_ok(name, nlen) || !header_ok(value, vlen))
			luaL_error(L, "http: header '%s' is not valid (no ':', spaces or line breaks "
				      "in names, no line breaks in values)", name);
		if (strcasecmp(name, "content-type") == 0)
			o->has_ctype = 1;
		if (strcasecmp(name, "accept") == 0)
			o->has_accept = 1;
		if (strcasecmp(name, "authorization") == 0)
			add_secret(L, r, value, vlen);
		char line[256 + 8192 + 4];
		snprintf(line, sizeof(line), vlen ? "%s: %s" : "%s;", name, value);
		append_header(L, r, line);
		lua_pop(L, 2);
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Append k=v (escaped) to R->url. */
static void add_query_pair(lua_State *L, struct request *r, const char *k, int vidx)
{
	size_t vlen;
	if (lua_type(L, vidx) == LUA_TBOOLEAN) {
		lua_pushstring(L, lua_toboolean(L, vidx) ? "true" : "false");
	} else if (lua_type(L, vidx) == LUA_TSTRING || lua_type(L, vidx) == LUA_TNUMBER) {
		lua_pushvalue(L, vidx);
	} else {
		luaL_error(L, "http: opts.query['%s'] must be a string, number, boolean or a "
			      "list of them", k);
	}
	const char *v = lua_tolstring(L, -1, &vlen);
	if (vlen >= MAX_URL)
		luaL_error(L, "http: URL with its query is too long (at most %d bytes)", MAX_URL);
	char *ek = curl_easy_escape(r->curl, k, 0);
	char *ev = curl_easy_escape(r->curl, v, (int)vlen);
	int bad = !ek || !ev;
	const char *sep = strchr(r->url, '?') ? "&" : "?";
	if (!bad)
		bad = url_add(r, sep, 1) < 0 || url_add(r, ek, strlen(ek)) < 0 ||
		      url_add(r, "=", 1) < 0 || url_add(r, ev, strlen(ev)) < 0;
	curl_free(ek);
	curl_free(ev);
	lua_pop(L, 1);
	if (bad)
		luaL_error(L, "http: URL with its query is too long (at most %d bytes) or out of "
			      "memory", MAX_URL);
}

/* opts.query at index T, appended to R->url in key order. */
static void read_query(lua_State *L, struct request *r, int t)
{
	const char *keys[MAX_QUERY];
	int n = 0;
	lua_pushnil(L);
	while (lua_next(L, t)) {
		lua_pop(L, 1);
		if (lua_type(L, -1) != LUA_TSTRING)
			luaL_error(L, "http: opts.query keys must be strings");
		if (n == MAX_QUERY)
			luaL_error(L, "http: more than %d query parameters", MAX_QUERY);
		keys[n++] = lua_tostring(L, -1); /* held by the table */
	}
	qsort(keys, (size_t)n, sizeof(keys[0]), cmp_str);
	for (int i = 0; i < n; i++) {
		lua_getfield(L, t, keys[i]);
		if (lua_istable(L, -1)) {
			lua_Integer len = (lua_Integer)lua_rawlen(L, -1);
			for (lua_Integer j = 1; j <= len; j++) {
				lua_rawgeti(L, -1, j);
				add_query_pair(L, r, keys[i], lua_gettop(L));
				lua_pop(L, 1);
			}
		} else {
			add_query_pair(L, r, keys[i], lua_gettop(L));
		}
		lua_pop(L, 1);
	}
}

/* Read the options table at index IDX (0 or nil: none) into O and R. */
static void read_opts(lua_State *L, struct request *r, int idx, struct opts *o)
{
	o->timeout = DEFAULT_TIMEOUT;
	o->max_bytes = DEFAULT_MAX_BYTES;
	o->verify = 1;
	if (idx == 0 || lua_isnoneornil(L, idx))
		return;
	luaL_checktype(L, idx, LUA_TTABLE);
	int user_set = 0;

	if (lua_getfield(L, idx, "timeout") != LUA_TNIL) {
		int isnum;
		o->timeout = lua_tonumberx(L, -1, &isnum);
		if (!isnum || !(o->timeout > 0) || o->timeout > MAX_TIMEOUT)
			luaL_error(L, "http: opts.timeout must be a number of seconds in (0, %d]",
				   (int)MAX_TIMEOUT);
	}
	lua_pop(L, 1);
	if (lua_getfield(L, idx, "max_bytes") != LUA_TNIL) {
		int isnum;
		lua_Number v = lua_tonumberx(L, -1, &isnum);
		if (!isnum || !(v >= 1) || v > 1024.0 * 1024 * 1024 * 4)
			luaL_error(L, "http: opts.max_bytes must be a number of bytes in [1, 4 GiB]");
		o->max_bytes = (long long)v;
	}
	lua_pop(L, 1);
	if (lua_getfield(L, idx, "verify") != LUA_TNIL) {
		if (!lua_isboolean(L, -1))
			luaL_error(L, "http: opts.verify must be a boolean");
		o->verify = lua_toboolean(L, -1);
	}
	lua_pop(L, 1);
	if (lua_getfield(L, idx, "headers") != LUA_TNIL) {
		if (!lua_istable(L, -1))
			luaL_error(L, "http: opts.headers must be a table");
		read_headers(L, r, lua_gettop(L), o);
	}
	lua_pop(L, 1);
	if (lua_getfield(L, idx, "query") != LUA_TNIL) {
		if (!lua_istable(L, -1))
			luaL_error(L, "http: opts.query must be a table");
		read_query(L, r, lua_gettop(L));
	}
	lua_pop(L, 1);
	if (lua_getfield(L, idx, "basic") != LUA_TNIL) {
		size_t ulen, plen;
		if (!lua_istable(L, -1))
			luaL_error(L, "http: opts.basic must be { user, password }");
		int t = lua_gettop(L);
		if (lua_rawgeti(L, t, 1) == LUA_TNIL) {
			lua_pop(L, 1);
			lua_getfield(L, t, "user");
		}
		if (lua_rawgeti(L, t, 2) == LUA_TNIL) {
			lua_pop(L, 1);
			lua_getfield(L, t, "password");
		}
		if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
			luaL_error(L, "http: opts.basic must be { user, password } (strings)");
		const char *user = lua_tolstring(L, -2, &ulen);
		const char *pass = lua_tolstring(L, -1, &plen);
		add_secret(L, r, pass, plen);
		if (curl_easy_setopt(r->curl, CURLOPT_USERNAME, user) != CURLE_OK ||
		    curl_easy_setopt(r->curl, CURLOPT_PASSWORD, pass) != CURLE_OK ||
		    curl_easy_setopt(r->curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC) != CURLE_OK)
			luaL_error(L, "http: out of memory");
		user_set = 1;
		lua_pop(L, 2);
	}
	lua_pop(L, 1);
	if (lua_getfield(L, idx, "bearer") != LUA_TNIL) {
		size_t len;
		if (lua_type(L, -1) != LUA_TSTRING)
			luaL_error(L, "http: opts.bearer must be a string");
		if (user_set)
			luaL_error(L, "http: opts.basic and opts.bearer exclude each other");
		const char *token = lua_tolstring(L, -1, &len);
		add_secret(L, r, token, len);
		if (curl_easy_setopt(r->curl, CURLOPT_XOAUTH2_BEARER, token) != CURLE_OK ||
		    curl_easy_setopt(r->curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER) != CURLE_OK)
			luaL_error(L, "http: out of memory");
	}
	lua_pop(L, 1);
}

/* --- the transfer --------------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
	struct request *r = ud;
	size_t n = size * nmemb;
	if (n > r->max - r->len) {
		r->over = 1;
		return 0;
	}
	if (r->len + n + 1 > r->cap) {
		size_t cap = r->cap ? r->cap : 16384;
		while (cap < r->len + n + 1)
			cap *= 2;
		if (cap > r->max + 1)
			cap = r->max + 1;
		char *p = realloc(r->body, cap);
		if (!p) {
			r->nomem = 1;
			return 0;
		}
		r->body = p;
		r->cap = cap;
	}
	memcpy(r->body + r->len, data, n);
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

/* Whether the URL names a userinfo password: record it as a secret. */
static void url_secret(lua_State *L, struct request *r, const char *url)
{
	const char *s = strstr(url, "://");
	if (!s)
		return;
	s += 3;
	size_t alen = strcspn(s, "/?#");
	const char *at = NULL, *colon = NULL;
	for (size_t i = 0; i < alen; i++)
		if (s[i] == '@')
			at = s + i;
	for (const char *c = s; at && c < at; c++)
		if (*c == ':') {
			colon = c;
			break;
		}
	if (colon)
		add_secret(L, r, colon + 1, (size_t)(at - colon - 1));
}

/*
 * Prepare R for METHOD on the URL at URL_IDX with the options at OPTS_IDX
 * (0: none).  Raises on wrong arguments.
 */
static void prepare(lua_State *L, struct request *r, const char *method, int url_idx,
		    int opts_idx, struct opts *o, int json)
{
	size_t ulen;
	const char *url = luaL_checklstring(L, url_idx, &ulen);
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		luaL_error(L, "http: libcurl did not initialise");
	if (ulen == 0 || ulen >= MAX_URL || strlen(url) != ulen)
		luaL_argerror(L, url_idx, "URL empty, too long or holding NUL bytes");
	r->method = method;
	r->curl = curl_easy_init();
	if (!r->curl)
		luaL_error(L, "http: out of memory");
	url_secret(L, r, url);
	if (url_add(r, url, ulen) < 0)
		luaL_error(L, "http: out of memory");
	read_opts(L, r, opts_idx, o);
	char shown[SHOWN_URL + 16];
	shown_url(r->url, shown, sizeof(shown));
	snprintf(r->shown, sizeof(r->shown), "%s %s", method, shown);
	r->timeout = o->timeout;
	r->max = (size_t)o->max_bytes;

	if (json && !o->has_accept)
		append_header(L, r, "Accept: application/json");
	if (json && strcmp(method, "POST") == 0 && !o->has_ctype)
		append_header(L, r, "Content-Type: application/json");
	if (strcmp(method, "POST") == 0)
		append_header(L, r, "Expect:"); /* no 100-continue round trip */
	long ms = (long)ceil(o->timeout * 1000.0);
	CURL *c = r->curl;
	CURLcode rc = CURLE_OK;
#define SET(opt, val) \
	do { \
		if (rc == CURLE_OK) \
			rc = curl_easy_setopt(c, opt, val); \
	} while (0)
	SET(CURLOPT_URL, r->url);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_TIMEOUT_MS, ms);
	SET(CURLOPT_CONNECTTIMEOUT_MS, ms);
	SET(CURLOPT_FOLLOWLOCATION, 1L);
	SET(CURLOPT_MAXREDIRS, (long)MAX_REDIRS);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, r);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_bytes);
	SET(CURLOPT_ACCEPT_ENCODING, "");
	SET(CURLOPT_USERAGENT, "terrarium-collector/1");
	SET(CURLOPT_ERRORBUFFER, r->curlerr);
	SET(CURLOPT_SSL_VERIFYPEER, o->verify ? 1L : 0L);
	SET(CURLOPT_SSL_VERIFYHOST, o->verify ? 2L : 0L);
	if (r->headers)
		SET(CURLOPT_HTTPHEADER, r->headers);
#undef SET
	if (rc != CURLE_OK)
		luaL_error(L, "http: cannot set up the request: %s", curl_easy_strerror(rc));
}

/* Run the transfer.  0, or -1 with R->err. */
static int perform(struct request *r)
{
	CURLcode rc = curl_easy_perform(r->curl);
	if (rc == CURLE_OK)
		return 0;
	if (r->over || rc == CURLE_FILESIZE_EXCEEDED)
		set_err(r, "response over %zu bytes", r->max);
	else if (r->nomem)
		set_err(r, "out of memory reading the response");
	else if (rc == CURLE_OPERATION_TIMEDOUT)
		set_err(r, "timeout after %g s", r->timeout);
	else if (rc == CURLE_TOO_MANY_REDIRECTS)
		set_err(r, "too many redirects (more than %d)", MAX_REDIRS);
	else if (rc == CURLE_UNSUPPORTED_PROTOCOL)
		set_err(r, "unsupported protocol (only http and https)");
	else if (rc == CURLE_COULDNT_CONNECT)
		set_err(r, "connection refused or unreachable: %s",
			r->curlerr[0] ? r->curlerr : curl_easy_strerror(rc));
	else if (rc == CURLE_COULDNT_RESOLVE_HOST)
		set_err(r, "cannot resolve host: %s",
			r->curlerr[0] ? r->curlerr : curl_easy_strerror(rc));
	else
		set_err(r, "%s", r->curlerr[0] ? r->curlerr : curl_easy_strerror(rc));
	return -1;
}

static long status_of(struct request *r)
{
	long status = 0;
	curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
	return status;
}

/* Push { status, headers, body }. */
static void push_response(lua_State *L, struct request *r)
{
	lua_createtable(L, 0, 3);
	lua_pushinteger(L, status_of(r));
	lua_setfield(L, -2, "status");
	lua_newtable(L);
	struct curl_header *h = NULL;
	while ((h = curl_easy_nextheader(r->curl, CURLH_HEADER, -1, h))) {
		char name[256];
		size_t n = strlen(h->name);
		if (n >= sizeof(name))
			continue;
		for (size_t i = 0; i <= n; i++)
			name[i] = (char)tolower((unsigned char)h->name[i]);
		if (lua_getfield(L, -1, name) == LUA_TSTRING) {
			lua_pushliteral(L, ", ");
			lua_pushstring(L, h->value);
			lua_concat(L, 3);
		} else {
			lua_pop(L, 1);
			lua_pushstring(L, h->value);
		}
		lua_setfield(L, -2, name);
	}
	lua_setfield(L, -2, "headers");
	lua_pushlstring(L, r->body ? r->body : "", r->len);
	lua_setfield(L, -2, "body");
}

/* A short printable excerpt of the body for messages. */
static void excerpt(const struct request *r, char *out, size_t outlen)
{
	size_t n = 0;
	for (size_t i = 0; i < r->len && n + 4 < outlen && i < 160; i++) {
		unsigned char c = (unsigned char)r->body[i];
		out[n++] = c >= 0x20 && c < 0x7f ? (char)c : ' ';
	}
	if (r->len > 160 && n + 4 < outlen) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
}

/*
 * Check the status and decode R's body as JSON; push the value.  0, or -1
 * with R->err (nothing pushed).
 */
static int push_json(lua_State *L, struct request *r)
{
	long status = status_of(r);
	json_error_t jerr;
	if (status < 200 || status > 299) {
		char ex[200];
		excerpt(r, ex, sizeof(ex));
		set_err(r, "status %ld%s%s", status, ex[0] ? ": " : "", ex);
		return -1;
	}
	luajson_push_null(L);
	int null_idx = lua_gettop(L);
	if (r->len == 0 && (status == 204 || status == 205))
		return 0;
	r->json = json_loadb(r->body ? r->body : "", r->len, JSON_DECODE_ANY | JSON_ALLOW_NUL,
			     &jerr);
	if (!r->json) {
		lua_pop(L, 1);
		set_err(r, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
			jerr.text);
		return -1;
	}
	if (!luajson_depth_ok(r->json, LUAJSON_MAX_DEPTH)) {
		lua_pop(L, 1);
		set_err(r, "JSON nested deeper than %d levels", LUAJSON_MAX_DEPTH);
		return -1;
	}
	luajson_push(L, r->json, null_idx);
	lua_remove(L, null_idx);
	return 0;
}

static int fail(lua_State *L, struct request *r)
{
	lua_pushnil(L);
	lua_pushstring(L, r->err);
	request_release(r);
	return 2;
}

/* --- the module's functions ------------------------------------------------------------ */

static int l_get(lua_State *L)
{
	struct opts o = { 0 };
	lua_settop(L, 2);
	struct request *r = request_new(L);
	prepare(L, r, "GET", 1, 2, &o, 0);
	if (perform(r) < 0)
		return fail(L, r);
	push_response(L, r);
	request_release(r);
	return 1;
}

static int l_post(lua_State *L)
{
	struct opts o = { 0 };
	size_t len;
	lua_settop(L, 3);
	const char *body = luaL_checklstring(L, 2, &len);
	struct request *r = request_new(L);
	prepare(L, r, "POST", 1, 3, &o, 0);
	if (curl_easy_setopt(r->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len) != CURLE_OK ||
	    curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, body) != CURLE_OK)
		return luaL_error(L, "http: cannot set up the request");
	if (perform(r) < 0)
		return fail(L, r);
	push_response(L, r);
	request_release(r);
	return 1;
}

/* get_json(url, opts) with the request object left on the stack top. */
static int get_json(lua_State *L, int url_idx, int opts_idx)
{
	struct opts o = { 0 };
	struct request *r = request_new(L);
	prepare(L, r, "GET", url_idx, opts_idx, &o, 1);
	if (perform(r) < 0 || push_json(L, r) < 0)
		return fail(L, r);
	request_release(r);
	return 1;
}

static int l_get_json(lua_State *L)
{
	lua_settop(L, 2);
	return get_json(L, 1, 2);
}

static int l_post_json(lua_State *L)
{
	struct opts o = { 0 };
	char why[256];
	lua_settop(L, 3);
	luaL_checkany(L, 2);
	struct request *r = request_new(L);
	prepare(L, r, "POST", 1, 3, &o, 1);
	luajson_push_null(L);
	r->json = luajson_build(L, 2, lua_gettop(L), why, sizeof(why));
	lua_pop(L, 1);
	if (!r->json)
		return luaL_error(L, "http.post_json: %s", why);
	r->send = json_dumps(r->json, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
	json_decref(r->json);
	r->json = NULL;
	if (!r->send)
		return luaL_error(L, "http.post_json: out of memory");
	if (curl_easy_setopt(r->curl, CURLOPT_POSTFIELDSIZE_LARGE,
			     (curl_off_t)strlen(r->send)) != CURLE_OK ||
	    curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, r->send) != CURLE_OK)
		return luaL_error(L, "http: cannot set up the request");
	if (perform(r) < 0 || push_json(L, r) < 0)
		return fail(L, r);
	request_release(r);
	return 1;
}

/*
 * The pages iterator.  Upvalues: 1 first URL, 2 opts, 3 next_fn, 4 last page,
 * 5 last URL, 6 pages fetched so far (-1 once finished), 7 max_pages.
 */
static int pages_iter(lua_State *L)
{
	lua_Integer done = lua_tointeger(L, lua_upvalueindex(6));
	lua_Integer max_pages = lua_tointeger(L, lua_upvalueindex(7));
	if (done < 0)
		return 0;
	if (done == 0) {
		lua_pushvalue(L, lua_upvalueindex(1));
	} else {
		lua_pushvalue(L, lua_upvalueindex(3));
		lua_pushvalue(L, lua_upvalueindex(4));
		lua_pushvalue(L, lua_upvalueindex(5));
		lua_call(L, 2, 1);
	}
	if (lua_isnil(L, -1) || (lua_isboolean(L, -1) && !lua_toboolean(L, -1)) ||
	    done >= max_pages) {
		lua_pushinteger(L, -1);
		lua_replace(L, lua_upvalueindex(6));
		return 0;
	}
	if (lua_type(L, -1) != LUA_TSTRING)
		return luaL_error(L, "http.pages: next_fn must return a URL (a string) or nil");
	int url_idx = lua_gettop(L);
	if (get_json(L, url_idx, lua_upvalueindex(2)) != 1) {
		lua_pushinteger(L, -1);
		lua_replace(L, lua_upvalueindex(6));
		return lua_error(L);  /* the message is on top */
	}
	lua_pushvalue(L, -1);
	lua_replace(L, lua_upvalueindex(4));
	lua_pushvalue(L, url_idx);
	lua_replace(L, lua_upvalueindex(5));
	lua_pushinteger(L, done + 1);
	lua_replace(L, lua_upvalueindex(6));
	return 1;
}

static int l_pages(lua_State *L)
{
	luaL_checkstring(L, 1);
	if (!lua_isnoneornil(L, 2))
		luaL_checktype(L, 2, LUA_TTABLE);
	luaL_checktype(L, 3, LUA_TFUNCTION);
	lua_settop(L, 3);
	lua_Integer max_pages = DEFAULT_MAX_PAGES;
	if (lua_istable(L, 2)) {
		if (lua_getfield(L, 2, "max_pages") != LUA_TNIL) {
			int isnum;
			max_pages = lua_tointegerx(L, -1, &isnum);
			if (!isnum || max_pages < 1)
				return luaL_error(L, "http: opts.max_pages must be a positive integer");
		}
		lua_pop(L, 1);
	}
	lua_pushnil(L);       /* last page */
	lua_pushnil(L);       /* last URL */
	lua_pushinteger(L, 0);
	lua_pushinteger(L, max_pages);
	lua_pushcclosure(L, pages_iter, 7);
	return 1;
}

static int http_open(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{ "get", l_get },           { "post", l_post },   { "get_json", l_get_json },
		{ "post_json", l_post_json }, { "pages", l_pages }, { NULL, NULL },
	};
	if (luaL_newmetatable(L, REQUEST_MT)) {
		lua_pushcfunction(L, request_gc);
		lua_setfield(L, -2, "__gc");
		lua_pushliteral(L, "http request");
		lua_setfield(L, -2, "__metatable");
	}
	lua_pop(L, 1);
	luaL_newlib(L, fns);
	return 1;
}

/* --- the plugin ---------------------------------------------------------------------- */

static int plugin_init(struct trm_plugin_ctx *ctx, const struct trm_api *api)
{
	if (api->size < offsetof(struct trm_api, lua_module) + sizeof(api->lua_module) ||
	    !api->lua_module) {
		api->log(ctx, TRM_LOG_ERROR, "this host has no Lua module registry", NULL);
		return -1;
	}
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK) {
		api->log(ctx, TRM_LOG_ERROR, "libcurl did not initialise", "detail",
			 curl_easy_strerror(global_rc), NULL);
		return -1;
	}
	return api->lua_module(ctx, "http", http_open);
}

const struct trm_plugin http_plugin = {
	.abi = TRM_PLUGIN_ABI,
	.name = "lua_http",
	.version = "1.0",
	.description = "HTTP client for Lua collectors (require \"http\"), on libcurl",
	.init = plugin_init,
	.fini = NULL,
};
