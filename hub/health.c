/*
 * Services and their health checks; see health.h.
 *
 * The checker is a small pool of threads sharing one list of services.  A
 * thread takes the service whose next check is due soonest (never one that
 * is being checked), runs its check without holding the lock, stores the
 * result in memory (what the API shows) and in the catalog's history, and
 * plans the next check one interval later.  HTTP handlers only read what is
 * in memory and the history: a page view never runs a check.
 */
#include "hub/health.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <hiredis.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "catalog/health.h"
#include "hub/log.h"

#define DEFAULT_INTERVAL_S 30.0
#define DEFAULT_TIMEOUT_S 5.0
#define DEFAULT_THREADS 4
#define HTTP_BODY_MAX (64 * 1024)
#define EXPECT_MAX 16
#define WINDOW_MS (24LL * 3600 * 1000)
#define SPARK_BUCKETS 48
#define DESCRIPTION_MAX 2000
#define DEFAULT_GROUP "Services"

enum check_type { CK_NONE, CK_TCP, CK_HTTP, CK_POSTGRES, CK_REDIS, CK_KAFKA, CK_AIRFLOW, CK_MLFLOW };

static const char *const type_names[] = {
	[CK_NONE] = "none", [CK_TCP] = "tcp", [CK_HTTP] = "http", [CK_POSTGRES] = "postgres",
	[CK_REDIS] = "redis", [CK_KAFKA] = "kafka", [CK_AIRFLOW] = "airflow", [CK_MLFLOW] = "mlflow",
};

/* The keys a check of each type may have, besides type, interval, timeout. */
static const char *const type_keys[][6] = {
	[CK_NONE] = { NULL },
	[CK_TCP] = { "host", "port", NULL },
	[CK_HTTP] = { "url", "expect_status", "expect_body", "tls_verify", NULL },
	[CK_POSTGRES] = { "dsn", NULL },
	[CK_REDIS] = { "url", "host", "port", "username", "password", NULL },
	[CK_KAFKA] = { "brokers", NULL },
	[CK_AIRFLOW] = { "url", "tls_verify", NULL },
	[CK_MLFLOW] = { "url", "tls_verify", NULL },
};

/* Keys of a service that may hold secrets: never shown. */
static const char *const secret_keys[] = { "password", "token", "dsn", "secret", "api_key",
					   "apikey", "credentials", NULL };

/* Keys of a service given over the API. */
static const char *const strict_keys[] = { "name", "group", "icon", "description", "href",
					   "check", "entity", "collector", NULL };

/* A parsed check; strings borrowed from the service's JSON. */
struct check {
	enum check_type type;
	long interval_ms, timeout_ms;
	const char *host;
	int port;
	const char *url, *dsn, *username, *password, *expect_body;
	char *brokers;                  /* owned: the list joined with ',' */
	int expect[EXPECT_MAX], nexpect;
	int tls_verify;
};

struct svc {
	char id[HEALTH_ID_MAX + 1];
	json_t *doc;          /* the service as given (secrets included): owns the strings of chk */
	json_t *pub;          /* what is shown */
	struct check chk;
	int discovered;
	int running, gone;
	long long due;        /* monotonic ms of the next check */
	struct health_result last;
	int has_last;
};

struct health {
	struct catalog *cat;
	struct catalog_health *store;
	long min_interval_ms;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct svc **svcs;
	int n, cap;
	pthread_t *threads;
	int nthreads, started, stopping;
};

/* --- small helpers ------------------------------------------------------------ */

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double mono_ms_f(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static long long wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void format_time(long long ms, char *out, size_t outlen)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	char date[32];

	gmtime_r(&secs, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, outlen, "%.20s.%03dZ", date, (int)(ms % 1000));
}

static void set_result(struct health_result *r, const char *status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_result(struct health_result *r, const char *status, const char *fmt, ...)
{
	va_list ap;

	snprintf(r->status, sizeof(r->status), "%s", status);
	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
}

/* strerror(E) with a lowercase first letter ("connection refused"). */
static void errno_text(int e, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s", strerror(e));
	if (out[0] && isupper((unsigned char)out[0]) && !isupper((unsigned char)out[1]))
		out[0] = (char)tolower((unsigned char)out[0]);
}

/* The first line of S, trimmed, first letter lowercased, into OUT. */
static void short_text(const char *s, char *out, size_t outlen)
{
	size_t n;

	while (s && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
		s++;
	if (!s)
		s = "";
	n = strcspn(s, "\r\n");
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '.'))
		n--;
	snprintf(out, outlen, "%.*s", (int)n, s);
	if (out[0] && isupper((unsigned char)out[0]) && !isupper((unsigned char)out[1]))
		out[0] = (char)tolower((unsigned char)out[0]);
}

/* Remove "user:pass@" from every "scheme://user:pass@host" in S, in place. */
static void scrub_userinfo(char *s)
{
	char *p = s;

	while ((p = strstr(p, "://")) != NULL) {
		char *auth = p + 3;
		size_t alen = strcspn(auth, "/?# \t\"'");
		char *at = NULL;

		for (size_t i = 0; i < alen; i++)
			if (auth[i] == '@')
				at = auth + i;
		if (at)
			memmove(auth, at + 1, strlen(at + 1) + 1);
		p = auth;
	}
}

int health_slug(const char *name, char *out, size_t outlen)
{
	size_t n = 0;
	int dash = 0;

	if (!name || !out || outlen == 0)
		return -1;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (isalnum(*p) && *p < 0x80) {
			if (dash && n > 0) {
				if (n + 1 >= outlen)
					return -1;
				out[n++] = '-';
			}
			dash = 0;
			if (n + 1 >= outlen)
				return -1;
			out[n++] = (char)tolower(*p);
		} else {
			dash = 1;
		}
	}
	out[n] = '\0';
	return n > 0 ? 0 : -1;
}

/* --- validation and parsing ------------------------------------------------------ */

static int in_list(const char *k, const char *const *list)
{
	for (int i = 0; list[i]; i++)
		if (strcmp(k, list[i]) == 0)
			return 1;
	return 0;
}

static int fail(char *key, size_t keylen, char *msg, size_t msglen, const char *k,
		const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int fail(char *key, size_t keylen, char *msg, size_t msglen, const char *k,
		const char *fmt, ...)
{
	va_list ap;

	snprintf(key, keylen, "%s", k);
	va_start(ap, fmt);
	vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
	return -1;
}

static const char *json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "a table";
	case JSON_ARRAY: return "a list";
	case JSON_STRING: return "a string";
	case JSON_INTEGER:
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "nothing";
	}
}

/* An http:// or https:// URL with a host. */
static int is_http_url(const char *s)
{
	const char *rest = NULL;

	if (strncmp(s, "http://", 7) == 0)
		rest = s + 7;
	else if (strncmp(s, "https://", 8) == 0)
		rest = s + 8;
	if (!rest || !*rest || *rest == '/')
		return 0;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

/* A non-empty string; "" when absent and optional. */
static int get_string(const json_t *obj, const char *name, int required, size_t max,
		      const char **out, const char *prefix, char *key, size_t keylen, char *msg,
		      size_t msglen)
{
	json_t *v = json_object_get(obj, name);
	char k[64];

	snprintf(k, sizeof(k), "%s%s", prefix, name);
	*out = NULL;
	if (!v) {
		if (required)
			return fail(key, keylen, msg, msglen, k, "missing");
		return 0;
	}
	if (!json_is_string(v))
		return fail(key, keylen, msg, msglen, k, "expected a string, got %s", json_kind(v));
	if (required && json_string_length(v) == 0)
		return fail(key, keylen, msg, msglen, k, "expected a non-empty string");
	if (json_string_length(v) > max)
		return fail(key, keylen, msg, msglen, k, "longer than %zu bytes", max);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return fail(key, keylen, msg, msglen, k, "holds a NUL byte");
	*out = json_string_value(v);
	return 0;
}

static int get_seconds(const json_t *check, const char *name, double def, double min, double max,
		       long *out_ms, char *key, size_t keylen, char *msg, size_t msglen)
{
	json_t *v = json_object_get(check, name);
	char k[64];
	double d;

	snprintf(k, sizeof(k), "check.%s", name);
	if (!v) {
		*out_ms = (long)(def * 1000);
		return 0;
	}
	if (!json_is_number(v))
		return fail(key, keylen, msg, msglen, k, "expected a number of seconds, got %s",
			    json_kind(v));
	d = json_number_value(v);
	if (!(d >= min && d <= max))
		return fail(key, keylen, msg, msglen, k, "expected %g to %g seconds, got %g", min, max,
			    d);
	*out_ms = (long)(d * 1000 + 0.5);
	return 0;
}

static int get_port(const json_t *check, int required, int *out, char *key, size_t keylen,
		    char *msg, size_t msglen)
{
	json_t *v = json_object_get(check, "port");

	*out = 0;
	if (!v) {
		if (required)
			return fail(key, keylen, msg, msglen, "check.port", "missing");
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 65535) {
		char got[64];

		if (json_is_integer(v))
			snprintf(got, sizeof(got), "%lld", (long long)json_integer_value(v));
		else
			snprintf(got, sizeof(got), "%s", json_kind(v));
		return fail(key, keylen, msg, msglen, "check.port",
			    "expected an integer from 1 to 65535, got %s", got);
	}
	*out = (int)json_integer_value(v);
	return 0;
}

static void check_release(struct check *c)
{
	free(c->brokers);
	memset(c, 0, sizeof(*c));
}

/*
 * Parse CHECK (borrowed: OUT points into it) into OUT.  -1 with KEY and MSG.
 */
static int check_parse(const json_t *check, struct check *out, char *key, size_t keylen,
		       char *msg, size_t msglen)
{
	const char *tname = NULL, *k;
	json_t *v;
	int t;

	memset(out, 0, sizeof(*out));
	out->tls_verify = 1;
	if (!json_is_object(check))
		return fail(key, keylen, msg, msglen, "check", "expected a table { type = ..., ... }");
	v = json_object_get(check, "type");
	if (!v)
		return fail(key, keylen, msg, msglen, "check.type",
			    "missing (tcp, http, postgres, redis, kafka, airflow or mlflow)");
	if (json_is_string(v))
		tname = json_string_value(v);
	for (t = CK_TCP; tname && t <= CK_MLFLOW; t++)
		if (strcmp(tname, type_names[t]) == 0)
			break;
	if (!tname || t > CK_MLFLOW)
		return fail(key, keylen, msg, msglen, "check.type",
			    "expected tcp, http, postgres, redis, kafka, airflow or mlflow%s%.40s%s",
			    tname ? ", got '" : "", tname ? tname : "", tname ? "'" : "");
	out->type = (enum check_type)t;
	json_object_foreach((json_t *)check, k, v) {
		if (strcmp(k, "type") && strcmp(k, "interval") && strcmp(k, "timeout") &&
		    !in_list(k, type_keys[t])) {
			char kk[96];

			snprintf(kk, sizeof(kk), "check.%.60s", k);
			return fail(key, keylen, msg, msglen, kk, "unknown key for a %s check",
				    type_names[t]);
		}
	}
	if (get_seconds(check, "interval", DEFAULT_INTERVAL_S, 1, 86400, &out->interval_ms, key,
			keylen, msg, msglen) < 0 ||
	    get_seconds(check, "timeout", DEFAULT_TIMEOUT_S, 0.1, 60, &out->timeout_ms, key, keylen,
			msg, msglen) < 0)
		return -1;
	v = json_object_get(check, "tls_verify");
	if (v && !json_is_boolean(v))
		return fail(key, keylen, msg, msglen, "check.tls_verify",
			    "expected true or false, got %s", json_kind(v));
	if (v)
		out->tls_verify = json_is_true(v);
	switch (out->type) {
	case CK_TCP:
		if (get_string(check, "host", 1, 255, &out->host, "check.", key, keylen, msg,
			       msglen) < 0 ||
		    get_port(check, 1, &out->port, key, keylen, msg, msglen) < 0)
			return -1;
		break;
	case CK_HTTP:
	case CK_AIRFLOW:
	case CK_MLFLOW:
		if (get_string(check, "url", 1, 2048, &out->url, "check.", key, keylen, msg,
			       msglen) < 0)
			return -1;
		if (!is_http_url(out->url))
			return fail(key, keylen, msg, msglen, "check.url",
				    "expected an http:// or https:// URL");
		if (out->type != CK_HTTP)
			break;
		if (get_string(check, "expect_body", 0, 1024, &out->expect_body, "check.", key,
			       keylen, msg, msglen) < 0)
			return -1;
		v = json_object_get(check, "expect_status");
		if (v) {
			size_t i, n = json_is_array(v) ? json_array_size(v) : 1;

			if (n == 0 || n > EXPECT_MAX)
				return fail(key, keylen, msg, msglen, "check.expect_status",
					    "expected a status or a list of 1 to %d of them",
					    EXPECT_MAX);
			for (i = 0; i < n; i++) {
				json_t *s = json_is_array(v) ? json_array_get(v, i) : v;

				if (!json_is_integer(s) || json_integer_value(s) < 100 ||
				    json_integer_value(s) > 599)
					return fail(key, keylen, msg, msglen, "check.expect_status",
						    "expected HTTP statuses from 100 to 599");
				out->expect[out->nexpect++] = (int)json_integer_value(s);
			}
		}
		break;
	case CK_POSTGRES:
		if (get_string(check, "dsn", 1, 4096, &out->dsn, "check.", key, keylen, msg,
			       msglen) < 0)
			return -1;
		break;
	case CK_REDIS:
		if (get_string(check, "url", 0, 2048, &out->url, "check.", key, keylen, msg,
			       msglen) < 0 ||
		    get_string(check, "host", 0, 255, &out->host, "check.", key, keylen, msg,
			       msglen) < 0 ||
		    get_port(check, 0, &out->port, key, keylen, msg, msglen) < 0 ||
		    get_string(check, "username", 0, 255, &out->username, "check.", key, keylen, msg,
			       msglen) < 0 ||
		    get_string(check, "password", 0, 1024, &out->password, "check.", key, keylen,
			       msg, msglen) < 0)
			return -1;
		if (out->url && (out->host || out->port))
			return fail(key, keylen, msg, msglen, "check.url",
				    "give either url or host and port, not both");
		if (!out->url && !out->host)
			return fail(key, keylen, msg, msglen, "check.url",
				    "missing (redis://host:port, or host and port)");
		if (out->url && strncmp(out->url, "redis://", 8) != 0)
			return fail(key, keylen, msg, msglen, "check.url",
				    "expected a redis:// URL (rediss:// is not supported)");
		break;
	case CK_KAFKA: {
		struct strbuf sb;

		v = json_object_get(check, "brokers");
		if (!v)
			return fail(key, keylen, msg, msglen, "check.brokers",
				    "missing (\"host:port,host:port\" or a list)");
		strbuf_init(&sb, 4096);
		if (json_is_string(v) && json_string_length(v) > 0) {
			strbuf_adds(&sb, json_string_value(v));
		} else if (json_is_array(v) && json_array_size(v) > 0) {
			size_t i;
			json_t *b;

			json_array_foreach(v, i, b) {
				if (!json_is_string(b) || json_string_length(b) == 0) {
					strbuf_release(&sb);
					return fail(key, keylen, msg, msglen, "check.brokers",
						    "expected a list of \"host:port\" strings");
				}
				if (i)
					strbuf_adds(&sb, ",");
				strbuf_adds(&sb, json_string_value(b));
			}
		} else {
			strbuf_release(&sb);
			return fail(key, keylen, msg, msglen, "check.brokers",
				    "expected \"host:port,host:port\" or a list of them");
		}
		out->brokers = strbuf_detach(&sb, NULL);
		strbuf_release(&sb);
		if (!out->brokers || strlen(out->brokers) == 0 ||
		    strspn(out->brokers, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					 "0123456789.-_:,[]") != strlen(out->brokers)) {
			check_release(out);
			return fail(key, keylen, msg, msglen, "check.brokers",
				    "expected host:port pairs separated by commas");
		}
		break;
	}
	default:
		break;
	}
	return 0;
}

int health_service_validate(const json_t *svc, int strict, char *key, size_t keylen, char *msg,
			    size_t msglen)
{
	static const char *const text_keys[] = { "group", "icon", "collector", "entity", NULL };
	const char *s, *k;
	char slug[HEALTH_ID_MAX + 1];
	struct check c;
	json_t *v;

	if (!json_is_object(svc))
		return fail(key, keylen, msg, msglen, "", "expected a table { name = ..., ... }");
	if (strict)
		json_object_foreach((json_t *)svc, k, v)
			if (!in_list(k, strict_keys)) {
				char kk[96];

				snprintf(kk, sizeof(kk), "%.60s", k);
				return fail(key, keylen, msg, msglen, kk, "unknown key");
			}
	if (get_string(svc, "name", 1, HEALTH_NAME_MAX, &s, "", key, keylen, msg, msglen) < 0)
		return -1;
	if (health_slug(s, slug, sizeof(slug)) < 0)
		return fail(key, keylen, msg, msglen, "name",
			    "needs a letter or a digit (the id is made of them)");
	for (int i = 0; text_keys[i]; i++)
		if (get_string(svc, text_keys[i], 0, text_keys[i][0] == 'e' ? CATALOG_ID_MAX : 200,
			       &s, "", key, keylen, msg, msglen) < 0)
			return -1;
	if (get_string(svc, "description", 0, DESCRIPTION_MAX, &s, "", key, keylen, msg, msglen) <
	    0)
		return -1;
	if (get_string(svc, "href", 0, 2048, &s, "", key, keylen, msg, msglen) < 0)
		return -1;
	if (s && !is_http_url(s) && !(s[0] == '/' && s[1] != '/'))
		return fail(key, keylen, msg, msglen, "href",
			    "expected an http:// or https:// URL or a path starting with /");
	v = json_object_get(svc, "check");
	if (v) {
		if (check_parse(v, &c, key, keylen, msg, msglen) < 0)
			return -1;
		check_release(&c);
	}
	return 0;
}

/* --- the checks ------------------------------------------------------------------- */

/* Connect to HOST:PORT within TIMEOUT_MS.  The socket, or -1 with R's detail set. */
static int tcp_connect(const char *host, int port, long timeout_ms, struct health_result *r)
{
	struct addrinfo hints = { 0 }, *res = NULL, *ai;
	char portstr[16], etext[128];
	long long deadline = mono_ms() + timeout_ms;
	int fd = -1, gai, last = 0, timed_out = 0;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(portstr, sizeof(portstr), "%d", port);
	gai = getaddrinfo(host, portstr, &hints, &res);
	if (gai != 0) {
		set_result(r, "down", "cannot resolve '%.100s': %s", host, gai_strerror(gai));
		return -1;
	}
	for (ai = res; ai && fd < 0; ai = ai->ai_next) {
		int s = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			       ai->ai_protocol);

		if (s < 0) {
			last = errno;
			continue;
		}
		if (connect(s, ai->ai_addr, ai->ai_addrlen) == 0) {
			fd = s;
			break;
		}
		if (errno == EINPROGRESS) {
			struct pollfd p = { .fd = s, .events = POLLOUT };
			long long left = deadline - mono_ms();
			int pr;

			do
				pr = poll(&p, 1, left > 0 ? (int)left : 0);
			while (pr < 0 && errno == EINTR);
			if (pr == 0) {
				timed_out = 1;
			} else if (pr > 0) {
				int soerr = 0;
				socklen_t sl = sizeof(soerr);

				if (getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0) {
					fd = s;
					break;
				}
				last = soerr ? soerr : errno;
			} else {
				last = errno;
			}
		} else {
			last = errno;
		}
		close(s);
		if (mono_ms() >= deadline) {
			timed_out = 1;
			break;
		}
	}
	freeaddrinfo(res);
	if (fd < 0) {
		if (timed_out && !last) {
			set_result(r, "down", "timed out after %ld ms", timeout_ms);
		} else {
			errno_text(last ? last : ECONNREFUSED, etext, sizeof(etext));
			set_result(r, "down", "%s", etext);
		}
	}
	return fd;
}

static void run_tcp(const struct check *c, struct health_result *r)
{
	int fd = tcp_connect(c->host, c->port, c->timeout_ms, r);

	if (fd >= 0) {
		set_result(r, "up", "connected to %.100s:%d", c->host, c->port);
		close(fd);
	}
}

struct http_answer {
	long status;
	char *body;
	size_t len;
};

static size_t http_write(char *data, size_t size, size_t n, void *ud)
{
	struct http_answer *a = ud;
	size_t len = size * n, room = HTTP_BODY_MAX - a->len;

	if (len > room)
		len = room;
	memcpy(a->body + a->len, data, len);
	a->len += len;
	a->body[a->len] = '\0';
	return size * n;
}

/* GET URL; 0 with A filled (body NUL-terminated, cut at 64 KiB), or -1 with R's detail. */
static int http_fetch(const char *url, const struct check *c, struct http_answer *a,
		      struct health_result *r)
{
	CURL *h = NULL;
	char errbuf[CURL_ERROR_SIZE] = "", etext[160];
	CURLcode cc;
	int rc = -1;

	a->status = 0;
	a->len = 0;
	a->body = malloc(HTTP_BODY_MAX + 1);
	h = curl_easy_init();
	if (!a->body || !h) {
		set_result(r, "down", "out of memory");
		goto out;
	}
	a->body[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, c->tls_verify ? 1L : 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, c->tls_verify ? 2L : 0L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "terrarium-health/1");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, http_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	cc = curl_easy_perform(h);
	if (cc != CURLE_OK) {
		long oserr = 0;

		curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &oserr);
		if (cc == CURLE_OPERATION_TIMEDOUT) {
			set_result(r, "down", "timed out after %ld ms", c->timeout_ms);
		} else if (cc == CURLE_COULDNT_CONNECT && oserr) {
			errno_text((int)oserr, etext, sizeof(etext));
			set_result(r, "down", "%s", etext);
		} else if (cc == CURLE_COULDNT_RESOLVE_HOST) {
			set_result(r, "down", "cannot resolve the host");
		} else {
			short_text(errbuf[0] ? errbuf : curl_easy_strerror(cc), etext, sizeof(etext));
			set_result(r, "down", "%s", etext);
		}
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a->status);
	rc = 0;
out:
	curl_easy_cleanup(h);
	return rc;
}

/* BASE + "/health" (without a doubled slash) into OUT. */
static void health_url(const char *base, char *out, size_t outlen)
{
	size_t n = strlen(base);

	while (n > 0 && base[n - 1] == '/')
		n--;
	snprintf(out, outlen, "%.*s/health", (int)n, base);
}

static void run_http(const struct check *c, struct health_result *r)
{
	struct http_answer a = { 0 };
	int ok = 0;

	if (http_fetch(c->url, c, &a, r) < 0)
		goto out;
	if (c->nexpect == 0) {
		ok = a.status >= 200 && a.status < 400;
	} else {
		for (int i = 0; i < c->nexpect; i++)
			ok |= a.status == c->expect[i];
	}
	if (!ok) {
		set_result(r, "down", "HTTP %ld", a.status);
		goto out;
	}
	if (c->expect_body && !strstr(a.body, c->expect_body)) {
		set_result(r, "down", "HTTP %ld, but the body lacks '%.60s'", a.status,
			   c->expect_body);
		goto out;
	}
	set_result(r, "up", "HTTP %ld", a.status);
out:
	free(a.body);
}

static const char *component_status(json_t *doc, const char *name)
{
	return json_string_value(json_object_get(json_object_get(doc, name), "status"));
}

static void run_airflow(const struct check *c, struct health_result *r)
{
	static const char *const optional[] = { "triggerer", "dag_processor", NULL };
	struct http_answer a = { 0 };
	char url[2200];
	json_t *doc = NULL;
	const char *db, *sched;

	health_url(c->url, url, sizeof(url));
	if (http_fetch(url, c, &a, r) < 0)
		goto out;
	/* Airflow answers 200 whatever the state: only the JSON tells. */
	doc = json_loadb(a.body, a.len, 0, NULL);
	db = component_status(doc, "metadatabase");
	sched = component_status(doc, "scheduler");
	if (!json_is_object(doc) || !db || !sched) {
		set_result(r, "down", "HTTP %ld, not an Airflow health answer", a.status);
		goto out;
	}
	if (strcmp(db, "healthy") != 0) {
		set_result(r, "down", "metadatabase %.40s", db);
		goto out;
	}
	if (strcmp(sched, "healthy") != 0) {
		set_result(r, "degraded", "scheduler %.40s", sched);
		goto out;
	}
	for (int i = 0; optional[i]; i++) {
		const char *s = component_status(doc, optional[i]);

		/* null when the component is not deployed */
		if (s && strcmp(s, "healthy") != 0) {
			set_result(r, "degraded", "%s %.40s", optional[i], s);
			goto out;
		}
	}
	set_result(r, "up", "scheduler and metadatabase healthy");
out:
	json_decref(doc);
	free(a.body);
}

static void run_mlflow(const struct check *c, struct health_result *r)
{
	struct http_answer a = { 0 };
	char url[2200];
	size_t n;
	const char *b;

	health_url(c->url, url, sizeof(url));
	if (http_fetch(url, c, &a, r) < 0)
		goto out;
	if (a.status != 200) {
		set_result(r, "down", "HTTP %ld", a.status);
		goto out;
	}
	b = a.body;
	n = a.len;
	while (n > 0 && (b[n - 1] == '\n' || b[n - 1] == '\r' || b[n - 1] == ' '))
		n--;
	if (n != 2 || memcmp(b, "OK", 2) != 0) {
		set_result(r, "down", "HTTP 200, but the answer is not OK");
		goto out;
	}
	set_result(r, "up", "OK");
out:
	free(a.body);
}

/* Wait until FD is ready for EVENTS or DEADLINE (monotonic ms): 1, 0 (time), -1. */
static int wait_fd(int fd, short events, long long deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int pr;

	do {
		long long left = deadline - mono_ms();

		if (left <= 0)
			return 0;
		pr = poll(&p, 1, (int)left);
	} while (pr < 0 && errno == EINTR);
	return pr > 0 ? 1 : pr;
}

static void run_postgres(const struct check *c, struct health_result *r)
{
	const char *const keys[] = { "dbname", "application_name", NULL };
	const char *const vals[] = { c->dsn, "terrarium-health", NULL };
	long long deadline = mono_ms() + c->timeout_ms;
	PGconn *conn = PQconnectStartParams(keys, vals, 1);
	PGresult *res = NULL;
	PostgresPollingStatusType ps = PGRES_POLLING_WRITING;
	char etext[200];
	int w;

	if (!conn || PQstatus(conn) == CONNECTION_BAD) {
		short_text(conn ? PQerrorMessage(conn) : "out of memory", etext, sizeof(etext));
		set_result(r, "down", "%s", etext);
		goto out;
	}
	while (ps != PGRES_POLLING_OK) {
		if (ps == PGRES_POLLING_FAILED) {
			const char *m = PQerrorMessage(conn);
			const char *colon = strstr(m, "failed: ");

			/* "connection to server at ... failed: Connection refused" */
			short_text(colon ? colon + 8 : m, etext, sizeof(etext));
			set_result(r, "down", "%s", etext);
			goto out;
		}
		w = wait_fd(PQsocket(conn), ps == PGRES_POLLING_READING ? POLLIN : POLLOUT,
			    deadline);
		if (w <= 0) {
			set_result(r, "down", w == 0 ? "timed out after %ld ms" : "poll failed",
				   c->timeout_ms);
			goto out;
		}
		ps = PQconnectPoll(conn);
	}
	if (!PQsendQuery(conn, "SELECT 1")) {
		short_text(PQerrorMessage(conn), etext, sizeof(etext));
		set_result(r, "down", "%s", etext);
		goto out;
	}
	for (;;) {
		if (!PQconsumeInput(conn)) {
			short_text(PQerrorMessage(conn), etext, sizeof(etext));
			set_result(r, "down", "%s", etext);
			goto out;
		}
		if (!PQisBusy(conn))
			break;
		w = wait_fd(PQsocket(conn), POLLIN, deadline);
		if (w <= 0) {
			set_result(r, "down", "SELECT 1 timed out after %ld ms", c->timeout_ms);
			goto out;
		}
	}
	res = PQgetResult(conn);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
	    strcmp(PQgetvalue(res, 0, 0), "1") != 0) {
		short_text(PQresultErrorMessage(res), etext, sizeof(etext));
		set_result(r, "down", "SELECT 1 failed: %s", etext);
		goto out;
	}
	set_result(r, "up", "SELECT 1 ok (server %d)", PQserverVersion(conn));
out:
	PQclear(res);
	while (conn && res && (res = PQgetResult(conn)) != NULL)
		PQclear(res);
	PQfinish(conn);
}

/* Parse "redis://[user[:password]@]host[:port][/db]" into its parts. */
static int redis_url(const char *url, char *host, size_t hostlen, int *port, char *user,
		     size_t userlen, char *pass, size_t passlen)
{
	const char *p = url + 8, *end = p + strcspn(p, "/?#"), *at = NULL, *hp, *colon;

	for (const char *q = p; q < end; q++)
		if (*q == '@')
			at = q;
	user[0] = pass[0] = '\0';
	if (at) {
		const char *c = memchr(p, ':', (size_t)(at - p));

		if (c) {
			snprintf(user, userlen, "%.*s", (int)(c - p), p);
			snprintf(pass, passlen, "%.*s", (int)(at - c - 1), c + 1);
		} else {
			snprintf(pass, passlen, "%.*s", (int)(at - p), p);
		}
		hp = at + 1;
	} else {
		hp = p;
	}
	*port = 6379;
	if (*hp == '[') {
		const char *close = memchr(hp, ']', (size_t)(end - hp));

		if (!close)
			return -1;
		snprintf(host, hostlen, "%.*s", (int)(close - hp - 1), hp + 1);
		colon = close + 1 < end && close[1] == ':' ? close + 1 : NULL;
	} else {
		colon = memchr(hp, ':', (size_t)(end - hp));
		snprintf(host, hostlen, "%.*s", (int)((colon ? colon : end) - hp), hp);
	}
	if (colon) {
		char *e;
		long v = strtol(colon + 1, &e, 10);

		if (e != end || v < 1 || v > 65535)
			return -1;
		*port = (int)v;
	}
	return host[0] ? 0 : -1;
}

static void run_redis(const struct check *c, struct health_result *r)
{
	char host[256], user[256] = "", pass[1024] = "", etext[160];
	int port = c->port ? c->port : 6379;
	struct timeval tv = { c->timeout_ms / 1000, (c->timeout_ms % 1000) * 1000 };
	redisContext *ctx = NULL;
	redisReply *rep = NULL;

	if (c->url) {
		if (redis_url(c->url, host, sizeof(host), &port, user, sizeof(user), pass,
			      sizeof(pass)) < 0) {
			set_result(r, "down", "cannot read the redis:// URL");
			goto out;
		}
	} else {
		snprintf(host, sizeof(host), "%s", c->host);
	}
	if (c->username)
		snprintf(user, sizeof(user), "%s", c->username);
	if (c->password)
		snprintf(pass, sizeof(pass), "%s", c->password);
	ctx = redisConnectWithTimeout(host, port, tv);
	if (!ctx || ctx->err) {
		short_text(ctx ? ctx->errstr : "out of memory", etext, sizeof(etext));
		if (ctx && ctx->err == REDIS_ERR_IO && strstr(etext, "timed out"))
			set_result(r, "down", "timed out after %ld ms", c->timeout_ms);
		else
			set_result(r, "down", "%s", etext);
		goto out;
	}
	redisSetTimeout(ctx, tv);
	if (pass[0]) {
		rep = user[0] ? redisCommand(ctx, "AUTH %s %s", user, pass)
			      : redisCommand(ctx, "AUTH %s", pass);
		if (!rep || rep->type == REDIS_REPLY_ERROR) {
			short_text(rep ? rep->str : ctx->errstr, etext, sizeof(etext));
			set_result(r, "down", "AUTH refused: %s", etext);
			goto out;
		}
		freeReplyObject(rep);
	}
	rep = redisCommand(ctx, "PING");
	if (!rep) {
		short_text(ctx->errstr, etext, sizeof(etext));
		set_result(r, "down", "%s", etext);
		goto out;
	}
	if ((rep->type != REDIS_REPLY_STATUS && rep->type != REDIS_REPLY_STRING) ||
	    strcmp(rep->str, "PONG") != 0) {
		short_text(rep->type == REDIS_REPLY_ERROR ? rep->str : "not PONG", etext,
			   sizeof(etext));
		set_result(r, "down", "PING: %s", etext);
		goto out;
	}
	set_result(r, "up", "PONG");
out:
	if (rep)
		freeReplyObject(rep);
	redisFree(ctx);
	/* The password must not linger on the stack. */
	memset(pass, 0, sizeof(pass));
}

static void kafka_quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	(void)level;
	(void)fac;
	(void)buf;
}

static void run_kafka(const struct check *c, struct health_result *r)
{
	char errstr[512], tmo[32];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk = NULL;
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t e;

	if (!conf) {
		set_result(r, "down", "out of memory");
		goto out;
	}
	snprintf(tmo, sizeof(tmo), "%ld", c->timeout_ms);
	rd_kafka_conf_set_log_cb(conf, kafka_quiet_log);
	if (rd_kafka_conf_set(conf, "bootstrap.servers", c->brokers, errstr, sizeof(errstr)) ||
	    rd_kafka_conf_set(conf, "socket.timeout.ms", tmo, errstr, sizeof(errstr)) ||
	    rd_kafka_conf_set(conf, "client.id", "terrarium-health", errstr, sizeof(errstr)) ||
	    rd_kafka_conf_set(conf, "reconnect.backoff.ms", "100", errstr, sizeof(errstr)) ||
	    rd_kafka_conf_set(conf, "reconnect.backoff.max.ms", "1000", errstr, sizeof(errstr))) {
		set_result(r, "down", "bad setting: %.200s", errstr);
		goto out;
	}
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!rk) {
		set_result(r, "down", "cannot make a client: %.200s", errstr);
		goto out; /* conf is freed by rd_kafka_new() only on success */
	}
	conf = NULL;
	e = rd_kafka_metadata(rk, 0, NULL, &md, (int)c->timeout_ms);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		if (e == RD_KAFKA_RESP_ERR__TIMED_OUT || e == RD_KAFKA_RESP_ERR__TRANSPORT)
			set_result(r, "down", "no broker answered within %ld ms", c->timeout_ms);
		else
			set_result(r, "down", "metadata request failed: %s", rd_kafka_err2str(e));
		goto out;
	}
	if (md->broker_cnt < 1) {
		set_result(r, "down", "the cluster reports no broker");
		goto out;
	}
	set_result(r, "up", "%d broker%s", md->broker_cnt, md->broker_cnt == 1 ? "" : "s");
out:
	if (md)
		rd_kafka_metadata_destroy(md);
	if (conf)
		rd_kafka_conf_destroy(conf);
	if (rk)
		rd_kafka_destroy(rk);
}

/* Run check C into R (status, detail, latency, time). */
static void run_check(const struct check *c, struct health_result *r)
{
	double t0 = mono_ms_f();

	memset(r, 0, sizeof(*r));
	r->latency_ms = -1;
	switch (c->type) {
	case CK_TCP: run_tcp(c, r); break;
	case CK_HTTP: run_http(c, r); break;
	case CK_POSTGRES: run_postgres(c, r); break;
	case CK_REDIS: run_redis(c, r); break;
	case CK_KAFKA: run_kafka(c, r); break;
	case CK_AIRFLOW: run_airflow(c, r); break;
	case CK_MLFLOW: run_mlflow(c, r); break;
	default: set_result(r, "unknown", "no check configured"); break;
	}
	if (c->type != CK_NONE)
		r->latency_ms = round((mono_ms_f() - t0) * 100) / 100;
	r->checked_at = wall_ms();
	scrub_userinfo(r->detail);
	if (c->password && c->password[0] && strstr(r->detail, c->password))
		set_result(r, r->status, "(detail withheld: it held a secret)");
}

int health_check_once(const json_t *svc, struct health_result *out)
{
	char key[96], msg[200];
	struct check c;

	memset(out, 0, sizeof(*out));
	out->latency_ms = -1;
	if (health_service_validate(svc, 0, key, sizeof(key), msg, sizeof(msg)) < 0) {
		set_result(out, "unknown", "%s: %s", key, msg);
		return -1;
	}
	memset(&c, 0, sizeof(c));
	if (json_object_get(svc, "check") &&
	    check_parse(json_object_get(svc, "check"), &c, key, sizeof(key), msg, sizeof(msg)) < 0)
		return -1;
	run_check(&c, out);
	check_release(&c);
	return 0;
}

/* --- services --------------------------------------------------------------------- */

/* Scrub every string in V (recursively) of URL credentials. */
static void scrub_json(json_t *v)
{
	const char *k;
	json_t *x;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach(v, k, x) {
			if (json_is_string(x)) {
				char *s = strdup(json_string_value(x));

				if (s) {
					scrub_userinfo(s);
					json_string_set(x, s);
					free(s);
				}
			} else {
				scrub_json(x);
			}
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, x) {
			if (json_is_string(x)) {
				char *s = strdup(json_string_value(x));

				if (s) {
					scrub_userinfo(s);
					json_string_set(x, s);
					free(s);
				}
			} else {
				scrub_json(x);
			}
		}
	}
}

/* The public part of service DOC: a new object. */
static json_t *public_of(const json_t *doc, const char *id, const struct check *c, int discovered)
{
	static const char *const shown[] = { "group", "icon", "description", "href", "collector",
					     NULL };
	json_t *pub = json_deep_copy(doc);
	const char *type;

	if (!pub)
		return NULL;
	json_object_del(pub, "check");
	for (int i = 0; secret_keys[i]; i++)
		json_object_del(pub, secret_keys[i]);
	scrub_json(pub);
	if (c->type != CK_NONE)
		type = type_names[c->type];
	else
		type = json_string_value(json_object_get(doc, "type"));
	json_object_set_new(pub, "id", json_string(id));
	json_object_set_new(pub, "type", type ? json_string(type) : json_null());
	json_object_set_new(pub, "origin", json_string(discovered ? "discovered" : "config"));
	if (!json_is_string(json_object_get(pub, "group")))
		json_object_set_new(pub, "group", json_string(DEFAULT_GROUP));
	for (int i = 0; shown[i]; i++)
		if (!json_object_get(pub, shown[i]))
			json_object_set_new(pub, shown[i],
					    strcmp(shown[i], "description") == 0 ? json_string("")
					    : strcmp(shown[i], "icon") == 0 && type
						    ? json_string(type)
						    : json_null());
	json_object_set_new(pub, "interval_s",
			    c->type != CK_NONE ? json_real((double)c->interval_ms / 1000) : json_null());
	return pub;
}

static void svc_free(struct svc *s)
{
	if (!s)
		return;
	check_release(&s->chk);
	json_decref(s->doc);
	json_decref(s->pub);
	free(s);
}

/* A new service from DOC (borrowed; validated with STRICT).  NULL with ERR. */
static struct svc *svc_new(const json_t *doc, int discovered, char *err, size_t errlen)
{
	struct svc *s = calloc(1, sizeof(*s));
	char key[96], msg[200];

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (health_service_validate(doc, discovered, key, sizeof(key), msg, sizeof(msg)) < 0) {
		snprintf(err, errlen, "%s%s%s", key, key[0] ? ": " : "", msg);
		goto fail;
	}
	s->doc = json_deep_copy(doc);
	if (!s->doc)
		goto oom;
	health_slug(json_string_value(json_object_get(s->doc, "name")), s->id, sizeof(s->id));
	if (json_object_get(s->doc, "check") &&
	    check_parse(json_object_get(s->doc, "check"), &s->chk, key, sizeof(key), msg,
			sizeof(msg)) < 0) {
		snprintf(err, errlen, "%s: %s", key, msg);
		goto fail;
	}
	s->discovered = discovered;
	s->pub = public_of(s->doc, s->id, &s->chk, discovered);
	if (!s->pub)
		goto oom;
	set_result(&s->last, "unknown", s->chk.type == CK_NONE ? "no check configured"
							       : "not checked yet");
	s->last.latency_ms = -1;
	return s;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	svc_free(s);
	return NULL;
}

/* The service of ID (not gone), or NULL; under h->lock. */
static struct svc *find(struct health *h, const char *id)
{
	for (int i = 0; i < h->n; i++)
		if (!h->svcs[i]->gone && strcmp(h->svcs[i]->id, id) == 0)
			return h->svcs[i];
	return NULL;
}

static int append(struct health *h, struct svc *s)
{
	if (h->n == h->cap) {
		int ncap = h->cap ? h->cap * 2 : 16;
		struct svc **n = realloc(h->svcs, (size_t)ncap * sizeof(*n));

		if (!n)
			return -1;
		h->svcs = n;
		h->cap = ncap;
	}
	h->svcs[h->n++] = s;
	return 0;
}

/* Take the last stored status of S, so a restart shows it at once. */
static void seed_last(struct health *h, struct svc *s)
{
	json_t *pts = NULL, *p;
	struct tm tm;

	if (s->chk.type == CK_NONE ||
	    catalog_health_points(h->store, s->id, wall_ms() - WINDOW_MS, 1, &pts) != 0)
		return;
	p = json_array_get(pts, 0);
	if (p && json_is_string(json_object_get(p, "status"))) {
		const char *t = json_string_value(json_object_get(p, "t"));
		json_t *lat = json_object_get(p, "latency_ms");

		const char *detail = json_string_value(json_object_get(p, "detail"));

		set_result(&s->last, json_string_value(json_object_get(p, "status")), "%s",
			   detail ? detail : "");
		s->last.latency_ms = json_is_number(lat) ? json_number_value(lat) : -1;
		memset(&tm, 0, sizeof(tm));
		if (t && strptime(t, "%Y-%m-%dT%H:%M:%S", &tm))
			s->last.checked_at = (long long)timegm(&tm) * 1000;
		s->has_last = 1;
	}
	json_decref(pts);
}

static void remove_at(struct health *h, int i)
{
	memmove(&h->svcs[i], &h->svcs[i + 1], (size_t)(h->n - i - 1) * sizeof(h->svcs[0]));
	h->n--;
}

struct health *health_create(const struct health_env *env, char *err, size_t errlen)
{
	struct health *h = calloc(1, sizeof(*h));
	json_t *stored = NULL, *row;
	size_t i;
	int ok = 0, locks = 0;

	if (!h) {
		snprintf(err, errlen, "cannot start health checks: out of memory");
		return NULL;
	}
	h->cat = env->cat;
	h->nthreads = env->threads > 0 ? env->threads : DEFAULT_THREADS;
	h->min_interval_ms = env->min_interval_ms > 0 ? env->min_interval_ms : 1000;
	if (pthread_mutex_init(&h->lock, NULL) != 0) {
		snprintf(err, errlen, "cannot start health checks: cannot create a lock");
		goto out;
	}
	pthread_condattr_t ca;

	/* The waits are on the monotonic clock. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (pthread_cond_init(&h->cond, &ca) != 0) {
		pthread_condattr_destroy(&ca);
		pthread_mutex_destroy(&h->lock);
		snprintf(err, errlen, "cannot start health checks: cannot create a lock");
		goto out;
	}
	pthread_condattr_destroy(&ca);
	locks = 1;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	h->store = catalog_health_open(env->cat, NULL, err, errlen);
	if (!h->store)
		goto out;
	json_array_foreach(env->services, i, row) {
		char e[300];
		struct svc *s = svc_new(row, 0, e, sizeof(e));

		if (!s) {
			snprintf(err, errlen, "services[%zu]: %s", i + 1, e);
			goto out;
		}
		if (find(h, s->id)) {
			snprintf(err, errlen, "services[%zu].name: the id '%s' is taken", i + 1, s->id);
			svc_free(s);
			goto out;
		}
		if (append(h, s) < 0) {
			svc_free(s);
			snprintf(err, errlen, "cannot start health checks: out of memory");
			goto out;
		}
	}
	if (catalog_health_services(h->store, &stored) != 0) {
		snprintf(err, errlen, "cannot read the discovered services from the catalog");
		goto out;
	}
	json_array_foreach(stored, i, row) {
		char e[300];
		const char *id = json_string_value(json_object_get(row, "id"));
		struct svc *s = svc_new(json_object_get(row, "doc"), 1, e, sizeof(e));

		if (!s || strcmp(s->id, id) != 0 || find(h, s->id)) {
			/* A configured service took its id since, or it is damaged. */
			log_event(LOG_WARN, "discovered service skipped", "id", id, "detail",
				  s ? "its id is taken by a configured service" : e, NULL);
			svc_free(s);
			continue;
		}
		if (append(h, s) < 0) {
			svc_free(s);
			snprintf(err, errlen, "cannot start health checks: out of memory");
			goto out;
		}
	}
	for (int k = 0; k < h->n; k++)
		seed_last(h, h->svcs[k]);
	ok = 1;
out:
	json_decref(stored);
	if (!ok) {
		for (int k = 0; k < h->n; k++)
			svc_free(h->svcs[k]);
		free(h->svcs);
		catalog_health_close(h->store);
		if (locks) {
			pthread_cond_destroy(&h->cond);
			pthread_mutex_destroy(&h->lock);
		}
		free(h);
		h = NULL;
	}
	return h;
}

static void *worker(void *arg)
{
	struct health *h = arg;

	pthread_mutex_lock(&h->lock);
	while (!h->stopping) {
		struct svc *next = NULL;
		long long now = mono_ms();

		for (int i = 0; i < h->n; i++) {
			struct svc *s = h->svcs[i];

			if (s->gone || s->running || s->chk.type == CK_NONE)
				continue;
			if (!next || s->due < next->due)
				next = s;
		}
		if (!next || next->due > now) {
			struct timespec ts;
			long long wait = next ? next->due - now : 1000;

			if (wait > 1000)
				wait = 1000;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += (time_t)(wait / 1000);
			ts.tv_nsec += (long)(wait % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&h->cond, &h->lock, &ts);
			continue;
		}
		next->running = 1;
		pthread_mutex_unlock(&h->lock);

		struct health_result r;
		char err[300];

		run_check(&next->chk, &r);
		struct catalog_health_point p = {
			.at = r.checked_at,
			.status = r.status,
			.latency_ms = r.latency_ms,
			.detail = r.detail,
		};
		pthread_mutex_lock(&h->lock);
		int gone = next->gone;
		pthread_mutex_unlock(&h->lock);
		if (!gone && catalog_health_record(h->store, next->id, &p, err, sizeof(err)) != 0)
			log_event(LOG_WARN, "health point queued", "service", next->id, "detail", err,
				  NULL);
		pthread_mutex_lock(&h->lock);
		next->running = 0;
		if (next->gone) {
			for (int i = 0; i < h->n; i++)
				if (h->svcs[i] == next) {
					remove_at(h, i);
					break;
				}
			svc_free(next);
			continue;
		}
		if (next->has_last && strcmp(next->last.status, r.status) != 0)
			log_event(strcmp(r.status, "up") == 0 ? LOG_INFO : LOG_WARN,
				  "service status changed", "service", next->id, "from",
				  next->last.status, "to", r.status, "detail", r.detail, NULL);
		next->last = r;
		next->has_last = 1;
		long iv = next->chk.interval_ms > h->min_interval_ms ? next->chk.interval_ms
								    : h->min_interval_ms;
		next->due = mono_ms() + iv;
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

int health_start(struct health *h)
{
	int i;

	if (h->started)
		return 0;
	h->threads = calloc((size_t)h->nthreads, sizeof(*h->threads));
	if (!h->threads)
		return -1;
	pthread_mutex_lock(&h->lock);
	for (i = 0; i < h->n; i++)
		h->svcs[i]->due = mono_ms();
	pthread_mutex_unlock(&h->lock);
	for (i = 0; i < h->nthreads; i++)
		if (pthread_create(&h->threads[i], NULL, worker, h) != 0)
			break;
	h->nthreads = i;
	h->started = 1;
	return i > 0 ? 0 : -1;
}

void health_destroy(struct health *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	h->stopping = 1;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	for (int i = 0; h->started && i < h->nthreads; i++)
		pthread_join(h->threads[i], NULL);
	free(h->threads);
	for (int i = 0; i < h->n; i++)
		svc_free(h->svcs[i]);
	free(h->svcs);
	catalog_health_close(h->store);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

/* The public object of S with its status and history; S's fields copied
 * under the lock into PUB and LAST by the caller. */
static json_t *describe(struct health *h, const char *id, json_t *pub,
			const struct health_result *last, int has_check)
{
	json_t *out = json_deep_copy(pub), *history = NULL;
	struct catalog_health_summary sum = { 0, 0, -1, 0 };
	long long now = wall_ms();
	char t[40];

	if (!out)
		return NULL;
	json_object_set_new(out, "status", json_string(last->status));
	json_object_set_new(out, "latency_ms",
			    last->latency_ms >= 0 ? json_real(last->latency_ms) : json_null());
	json_object_set_new(out, "detail", json_string(last->detail));
	if (last->checked_at > 0) {
		format_time(last->checked_at, t, sizeof(t));
		json_object_set_new(out, "checked_at", json_string(t));
	} else {
		json_object_set_new(out, "checked_at", json_null());
	}
	/* Buckets on fixed boundaries (every 30 min), so that a point stays in
	 * its bucket from one request to the next; the last one holds now. */
	long long width = WINDOW_MS / SPARK_BUCKETS, to = (now / width + 1) * width;

	if (has_check &&
	    (catalog_health_buckets(h->store, id, to - WINDOW_MS, to, SPARK_BUCKETS, &history,
				    NULL) != 0 ||
	     catalog_health_buckets(h->store, id, now - WINDOW_MS, now + 1, 1, NULL, &sum) != 0)) {
		json_decref(history);
		history = NULL;
	}
	json_object_set_new(out, "history", history ? history : json_array());
	json_object_set_new(out, "uptime_24h", sum.uptime >= 0 ? json_real(sum.uptime) : json_null());
	return out;
}

/* Copies of what describe() needs from the services (under the lock). */
struct snap {
	char id[HEALTH_ID_MAX + 1];
	json_t *pub;
	struct health_result last;
	int has_check;
};

static int snapshot(struct health *h, const char *only, struct snap **out, int *n)
{
	int k = 0;

	pthread_mutex_lock(&h->lock);
	*out = calloc((size_t)(h->n ? h->n : 1), sizeof(**out));
	if (!*out) {
		pthread_mutex_unlock(&h->lock);
		return -1;
	}
	for (int i = 0; i < h->n; i++) {
		struct svc *s = h->svcs[i];

		if (s->gone || (only && strcmp(s->id, only) != 0))
			continue;
		memcpy((*out)[k].id, s->id, sizeof(s->id));
		(*out)[k].pub = json_incref(s->pub);
		(*out)[k].last = s->last;
		(*out)[k].has_check = s->chk.type != CK_NONE;
		k++;
	}
	pthread_mutex_unlock(&h->lock);
	*n = k;
	return 0;
}

static void snap_free(struct snap *s, int n)
{
	for (int i = 0; s && i < n; i++)
		json_decref(s[i].pub);
	free(s);
}

json_t *health_list(struct health *h)
{
	struct snap *s = NULL;
	json_t *arr = json_array();
	int n = 0;

	if (!arr || snapshot(h, NULL, &s, &n) < 0) {
		json_decref(arr);
		return NULL;
	}
	for (int i = 0; i < n; i++) {
		json_t *o = describe(h, s[i].id, s[i].pub, &s[i].last, s[i].has_check);

		if (!o || json_array_append_new(arr, o) != 0) {
			json_decref(arr);
			arr = NULL;
			break;
		}
	}
	snap_free(s, n);
	return arr;
}

int health_get(struct health *h, const char *id, json_t **out)
{
	struct snap *s = NULL;
	int n = 0;

	*out = NULL;
	if (snapshot(h, id, &s, &n) < 0)
		return HEALTH_EIO;
	if (n == 1)
		*out = describe(h, s[0].id, s[0].pub, &s[0].last, s[0].has_check);
	snap_free(s, n);
	if (n == 0)
		return HEALTH_ENOTFOUND;
	return *out ? 0 : HEALTH_EIO;
}

int health_history(struct health *h, const char *id, int hours, json_t **out)
{
	json_t *pts = NULL;
	int known;

	*out = NULL;
	pthread_mutex_lock(&h->lock);
	known = find(h, id) != NULL;
	pthread_mutex_unlock(&h->lock);
	if (!known)
		return HEALTH_ENOTFOUND;
	if (catalog_health_points(h->store, id, wall_ms() - (long long)hours * 3600 * 1000,
				  CATALOG_HEALTH_POINTS_MAX, &pts) != 0)
		return HEALTH_EIO;
	*out = json_pack("{s:s, s:i, s:o}", "id", id, "hours", hours, "points", pts);
	return *out ? 0 : HEALTH_EIO;
}

int health_add(struct health *h, const json_t *svc, json_t **out, char *err, size_t errlen)
{
	struct svc *s = svc_new(svc, 1, err, errlen);
	int rc = HEALTH_EINVAL, taken;

	*out = NULL;
	if (!s)
		return rc;
	pthread_mutex_lock(&h->lock);
	taken = find(h, s->id) != NULL;
	pthread_mutex_unlock(&h->lock);
	if (taken) {
		snprintf(err, errlen, "a service with the id '%s' exists", s->id);
		rc = HEALTH_EEXIST;
		goto out;
	}
	if (catalog_health_service_put(h->store, s->id, s->doc, err, errlen) != 0) {
		rc = HEALTH_EIO;
		goto out;
	}
	/* Points of an earlier service of the same id are not this one's. */
	catalog_health_forget(h->store, s->id);
	pthread_mutex_lock(&h->lock);
	if (find(h, s->id)) {
		pthread_mutex_unlock(&h->lock);
		snprintf(err, errlen, "a service with the id '%s' exists", s->id);
		rc = HEALTH_EEXIST;
		goto out;
	}
	if (append(h, s) < 0) {
		pthread_mutex_unlock(&h->lock);
		catalog_health_service_delete(h->store, s->id);
		snprintf(err, errlen, "out of memory");
		rc = HEALTH_EIO;
		goto out;
	}
	s->due = mono_ms();
	pthread_cond_broadcast(&h->cond);
	struct health_result last = s->last;
	json_t *pub = json_incref(s->pub);
	char id[HEALTH_ID_MAX + 1];

	memcpy(id, s->id, sizeof(id));
	s = NULL;
	pthread_mutex_unlock(&h->lock);
	*out = describe(h, id, pub, &last, json_object_get(svc, "check") != NULL);
	json_decref(pub);
	rc = *out ? 0 : HEALTH_EIO;
out:
	svc_free(s);
	return rc;
}

int health_remove(struct health *h, const char *id)
{
	struct svc *s;
	int rc;

	pthread_mutex_lock(&h->lock);
	s = find(h, id);
	if (!s) {
		pthread_mutex_unlock(&h->lock);
		return HEALTH_ENOTFOUND;
	}
	if (!s->discovered) {
		pthread_mutex_unlock(&h->lock);
		return HEALTH_ECONFIG;
	}
	s->gone = 1;
	if (!s->running) {
		for (int i = 0; i < h->n; i++)
			if (h->svcs[i] == s) {
				remove_at(h, i);
				break;
			}
		svc_free(s);
	}
	pthread_mutex_unlock(&h->lock);
	rc = catalog_health_service_delete(h->store, id);
	return rc == 0 || rc == CATALOG_ENOTFOUND ? 0 : HEALTH_EIO;
}

/* Write LABEL escaped for a Prometheus label value. */
static void prom_label(struct strbuf *sb, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			strbuf_addf(sb, "\\%c", *s);
		else if (*s == '\n')
			strbuf_adds(sb, "\\n");
		else
			strbuf_add(sb, s, 1);
	}
}

void health_metrics(struct health *h, struct strbuf *sb)
{
	pthread_mutex_lock(&h->lock);
	strbuf_adds(sb, "# HELP terrarium_service_up Whether the last check found the service up.\n"
			"# TYPE terrarium_service_up gauge\n");
	for (int i = 0; i < h->n; i++) {
		struct svc *s = h->svcs[i];

		if (s->gone || !s->has_last)
			continue;
		strbuf_adds(sb, "terrarium_service_up{service=\"");
		prom_label(sb, s->id);
		strbuf_addf(sb, "\"} %d\n", strcmp(s->last.status, "up") == 0);
	}
	strbuf_adds(sb, "# HELP terrarium_service_check_seconds How long the last check took.\n"
			"# TYPE terrarium_service_check_seconds gauge\n");
	for (int i = 0; i < h->n; i++) {
		struct svc *s = h->svcs[i];

		if (s->gone || !s->has_last || s->last.latency_ms < 0)
			continue;
		strbuf_adds(sb, "terrarium_service_check_seconds{service=\"");
		prom_label(sb, s->id);
		strbuf_addf(sb, "\"} %.6f\n", s->last.latency_ms / 1000.0);
	}
	pthread_mutex_unlock(&h->lock);
}

