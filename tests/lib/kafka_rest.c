/*
 * tests/lib/kafka_rest.c - recorded REST answers over HTTP on loopback
 * (kafka_rest.h).
 */
#include "tests/lib/kafka_rest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define KAFKA_REST_ROUTES 64
#define KAFKA_REST_HEAD_MAX 16384
#define KAFKA_REST_READ_MS 5000
#define KAFKA_REST_SILENT_MAX 32
#define KAFKA_REST_FILE_MAX (8 * 1024 * 1024)

struct kafka_rest_route {
	char method[8];
	char target[512];
	char *body;    /* the file, malloc'd */
	size_t len;
};

struct kafka_rest {
	int fd;
	pthread_t thread;
	int started;
	atomic_int stop;
	atomic_int mode;
	atomic_int requests;
	char url[64];
	struct kafka_rest_route routes[KAFKA_REST_ROUTES];
	int nroutes;
	int silent[KAFKA_REST_SILENT_MAX];
	int nsilent;
};

static char *kafka_rest_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && n <= KAFKA_REST_FILE_MAX &&
	    fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		if (buf) {
			buf[n] = '\0';
			*len = (size_t)n;
		}
	}
	fclose(f);
	return buf;
}

static int kafka_rest_load(struct kafka_rest *r, const char *dir, char *err, size_t errlen)
{
	char path[1024], line[1200];
	FILE *f;
	int rc = -1;

	snprintf(path, sizeof(path), "%s/index.txt", dir);
	f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char method[8], target[512], file[512];
		struct kafka_rest_route *rt;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (sscanf(line, "%7s %511s %511s", method, target, file) != 3) {
			snprintf(err, errlen, "%s: a line is not 'METHOD TARGET FILE'", path);
			goto out;
		}
		if (r->nroutes == KAFKA_REST_ROUTES) {
			snprintf(err, errlen, "%s: more than %d routes", path, KAFKA_REST_ROUTES);
			goto out;
		}
		rt = &r->routes[r->nroutes];
		snprintf(rt->method, sizeof(rt->method), "%s", method);
		snprintf(rt->target, sizeof(rt->target), "%s", target);
		snprintf(path, sizeof(path), "%s/%s", dir, file);
		rt->body = kafka_rest_slurp(path, &rt->len);
		if (!rt->body) {
			snprintf(err, errlen, "cannot read '%s'", path);
			goto out;
		}
		r->nroutes++;
	}
	rc = 0;
out:
	fclose(f);
	return rc;
}

static void kafka_rest_send(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			return;
		}
		data += n;
		len -= (size_t)n;
	}
}

/* Answer STATUS with BODY of LEN bytes, the headers announcing CLAIMED bytes. */
static void kafka_rest_answer(int fd, int status, const char *body, size_t len, size_t claimed)
{
	char head[256];
	const char *text = status == 200 ? "OK" : status == 404 ? "Not Found" : "Internal Server Error";
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
			 status, text, claimed);

	kafka_rest_send(fd, head, (size_t)n);
	kafka_rest_send(fd, body, len);
}

/* Read one request's head from FD: 0, or -1 when it does not come in time. */
static int kafka_rest_read_head(int fd, char *buf, size_t cap)
{
	size_t len = 0;

	while (len + 1 < cap) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, KAFKA_REST_READ_MS) <= 0)
			return -1;
		n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			return 0;
	}
	return -1;
}

static void kafka_rest_serve(struct kafka_rest *r, int fd)
{
	static const char garbage[] = "<html><body>502 Bad Gateway (not JSON)</body></html>";
	static const char failure[] =
		"{\"error_code\": 500, \"message\": \"Request failed: simulated worker failure\"}";
	char head[KAFKA_REST_HEAD_MAX], method[8] = "", target[512] = "";
	const struct kafka_rest_route *rt = NULL;
	int mode;

	if (kafka_rest_read_head(fd, head, sizeof(head)) < 0) {
		close(fd);
		return;
	}
	atomic_fetch_add(&r->requests, 1);
	sscanf(head, "%7s %511s", method, target);
	for (int i = 0; i < r->nroutes; i++)
		if (strcmp(r->routes[i].method, method) == 0 && strcmp(r->routes[i].target, target) == 0)
			rt = &r->routes[i];
	mode = atomic_load(&r->mode);
	switch (mode) {
	case KAFKA_REST_SILENT:
		if (r->nsilent < KAFKA_REST_SILENT_MAX) {
			r->silent[r->nsilent++] = fd;
			return;
		}
		break;
	case KAFKA_REST_GARBAGE:
		kafka_rest_answer(fd, 200, garbage, sizeof(garbage) - 1, sizeof(garbage) - 1);
		break;
	case KAFKA_REST_ERROR:
		kafka_rest_answer(fd, 500, failure, sizeof(failure) - 1, sizeof(failure) - 1);
		break;
	case KAFKA_REST_TRUNCATED:
	case KAFKA_REST_CUT:
		if (rt) {
			size_t half = rt->len / 2;
			kafka_rest_answer(fd, 200, rt->body, half, mode == KAFKA_REST_CUT ? rt->len : half);
			break;
		}
		/* fall through */
	default:
		if (rt) {
			kafka_rest_answer(fd, 200, rt->body, rt->len, rt->len);
		} else {
			char body[700];
			int n = snprintf(body, sizeof(body),
					 "{\"error_code\": 404, \"message\": \"HTTP 404 Not Found\"}");
			kafka_rest_answer(fd, 404, body, (size_t)n, (size_t)n);
		}
		break;
	}
	shutdown(fd, SHUT_WR);
	close(fd);
}

static void *kafka_rest_main(void *arg)
{
	struct kafka_rest *r = arg;

	while (!atomic_load(&r->stop)) {
		struct pollfd p = { .fd = r->fd, .events = POLLIN };
		int fd;

		if (poll(&p, 1, 100) <= 0)
			continue;
		fd = accept(r->fd, NULL, NULL);
		if (fd >= 0)
			kafka_rest_serve(r, fd);
	}
	return NULL;
}

struct kafka_rest *kafka_rest_start(const char *dir, char *err, size_t errlen)
{
	struct kafka_rest *r = calloc(1, sizeof(*r));
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t salen = sizeof(sa);
	int one = 1;

	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->fd = -1;
	if (kafka_rest_load(r, dir, err, errlen) < 0)
		goto fail;
	r->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (r->fd < 0 || setsockopt(r->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(r->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(r->fd, 16) < 0 ||
	    getsockname(r->fd, (struct sockaddr *)&sa, &salen) < 0) {
		snprintf(err, errlen, "cannot listen on 127.0.0.1: %s", strerror(errno));
		goto fail;
	}
	snprintf(r->url, sizeof(r->url), "http://127.0.0.1:%d", ntohs(sa.sin_port));
	if (pthread_create(&r->thread, NULL, kafka_rest_main, r) != 0) {
		snprintf(err, errlen, "cannot start the server thread");
		goto fail;
	}
	r->started = 1;
	return r;
fail:
	kafka_rest_stop(r);
	return NULL;
}

const char *kafka_rest_url(const struct kafka_rest *r)
{
	return r->url;
}

void kafka_rest_set_mode(struct kafka_rest *r, enum kafka_rest_mode mode)
{
	atomic_store(&r->mode, (int)mode);
}

int kafka_rest_requests(struct kafka_rest *r)
{
	return atomic_load(&r->requests);
}

void kafka_rest_stop(struct kafka_rest *r)
{
	if (!r)
		return;
	atomic_store(&r->stop, 1);
	if (r->started)
		pthread_join(r->thread, NULL);
	for (int i = 0; i < r->nsilent; i++)
		close(r->silent[i]);
	if (r->fd >= 0)
		close(r->fd);
	for (int i = 0; i < r->nroutes; i++)
		free(r->routes[i].body);
	free(r);
}
