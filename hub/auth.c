/*
 * Tokens and scopes.  See auth.h.
 *
 * A token is "trm_" and the unpadded base64url of 32 bytes from getrandom().
 * Only its SHA-256 reaches the catalog; a token presented to
 * auth_token_check() is checked for shape before it is hashed, so junk from
 * the network never costs a database lookup.
 */
#include "hub/auth.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>

#define AUTH_PREFIX "trm_"
#define AUTH_PREFIX_LEN 4
#define AUTH_RAW_LEN 32
#define AUTH_B64_LEN 43

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static const char *const scope_names[] = {
	[AUTH_NONE] = "none",   [AUTH_READ] = "read",   [AUTH_WRITE] = "write",
	[AUTH_INGEST] = "ingest", [AUTH_ADMIN] = "admin",
};

enum auth_scope auth_scope_parse(const char *s)
{
	int i;

	if (s == NULL)
		return AUTH_NONE;
	for (i = AUTH_READ; i <= AUTH_ADMIN; i++)
		if (strcmp(s, scope_names[i]) == 0)
			return (enum auth_scope)i;
	return AUTH_NONE;
}

const char *auth_scope_name(enum auth_scope s)
{
	if ((int)s < AUTH_NONE || s > AUTH_ADMIN)
		return "none";
	return scope_names[s];
}

int auth_allows(enum auth_scope have, enum auth_scope need)
{
	if ((int)have < AUTH_NONE || have > AUTH_ADMIN || (int)need < AUTH_NONE ||
	    need > AUTH_ADMIN)
		return 0;
	if (need == AUTH_NONE)
		return 1;
	if (have == AUTH_ADMIN)
		return 1;
	if (have == need)
		return 1;
	return have == AUTH_WRITE && need == AUTH_READ;
}

/* SHA-256, fetched from OpenSSL's provider once: EVP_sha256() makes
 * EVP_Digest fetch it again on every call (a lock and a lookup). */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void auth_hash(const char *token, size_t len, char hex[65])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	unsigned int i;

	hex[0] = '\0';
	pthread_once(&sha256_once, sha256_fetch);
	if (!EVP_Digest(token, len, md, &mdlen, sha256_md ? sha256_md : EVP_sha256(), NULL) ||
	    mdlen != 32)
		return;
	for (i = 0; i < mdlen; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[64] = '\0';
}

/* Unpadded base64url of LEN bytes into OUT (room for 4*LEN/3 + 2). */
static void b64url_encode(const unsigned char *in, size_t len, char *out)
{
	size_t i, o = 0;

	for (i = 0; i + 2 < len; i += 3) {
		out[o++] = b64url[in[i] >> 2];
		out[o++] = b64url[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		out[o++] = b64url[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
		out[o++] = b64url[in[i + 2] & 63];
	}
	if (len - i == 1) {
		out[o++] = b64url[in[i] >> 2];
		out[o++] = b64url[(in[i] & 3) << 4];
	} else if (len - i == 2) {
		out[o++] = b64url[in[i] >> 2];
		out[o++] = b64url[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		out[o++] = b64url[(in[i + 1] & 15) << 2];
	}
	out[o] = '\0';
}

static int fill_random(unsigned char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = getrandom(buf + got, len - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

int auth_token_create(struct catalog *cat, enum auth_scope scope, const char *label, char *out,
		      size_t outlen)
{
	unsigned char raw[AUTH_RAW_LEN];
	char token[AUTH_TOKEN_LEN + 1];
	char hex[65];
	int rc = -1;

	if (out == NULL || outlen < AUTH_TOKEN_LEN + 1 || scope < AUTH_READ || scope > AUTH_ADMIN)
		goto out;
	if (fill_random(raw, sizeof(raw)) < 0)
		goto out;
	memcpy(token, AUTH_PREFIX, AUTH_PREFIX_LEN);
	b64url_encode(raw, sizeof(raw), token + AUTH_PREFIX_LEN);
	auth_hash(token, AUTH_TOKEN_LEN, hex);
	if (hex[0] == '\0')
		goto out;
	if (catalog_token_put(cat, hex, auth_scope_name(scope), label ? label : "") != 0)
		goto out;
	memcpy(out, token, AUTH_TOKEN_LEN + 1);
	rc = 0;
out:
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(token, sizeof(token));
	return rc;
}

/* Whether TOKEN has the shape of one auth_token_create() makes. */
static int token_shape_ok(const char *token, size_t len)
{
	size_t i;

	if (token == NULL || len != AUTH_TOKEN_LEN)
		return 0;
	if (memcmp(token, AUTH_PREFIX, AUTH_PREFIX_LEN) != 0)
		return 0;
	for (i = AUTH_PREFIX_LEN; i < len; i++)
		if (token[i] == '\0' || strchr(b64url, token[i]) == NULL)
			return 0;
	/* 43 characters carry 258 bits for 256: the last one's low 2 bits are 0. */
	return ((strchr(b64url, token[len - 1]) - b64url) & 3) == 0;
}

/*
 * Tokens found valid are remembered for TOKEN_CACHE_MS, so a busy client
 * costs a hash and a lookup here rather than a catalog query per request.
 * Only hits are cached: a token created a moment ago works at once.  (There
 * is no revocation yet; when there is, it must clear this cache.)
 */
#define TOKEN_CACHE_SLOTS 64
#define TOKEN_CACHE_MS 10000

struct token_slot {
	char hex[65];
	enum auth_scope scope;
	const struct catalog *cat;
	long long expires_ms;
};

static struct token_slot token_cache[TOKEN_CACHE_SLOTS];
static pthread_mutex_t token_cache_lock = PTHREAD_MUTEX_INITIALIZER;

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct token_slot *cache_slot(const char *hex)
{
	unsigned int h = 0;
	for (int i = 0; i < 8; i++)
		h = h * 16 + (unsigned int)(hex[i] <= '9' ? hex[i] - '0' : hex[i] - 'a' + 10);
	return &token_cache[h % TOKEN_CACHE_SLOTS];
}

enum auth_scope auth_token_check(struct catalog *cat, const char *token, size_t len)
{
	char hex[65];
	char scope[32];
	enum auth_scope found = AUTH_NONE;

	if (cat == NULL || !token_shape_ok(token, len))
		return AUTH_NONE;
	auth_hash(token, len, hex);
	if (hex[0] == '\0')
		return AUTH_NONE;
	long long now = now_ms();
	pthread_mutex_lock(&token_cache_lock);
	struct token_slot *slot = cache_slot(hex);
	if (slot->cat == cat && slot->expires_ms > now && strcmp(slot->hex, hex) == 0)
		found = slot->scope;
	pthread_mutex_unlock(&token_cache_lock);
	if (found != AUTH_NONE)
		return found;
	if (catalog_token_get(cat, hex, scope, sizeof(scope)) != 0)
		return AUTH_NONE;
	found = auth_scope_parse(scope);
	if (found != AUTH_NONE) {
		pthread_mutex_lock(&token_cache_lock);
		memcpy(slot->hex, hex, sizeof(slot->hex));
		slot->scope = found;
		slot->cat = cat;
		slot->expires_ms = now + TOKEN_CACHE_MS;
		pthread_mutex_unlock(&token_cache_lock);
	}
	return found;
}
