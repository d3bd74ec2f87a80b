#ifndef TERRARIUM_TEST_REDIS_H
#define TERRARIUM_TEST_REDIS_H
/*
 * A throw-away Redis server for tests.
 *
 * redis_test_start() makes a temporary directory and starts `redis-server`
 * (from $PATH, or $REDIS_SERVER when set; Debian package redis-server) on a
 * free port of 127.0.0.1, with no persistence (no RDB, no AOF), its working
 * directory and log in that directory, 16 databases, and PASSWORD as
 * `requirepass` when it is not NULL.  It returns once the server answers
 * PING (at most 10 s).  redis_test_stop() stops it (SIGTERM, then SIGKILL
 * after 5 s) and removes the directory.
 *
 *     static struct redis_test_server rs;
 *     char err[512];
 *     if (redis_test_start(&rs, NULL, err, sizeof(err)) < 0)
 *             fail_msg("%s", err);
 *     redis_test_cmd(&rs, NULL, 0, err, sizeof(err), "HSET user:%d name %s", 1, "ann");
 *     ... the collector gets rs.url ("redis://127.0.0.1:PORT", with the
 *         password when there is one) ...
 *     redis_test_stop(&rs);
 *
 * For bulk loads, redis_test_connect() gives a hiredis context to pipeline
 * on (redisAppendCommand / redisGetReply); the caller frees it.
 */
#include <stddef.h>

#include <hiredis/hiredis.h>

struct redis_test_server {
	int pid;              /* the redis-server process */
	int port;             /* TCP port on 127.0.0.1 */
	char host[16];        /* "127.0.0.1" */
	char password[128];   /* requirepass, or "" */
	char dir[256];        /* the temporary directory (the server's working directory) */
	char log_path[300];   /* DIR/server.log */
	char url[512];        /* "redis://127.0.0.1:PORT" or "redis://:PASSWORD@127.0.0.1:PORT" */
};

/* Start a server as described above.  0, or -1 with ERR (nothing is left
 * running and the directory is removed). */
int redis_test_start(struct redis_test_server *s, const char *password, char *err,
		     size_t errlen);

/* A new connection to S (authenticated when S has a password), with 10 s
 * timeouts; NULL with ERR.  The caller frees it with redisFree(). */
redisContext *redis_test_connect(struct redis_test_server *s, char *err, size_t errlen);

/*
 * Run one command (redisCommand's format: "%s" and "%b" arguments are single
 * arguments) on a connection of its own.  The reply as text goes into OUT
 * (may be NULL): a string or status as it is, an integer in decimal, an
 * array as its elements' texts joined by '\n', nil as "".  0, or -1 with ERR
 * (cannot connect, or an error reply: the server's message).
 */
int redis_test_cmd(struct redis_test_server *s, char *out, size_t outlen, char *err,
		   size_t errlen, const char *fmt, ...);

/* Stop the server and remove its directory.  Safe on a server that did not
 * start, and twice. */
void redis_test_stop(struct redis_test_server *s);

#endif
