/* Shared helpers of the collector integration tests (see collect.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "tests/lib/collect.h"

long long tc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int tc_run(const char *const *argv, const char *cwd, const char *const *env_add,
	   const char *out_file, const char *err_file, long limit_ms)
{
	long long deadline = tc_now_ms() + limit_ms;
	struct timespec pause = { 0, 10 * 1000000L };
	int status = 0, fd;
	pid_t pid, w;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		fd = open(out_file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0)
			_exit(126);
		dup2(fd, 1);
		if (err_file) {
			close(fd);
			fd = open(err_file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			if (fd < 0)
				_exit(126);
		}
		dup2(fd, 2);
		close(fd);
		if (cwd && chdir(cwd) != 0)
			_exit(126);
		for (int i = 0; env_add && env_add[i]; i++)
			putenv((char *)env_add[i]);
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	for (;;) {
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0)
			return -1;
		if (tc_now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fprintf(stderr, "%s: killed after %ld ms\n", argv[0], limit_ms);
			return -1;
		}
		nanosleep(&pause, NULL);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

char *tc_slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		if (buf)
			buf[n] = '\0';
	}
	fclose(f);
	return buf;
}

const char *tc_bin(void)
{
	const char *bin = getenv("TERRARIUM_BIN");

	return bin && *bin ? bin : "build/terrarium";
}

int tc_dirs_make(struct tc_dirs *d, const char *name)
{
	snprintf(d->dir, sizeof(d->dir), "/tmp/terrarium-%s-XXXXXX", name);
	if (!mkdtemp(d->dir)) {
		fprintf(stderr, "cannot make a directory for the %s test: %s\n", name,
			strerror(errno));
		d->dir[0] = '\0';
		return -1;
	}
	snprintf(d->data_dir, sizeof(d->data_dir), "%s/data", d->dir);
	snprintf(d->out_path, sizeof(d->out_path), "%s/collect.out", d->dir);
	snprintf(d->err_path, sizeof(d->err_path), "%s/collect.err", d->dir);
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void tc_dirs_remove(struct tc_dirs *d)
{
	if (d->dir[0] && !getenv("TEST_KEEP"))
		nftw(d->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int tc_collect(struct tc_dirs *d, const char *collector, const char *cfg, long limit_ms,
	       char **out, char **errtext)
{
	const char *argv[] = { tc_bin(), "collect", collector, "--json", "--config", cfg,
			       "--data", d->data_dir, NULL };
	long long t0 = tc_now_ms();
	int rc = tc_run(argv, NULL, NULL, d->out_path, d->err_path, limit_ms);
	char *text, *etext;

	d->last_ms = tc_now_ms() - t0;
	text = tc_slurp(d->out_path);
	etext = tc_slurp(d->err_path);
	if ((rc != 0 && !d->quiet) || getenv("TEST_VERBOSE"))
		fprintf(stderr, "terrarium collect %s (%s) exited %d in %lld ms:\n%s\n", collector,
			cfg, rc, d->last_ms, etext ? etext : "(no output)");
	if (out)
		*out = text;
	else
		free(text);
	if (errtext)
		*errtext = etext;
	else
		free(etext);
	return rc;
}

void tc_plugin_test(struct tc_dirs *d, const char *script, long limit_ms)
{
	const char *argv[] = { tc_bin(), "plugin", "test", script, NULL };
	int rc = tc_run(argv, NULL, NULL, d->out_path, NULL, limit_ms);
	char *text = tc_slurp(d->out_path);

	if (!text)
		fail_msg("terrarium plugin test %s exited %d: no output", script, rc);
	if (rc != 0 || strstr(text, "not ok") || !strstr(text, " passed, 0 failed")) {
		fprintf(stderr, "%s", text);
		free(text);
		fail_msg("terrarium plugin test %s exited %d", script, rc);
	}
	free(text);
}

void tc_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		fail_msg("cannot write '%s': %s", path, strerror(errno));
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

struct catalog *tc_open_catalog(const char *data_dir)
{
	char path[400], err[256] = "";
	struct catalog *cat;

	snprintf(path, sizeof(path), "%s/catalog.db", data_dir);
	cat = catalog_open(path, err, sizeof(err));
	if (!cat)
		fail_msg("cannot open %s: %s", path, err);
	return cat;
}

const char *tc_id(const char *kind, const char *ns, const char *name)
{
	static char ids[32][CATALOG_ID_MAX + 1];
	static unsigned next;
	char *id = ids[next++ % 32];

	snprintf(id, CATALOG_ID_MAX + 1, "%s:%s:%s", kind, ns, name);
	return id;
}

json_t *tc_entity(struct catalog *cat, const char *id)
{
	json_t *doc = NULL;
	int rc = catalog_entity_get(cat, id, &doc);

	if (rc != 0)
		fail_msg("entity '%s' not in the catalog (%d)", id, rc);
	return doc;
}

const char *tc_str(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);

	if (!json_is_string(v)) {
		char *t = obj ? json_dumps(obj, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
		fail_msg("'%s' is not a string in %s", key, t ? t : "(null)");
	}
	return json_string_value(v);
}

json_t *tc_prop(const json_t *doc, const char *key)
{
	return json_object_get(json_object_get(doc, "properties"), key);
}

json_t *tc_field(const json_t *doc, const char *name)
{
	size_t i;
	json_t *f;

	json_array_foreach(json_object_get(doc, "fields"), i, f)
		if (strcmp(tc_str(f, "name"), name) == 0)
			return f;
	fail_msg("no field '%s' in %s", name, tc_str(doc, "id"));
	return NULL;
}

int tc_linked(const json_t *doc, const char *key, const char *id, const char *kind)
{
	size_t i;
	json_t *e;

	json_array_foreach(json_object_get(doc, key), i, e)
		if (strcmp(tc_str(e, "id"), id) == 0 && strcmp(tc_str(e, "kind"), kind) == 0)
			return 1;
	return 0;
}

void tc_assert_json_eq(const json_t *got, const char *want_text)
{
	json_t *want = json_loads(want_text, JSON_DECODE_ANY, NULL);

	if (!want)
		fail_msg("not JSON: %s", want_text);
	if (!json_equal(got, want)) {
		char *g = got ? json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
		json_decref(want);
		fail_msg("expected %s, got %s", want_text, g ? g : "(nothing)");
	}
	json_decref(want);
}

char *tc_export_text(const char *data_dir)
{
	struct catalog *cat = tc_open_catalog(data_dir);
	char err[256] = "", *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f) {
		catalog_close(cat);
		fail_msg("open_memstream: %s", strerror(errno));
	}
	if (catalog_export(cat, f, err, sizeof(err)) < 0) {
		fclose(f);
		free(buf);
		catalog_close(cat);
		fail_msg("export: %s", err);
	}
	fclose(f);
	catalog_close(cat);
	return buf;
}
