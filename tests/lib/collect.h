#ifndef TERRARIUM_TEST_COLLECT_H
#define TERRARIUM_TEST_COLLECT_H
/*
 * What the collector integration tests share: running the real binary
 * (`terrarium collect NAME --json --config CFG --data DIR`, or any other
 * command) as a child process bounded in time, with its output captured in
 * files; a temporary directory for those files and the data directory; and
 * reading back what the collector wrote to DIR/catalog.db through the
 * catalog API.
 *
 * These are cmocka helpers: the functions that say "fails the test" call
 * fail_msg() (or a cmocka assertion), so they may only run inside a test, a
 * setup or a teardown.  Strings they return are owned as each comment says.
 */
#include <stddef.h>
#include <jansson.h>

struct catalog;

/* One test binary's temporary files. */
struct tc_dirs {
	char dir[256];       /* /tmp/terrarium-NAME-XXXXXX, removed by tc_dirs_remove */
	char data_dir[300];  /* DIR/data: the --data directory */
	char out_path[300];  /* DIR/collect.out: the last run's standard output */
	char err_path[300];  /* DIR/collect.err: the last run's standard error */
	int quiet;           /* do not print the standard error of a run that fails */
	long long last_ms;   /* how long the last tc_collect took */
};

/* Monotonic milliseconds. */
long long tc_now_ms(void);

/*
 * Run ARGV (argv[0] looked up in PATH when it has no slash) in CWD (NULL:
 * here) with ENV_ADD ("K=V" strings, NULL-terminated, may be NULL) added to
 * the environment, standard output into OUT_FILE and standard error into
 * ERR_FILE (the same file when NULL), at most LIMIT_MS.  Returns the exit
 * status, or -1 when it could not start, was killed by a signal, or ran too
 * long (it is killed then).
 */
int tc_run(const char *const *argv, const char *cwd, const char *const *env_add,
	   const char *out_file, const char *err_file, long limit_ms);

/* The whole file at PATH, malloc'd and NUL-terminated; NULL when it cannot
 * be read. */
char *tc_slurp(const char *path);

/* The terrarium binary: $TERRARIUM_BIN, default build/terrarium. */
const char *tc_bin(void);

/* Make D's temporary directory /tmp/terrarium-NAME-XXXXXX and name the files
 * in it.  0, or -1 (said on stderr). */
int tc_dirs_make(struct tc_dirs *d, const char *name);

/* Remove D's directory and everything in it, unless $TEST_KEEP is set. */
void tc_dirs_remove(struct tc_dirs *d);

/*
 * `terrarium collect COLLECTOR --json --config CFG --data D->data_dir`, at
 * most LIMIT_MS: the exit status (-1 when killed).  *OUT (may be NULL) gets
 * its standard output (the batch as JSON), *ERRTEXT (may be NULL) its
 * standard error; both malloc'd, NULL when unreadable.  D->last_ms gets how
 * long it took.  Its standard error is printed when it fails (unless
 * D->quiet) or when $TEST_VERBOSE is set.
 */
int tc_collect(struct tc_dirs *d, const char *collector, const char *cfg, long limit_ms,
	       char **out, char **errtext);

/*
 * `terrarium plugin test SCRIPT` (a collector's own Lua tests), at most
 * LIMIT_MS, standard output and error together into D->out_path; fails the
 * test unless it exits 0, reports " passed, 0 failed" and no "not ok".
 */
void tc_plugin_test(struct tc_dirs *d, const char *script, long limit_ms);

/* Write TEXT to PATH (replacing it); fails the test when it cannot. */
void tc_write_file(const char *path, const char *text);

/* Open DATA_DIR/catalog.db (close with catalog_close); fails the test when
 * it cannot. */
struct catalog *tc_open_catalog(const char *data_dir);

/* "KIND:NS:NAME", in one of 32 rotating static buffers (valid until 32 more
 * calls). */
const char *tc_id(const char *kind, const char *ns, const char *name);

/* Entity ID as catalog_entity_get returns it (new reference); fails the test
 * when it is not in the catalog. */
json_t *tc_entity(struct catalog *cat, const char *id);

/* OBJ's string KEY (borrowed from OBJ); fails the test when it is not a
 * string. */
const char *tc_str(const json_t *obj, const char *key);

/* DOC's property KEY (borrowed), or NULL. */
json_t *tc_prop(const json_t *doc, const char *key);

/* DOC's field NAME (borrowed); fails the test when there is none. */
json_t *tc_field(const json_t *doc, const char *name);

/* Whether DOC's KEY ("upstream"/"downstream") list holds ID with edge KIND. */
int tc_linked(const json_t *doc, const char *key, const char *id, const char *kind);

/* Fails the test unless GOT equals the JSON WANT_TEXT. */
void tc_assert_json_eq(const json_t *got, const char *want_text);

/* The whole catalog in DATA_DIR as catalog_export() writes it (malloc'd):
 * two snapshots compare equal when a run left the catalog unchanged. */
char *tc_export_text(const char *data_dir);

#endif
