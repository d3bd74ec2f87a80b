#ifndef TERRARIUM_AUTH_H
#define TERRARIUM_AUTH_H
/*
 * Tokens and scopes.
 *
 * A token is "trm_" followed by 43 base64url characters (32 random bytes from
 * the OS).  It is shown once, when created; the catalog keeps only its
 * SHA-256 (hex).  Scopes: read, write, ingest, admin.  admin grants
 * everything; write grants read; ingest grants only ingest.
 */
#include <stddef.h>
#include "catalog/catalog.h"

enum auth_scope {
	AUTH_NONE = 0,
	AUTH_READ = 1,
	AUTH_WRITE = 2,
	AUTH_INGEST = 3,
	AUTH_ADMIN = 4,
};

#define AUTH_TOKEN_LEN 47   /* "trm_" + 43 */

/* "read" -> AUTH_READ ...; AUTH_NONE if unknown. */
enum auth_scope auth_scope_parse(const char *s);
const char *auth_scope_name(enum auth_scope s);

/* Whether a token of scope HAVE may do what needs scope NEED. */
int auth_allows(enum auth_scope have, enum auth_scope need);

/* Hex SHA-256 of TOKEN (LEN bytes) into HEX (65 bytes with NUL). */
void auth_hash(const char *token, size_t len, char hex[65]);

/*
 * Make a token of SCOPE labelled LABEL, store its hash in CAT, and write the
 * token into OUT (at least AUTH_TOKEN_LEN + 1 bytes).  0 or -1.
 */
int auth_token_create(struct catalog *cat, enum auth_scope scope, const char *label, char *out,
		      size_t outlen);

/*
 * The scope of TOKEN (LEN bytes, from the network), or AUTH_NONE if it is
 * malformed or unknown.  Compares hashes only.
 */
enum auth_scope auth_token_check(struct catalog *cat, const char *token, size_t len);

#endif
