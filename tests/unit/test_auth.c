/* Unit tests for hub/auth.c: scopes, hashing, token shape, create and check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "hub/auth.h"

struct fixture {
	char dir[64];
	char dbpath[128];
	struct catalog *cat;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256] = "";

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_auth.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->dbpath, sizeof(f->dbpath), "%s/catalog.db", f->dir);
	f->cat = catalog_open(f->dbpath, err, sizeof(err));
	if (f->cat == NULL) {
		fprintf(stderr, "catalog_open: %s\n", err);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	DIR *d;
	struct dirent *e;
	char p[512];

	catalog_close(f->cat);
	d = opendir(f->dir);
	while (d && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", f->dir, e->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void test_scope_names(void **state)
{
	(void)state;
	assert_int_equal(auth_scope_parse("read"), AUTH_READ);
	assert_int_equal(auth_scope_parse("write"), AUTH_WRITE);
	assert_int_equal(auth_scope_parse("ingest"), AUTH_INGEST);
	assert_int_equal(auth_scope_parse("admin"), AUTH_ADMIN);
	assert_int_equal(auth_scope_parse("Admin"), AUTH_NONE);
	assert_int_equal(auth_scope_parse("none"), AUTH_NONE);
	assert_int_equal(auth_scope_parse(""), AUTH_NONE);
	assert_int_equal(auth_scope_parse(NULL), AUTH_NONE);
	assert_string_equal(auth_scope_name(AUTH_READ), "read");
	assert_string_equal(auth_scope_name(AUTH_WRITE), "write");
	assert_string_equal(auth_scope_name(AUTH_INGEST), "ingest");
	assert_string_equal(auth_scope_name(AUTH_ADMIN), "admin");
	assert_string_equal(auth_scope_name(AUTH_NONE), "none");
	assert_string_equal(auth_scope_name((enum auth_scope)99), "none");
}

static void test_scope_rules(void **state)
{
	/* allows[have][need], in the order NONE, READ, WRITE, INGEST, ADMIN. */
	static const int allows[5][5] = {
		/* none   */ {1, 0, 0, 0, 0},
		/* read   */ {1, 1, 0, 0, 0},
		/* write  */ {1, 1, 1, 0, 0},
		/* ingest */ {1, 0, 0, 1, 0},
		/* admin  */ {1, 1, 1, 1, 1},
	};
	int have, need;

	(void)state;
	for (have = AUTH_NONE; have <= AUTH_ADMIN; have++)
		for (need = AUTH_NONE; need <= AUTH_ADMIN; need++)
			if (auth_allows((enum auth_scope)have, (enum auth_scope)need) !=
			    allows[have][need])
				fail_msg("auth_allows(%s, %s) != %d",
					 auth_scope_name((enum auth_scope)have),
					 auth_scope_name((enum auth_scope)need), allows[have][need]);
	assert_false(auth_allows((enum auth_scope)7, AUTH_READ));
}

static void test_hash_vectors(void **state)
{
	char hex[65];

	(void)state;
	auth_hash("abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	auth_hash("", 0, hex);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	/* LEN counts, not a NUL. */
	auth_hash("abcdef", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void assert_token_shape(const char *t)
{
	size_t i;

	assert_int_equal(strlen(t), AUTH_TOKEN_LEN);
	assert_memory_equal(t, "trm_", 4);
	for (i = 4; i < AUTH_TOKEN_LEN; i++)
		if (!((t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= 'a' && t[i] <= 'z') ||
		      (t[i] >= '0' && t[i] <= '9') || t[i] == '-' || t[i] == '_'))
			fail_msg("token '%s' has '%c' at %zu", t, t[i], i);
}

static void test_create_and_check(void **state)
{
	struct fixture *f = *state;
	static const enum auth_scope scopes[] = {AUTH_READ, AUTH_WRITE, AUTH_INGEST, AUTH_ADMIN};
	char tok[4][AUTH_TOKEN_LEN + 1];
	size_t i, j;

	for (i = 0; i < 4; i++) {
		assert_int_equal(auth_token_create(f->cat, scopes[i], "ci", tok[i], sizeof(tok[i])),
				 0);
		assert_token_shape(tok[i]);
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(auth_token_check(f->cat, tok[i], strlen(tok[i])), scopes[i]);
		for (j = 0; j < i; j++)
			assert_string_not_equal(tok[i], tok[j]);
	}
}

static void test_create_refuses(void **state)
{
	struct fixture *f = *state;
	char tok[AUTH_TOKEN_LEN + 1];
	char small[AUTH_TOKEN_LEN];

	assert_int_equal(auth_token_create(f->cat, AUTH_NONE, "x", tok, sizeof(tok)), -1);
	assert_int_equal(auth_token_create(f->cat, (enum auth_scope)9, "x", tok, sizeof(tok)), -1);
	assert_int_equal(auth_token_create(f->cat, AUTH_READ, "x", small, sizeof(small)), -1);
	/* A NULL label is an empty one. */
	assert_int_equal(auth_token_create(f->cat, AUTH_READ, NULL, tok, sizeof(tok)), 0);
	assert_int_equal(auth_token_check(f->cat, tok, strlen(tok)), AUTH_READ);
}

static void test_bad_tokens(void **state)
{
	struct fixture *f = *state;
	char tok[AUTH_TOKEN_LEN + 1];
	char bad[AUTH_TOKEN_LEN + 8];
	size_t i;

	assert_int_equal(auth_token_create(f->cat, AUTH_ADMIN, "root", tok, sizeof(tok)), 0);
	assert_int_equal(auth_token_check(f->cat, tok, AUTH_TOKEN_LEN), AUTH_ADMIN);

	/* Every single-character change is refused. */
	for (i = 0; i < AUTH_TOKEN_LEN; i++) {
		memcpy(bad, tok, sizeof(tok));
		bad[i] = bad[i] == 'A' ? 'Q' : 'A';
		assert_int_equal(auth_token_check(f->cat, bad, AUTH_TOKEN_LEN), AUTH_NONE);
	}
	/* Truncated, extended, wrong prefix, bad alphabet, NUL inside, empty. */
	assert_int_equal(auth_token_check(f->cat, tok, AUTH_TOKEN_LEN - 1), AUTH_NONE);
	snprintf(bad, sizeof(bad), "%sA", tok);
	assert_int_equal(auth_token_check(f->cat, bad, strlen(bad)), AUTH_NONE);
	memcpy(bad, tok, sizeof(tok));
	memcpy(bad, "TRM_", 4);
	assert_int_equal(auth_token_check(f->cat, bad, AUTH_TOKEN_LEN), AUTH_NONE);
	memcpy(bad, tok, sizeof(tok));
	bad[10] = '+';
	assert_int_equal(auth_token_check(f->cat, bad, AUTH_TOKEN_LEN), AUTH_NONE);
	memcpy(bad, tok, sizeof(tok));
	bad[20] = '\0';
	assert_int_equal(auth_token_check(f->cat, bad, AUTH_TOKEN_LEN), AUTH_NONE);
	assert_int_equal(auth_token_check(f->cat, "", 0), AUTH_NONE);
	assert_int_equal(auth_token_check(f->cat, NULL, 0), AUTH_NONE);
	/* Well-formed but never issued. */
	assert_int_equal(auth_token_check(f->cat, "trm_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
					  AUTH_TOKEN_LEN),
			 AUTH_NONE);
	/* A token longer than its buffer's string: only LEN bytes count. */
	snprintf(bad, sizeof(bad), "%sXYZ", tok);
	assert_int_equal(auth_token_check(f->cat, bad, AUTH_TOKEN_LEN), AUTH_ADMIN);
}

/* Whether NEEDLE occurs anywhere in the file at PATH. */
static int file_contains(const char *path, const char *needle)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, len = 0, n;
	int found = 0;

	if (fp == NULL)
		return 0;
	for (;;) {
		if (len + 65536 > cap) {
			char *nb = realloc(buf, cap + 1024 * 1024);

			assert_non_null(nb);
			buf = nb;
			cap += 1024 * 1024;
		}
		n = fread(buf + len, 1, cap - len, fp);
		if (n == 0)
			break;
		len += n;
	}
	fclose(fp);
	found = buf && memmem(buf, len, needle, strlen(needle)) != NULL;
	free(buf);
	return found;
}

static void test_catalog_keeps_only_hash(void **state)
{
	struct fixture *f = *state;
	char tok[AUTH_TOKEN_LEN + 1];
	char hex[65];
	char err[256];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	DIR *d;
	struct dirent *e;
	int rows = 0;

	assert_int_equal(auth_token_create(f->cat, AUTH_WRITE, "deploy bot", tok, sizeof(tok)), 0);
	auth_hash(tok, AUTH_TOKEN_LEN, hex);

	assert_int_equal(sqlite3_open_v2(f->dbpath, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT hash, scope, label FROM tokens", -1, &st,
					    NULL),
			 SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		int c;

		rows++;
		for (c = 0; c < 3; c++) {
			const char *v = (const char *)sqlite3_column_text(st, c);

			assert_non_null(v);
			assert_null(strstr(v, tok));
			assert_null(strstr(v, tok + 4));
		}
		assert_string_equal((const char *)sqlite3_column_text(st, 0), hex);
		assert_string_equal((const char *)sqlite3_column_text(st, 1), "write");
		assert_string_equal((const char *)sqlite3_column_text(st, 2), "deploy bot");
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_int_equal(rows, 1);

	/* Nor anywhere in its files, the WAL included, open or closed. */
	catalog_close(f->cat);
	f->cat = NULL;
	d = opendir(f->dir);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		char p[512];

		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", f->dir, e->d_name);
		if (file_contains(p, tok + 4))
			fail_msg("token text found in %s", p);
	}
	closedir(d);
	/* The hash is there, so the search does read the data. */
	f->cat = catalog_open(f->dbpath, err, sizeof(err));
	assert_non_null(f->cat);
	assert_int_equal(auth_token_check(f->cat, tok, AUTH_TOKEN_LEN), AUTH_WRITE);
	catalog_close(f->cat);
	f->cat = NULL;
	assert_true(file_contains(f->dbpath, hex));
	f->cat = catalog_open(f->dbpath, err, sizeof(err));
	assert_non_null(f->cat);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scope_names),
		cmocka_unit_test(test_scope_rules),
		cmocka_unit_test(test_hash_vectors),
		cmocka_unit_test_setup_teardown(test_create_and_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_refuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_catalog_keeps_only_hash, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
