#ifndef TERRARIUM_TEST_PG_H
#define TERRARIUM_TEST_PG_H
/*
 * A throw-away PostgreSQL server for integration tests.
 *
 * pg_test_start() makes a temporary directory, runs initdb in it (trust
 * authentication, superuser "postgres", UTF8, C locale, no fsync) and starts
 * `postgres` on a free port of 127.0.0.1 with its Unix socket in the same
 * directory; it returns once the server accepts connections.
 * pg_test_stop() stops it (`pg_ctl stop -m fast`) and removes the directory.
 *
 * initdb and postgres refuse to run as root: when the test runs as root they
 * run as the Debian `postgres` user (runuser -u postgres), which owns the
 * directory.  The server binaries are found as /usr/lib/postgresql/N/bin
 * (the highest N), or in $PG_BINDIR when set.  Package: postgresql
 * (scripts/deps.sh test installs it).
 *
 * Usage (a cmocka group setup/teardown is a good place):
 *
 *     static struct pg_test_server pg;
 *     char err[512];
 *     if (pg_test_start(&pg, err, sizeof(err)) < 0)
 *             fail_msg("%s", err);
 *     pg_test_exec(&pg, "create role reader login password 'pw'", err, sizeof(err));
 *     ... connect with pg.dsn ("host=127.0.0.1 port=N dbname=postgres
 *         user=postgres"), or pg.host / pg.port ...
 *     pg_test_stop(&pg);
 *
 * Every step is bounded in time (initdb 120 s, start 30 s, stop 30 s).  The
 * server's log is pg.log_path (inside pg.dir, gone after pg_test_stop; errors
 * from pg_test_start quote its last lines).  Link with libpq (it is in the
 * Makefile's PKGS).
 */
#include <stddef.h>

struct pg_test_server {
	int pid;              /* the process started for the server (runuser or postgres) */
	int port;             /* TCP port on 127.0.0.1 */
	char host[16];        /* "127.0.0.1" */
	char dir[256];        /* the temporary directory; also the socket directory */
	char data[300];       /* DIR/data: the cluster */
	char log_path[300];   /* DIR/server.log: the server's output */
	char bindir[256];     /* where initdb, postgres and pg_ctl are */
	char dsn[512];        /* libpq conninfo for the superuser "postgres", db "postgres" */
	int as_postgres;      /* whether the server runs as the postgres user (we are root) */
};

/* Start a server as described above.  0, or -1 with ERR (nothing is left
 * running and the directory is removed). */
int pg_test_start(struct pg_test_server *s, char *err, size_t errlen);

/* Run SQL (one or more statements) as the superuser over libpq.  0, or -1
 * with ERR holding the server's message. */
int pg_test_exec(struct pg_test_server *s, const char *sql, char *err, size_t errlen);

/* Stop the server and remove its directory.  Safe on a server that did not
 * start, and twice. */
void pg_test_stop(struct pg_test_server *s);

#endif
