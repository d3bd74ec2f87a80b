#ifndef TERRARIUM_TEST_REPLAY_H
#define TERRARIUM_TEST_REPLAY_H
/*
 * A replay server for integration tests: real HTTP on 127.0.0.1 (a free
 * port), answering from a directory of answers recorded from a real server,
 * by method and path.  It runs on one thread of the test process and serves
 * one connection at a time ("Connection: close" after every answer).
 *
 * Flavors (how a request finds its recording):
 *
 *  REPLAY_MLFLOW   ../shared/fixtures/mlflow: POST /api/2.0/mlflow/runs/search
 *                  is runs_search_POST.json (the path after /api/2.0/mlflow/
 *                  with '/' and '-' as '_', then _METHOD).  When only
 *                  <endpoint>_<METHOD>.405.html exists, that is answered with
 *                  status 405 (the real answer to the wrong method).  With
 *                  `user` set, requests without that basic auth get 401; with
 *                  `bearer` set, without that token (MLflow has no recording
 *                  of either: the 401 body is a short text).
 *  REPLAY_AIRFLOW  ../shared/fixtures/airflow: GET /api/v1/dags/x/tasks is
 *                  dags_x_tasks.json.  Every path but /api/v1/health,
 *                  /api/v1/version and /health needs basic auth (`user` and
 *                  `password`, default admin/admin) or, when `bearer` is set,
 *                  that bearer token; without it the answer is 401 with
 *                  dags_unauthorized.401.json.  Another method than GET is 405.
 *  REPLAY_PLAIN    only the routes added with replay_add().
 *
 * Anything else is 404 with a short JSON body.  Query strings do not choose
 * the file, but paging does, derived mechanically from the recording: the
 * first array member of the recorded object is sliced.
 *  - MLflow: `max_results` (POST body or GET query) and `page_token` (base64
 *    of {"offset": N}, as MLflow 2.x makes them); the answer carries
 *    `next_page_token` while items remain.
 *  - Airflow: `limit` and `offset` (query); `total_entries` stays as recorded.
 *
 * Routes added with replay_add() are looked up first (exact path, and exact
 * query when the route's target holds '?'), without any auth check and
 * without paging: the way to serve an answer derived from a recording (a
 * changed state, a postgres:// dataset URI for an end-to-end test).
 *
 * Faults, for the bad-input tests, apply to requests whose target contains
 * MATCH (NULL: every request):
 *  REPLAY_GARBAGE    200, application/json, a body that is not JSON
 *  REPLAY_TRUNCATED  200 with the answer cut in half (Content-Length honest)
 *  REPLAY_CUT        Content-Length of the whole answer, half of it sent,
 *                    then the connection is closed
 *  REPLAY_500        500 with a JSON error body
 *  REPLAY_SLOW       status and headers at once, then one byte of the body
 *                    every DELAY_MS milliseconds
 *  REPLAY_HANG       the request is read and never answered (the connection
 *                    is held until the client gives up or the server stops)
 * Requests are bounded (64 KiB of headers, 1 MiB of body, 5 s to arrive); a
 * held connection is dropped after 120 s at most.
 *
 * Every request is logged (the newest REPLAY_LOG_MAX), for tests that assert
 * what a client asked for.
 */
#include <stddef.h>

enum replay_flavor {
	REPLAY_PLAIN = 0,
	REPLAY_MLFLOW,
	REPLAY_AIRFLOW,
};

enum replay_fault {
	REPLAY_OK = 0,
	REPLAY_GARBAGE,
	REPLAY_TRUNCATED,
	REPLAY_CUT,
	REPLAY_500,
	REPLAY_SLOW,
	REPLAY_HANG,
};

struct replay_config {
	enum replay_flavor flavor;
	const char *dir;       /* the recordings (copied); NULL for REPLAY_PLAIN */
	const char *user;      /* basic auth the server wants (copied); see above */
	const char *password;
	const char *bearer;    /* a bearer token the server also accepts (copied) */
};

#define REPLAY_LOG_MAX 512
#define REPLAY_TARGET_MAX 1024
#define REPLAY_BODY_LOG_MAX 2048

/* One logged request; strings are NUL-terminated, cut to their bounds. */
struct replay_request {
	char method[16];
	char target[REPLAY_TARGET_MAX];          /* path and query as sent */
	char body[REPLAY_BODY_LOG_MAX];          /* the start of the body */
	char authorization[256];                 /* the Authorization header, or "" */
	int status;                              /* what was answered (0: nothing) */
};

struct replay_server;

/*
 * Start a server as CFG says (CFG's strings are copied).  Returns a server
 * owned by the caller (replay_stop()), or NULL with ERR.
 */
struct replay_server *replay_start(const struct replay_config *cfg, char *err, size_t errlen);

/* Stop the thread, close the socket, free S.  NULL does nothing. */
void replay_stop(struct replay_server *s);

/* The port, and "http://127.0.0.1:PORT" (valid until replay_stop()). */
int replay_port(const struct replay_server *s);
const char *replay_url(const struct replay_server *s);

/*
 * Answer METHOD TARGET with STATUS, content type CTYPE (NULL: application/json)
 * and the LEN bytes of BODY (all copied).  A later route for the same method
 * and target replaces the earlier one.  0, or -1 when out of memory or when
 * there are 64 routes already.
 */
int replay_add(struct replay_server *s, const char *method, const char *target, int status,
	       const char *ctype, const char *body, size_t len);

/* From now on, answer requests whose target contains MATCH (NULL: all) with
 * FAULT (REPLAY_OK: normally again).  DELAY_MS is REPLAY_SLOW's pace. */
void replay_fault(struct replay_server *s, enum replay_fault fault, const char *match,
		  int delay_ms);

/* How many requests were logged since the start or the last replay_clear(). */
size_t replay_count(struct replay_server *s);

/* Copy request I (0 = the oldest kept) into OUT.  0, or -1 when there is none. */
int replay_request(struct replay_server *s, size_t i, struct replay_request *out);

/* How many logged requests have METHOD (NULL: any) and a target containing PART. */
size_t replay_matching(struct replay_server *s, const char *method, const char *part);

/* Forget the logged requests. */
void replay_clear(struct replay_server *s);

#endif
