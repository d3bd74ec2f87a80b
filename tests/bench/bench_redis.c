/*
 * Benchmark of the Redis collector: `terrarium collect redis` on a server
 * holding N keys (default 1,000,000), and the server's own latency while it
 * is crawled.  Run by tests/bench/bench_redis.sh, which builds it:
 *
 *   bench_redis TERRARIUM_BIN [-n KEYS]
 *
 * It starts a throw-away redis-server (tests/lib/redis.c), loads a mix of
 * keys with pipelining (40 % hashes user:N, 30 % strings session:<uuid> with
 * a TTL, 20 % strings cache:page:N, 10 % sets tag:N:members, plus a stream
 * with a consumer group), then:
 *   - baseline: PING round trips on a second connection for 2 s while idle,
 *     and a crawl of an empty db (the collector's fixed cost);
 *   - the crawl of every db with the default budget (sample_keys 10000,
 *     scan_count 1000, time_budget 5 s), twice (first: every entity new;
 *     second: nothing changed), with PING round trips measured during each;
 *   - the server's own figures: the latency monitor's worst event (threshold
 *     1 ms) and per-command time from INFO commandstats.
 * Figures go to standard output; nothing is asserted.  Loopback only; the
 * server and the data directory are removed at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/redis.h"

#define PIPE 1000
#define MAX_SAMPLES 2000000

static struct redis_test_server rs;
static char dir[256];

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_redis: %s\n", what);
	redis_test_stop(&rs);
	exit(1);
}

/* Read the replies of N pipelined commands. */
static void drain(redisContext *c, int n)
{
	for (int i = 0; i < n; i++) {
		void *r = NULL;
		if (redisGetReply(c, &r) != REDIS_OK || !r)
			die(c->errstr);
		if (((redisReply *)r)->type == REDIS_REPLY_ERROR)
			die(((redisReply *)r)->str);
		freeReplyObject(r);
	}
}

static void load(long n)
{
	char err[512];
	redisContext *c = redis_test_connect(&rs, err, sizeof(err));
	int queued = 0;
	if (!c)
		die(err);
	for (long i = 0; i < n; i++) {
		long k = i % 10;
		if (k < 4) {
			redisAppendCommand(c, "HSET user:%ld name n%ld email u%ld@example.org plan free",
					   i, i, i);
		} else if (k < 7) {
			redisAppendCommand(c, "SET session:%08lx-%04lx-4abc-9def-%012lx t EX 86400",
					   i * 2654435761UL & 0xffffffffUL, i & 0xffff, i);
		} else if (k < 9) {
			redisAppendCommand(c, "SET cache:page:%ld <html>%ld</html>", i, i);
		} else {
			redisAppendCommand(c, "SADD tag:%ld:members a b c", i);
		}
		if (++queued == PIPE) {
			drain(c, queued);
			queued = 0;
		}
	}
	for (int i = 0; i < 100; i++)
		redisAppendCommand(c, "XADD orders:stream * id %d amount %d", i, i);
	redisAppendCommand(c, "XGROUP CREATE orders:stream billing 0");
	drain(c, queued + 101);
	redisFree(c);
}

struct lat {
	double *v;
	long n;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void lat_print(const char *label, struct lat *l)
{
	if (l->n == 0) {
		printf("| %s | no samples | |\n", label);
		return;
	}
	qsort(l->v, (size_t)l->n, sizeof(double), cmp_double);
	printf("| %s | p50 %.3f ms, p99 %.3f ms, max %.3f ms | %ld PINGs |\n", label,
	       l->v[l->n / 2] * 1e3, l->v[(long)(l->n * 0.99)] * 1e3, l->v[l->n - 1] * 1e3, l->n);
}

/* PING round trips on C until PID exits (PID > 0) or for SECONDS (PID 0). */
static int probe(redisContext *c, pid_t pid, double seconds, struct lat *l, double *elapsed,
		 long *maxrss_kb)
{
	double t0 = now_s();
	int status = 0;
	l->n = 0;
	for (;;) {
		double a = now_s();
		redisReply *r = redisCommand(c, "PING");
		double b = now_s();
		if (!r)
			die(c->errstr);
		freeReplyObject(r);
		if (l->n < MAX_SAMPLES)
			l->v[l->n++] = b - a;
		if (pid > 0) {
			struct rusage ru;
			pid_t w = wait4(pid, &status, WNOHANG, &ru);
			if (w == pid) {
				*maxrss_kb = ru.ru_maxrss;
				break;
			}
		} else if (b - t0 >= seconds) {
			break;
		}
		struct timespec ts = { 0, 500000 }; /* a probe every ~0.5 ms */
		nanosleep(&ts, NULL);
	}
	*elapsed = now_s() - t0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static pid_t spawn_collect(const char *bin, const char *cfg, const char *data, const char *log)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execl(bin, bin, "collect", "redis", "--config", cfg, "--data", data, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void write_cfg(const char *path, const char *extra)
{
	FILE *f = fopen(path, "w");
	if (!f)
		die("cannot write the config");
	fprintf(f, "plugins = { redis = { timeout = 120, url = \"%s\", %s } }\n", rs.url, extra);
	fclose(f);
}

/* Field KEY of INFO commandstats line for CMD, e.g. usec_per_call. */
static double cmdstat(const char *stats, const char *cmd, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "cmdstat_%s:", cmd);
	const char *p = strstr(stats, pat);
	if (!p)
		return -1;
	const char *e = strchr(p, '\n');
	char k[64];
	snprintf(k, sizeof(k), "%s=", key);
	const char *q = strstr(p, k);
	if (!q || (e && q > e))
		return -1;
	return atof(q + strlen(k));
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void crawl(const char *bin, const char *label, const char *cfg, const char *data,
		  redisContext *pc, struct lat *l)
{
	char log[400], line[256];
	double elapsed;
	long rss = 0;
	snprintf(log, sizeof(log), "%s/collect.log", dir);
	pid_t pid = spawn_collect(bin, cfg, data, log);
	int rc = probe(pc, pid, 0, l, &elapsed, &rss);
	printf("| %s | %.2f s wall, peak RSS %.1f MiB, exit %d | |\n", label, elapsed, rss / 1024.0,
	       rc);
	snprintf(line, sizeof(line), "%s: PING during the crawl", label);
	lat_print(line, l);
	if (rc != 0) {
		char *cmd = NULL;
		if (asprintf(&cmd, "tail -n 5 '%s' >&2", log) > 0 && system(cmd) != 0)
			fprintf(stderr, "bench_redis: see %s\n", log);
		free(cmd);
	}
}

int main(int argc, char **argv)
{
	long n = 1000000;
	char err[512], cfg[300], cfg_empty[300], data[300], stats[65536], lat[4096];
	struct lat l = { 0 };
	double elapsed;
	long rss;

	if (argc < 2) {
		fprintf(stderr, "usage: bench_redis TERRARIUM_BIN [-n KEYS]\n");
		return 2;
	}
	for (int i = 2; i + 1 < argc; i += 2)
		if (strcmp(argv[i], "-n") == 0)
			n = atol(argv[i + 1]);
	l.v = malloc(sizeof(double) * MAX_SAMPLES);
	if (!l.v)
		return 1;
	snprintf(dir, sizeof(dir), "/tmp/terrarium-bench-redis-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(cfg, sizeof(cfg), "%s/crawl.lua", dir);
	snprintf(cfg_empty, sizeof(cfg_empty), "%s/empty.lua", dir);
	if (redis_test_start(&rs, NULL, err, sizeof(err)) < 0)
		die(err);
	double t0 = now_s();
	load(n);
	double load_s = now_s() - t0;
	write_cfg(cfg, "");
	write_cfg(cfg_empty, "dbs = { 15 }");
	redisContext *pc = redis_test_connect(&rs, err, sizeof(err));
	if (!pc)
		die(err);
	freeReplyObject(redisCommand(pc, "CONFIG SET latency-monitor-threshold 1"));
	redis_test_cmd(&rs, stats, 64, err, sizeof(err), "DBSIZE");

	printf("\n== Redis collector benchmark ==\n");
	printf("machine: %ld cores, load average at start: ", sysconf(_SC_NPROCESSORS_ONLN));
	fflush(stdout);
	if (system("cut -d' ' -f1-3 /proc/loadavg") != 0)
		printf("?\n");
	printf("server: redis-server on 127.0.0.1:%d, %s keys in db 0 (loaded in %.1f s, "
	       "pipelined)\n\n", rs.port, stats, load_s);
	printf("| figure | measured | note |\n| --- | --- | --- |\n");

	probe(pc, 0, 2.0, &l, &elapsed, &rss);
	lat_print("baseline: PING while idle (2 s)", &l);
	pid_t pid = spawn_collect(argv[1], cfg_empty, data, "/dev/null");
	probe(pc, pid, 0, &l, &elapsed, &rss);
	printf("| baseline: crawl of an empty db (fixed cost) | %.3f s wall, peak RSS %.1f MiB | |\n",
	       elapsed, rss / 1024.0);

	freeReplyObject(redisCommand(pc, "CONFIG RESETSTAT"));
	freeReplyObject(redisCommand(pc, "LATENCY RESET"));
	crawl(argv[1], "first crawl (every entity new)", cfg, data, pc, &l);
	crawl(argv[1], "second crawl (nothing changed)", cfg, data, pc, &l);

	redis_test_cmd(&rs, stats, sizeof(stats), err, sizeof(err), "INFO commandstats");
	redis_test_cmd(&rs, lat, sizeof(lat), err, sizeof(err), "LATENCY LATEST");
	printf("| server: SCAN calls, time per call | %.0f calls, %.1f us | INFO commandstats |\n",
	       cmdstat(stats, "scan", "calls"), cmdstat(stats, "scan", "usec_per_call"));
	printf("| server: TYPE / PTTL / MEMORY USAGE per call | %.2f / %.2f / %.2f us | %.0f MEMORY "
	       "USAGE calls |\n", cmdstat(stats, "type", "usec_per_call"),
	       cmdstat(stats, "pttl", "usec_per_call"),
	       cmdstat(stats, "memory|usage", "usec_per_call"),
	       cmdstat(stats, "memory|usage", "calls"));
	printf("| server: KEYS calls | %.0f | must be absent (-1) |\n",
	       cmdstat(stats, "keys", "calls"));
	for (char *c = lat; *c; c++)
		if (*c == '\n')
			*c = ' ';
	printf("| server: latency monitor (events >= 1 ms) | %s | LATENCY LATEST: event, time, "
	       "latest ms, max ms |\n", lat[0] ? lat : "no event");
	redisFree(pc);
	redis_test_stop(&rs);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(l.v);
	return 0;
}
