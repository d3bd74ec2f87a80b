/*
 * bench_start: time from exec to the first 200 on /healthz, for tests/bench/run.sh.
 *
 *   bench_start BINARY DATA_DIR [RUNS]
 *
 * Each run picks a free loopback port, forks, execs
 *   BINARY serve --listen 127.0.0.1:PORT --data DATA_DIR --log-level warn
 * and polls GET /healthz (a fresh connection every 100 us) until it answers
 * 200; the clock starts just before fork().  Then the server gets SIGTERM and
 * is reaped.  The same invocation times two baselines, fork+exec+exit of
 * `BINARY --version` and of /bin/true, so the figure can be read against the
 * cost of starting any process on this machine.
 *
 * Prints every run, then:
 *   summary runs=N startup_ms_median=X startup_ms_min=X startup_ms_max=X
 *           version_ms_median=X true_ms_median=X
 * Exit status 0, 1 on any failure (no 200 within 10 s, exec failure).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_RUNS 50

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* One GET /healthz: 1 when it answered 200, 0 when not (yet), never blocks long. */
static int healthz_ok(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	static const char req[] = "GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
	char buf[64];
	size_t got = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok = 0;
	struct timeval tv = { .tv_sec = 2 };

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return 0;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		goto out;
	if (write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1))
		goto out;
	while (got < 12) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);

		if (n <= 0)
			goto out;
		got += (size_t)n;
	}
	buf[got] = '\0';
	ok = strncmp(buf, "HTTP/1.", 7) == 0 && strncmp(buf + 9, "200", 3) == 0;
out:
	close(fd);
	return ok;
}

static pid_t spawn(char *const argv[], int quiet_stderr)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		if (fd >= 0) {
			dup2(fd, 1);
			if (quiet_stderr)
				dup2(fd, 2);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* fork + exec + exit of ARGV, in ms; negative on failure. */
static double time_exit(char *const argv[])
{
	double t0 = now_ms();
	pid_t pid = spawn(argv, 1);
	int st;

	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -1;
	return now_ms() - t0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	double start[MAX_RUNS], version[MAX_RUNS], truth[MAX_RUNS], lo = 1e9, hi = 0;
	int runs = argc > 3 ? atoi(argv[3]) : 5;
	char listen[64];

	if (argc < 3 || runs < 1 || runs > MAX_RUNS) {
		fputs("usage: bench_start BINARY DATA_DIR [RUNS]\n", stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	for (int r = 0; r < runs; r++) {
		char *ver[] = { argv[1], "--version", NULL };
		char *tru[] = { "/bin/true", NULL };

		version[r] = time_exit(ver);
		truth[r] = time_exit(tru);
		if (version[r] < 0 || truth[r] < 0) {
			fprintf(stderr, "bench_start: cannot run '%s --version' or /bin/true\n",
				argv[1]);
			return 1;
		}
	}
	for (int r = 0; r < runs; r++) {
		int port = free_port(), st, ok = 0;
		char *srv[] = { argv[1], "serve", "--listen", listen, "--data", argv[2],
				"--log-level", "warn", NULL };
		struct timespec nap = { 0, 100000 };
		double t0, t;
		pid_t pid;

		if (port < 0) {
			fprintf(stderr, "bench_start: no free port\n");
			return 1;
		}
		snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
		t0 = now_ms();
		pid = spawn(srv, 0);
		if (pid < 0) {
			fprintf(stderr, "bench_start: cannot fork: %s\n", strerror(errno));
			return 1;
		}
		while ((t = now_ms() - t0) < 10000) {
			if (healthz_ok(port)) {
				ok = 1;
				break;
			}
			if (waitpid(pid, &st, WNOHANG) == pid) {
				fprintf(stderr, "bench_start: the server exited before answering\n");
				return 1;
			}
			nanosleep(&nap, NULL);
		}
		kill(pid, SIGTERM);
		waitpid(pid, &st, 0);
		if (!ok) {
			fprintf(stderr, "bench_start: no 200 on /healthz within 10 s\n");
			return 1;
		}
		start[r] = t;
		if (t < lo)
			lo = t;
		if (t > hi)
			hi = t;
		printf("run %d: exec -> first 200 on /healthz %.1f ms\n", r + 1, t);
	}
	printf("summary runs=%d startup_ms_median=%.1f startup_ms_min=%.1f startup_ms_max=%.1f "
	       "version_ms_median=%.2f true_ms_median=%.2f\n", runs, median(start, runs), lo, hi,
	       median(version, runs), median(truth, runs));
	return 0;
}
