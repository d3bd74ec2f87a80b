/* Integration-test harness; see harness.h. */
#include "tests/lib/harness.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *bin(void)
{
	const char *b = getenv("TERRARIUM_BIN");
	return b && *b ? b : "build/terrarium";
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Find "addr=HOST:PORT" in the log; the port or 0. */
static int port_from_log(const char *path)
{
	char line[4096];
	int port = 0;
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	while (!port && fgets(line, sizeof(line), f)) {
		char *p = strstr(line, "msg=listening");
		char *a = p ? strstr(p, " addr=") : NULL;
		char *colon = a ? strchr(a + 6, ' ') : NULL;
		if (!a)
			continue;
		if (colon)
			*colon = '\0';
		colon = strrchr(a, ':');
		if (colon)
			port = atoi(colon + 1);
	}
	fclose(f);
	return port;
}

static int spawn(struct th_server *s, const char *const *extra)
{
	const char *argv[64];
	int n = 0;
	char cfg[300];
	argv[n++] = bin();
	argv[n++] = "serve";
	argv[n++] = "--data";
	argv[n++] = s->dir;
	snprintf(cfg, sizeof(cfg), "%s/terrarium.lua", s->dir);
	if (access(cfg, R_OK) == 0) {
		argv[n++] = "--config";
		argv[n++] = cfg;
	}
	if (!extra || !extra[0] || strcmp(extra[0], "--listen") != 0) {
		argv[n++] = "--listen";
		argv[n++] = "127.0.0.1:0";
	}
	for (int i = 0; extra && extra[i] && n < 62; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 2);
			dup2(fd, 1);
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	s->pid = pid;
	for (int i = 0; i < 1000; i++) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			s->pid = 0;
			fprintf(stderr, "harness: server exited early; log %s\n", s->log_path);
			return -1;
		}
		int port = port_from_log(s->log_path);
		if (port) {
			s->port = port;
			snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%d", port);
			struct th_resp r;
			if (th_req(s, "GET", "/healthz", NULL, 0, NULL, NULL, &r) == 0 &&
			    r.status == 200) {
				th_resp_free(&r);
				return 0;
			}
			th_resp_free(&r);
		}
		sleep_ms(10);
	}
	fprintf(stderr, "harness: server did not answer within 10 s; log %s\n", s->log_path);
	return -1;
}

int th_start(struct th_server *s, const char *config_lua, const char *const *extra_args)
{
	static int curl_ready;
	if (!curl_ready) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		curl_ready = 1;
	}
	memset(s, 0, sizeof(*s));
	snprintf(s->dir, sizeof(s->dir), "/tmp/terrarium-test-XXXXXX");
	if (!mkdtemp(s->dir))
		return -1;
	snprintf(s->log_path, sizeof(s->log_path), "%s/server.log", s->dir);
	if (config_lua) {
		char cfg[300];
		snprintf(cfg, sizeof(cfg), "%s/terrarium.lua", s->dir);
		FILE *f = fopen(cfg, "w");
		if (!f)
			return -1;
		fputs(config_lua, f);
		fclose(f);
	}
	return spawn(s, extra_args);
}

int th_restart(struct th_server *s)
{
	/* Truncate the old log so the new "listening" line is the one read. */
	FILE *f = fopen(s->log_path, "w");
	if (f)
		fclose(f);
	return spawn(s, NULL);
}

int th_terminate(struct th_server *s)
{
	int st = 0;
	if (s->pid <= 0)
		return -1;
	kill(s->pid, SIGTERM);
	for (int i = 0; i < 1000; i++) {
		if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
			s->pid = 0;
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		}
		sleep_ms(10);
	}
	kill(s->pid, SIGKILL);
	waitpid(s->pid, &st, 0);
	s->pid = 0;
	return -1;
}

void th_stop(struct th_server *s)
{
	char cmd[400];
	if (s->pid > 0)
		th_terminate(s);
	if (s->dir[0] && !getenv("TH_KEEP")) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "harness: cannot remove %s\n", s->dir);
	}
}

int th_cli(struct th_server *s, char **out, const char *const *args)
{
	int pipefd[2];
	const char *argv[64];
	int n = 0;
	argv[n++] = bin();
	for (int i = 0; args[i] && n < 60; i++)
		argv[n++] = args[i];
	argv[n++] = "--data";
	argv[n++] = s->dir;
	argv[n] = NULL;
	if (pipe(pipefd) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(pipefd[1], 1);
		close(pipefd[0]);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	ssize_t r;
	while (buf && (r = read(pipefd[0], buf + len, cap - len - 1)) > 0) {
		len += (size_t)r;
		if (len + 1 == cap) {
			char *p = realloc(buf, cap * 2);
			if (!p)
				break;
			buf = p;
			cap *= 2;
		}
	}
	close(pipefd[0]);
	if (buf)
		buf[len] = '\0';
	int st;
	waitpid(pid, &st, 0);
	if (out)
		*out = buf;
	else
		free(buf);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int th_token(struct th_server *s, const char *scope, char *token)
{
	char *out = NULL;
	const char *args[] = { "token", "create", "--scope", scope, NULL };
	int rc = th_cli(s, &out, args);
	token[0] = '\0';
	if (rc == 0 && out) {
		/* The token is the last line. */
		size_t len = strlen(out);
		while (len && out[len - 1] == '\n')
			out[--len] = '\0';
		char *nl = strrchr(out, '\n');
		snprintf(token, 64, "%s", nl ? nl + 1 : out);
	}
	free(out);
	return rc == 0 && token[0] ? 0 : -1;
}

struct sink {
	char *buf;
	size_t len, cap;
};

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
	struct sink *s = ud;
	size_t add = size * n;
	if (s->len + add + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < s->len + add + 1)
			cap *= 2;
		char *b = realloc(s->buf, cap);
		if (!b)
			return 0;
		s->buf = b;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, p, add);
	s->len += add;
	s->buf[s->len] = '\0';
	return add;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct th_resp *r = ud;
	size_t add = size * n, have = strlen(r->headers);
	if (have + add < sizeof(r->headers)) {
		memcpy(r->headers + have, p, add);
		r->headers[have + add] = '\0';
	}
	return add;
}

int th_req(struct th_server *s, const char *method, const char *path, const char *body,
	   size_t body_len, const char *ctype, const char *token, struct th_resp *r)
{
	char url[8192], auth[256], ct[200];
	struct curl_slist *h = NULL;
	struct sink sink = { 0 };
	memset(r, 0, sizeof(*r));
	CURL *c = curl_easy_init();
	if (!c)
		return -1;
	snprintf(url, sizeof(url), "%s%s", s->base, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
		snprintf(ct, sizeof(ct), "Content-Type: %s", ctype ? ctype : "application/json");
		h = curl_slist_append(h, ct);
	}
	if (token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		h = curl_slist_append(h, auth);
	}
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	CURLcode cc = curl_easy_perform(c);
	if (cc == CURLE_OK) {
		char *t = NULL;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
		curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &t);
		snprintf(r->ctype, sizeof(r->ctype), "%s", t ? t : "");
	}
	r->body = sink.buf ? sink.buf : calloc(1, 1);
	r->len = sink.len;
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return cc == CURLE_OK ? 0 : -1;
}

int th_json(struct th_server *s, const char *method, const char *path, const char *body,
	    const char *token, long *status, json_t **doc)
{
	struct th_resp r;
	int rc = th_req(s, method, path, body, body ? strlen(body) : 0, NULL, token, &r);
	*status = r.status;
	*doc = rc == 0 ? json_loadb(r.body, r.len, 0, NULL) : NULL;
	th_resp_free(&r);
	return rc;
}

void th_resp_free(struct th_resp *r)
{
	free(r->body);
	r->body = NULL;
}

void th_urlencode(const char *s, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (; *s && o + 4 < outlen; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
}

long th_raw(struct th_server *s, const void *raw, size_t len, int shut_wr_after, int timeout_ms,
	    char **out)
{
	long got = -1;
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa;
	if (out)
		*out = NULL;
	if (!buf || fd < 0)
		goto out;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)s->port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto out;
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	const char *p = raw;
	size_t off = 0;
	while (off < len) {
		ssize_t w = send(fd, p + off, len - off, MSG_NOSIGNAL);
		if (w <= 0)
			break; /* reset or timed out: read what the server said */
		off += (size_t)w;
	}
	if (shut_wr_after)
		shutdown(fd, SHUT_WR);
	for (;;) {
		if (n + 1 >= cap) {
			char *b = realloc(buf, cap * 2);
			if (!b)
				break;
			buf = b;
			cap *= 2;
		}
		ssize_t r = recv(fd, buf + n, cap - n - 1, 0);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	got = (long)n;
	if (out) {
		*out = buf;
		buf = NULL;
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return got;
}

int th_raw_status(const char *reply)
{
	int st = 0;
	if (reply && strncmp(reply, "HTTP/1.", 7) == 0 && sscanf(reply + 8, " %d", &st) != 1)
		st = 0;
	return st;
}

int th_header(const struct th_resp *r, const char *name, char *out, size_t outlen)
{
	size_t nlen = strlen(name);
	const char *line = r->headers;
	while (line && *line) {
		const char *end = strstr(line, "\r\n");
		size_t llen = end ? (size_t)(end - line) : strlen(line);
		if (llen > nlen && line[nlen] == ':' && strncasecmp(line, name, nlen) == 0) {
			const char *v = line + nlen + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			size_t vlen = llen - (size_t)(v - line);
			if (vlen >= outlen)
				vlen = outlen - 1;
			memcpy(out, v, vlen);
			out[vlen] = '\0';
			return 0;
		}
		line = end ? end + 2 : NULL;
	}
	return -1;
}

char *th_read_file(const char *path, size_t *len)
{
	char *buf = NULL;
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0) {
		long size = ftell(f);
		if (size >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)size + 1))) {
			if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
				free(buf);
				buf = NULL;
			} else {
				buf[size] = '\0';
				if (len)
					*len = (size_t)size;
			}
		}
	}
	fclose(f);
	return buf;
}
