/* A throw-away PostgreSQL server for integration tests; see pg.h. */
#include "tests/lib/pg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define INITDB_MS 120000
#define START_MS 30000
#define STOP_MS 30000

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The highest /usr/lib/postgresql/N/bin holding initdb, or $PG_BINDIR. */
static int find_bindir(char *out, size_t outlen)
{
	const char *env = getenv("PG_BINDIR");
	glob_t g;
	int best = -1, rc = -1;
	if (env && *env) {
		snprintf(out, outlen, "%s", env);
		return 0;
	}
	if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) != 0)
		return -1;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		int v = atoi(g.gl_pathv[i] + strlen("/usr/lib/postgresql/"));
		if (v > best) {
			best = v;
			snprintf(out, outlen, "%s", g.gl_pathv[i]);
			char *slash = strrchr(out, '/');
			if (slash)
				*slash = '\0';
			rc = 0;
		}
	}
	globfree(&g);
	return rc;
}

/* A port on 127.0.0.1 that nobody listens on right now. */
static int free_port(void)
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

/*
 * Fork and exec ARGV (as the postgres user when S->as_postgres), with stdout
 * and stderr appended to S->log_path and the working directory S->dir.
 * Returns the child's pid or -1.
 */
static pid_t spawn(struct pg_test_server *s, const char *const *argv)
{
	const char *full[32];
	int n = 0;
	if (s->as_postgres) {
		full[n++] = "runuser";
		full[n++] = "-u";
		full[n++] = "postgres";
		full[n++] = "--";
	}
	for (int i = 0; argv[i] && n < 31; i++)
		full[n++] = argv[i];
	full[n] = NULL;
	int log = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (log < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		if (null >= 0)
			dup2(null, 0);
		dup2(log, 1);
		dup2(log, 2);
		if (chdir(s->dir) < 0)
			_exit(126);
		setpgid(0, 0);
		execvp(full[0], (char *const *)full);
		_exit(127);
	}
	close(log);
	return pid;
}

/* Wait up to MS for PID; its exit status, or -1 (killed after the timeout). */
static int wait_for(pid_t pid, long ms)
{
	long long end = now_ms() + ms;
	int status;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		if (r < 0)
			return -1;
		if (now_ms() >= end) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		sleep_ms(20);
	}
}

static int run(struct pg_test_server *s, const char *const *argv, long ms)
{
	pid_t pid = spawn(s, argv);
	return pid < 0 ? -1 : wait_for(pid, ms);
}

/* ERR gets WHAT and the last lines of the server log. */
static void fail_with_log(struct pg_test_server *s, char *err, size_t errlen, const char *what)
{
	char tail[1024] = "";
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

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void remove_dir(const char *dir)
{
	if (dir[0])
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int ping(struct pg_test_server *s)
{
	char conninfo[600];
	snprintf(conninfo, sizeof(conninfo), "%s connect_timeout=2", s->dsn);
	return PQping(conninfo) == PQPING_OK;
}

/* One attempt to start postgres on a fresh free port: 0, -1 (failed), or
 * -2 (the server exited: maybe the port was taken meanwhile). */
static int start_server(struct pg_test_server *s, char *err, size_t errlen)
{
	char port[16];
	s->port = free_port();
	if (s->port < 0) {
		snprintf(err, errlen, "no free port on 127.0.0.1");
		return -1;
	}
	snprintf(port, sizeof(port), "%d", s->port);
	snprintf(s->dsn, sizeof(s->dsn), "host=127.0.0.1 port=%d dbname=postgres user=postgres",
		 s->port);
	char postgres[300];
	snprintf(postgres, sizeof(postgres), "%s/postgres", s->bindir);
	const char *argv[] = { postgres, "-D", s->data, "-k", s->dir, "-p", port,
			       "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
			       "-c", "full_page_writes=off", "-c", "synchronous_commit=off",
			       "-c", "max_connections=40", NULL };
	pid_t pid = spawn(s, argv);
	if (pid < 0) {
		snprintf(err, errlen, "cannot start %s: %s", postgres, strerror(errno));
		return -1;
	}
	s->pid = pid;
	long long end = now_ms() + START_MS;
	while (now_ms() < end) {
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			s->pid = 0;
			fail_with_log(s, err, errlen, "postgres exited at start");
			return -2;
		}
		if (ping(s))
			return 0;
		sleep_ms(100);
	}
	fail_with_log(s, err, errlen, "postgres did not accept connections within 30 s");
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	s->pid = 0;
	return -1;
}

int pg_test_start(struct pg_test_server *s, char *err, size_t errlen)
{
	int rc = -1;
	memset(s, 0, sizeof(*s));
	snprintf(s->host, sizeof(s->host), "127.0.0.1");
	if (find_bindir(s->bindir, sizeof(s->bindir)) < 0) {
		snprintf(err, errlen, "postgresql server binaries not found "
				      "(/usr/lib/postgresql/*/bin/initdb; package postgresql)");
		return -1;
	}
	snprintf(s->dir, sizeof(s->dir), "/tmp/terrarium-pg-XXXXXX");
	if (!mkdtemp(s->dir)) {
		snprintf(err, errlen, "cannot make a temporary directory: %s", strerror(errno));
		s->dir[0] = '\0';
		return -1;
	}
	snprintf(s->data, sizeof(s->data), "%s/data", s->dir);
	snprintf(s->log_path, sizeof(s->log_path), "%s/server.log", s->dir);
	if (geteuid() == 0) {
		struct passwd *pw = getpwnam("postgres");
		if (!pw) {
			snprintf(err, errlen, "running as root but there is no 'postgres' user");
			goto out;
		}
		s->as_postgres = 1;
		if (chown(s->dir, pw->pw_uid, pw->pw_gid) < 0) {
			snprintf(err, errlen, "cannot chown '%s': %s", s->dir, strerror(errno));
			goto out;
		}
		/* The log is created by us and written through inherited descriptors. */
	}
	char initdb[300];
	snprintf(initdb, sizeof(initdb), "%s/initdb", s->bindir);
	const char *argv[] = { initdb, "-D", s->data, "-A", "trust", "-U", "postgres", "-E",
			       "UTF8", "--locale=C", "--no-sync", NULL };
	if (run(s, argv, INITDB_MS) != 0) {
		fail_with_log(s, err, errlen, "initdb failed");
		goto out;
	}
	for (int attempt = 0; attempt < 3; attempt++) {
		rc = start_server(s, err, errlen);
		if (rc != -2)
			break;
	}
	if (rc == 0)
		err[0] = '\0';
out:
	if (rc != 0) {
		rc = -1;
		remove_dir(s->dir);
		s->dir[0] = '\0';
	}
	return rc;
}

int pg_test_exec(struct pg_test_server *s, const char *sql, char *err, size_t errlen)
{
	int rc = -1;
	char conninfo[600];
	PGresult *res = NULL;
	snprintf(conninfo, sizeof(conninfo), "%s connect_timeout=5", s->dsn);
	PGconn *c = PQconnectdb(conninfo);
	if (PQstatus(c) != CONNECTION_OK) {
		snprintf(err, errlen, "cannot connect: %s", PQerrorMessage(c));
		goto out;
	}
	res = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		snprintf(err, errlen, "%s", PQerrorMessage(c));
		goto out;
	}
	rc = 0;
out:
	PQclear(res);
	PQfinish(c);
	return rc;
}

void pg_test_stop(struct pg_test_server *s)
{
	if (s->pid > 0) {
		char pg_ctl[300];
		snprintf(pg_ctl, sizeof(pg_ctl), "%s/pg_ctl", s->bindir);
		const char *argv[] = { pg_ctl, "stop", "-D", s->data, "-m", "fast", "-w",
				       "-t", "20", NULL };
		run(s, argv, STOP_MS);
		if (wait_for(s->pid, STOP_MS) < 0)
			kill(-s->pid, SIGKILL);
		s->pid = 0;
	}
	remove_dir(s->dir);
	s->dir[0] = '\0';
}
