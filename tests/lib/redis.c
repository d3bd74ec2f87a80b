/* A throw-away Redis server for tests; see redis.h. */
#include "tests/lib/redis.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REDIS_TEST_START_MS 10000
#define REDIS_TEST_STOP_MS 5000

static void redis_test_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static long long redis_test_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A port on 127.0.0.1 that nobody listens on right now. */
static int redis_test_free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int port = -1;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int redis_test_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void redis_test_remove_dir(char *dir)
{
	if (dir[0])
		nftw(dir, redis_test_rm, 16, FTW_DEPTH | FTW_PHYS);
	dir[0] = '\0';
}

/* ERR gets WHAT and the end of the server's log. */
static void redis_test_fail_log(struct redis_test_server *s, char *err, size_t errlen,
				const char *what)
{
	char tail[600] = "";
	FILE *f = fopen(s->log_path, "r");
	if (f) {
		if (fseek(f, 0, SEEK_END) == 0) {
			long size = ftell(f);
			long from = size > (long)sizeof(tail) - 1 ? size - (long)sizeof(tail) + 1 : 0;
			if (fseek(f, from, SEEK_SET) == 0) {
				size_t n = fread(tail, 1, sizeof(tail) - 1, f);
				tail[n] = '\0';
			}
		}
		fclose(f);
	}
	for (char *c = tail; *c; c++)
		if (*c == '\n')
			*c = ' ';
	snprintf(err, errlen, "%s (log: ...%s)", what, tail);
}

redisContext *redis_test_connect(struct redis_test_server *s, char *err, size_t errlen)
{
	struct timeval tv = { 10, 0 };
	redisContext *c = redisConnectWithTimeout(s->host, s->port, tv);
	redisReply *r = NULL;
	if (!c || c->err) {
		snprintf(err, errlen, "cannot connect to redis at %s:%d: %s", s->host, s->port,
			 c ? c->errstr : "out of memory");
		goto fail;
	}
	redisSetTimeout(c, tv);
	if (s->password[0]) {
		r = redisCommand(c, "AUTH %s", s->password);
		if (!r || r->type == REDIS_REPLY_ERROR) {
			snprintf(err, errlen, "cannot authenticate to redis at %s:%d: %s", s->host,
				 s->port, r ? r->str : c->errstr);
			goto fail;
		}
		freeReplyObject(r);
	}
	return c;
fail:
	if (r)
		freeReplyObject(r);
	if (c)
		redisFree(c);
	return NULL;
}

/* Append the text of R to OUT at *N. */
static void redis_test_text(const redisReply *r, char *out, size_t outlen, size_t *n)
{
	if (*n >= outlen)
		return;
	switch (r->type) {
	case REDIS_REPLY_INTEGER:
		*n += (size_t)snprintf(out + *n, outlen - *n, "%lld", r->integer);
		break;
	case REDIS_REPLY_STRING:
	case REDIS_REPLY_STATUS:
	case REDIS_REPLY_ERROR:
		*n += (size_t)snprintf(out + *n, outlen - *n, "%.*s", (int)r->len, r->str);
		break;
	case REDIS_REPLY_ARRAY:
		for (size_t i = 0; i < r->elements && *n < outlen; i++) {
			if (i > 0)
				*n += (size_t)snprintf(out + *n, outlen - *n, "\n");
			redis_test_text(r->element[i], out, outlen, n);
		}
		break;
	default:
		break;
	}
	if (*n >= outlen)
		*n = outlen - 1;
}

int redis_test_cmd(struct redis_test_server *s, char *out, size_t outlen, char *err,
		   size_t errlen, const char *fmt, ...)
{
	int rc = -1;
	redisReply *r = NULL;
	va_list ap;
	redisContext *c = redis_test_connect(s, err, errlen);
	if (out && outlen)
		out[0] = '\0';
	if (!c)
		goto out;
	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	if (!r) {
		snprintf(err, errlen, "redis command failed: %s", c->errstr);
		goto out;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		snprintf(err, errlen, "%s", r->str);
		goto out;
	}
	if (out && outlen) {
		size_t n = 0;
		redis_test_text(r, out, outlen, &n);
		out[n] = '\0';
	}
	rc = 0;
out:
	if (r)
		freeReplyObject(r);
	if (c)
		redisFree(c);
	return rc;
}

/* One attempt on a fresh free port: 0, -1 (failed), -2 (the server exited:
 * maybe the port was taken meanwhile). */
static int redis_test_try(struct redis_test_server *s, char *err, size_t errlen)
{
	char port[16], *argv[32];
	int n = 0;
	const char *bin = getenv("REDIS_SERVER");
	if (!bin || !*bin)
		bin = "redis-server";
	s->port = redis_test_free_port();
	if (s->port < 0) {
		snprintf(err, errlen, "no free port on 127.0.0.1");
		return -1;
	}
	snprintf(port, sizeof(port), "%d", s->port);
	argv[n++] = (char *)bin;
	argv[n++] = "--port";
	argv[n++] = port;
	argv[n++] = "--bind";
	argv[n++] = "127.0.0.1";
	argv[n++] = "--save";
	argv[n++] = "";
	argv[n++] = "--appendonly";
	argv[n++] = "no";
	argv[n++] = "--dir";
	argv[n++] = s->dir;
	argv[n++] = "--logfile";
	argv[n++] = s->log_path;
	argv[n++] = "--daemonize";
	argv[n++] = "no";
	argv[n++] = "--databases";
	argv[n++] = "16";
	if (s->password[0]) {
		argv[n++] = "--requirepass";
		argv[n++] = s->password;
	}
	argv[n] = NULL;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
		}
		setpgid(0, 0);
		execvp(bin, argv);
		_exit(127);
	}
	s->pid = pid;
	snprintf(s->url, sizeof(s->url), "redis://%s%s%s127.0.0.1:%d", s->password[0] ? ":" : "",
		 s->password, s->password[0] ? "@" : "", s->port);
	long long end = redis_test_now_ms() + REDIS_TEST_START_MS;
	while (redis_test_now_ms() < end) {
		int status;
		char pong[16], cerr[256];
		if (waitpid(pid, &status, WNOHANG) == pid) {
			s->pid = 0;
			if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
				snprintf(err, errlen, "cannot run %s (package redis-server)", bin);
				return -1;
			}
			redis_test_fail_log(s, err, errlen, "redis-server exited at start");
			return -2;
		}
		if (redis_test_cmd(s, pong, sizeof(pong), cerr, sizeof(cerr), "PING") == 0 &&
		    strcmp(pong, "PONG") == 0)
			return 0;
		redis_test_sleep_ms(50);
	}
	redis_test_fail_log(s, err, errlen, "redis-server did not answer PING within 10 s");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	s->pid = 0;
	return -1;
}

int redis_test_start(struct redis_test_server *s, const char *password, char *err,
		     size_t errlen)
{
	int rc = -1;
	memset(s, 0, sizeof(*s));
	snprintf(s->host, sizeof(s->host), "127.0.0.1");
	if (password && strlen(password) >= sizeof(s->password)) {
		snprintf(err, errlen, "the test password is too long");
		return -1;
	}
	if (password)
		snprintf(s->password, sizeof(s->password), "%s", password);
	snprintf(s->dir, sizeof(s->dir), "/tmp/terrarium-redis-XXXXXX");
	if (!mkdtemp(s->dir)) {
		snprintf(err, errlen, "cannot make a temporary directory: %s", strerror(errno));
		s->dir[0] = '\0';
		return -1;
	}
	snprintf(s->log_path, sizeof(s->log_path), "%s/server.log", s->dir);
	for (int attempt = 0; attempt < 3; attempt++) {
		rc = redis_test_try(s, err, errlen);
		if (rc != -2)
			break;
	}
	if (rc != 0) {
		rc = -1;
		redis_test_remove_dir(s->dir);
	} else {
		err[0] = '\0';
	}
	return rc;
}

void redis_test_stop(struct redis_test_server *s)
{
	if (s->pid > 0) {
		int status;
		long long end = redis_test_now_ms() + REDIS_TEST_STOP_MS;
		kill(s->pid, SIGTERM);
		for (;;) {
			pid_t r = waitpid(s->pid, &status, WNOHANG);
			if (r == s->pid || r < 0)
				break;
			if (redis_test_now_ms() >= end) {
				kill(s->pid, SIGKILL);
				waitpid(s->pid, &status, 0);
				break;
			}
			redis_test_sleep_ms(20);
		}
		s->pid = 0;
	}
	redis_test_remove_dir(s->dir);
}
