/*
 * plugins/ingest/sample.c - one-pass, resumable JSON validator that picks
 * out a sample's "time_stamp" and folds "data" into running stats.
 *
 * The parser is a state machine over bytes.  Every state can stop at the end
 * of a chunk and resume at the start of the next, so no token is ever copied
 * whole: strings are validated byte by byte (only the top-level keys and the
 * time stamp are kept, both bounded), and numbers are accumulated digit by
 * digit into a bounded decimal form.
 */
#include "sample.h"
#include "stats.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Significant digits kept of a number: enough for a correctly rounded
 * double (an exact halfway value needs at most 767), the rest folded into a
 * sticky digit. */
#define NUM_DIGITS 800
/* Bounds of the decimal exponent bookkeeping (saturating). */
#define NUM_DEXP_CAP (1 << 30)
#define NUM_EXP_CAP 100000000

enum state {
	ST_VALUE,      /* a value is expected (role says what for) */
	ST_ARR_FIRST,  /* after '[': a value or ']' */
	ST_OBJ_FIRST,  /* after '{': a key or '}' */
	ST_OBJ_KEY,    /* after ',' in an object: a key */
	ST_COLON,      /* after a key */
	ST_AFTER,      /* after a value inside a container: ',' or the closer */
	ST_END,        /* after the top-level value: whitespace only */
	ST_STRING,
	ST_NUMBER,
	ST_LITERAL,
	ST_FAILED,
};

/* What the value (or string) being read stands for. */
enum role {
	ROLE_OTHER,
	ROLE_ROOT,     /* the top-level value */
	ROLE_TS,       /* the value of "time_stamp" */
	ROLE_DATA,     /* the value of "data" */
	ROLE_ELEM,     /* an element of "data" */
	ROLE_KEY_TOP,  /* a key of the top-level object */
	ROLE_KEY,      /* any other key */
};

enum str_sub { S_NORMAL, S_UTF8, S_ESC, S_HEX, S_LOW_BS, S_LOW_U };

enum num_sub { N_SIGN, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP };

struct num {
	enum num_sub sub;
	int neg, eneg, sticky;
	int nsig;              /* significant digits seen, capped past NUM_DIGITS */
	int64_t dexp;          /* value = digits * 10^(dexp +- exp) */
	int64_t exp;
	uint64_t mant;         /* the first 19 significant digits */
	const unsigned char *start; /* first byte of the token in this chunk */
	size_t tok_len;        /* bytes of the token already in earlier chunks */
	char text[24];         /* its first bytes, for messages */
	char digs[NUM_DIGITS];
};

struct key {
	uint32_t off, len;
};

struct ingest_sample_parser {
	const struct ingest_ts_zone *zone;
	unsigned max_depth;

	enum state state;
	enum role role;          /* of the value or string being read */
	enum role next_role;     /* of the value after the current key */
	uint64_t offset;         /* bytes fed before the current chunk */
	const unsigned char *chunk;
	unsigned depth;
	uint8_t is_obj[INGEST_SAMPLE_DEPTH_MAX + 1]; /* per open container */

	/* string */
	enum str_sub str_sub;
	int hex_n, u8_need;
	uint32_t cp, cp_hi;
	unsigned char u8_lo, u8_hi;
	char *col;               /* decoded bytes are kept here, or NULL */
	size_t col_len, col_cap;
	int col_over;

	/* literal */
	const char *lit;
	unsigned lit_pos, lit_len;

	struct num num;

	/* the sample */
	int root_is_obj, ts_seen, data_seen, data_open, ts_ok;
	unsigned data_depth;
	uint64_t n_elems, elem;
	struct ingest_ts ts;
	char ts_buf[INGEST_SAMPLE_TS_MAX];
	struct ingest_stats stats;

	/* top-level keys, for duplicates */
	unsigned n_keys;
	size_t key_bytes;
	int keys_over;

	int finished;
	unsigned n_errors;
	uint64_t n_dropped;

	/* Zeroed at creation: everything above, and the hash slots. */
	uint16_t slots[2 * INGEST_SAMPLE_KEYS_MAX]; /* index + 1, 0 = free */
	/* Not zeroed (about 30 KB a request): only read below n_keys,
	 * key_bytes and n_errors. */
	struct key keys[INGEST_SAMPLE_KEYS_MAX];
	char key_buf[INGEST_SAMPLE_KEY_BYTES];
	char errors[INGEST_SAMPLE_MAX_ERRORS][INGEST_SAMPLE_ERROR_MAX];
};

static const char *const type_name[128] = {
	['{'] = "object", ['['] = "array", ['"'] = "string", ['t'] = "boolean",
	['f'] = "boolean", ['n'] = "null", ['-'] = "number", ['0'] = "number",
	['1'] = "number", ['2'] = "number", ['3'] = "number", ['4'] = "number",
	['5'] = "number", ['6'] = "number", ['7'] = "number", ['8'] = "number",
	['9'] = "number",
};

/* ---- errors ---- */

static void add_error(struct ingest_sample_parser *ps, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add_error(struct ingest_sample_parser *ps, const char *fmt, ...)
{
	va_list ap;

	/* The last slot is kept for "and N more problems". */
	if (ps->n_errors >= INGEST_SAMPLE_MAX_ERRORS - 1) {
		ps->n_dropped++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(ps->errors[ps->n_errors++], INGEST_SAMPLE_ERROR_MAX, fmt, ap);
	va_end(ap);
}

/* Record the syntax error at byte 'at' of the current chunk; returns NULL so
 * scanners can `return syntax_error(...)`. */
static const unsigned char *syntax_error(struct ingest_sample_parser *ps,
					 const unsigned char *at, const char *what)
{
	char got[32] = "";

	if (at != NULL) {
		if (*at >= 0x20 && *at < 0x7f)
			snprintf(got, sizeof(got), ", got '%c'", *at);
		else
			snprintf(got, sizeof(got), ", got byte 0x%02x", *at);
	}
	add_error(ps, "body: invalid JSON at byte %llu: %s%s",
		  (unsigned long long)(ps->offset + (uint64_t)(at - ps->chunk)), what, got);
	ps->state = ST_FAILED;
	return NULL;
}

/* s[0..len) for a message: printable ASCII, at most 40 bytes. */
static void printable(const char *s, size_t len, char *out, size_t outlen)
{
	size_t n = 0, i;

	for (i = 0; i < len && i < 40 && n + 4 < outlen; i++)
		out[n++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (i < len && n + 4 < outlen) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
}

/* ---- containers and values ---- */

static void value_done(struct ingest_sample_parser *ps)
{
	ps->state = ps->depth == 0 ? ST_END : ST_AFTER;
}

static void close_container(struct ingest_sample_parser *ps)
{
	if (ps->data_open && ps->depth == ps->data_depth) {
		ps->data_open = 0;
		if (ps->n_elems == 0)
			add_error(ps, "data: must not be empty");
	}
	ps->depth--;
	value_done(ps);
}

/* Role of a value about to be read inside the current container. */
static enum role member_role(const struct ingest_sample_parser *ps)
{
	if (ps->data_open && ps->depth == ps->data_depth)
		return ROLE_ELEM;
	return ROLE_OTHER;
}

/* Report a value of type 'c' (its first byte) where its role wants another. */
static void check_type(struct ingest_sample_parser *ps, unsigned char c)
{
	const char *got = type_name[c];

	switch (ps->role) {
	case ROLE_ROOT:
		if (c != '{')
			add_error(ps, "body: expected a JSON object, got %s", got);
		break;
	case ROLE_TS:
		if (c != '"')
			add_error(ps, "time_stamp: expected a string, got %s", got);
		break;
	case ROLE_DATA:
		if (c != '[')
			add_error(ps, "data: expected an array, got %s", got);
		break;
	case ROLE_ELEM:
		ps->elem = ps->n_elems++;
		if (c != '-' && !(c >= '0' && c <= '9'))
			add_error(ps, "data[%llu]: expected a number, got %s",
				  (unsigned long long)ps->elem, got);
		break;
	default:
		break;
	}
}

static void start_string(struct ingest_sample_parser *ps, enum role role)
{
	ps->role = role;
	ps->state = ST_STRING;
	ps->str_sub = S_NORMAL;
	ps->cp_hi = 0;
	ps->col = NULL;
	ps->col_len = 0;
	ps->col_over = 0;
	if (role == ROLE_TS) {
		ps->col = ps->ts_buf;
		ps->col_cap = sizeof(ps->ts_buf);
	} else if (role == ROLE_KEY_TOP) {
		ps->col = ps->key_buf + ps->key_bytes;
		ps->col_cap = sizeof(ps->key_buf) - ps->key_bytes;
	}
}

static void start_number(struct ingest_sample_parser *ps, const unsigned char *p)
{
	struct num *n = &ps->num;

	n->neg = n->eneg = n->sticky = 0;
	n->nsig = 0;
	n->dexp = n->exp = 0;
	n->mant = 0;
	n->start = p;
	n->tok_len = 0;
	n->text[0] = '\0';
	ps->state = ST_NUMBER;
}

/* The first byte of a value, at *p; returns the next byte to read or NULL. */
static const unsigned char *start_value(struct ingest_sample_parser *ps, const unsigned char *p)
{
	unsigned char c = *p;

	if (c < 0x80 && type_name[c] != NULL)
		check_type(ps, c);
	switch (c) {
	case '{':
	case '[':
		if (ps->depth >= ps->max_depth) {
			char what[64];

			snprintf(what, sizeof(what), "nesting deeper than %u levels", ps->max_depth);
			return syntax_error(ps, p, what);
		}
		ps->is_obj[++ps->depth] = c == '{';
		if (ps->role == ROLE_ROOT && c == '{')
			ps->root_is_obj = 1;
		if (c == '{') {
			ps->state = ST_OBJ_FIRST;
		} else {
			if (ps->role == ROLE_DATA) {
				ps->data_open = 1;
				ps->data_depth = ps->depth;
			}
			ps->state = ST_ARR_FIRST;
			ps->role = member_role(ps);
		}
		return p + 1;
	case '"':
		start_string(ps, ps->role);
		return p + 1;
	case 't':
	case 'f':
	case 'n':
		ps->lit = c == 't' ? "true" : c == 'f' ? "false" : "null";
		ps->lit_len = (unsigned)strlen(ps->lit);
		ps->lit_pos = 1;
		ps->state = ST_LITERAL;
		return p + 1;
	case '-':
		start_number(ps, p);
		ps->num.neg = 1;
		ps->num.sub = N_SIGN;
		return p + 1;
	case '0':
		start_number(ps, p);
		ps->num.sub = N_ZERO;
		return p + 1;
	default:
		if (c >= '1' && c <= '9') {
			start_number(ps, p);
			ps->num.sub = N_INT;
			return p;
		}
		return syntax_error(ps, p, "expected a value");
	}
}

/* ---- top-level keys ---- */

static uint32_t hash_bytes(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

static int key_is(const struct ingest_sample_parser *ps, const char *name)
{
	size_t n = strlen(name);

	return !ps->col_over && ps->col_len == n && memcmp(ps->col, name, n) == 0;
}

static void top_key_done(struct ingest_sample_parser *ps)
{
	char shown[64];
	uint32_t mask = 2 * INGEST_SAMPLE_KEYS_MAX - 1, i;
	int dup = 0;

	ps->next_role = ROLE_OTHER;
	if (ps->col_over) {
		if (!ps->keys_over)
			add_error(ps, "body: top-level keys longer than %d bytes in all",
				  INGEST_SAMPLE_KEY_BYTES);
		ps->keys_over = 1;
		return;
	}
	for (i = hash_bytes(ps->col, ps->col_len) & mask; ps->slots[i] != 0; i = (i + 1) & mask) {
		const struct key *k = &ps->keys[ps->slots[i] - 1];

		if (k->len == ps->col_len && memcmp(ps->key_buf + k->off, ps->col, k->len) == 0) {
			dup = 1;
			break;
		}
	}
	if (dup) {
		printable(ps->col, ps->col_len, shown, sizeof(shown));
		add_error(ps, "body: duplicate top-level key '%s'", shown);
		return;
	}
	if (ps->n_keys >= INGEST_SAMPLE_KEYS_MAX) {
		if (!ps->keys_over)
			add_error(ps, "body: more than %d top-level keys", INGEST_SAMPLE_KEYS_MAX);
		ps->keys_over = 1;
	} else {
		ps->keys[ps->n_keys] = (struct key){ (uint32_t)ps->key_bytes, (uint32_t)ps->col_len };
		ps->slots[i] = (uint16_t)(++ps->n_keys);
		ps->key_bytes += ps->col_len;
	}
	if (key_is(ps, "time_stamp")) {
		ps->ts_seen = 1;
		ps->next_role = ROLE_TS;
	} else if (key_is(ps, "data")) {
		ps->data_seen = 1;
		ps->next_role = ROLE_DATA;
	}
}

static void ts_done(struct ingest_sample_parser *ps)
{
	char err[INGEST_SAMPLE_ERROR_MAX];

	if (ps->col_over) {
		add_error(ps, "time_stamp: longer than %d bytes", INGEST_SAMPLE_TS_MAX);
		return;
	}
	if (ps->zone == NULL) {
		const struct ingest_ts_zone *def = ingest_ts_zone_default();
		size_t i;
		int naive = 1;

		/* Only a time stamp without an offset needs the zone. */
		for (i = 19; i < ps->col_len; i++)
			if (ps->col[i] == 'Z' || ps->col[i] == 'z' || ps->col[i] == '+' || ps->col[i] == '-')
				naive = 0;
		if (def == NULL && naive) {
			add_error(ps, "time_stamp: has no offset and the default zone %s cannot be "
				  "loaded from %s (is tzdata installed?)",
				  INGEST_TS_DEFAULT_ZONE, INGEST_TS_ZONEINFO_DIR);
			return;
		}
		ps->zone = def;
	}
	if (ingest_ts_parse(ps->col, ps->col_len, ps->zone, &ps->ts, err, sizeof(err)) < 0) {
		add_error(ps, "time_stamp: %s", err);
		return;
	}
	ps->ts_ok = 1;
}

static void string_done(struct ingest_sample_parser *ps)
{
	switch (ps->role) {
	case ROLE_KEY_TOP:
		top_key_done(ps);
		ps->state = ST_COLON;
		return;
	case ROLE_KEY:
		ps->next_role = ROLE_OTHER;
		ps->state = ST_COLON;
		return;
	case ROLE_TS:
		ts_done(ps);
		break;
	default:
		break;
	}
	value_done(ps);
}

/* ---- strings ---- */

static void collect(struct ingest_sample_parser *ps, unsigned char c)
{
	if (ps->col_len < ps->col_cap)
		ps->col[ps->col_len++] = (char)c;
	else
		ps->col_over = 1;
}

static void collect_cp(struct ingest_sample_parser *ps, uint32_t cp)
{
	if (cp < 0x80) {
		collect(ps, (unsigned char)cp);
	} else if (cp < 0x800) {
		collect(ps, (unsigned char)(0xc0 | cp >> 6));
		collect(ps, (unsigned char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		collect(ps, (unsigned char)(0xe0 | cp >> 12));
		collect(ps, (unsigned char)(0x80 | (cp >> 6 & 0x3f)));
		collect(ps, (unsigned char)(0x80 | (cp & 0x3f)));
	} else {
		collect(ps, (unsigned char)(0xf0 | cp >> 18));
		collect(ps, (unsigned char)(0x80 | (cp >> 12 & 0x3f)));
		collect(ps, (unsigned char)(0x80 | (cp >> 6 & 0x3f)));
		collect(ps, (unsigned char)(0x80 | (cp & 0x3f)));
	}
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Plain string bytes: printable ASCII other than '"' and '\\'. */
static int plain(unsigned char c)
{
	return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

static const unsigned char *scan_string(struct ingest_sample_parser *ps, const unsigned char *p,
					const unsigned char *end)
{
	unsigned char c;
	int h;

	for (;;) {
		switch (ps->str_sub) {
		case S_NORMAL:
			if (ps->col != NULL) {
				while (p < end && plain(*p))
					collect(ps, *p++);
			} else {
				while (p < end && plain(*p))
					p++;
			}
			if (p == end)
				return p;
			c = *p;
			if (c == '"') {
				string_done(ps);
				return p + 1;
			}
			if (c == '\\') {
				ps->str_sub = S_ESC;
				p++;
				break;
			}
			if (c < 0x20)
				return syntax_error(ps, p, "control character in a string (escape it)");
			/* A UTF-8 lead byte: how many continuation bytes, and the
			 * range of the first (no overlongs, surrogates, > U+10FFFF). */
			ps->u8_lo = 0x80;
			ps->u8_hi = 0xbf;
			if (c >= 0xc2 && c <= 0xdf) {
				ps->u8_need = 1;
			} else if (c >= 0xe0 && c <= 0xef) {
				ps->u8_need = 2;
				if (c == 0xe0)
					ps->u8_lo = 0xa0;
				else if (c == 0xed)
					ps->u8_hi = 0x9f;
			} else if (c >= 0xf0 && c <= 0xf4) {
				ps->u8_need = 3;
				if (c == 0xf0)
					ps->u8_lo = 0x90;
				else if (c == 0xf4)
					ps->u8_hi = 0x8f;
			} else {
				return syntax_error(ps, p, "invalid UTF-8 in a string");
			}
			if (ps->col != NULL)
				collect(ps, c);
			ps->str_sub = S_UTF8;
			p++;
			break;
		case S_UTF8:
			if (p == end)
				return p;
			c = *p;
			if (c < ps->u8_lo || c > ps->u8_hi)
				return syntax_error(ps, p, "invalid UTF-8 in a string");
			if (ps->col != NULL)
				collect(ps, c);
			ps->u8_lo = 0x80;
			ps->u8_hi = 0xbf;
			if (--ps->u8_need == 0)
				ps->str_sub = S_NORMAL;
			p++;
			break;
		case S_ESC:
			if (p == end)
				return p;
			c = *p;
			switch (c) {
			case '"': case '\\': case '/':
				break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 't': c = '\t'; break;
			case 'u':
				ps->str_sub = S_HEX;
				ps->hex_n = 0;
				ps->cp = 0;
				p++;
				continue;
			default:
				return syntax_error(ps, p, "invalid escape in a string");
			}
			if (ps->col != NULL)
				collect(ps, c);
			ps->str_sub = S_NORMAL;
			p++;
			break;
		case S_HEX:
			while (ps->hex_n < 4) {
				if (p == end)
					return p;
				if ((h = hexval(*p)) < 0)
					return syntax_error(ps, p, "expected 4 hex digits after \\u");
				ps->cp = ps->cp << 4 | (uint32_t)h;
				ps->hex_n++;
				p++;
			}
			if (ps->cp_hi != 0) {
				if (ps->cp < 0xdc00 || ps->cp > 0xdfff)
					return syntax_error(ps, p - 1, "unpaired surrogate in a \\u escape");
				ps->cp = 0x10000 + ((ps->cp_hi - 0xd800) << 10) + (ps->cp - 0xdc00);
				ps->cp_hi = 0;
			} else if (ps->cp >= 0xd800 && ps->cp <= 0xdbff) {
				ps->cp_hi = ps->cp;
				ps->str_sub = S_LOW_BS;
				break;
			} else if (ps->cp >= 0xdc00 && ps->cp <= 0xdfff) {
				return syntax_error(ps, p - 1, "unpaired surrogate in a \\u escape");
			}
			if (ps->col != NULL)
				collect_cp(ps, ps->cp);
			ps->str_sub = S_NORMAL;
			break;
		case S_LOW_BS:
		case S_LOW_U:
			if (p == end)
				return p;
			if (*p != (ps->str_sub == S_LOW_BS ? '\\' : 'u'))
				return syntax_error(ps, p, "unpaired surrogate in a \\u escape");
			if (ps->str_sub == S_LOW_BS) {
				ps->str_sub = S_LOW_U;
			} else {
				ps->str_sub = S_HEX;
				ps->hex_n = 0;
				ps->cp = 0;
			}
			p++;
			break;
		}
	}
}

/* ---- numbers ---- */

static const double pow10_dbl[23] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

static const uint64_t pow10_u64[20] = {
	1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
	100000000ull, 1000000000ull, 10000000000ull, 100000000000ull,
	1000000000000ull, 10000000000000ull, 100000000000000ull,
	1000000000000000ull, 10000000000000000ull, 100000000000000000ull,
	1000000000000000000ull, 10000000000000000000ull,
};

/* 2^e for -1022 <= e <= 1023, exactly. */
static double pow2(int e)
{
	uint64_t bits = (uint64_t)(e + 1023) << 52;
	double d;

	memcpy(&d, &bits, sizeof(d));
	return d;
}

/*
 * m * 10^e correctly rounded, for m < 10^19 and -19 <= e <= 19, in exact
 * 128-bit integer arithmetic: the 64-bit (or wider) integer part of the
 * value, shifted so that at least 63 significant bits remain, with a sticky
 * bit for whatever the shift or the division dropped, rounded once by the
 * integer-to-double conversion (round to nearest, ties to even).
 */
#ifdef __SIZEOF_INT128__
__extension__ typedef unsigned __int128 u128;

static int bitlen64(uint64_t x)
{
	return 64 - __builtin_clzll(x);
}

static double exact_m10e(uint64_t m, int e)
{
	if (e >= 0) {
		u128 prod = (u128)m * pow10_u64[e];
		uint64_t hi = (uint64_t)(prod >> 64), top;
		int r;

		if (hi == 0)
			return (double)(uint64_t)prod;
		r = bitlen64(hi);
		top = (uint64_t)(prod >> r);
		if ((prod & (((u128)1 << r) - 1)) != 0)
			top |= 1;
		return (double)top * pow2(r);
	} else {
		uint64_t den = pow10_u64[-e], q;
		int s = 63 + bitlen64(den) - bitlen64(m);
		u128 num = (u128)m << s;

		q = (uint64_t)(num / den);
		if (num - (u128)q * den != 0)
			q |= 1;
		return (double)q * pow2(-s);
	}
}
#endif

/* The value of a finished number token. */
static double num_value_slow(struct num *n, int64_t e);

/* m * 10^e for m of nsig (1..19) digits by an exact fast path; -1 when
 * none applies. */
static inline int fast_m10e(uint64_t m, int nsig, int64_t e, double *v)
{
	if (nsig <= 15 && e >= -22 && e <= 22) {
		/* Both operands exact doubles: one correctly rounded operation. */
		*v = e >= 0 ? (double)m * pow10_dbl[e] : (double)m / pow10_dbl[-e];
		return 0;
	}
	if (nsig <= 15 && e > 22 && e - 22 <= 15 - nsig) {
		*v = (double)(m * pow10_u64[e - 22]) * 1e22;
		return 0;
	}
#ifdef __SIZEOF_INT128__
	if (nsig <= 19 && e >= -19 && e <= 19) {
		*v = exact_m10e(m, (int)e);
		return 0;
	}
#endif
	return -1;
}

static double num_value(struct num *n)
{
	int64_t e = n->dexp + (n->eneg ? -n->exp : n->exp);
	double v;

	if (n->nsig == 0)
		return n->neg ? -0.0 : 0.0;
	if (fast_m10e(n->mant, n->nsig, e, &v) == 0)
		return n->neg ? -v : v;
	return num_value_slow(n, e);
}

/* strtod on the kept digits (no decimal point, so no locale issue). */
static __attribute__((noinline)) double num_value_slow(struct num *n, int64_t e)
{
	char buf[NUM_DIGITS + 32];
	double v;
	int k;

	if (n->nsig <= 19) {
		k = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)n->mant);
	} else {
		k = n->nsig < NUM_DIGITS ? n->nsig : NUM_DIGITS;
		memcpy(buf, n->digs, (size_t)k);
	}
	if (n->sticky) {
		buf[k++] = '1';
		e--;
	}
	snprintf(buf + k, sizeof(buf) - (size_t)k, "e%lld", (long long)e);
	v = strtod(buf, NULL);
	return n->neg ? -v : v;
}

/* Keep the first bytes of the token for messages. */
static void num_keep_text(struct num *n, const unsigned char *end)
{
	size_t have = n->tok_len, add = (size_t)(end - n->start);

	if (have < sizeof(n->text) - 1) {
		size_t take = sizeof(n->text) - 1 - have;

		if (take > add)
			take = add;
		memcpy(n->text + have, n->start, take);
		n->text[have + take] = '\0';
	}
	n->tok_len += add;
}

static void number_done(struct ingest_sample_parser *ps, const unsigned char *end)
{
	struct num *n = &ps->num;
	double v;

	if (ps->role == ROLE_ELEM) {
		v = num_value(n);
		if (isinf(v)) {
			if (end != NULL)
				num_keep_text(n, end);
			add_error(ps, "data[%llu]: number %s%s out of range for a double",
				  (unsigned long long)ps->elem, n->text,
				  n->tok_len >= sizeof(n->text) ? "..." : "");
		} else {
			ingest_stats_add(&ps->stats, v);
		}
	}
	value_done(ps);
}

static int is_digit(unsigned char c)
{
	return (unsigned)(c - '0') < 10;
}

/* A digit past the 19th significant one: the first NUM_DIGITS are kept as
 * text (the 19 in mant spelled out when the 20th comes), the rest only as
 * a sticky flag and, before the point, a power of ten. */
static void digit_slow(struct num *n, unsigned char c, int frac)
{
	uint64_t m = n->mant;
	int i;

	if (n->nsig == 19) {
		for (i = 18; i >= 0; i--) {
			n->digs[i] = (char)('0' + m % 10);
			m /= 10;
		}
	}
	if (n->nsig < NUM_DIGITS) {
		n->digs[n->nsig++] = (char)c;
		if (frac)
			n->dexp--;
	} else {
		n->sticky |= c != '0';
		if (!frac && n->dexp < NUM_DEXP_CAP)
			n->dexp++;
	}
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SWAR_DIGITS 1
/* Are the 8 bytes of v (little-endian) all ASCII digits? */
static int eight_digits(uint64_t v)
{
	return ((v & 0xf0f0f0f0f0f0f0f0ull) |
		(((v + 0x0606060606060606ull) & 0xf0f0f0f0f0f0f0f0ull) >> 4)) ==
	       0x3333333333333333ull;
}

/* Their value, first byte most significant: pairs, then quads, then all. */
static uint64_t eight_value(uint64_t v)
{
	v -= 0x3030303030303030ull;
	v = v * 10 + (v >> 8);
	v = ((v & 0x000000ff000000ffull) * (100 + (1000000ull << 32)) +
	     ((v >> 16) & 0x000000ff000000ffull) * (1 + (10000ull << 32))) >> 32;
	return v;
}
#else
#define SWAR_DIGITS 0
#endif

/* A run of digits before (frac = 0) or after (frac = 1) the point. */
static inline const unsigned char *scan_digits(struct num *n, const unsigned char *p,
					       const unsigned char *end, int frac)
{
	uint64_t mant = n->mant;
	int64_t dexp = n->dexp;
	int nsig = n->nsig;
	unsigned d;
	int swar = SWAR_DIGITS;

	for (;;) {
#if SWAR_DIGITS
		/* Eight digits at a time while they fit in the 19 of mant.  Once
		 * a block is not all digits the run ends inside it: stop trying. */
		while (swar && nsig > 0 && nsig <= 11 && end - p >= 8) {
			uint64_t v;

			memcpy(&v, p, 8);
			if (!eight_digits(v)) {
				swar = 0;
				break;
			}
			mant = mant * 100000000 + eight_value(v);
			nsig += 8;
			if (frac)
				dexp -= 8;
			p += 8;
		}
#endif
		if (p == end || (d = (unsigned)(*p - '0')) >= 10)
			break;
		if (nsig < 19) {
			if (nsig == 0 && d == 0) {
				/* A leading zero after the point. */
				if (dexp > -NUM_DEXP_CAP)
					dexp--;
			} else {
				mant = mant * 10 + d;
				nsig++;
				if (frac)
					dexp--;
			}
		} else {
			n->mant = mant;
			n->dexp = dexp;
			n->nsig = nsig;
			digit_slow(n, *p, frac);
			dexp = n->dexp;
			nsig = n->nsig;
		}
		p++;
	}
	n->mant = mant;
	n->dexp = dexp;
	n->nsig = nsig;
	return p;
}

static const unsigned char *scan_number(struct ingest_sample_parser *ps, const unsigned char *p,
					const unsigned char *end)
{
	struct num *n = &ps->num;

	switch (n->sub) {
	case N_SIGN:
		if (p == end)
			goto more;
		if (*p == '0') {
			n->sub = N_ZERO;
			p++;
			goto zero;
		}
		if (!is_digit(*p))
			return syntax_error(ps, p, "expected a digit after '-'");
		n->sub = N_INT;
		goto intpart;
	case N_ZERO:
	zero:
		if (p == end)
			goto more;
		if (is_digit(*p))
			return syntax_error(ps, p, "leading zero in a number");
		goto after_int;
	case N_INT:
	intpart:
		p = scan_digits(n, p, end, 0);
		if (p == end)
			goto more;
	after_int:
		if (*p == '.') {
			n->sub = N_DOT;
			p++;
			goto dot;
		}
		if (*p == 'e' || *p == 'E') {
			n->sub = N_E;
			p++;
			goto exp_start;
		}
		goto done;
	case N_DOT:
	dot:
		if (p == end)
			goto more;
		if (!is_digit(*p))
			return syntax_error(ps, p, "expected a digit after '.'");
		n->sub = N_FRAC;
		/* fall through */
	case N_FRAC:
		p = scan_digits(n, p, end, 1);
		if (p == end)
			goto more;
		if (*p == 'e' || *p == 'E') {
			n->sub = N_E;
			p++;
			goto exp_start;
		}
		goto done;
	case N_E:
	exp_start:
		if (p == end)
			goto more;
		if (*p == '+' || *p == '-') {
			n->eneg = *p == '-';
			n->sub = N_ESIGN;
			p++;
		}
		/* fall through */
	case N_ESIGN:
		if (p == end)
			goto more;
		if (!is_digit(*p))
			return syntax_error(ps, p, "expected a digit in the exponent");
		n->sub = N_EXP;
		/* fall through */
	case N_EXP:
		while (p < end && is_digit(*p)) {
			if (n->exp < NUM_EXP_CAP)
				n->exp = n->exp * 10 + (*p - '0');
			p++;
		}
		if (p == end)
			goto more;
		goto done;
	}
done:
	number_done(ps, p);
	return p;
more:
	/* The token goes on in the next chunk (feed keeps its text). */
	return p;
}

static const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end)
{
	while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	return p;
}

/* ---- the fast lane: "data" numbers in the middle of a chunk ---- */

/*
 * Most of a sample is "n, n, n, ...".  While at least FAST_WINDOW bytes are
 * left in the chunk, a number token of at most FAST_TOKEN bytes is parsed
 * here with everything in registers and no bounds check per byte.  Anything
 * unusual (more than 19 significant digits, a leading zero, a long or odd
 * exponent, a syntax error, a value that needs strtod) makes it give up
 * before consuming anything, and the state machine reads that token: the
 * two agree on every token the fast lane accepts (same digits, same
 * conversion), and the state machine still checks what follows it.
 */
#define FAST_TOKEN 48
#define FAST_WINDOW 64

/* Digits at *q into mant/nsig (and e, after the point); -1 past 19 digits
 * or past lim. */
static inline int fast_digits(const unsigned char **qq, const unsigned char *lim, uint64_t *mant,
			      int *nsig, int64_t *e, int frac)
{
	const unsigned char *q = *qq;
	unsigned d;

#if SWAR_DIGITS
	if (*nsig > 0 && *nsig <= 11) {
		uint64_t v;

		memcpy(&v, q, 8);
		if (eight_digits(v)) {
			*mant = *mant * 100000000 + eight_value(v);
			*nsig += 8;
			if (frac)
				*e -= 8;
			q += 8;
		}
	}
#endif
	while ((d = (unsigned)(*q - '0')) < 10) {
		if (*nsig >= 19 || q >= lim)
			return -1;
		*mant = *mant * 10 + d;
		++*nsig;
		if (frac)
			--*e;
		q++;
	}
	*qq = q;
	return 0;
}

/* A whole number token at p (with at least FAST_WINDOW bytes readable);
 * 0 with its value and end, or -1. */
static inline int fast_number(const unsigned char *p, const unsigned char **next, double *out)
{
	const unsigned char *q = p, *lim = p + FAST_TOKEN;
	uint64_t mant = 0;
	int64_t e = 0;
	int nsig = 0, neg = 0;
	double v;

	if (*q == '-') {
		neg = 1;
		q++;
	}
	if (*q == '0') {
		q++;
		if ((unsigned)(*q - '0') < 10)
			return -1;
	} else if ((unsigned)(*q - '1') < 9) {
		if (fast_digits(&q, lim, &mant, &nsig, &e, 0) < 0)
			return -1;
	} else {
		return -1;
	}
	if (*q == '.') {
		q++;
		if ((unsigned)(*q - '0') >= 10)
			return -1;
		if (nsig == 0) {
			while (*q == '0') {
				if (q >= lim)
					return -1;
				e--;
				q++;
			}
		}
		if (fast_digits(&q, lim, &mant, &nsig, &e, 1) < 0)
			return -1;
	}
	if (*q == 'e' || *q == 'E') {
		int eneg = 0, x = 0;

		q++;
		if (*q == '+' || *q == '-')
			eneg = *q++ == '-';
		if ((unsigned)(*q - '0') >= 10)
			return -1;
		while ((unsigned)(*q - '0') < 10) {
			if (x > 10000 || q >= lim)
				return -1;
			x = x * 10 + (*q++ - '0');
		}
		e += eneg ? -x : x;
	}
	if (nsig == 0)
		v = 0.0;
	else if (fast_m10e(mant, nsig, e, &v) < 0)
		return -1;
	*out = neg ? -v : v;
	*next = q;
	return 0;
}

/* In the "data" array, in state ST_AFTER or ST_VALUE (role ROLE_ELEM):
 * fold numbers while the fast lane can; returns where to go on from, with
 * ps->state telling in which state. */
static const unsigned char *data_fast(struct ingest_sample_parser *ps, const unsigned char *p,
				      const unsigned char *end)
{
	enum state state = ps->state;
	const unsigned char *q;
	double v;

	for (;;) {
		if (state == ST_AFTER) {
			p = skip_ws(p, end);
			if (end - p < FAST_WINDOW || *p != ',')
				break;
			state = ST_VALUE;
			p = skip_ws(p + 1, end);
		}
		if (end - p < FAST_WINDOW || fast_number(p, &q, &v) < 0)
			break;
		ps->n_elems++;
		ingest_stats_add(&ps->stats, v);
		p = q;
		state = ST_AFTER;
	}
	ps->state = state;
	if (state == ST_VALUE)
		ps->role = ROLE_ELEM;
	return p;
}

/* ---- the machine ---- */

struct ingest_sample_parser *ingest_sample_parser_create(const struct ingest_sample_opts *opts)
{
	struct ingest_sample_parser *ps = malloc(sizeof(*ps));

	if (ps == NULL)
		return NULL;
	memset(ps, 0, offsetof(struct ingest_sample_parser, keys));
	ps->zone = opts != NULL ? opts->zone : NULL;
	ps->max_depth = opts != NULL && opts->max_depth != 0 ? opts->max_depth
							      : INGEST_SAMPLE_DEPTH_DEFAULT;
	if (ps->max_depth > INGEST_SAMPLE_DEPTH_MAX)
		ps->max_depth = INGEST_SAMPLE_DEPTH_MAX;
	ps->state = ST_VALUE;
	ps->role = ROLE_ROOT;
	ingest_stats_init(&ps->stats);
	return ps;
}

void ingest_sample_parser_destroy(struct ingest_sample_parser *ps)
{
	free(ps);
}

int ingest_sample_parser_feed(struct ingest_sample_parser *ps, const char *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)buf, *end = p + len;

	if (ps->state == ST_FAILED || ps->finished)
		return -EBADMSG;
	if (len == 0)
		return 0;
	ps->chunk = p;
	if (ps->state == ST_NUMBER)
		ps->num.start = p;
	while (p != NULL && p < end) {
		switch (ps->state) {
		case ST_VALUE:
		case ST_ARR_FIRST:
			p = skip_ws(p, end);
			if (ps->role == ROLE_ELEM && end - p >= FAST_WINDOW && *p != ']') {
				ps->state = ST_VALUE;
				p = data_fast(ps, p, end);
				if (ps->state != ST_VALUE)
					break;
			}
			if (p == end)
				break;
			if (ps->state == ST_ARR_FIRST && *p == ']') {
				close_container(ps);
				p++;
				break;
			}
			p = start_value(ps, p);
			break;
		case ST_OBJ_FIRST:
		case ST_OBJ_KEY:
			p = skip_ws(p, end);
			if (p == end)
				break;
			if (ps->state == ST_OBJ_FIRST && *p == '}') {
				close_container(ps);
				p++;
				break;
			}
			if (*p != '"') {
				p = syntax_error(ps, p, ps->state == ST_OBJ_FIRST
					? "expected a string key or '}'" : "expected a string key");
				break;
			}
			start_string(ps, ps->depth == 1 && ps->root_is_obj ? ROLE_KEY_TOP : ROLE_KEY);
			p++;
			break;
		case ST_COLON:
			p = skip_ws(p, end);
			if (p == end)
				break;
			if (*p != ':') {
				p = syntax_error(ps, p, "expected ':' after an object key");
				break;
			}
			ps->state = ST_VALUE;
			ps->role = ps->depth == 1 && ps->root_is_obj ? ps->next_role : ROLE_OTHER;
			p++;
			break;
		case ST_AFTER:
			if (ps->data_open && ps->depth == ps->data_depth) {
				p = data_fast(ps, p, end);
				if (ps->state != ST_AFTER)
					break;
			}
			p = skip_ws(p, end);
			if (p == end)
				break;
			if (*p == ',') {
				if (ps->is_obj[ps->depth]) {
					ps->state = ST_OBJ_KEY;
				} else {
					ps->state = ST_VALUE;
					ps->role = member_role(ps);
				}
				p++;
			} else if (*p == (ps->is_obj[ps->depth] ? '}' : ']')) {
				close_container(ps);
				p++;
			} else {
				p = syntax_error(ps, p, ps->is_obj[ps->depth]
					? "expected ',' or '}'" : "expected ',' or ']'");
			}
			break;
		case ST_END:
			p = skip_ws(p, end);
			if (p != end)
				p = syntax_error(ps, p, "unexpected data after the JSON document");
			break;
		case ST_STRING:
			p = scan_string(ps, p, end);
			break;
		case ST_NUMBER:
			p = scan_number(ps, p, end);
			break;
		case ST_LITERAL:
			while (p < end && ps->lit_pos < ps->lit_len &&
			       *p == (unsigned char)ps->lit[ps->lit_pos]) {
				ps->lit_pos++;
				p++;
			}
			if (ps->lit_pos == ps->lit_len)
				value_done(ps);
			else if (p < end)
				p = syntax_error(ps, p, "invalid literal (expected true, false or null)");
			break;
		case ST_FAILED:
			p = NULL;
			break;
		}
	}
	/* A "data" number going on in the next chunk: keep its start for a
	 * message about it. */
	if (ps->state == ST_NUMBER && ps->role == ROLE_ELEM)
		num_keep_text(&ps->num, end);
	ps->offset += len;
	return ps->state == ST_FAILED ? -EBADMSG : 0;
}

int ingest_sample_parser_finish(struct ingest_sample_parser *ps, struct ingest_sample_result *out)
{
	unsigned i;

	if (ps->finished)
		return -EINVAL;
	ps->finished = 1;
	if (ps->state == ST_NUMBER &&
	    (ps->num.sub == N_ZERO || ps->num.sub == N_INT || ps->num.sub == N_FRAC ||
	     ps->num.sub == N_EXP)) {
		ps->chunk = NULL;
		number_done(ps, NULL);
	}
	if (ps->state != ST_FAILED && ps->state != ST_END) {
		if (ps->offset == 0 && ps->state == ST_VALUE)
			add_error(ps, "body: empty");
		else
			add_error(ps, "body: invalid JSON at byte %llu: unexpected end of input",
				  (unsigned long long)ps->offset);
	} else if (ps->state == ST_END && ps->root_is_obj) {
		if (!ps->ts_seen)
			add_error(ps, "time_stamp: missing");
		if (!ps->data_seen)
			add_error(ps, "data: missing");
	}
	memset(out, 0, sizeof(*out));
	if (ps->n_dropped > 0)
		snprintf(ps->errors[ps->n_errors++], INGEST_SAMPLE_ERROR_MAX,
			 "... and %llu more problems", (unsigned long long)ps->n_dropped);
	out->n_errors = ps->n_errors;
	for (i = 0; i < ps->n_errors; i++)
		memcpy(out->errors[i], ps->errors[i], INGEST_SAMPLE_ERROR_MAX);
	if (ps->n_errors > 0)
		return -EBADMSG;
	memcpy(out->time_stamp_utc, ps->ts.utc, sizeof(out->time_stamp_utc));
	out->epoch_sec = ps->ts.sec;
	out->epoch_nsec = ps->ts.nsec;
	out->count = ingest_stats_count(&ps->stats);
	out->mean = ingest_stats_mean(&ps->stats);
	out->std = ingest_stats_std(&ps->stats);
	return 0;
}

int ingest_sample_parse(const char *buf, size_t len, const struct ingest_sample_opts *opts,
			struct ingest_sample_result *out)
{
	struct ingest_sample_parser *ps = NULL;
	int rc;

	if (out == NULL || (buf == NULL && len > 0))
		return -EINVAL;
	ps = ingest_sample_parser_create(opts);
	if (ps == NULL) {
		memset(out, 0, sizeof(*out));
		snprintf(out->errors[0], INGEST_SAMPLE_ERROR_MAX, "body: out of memory");
		out->n_errors = 1;
		rc = -ENOMEM;
		goto out;
	}
	ingest_sample_parser_feed(ps, buf, len);
	rc = ingest_sample_parser_finish(ps, out);
out:
	ingest_sample_parser_destroy(ps);
	return rc;
}
