/*
 * plugins/ingest/ts.c - time stamps normalised to UTC, zone rules read from
 * TZif files (RFC 8536) without touching the process's TZ state.
 */
#include "ts.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Largest TZif file read (real ones are under 4 KiB). */
#define TS_TZIF_MAX (1024 * 1024)
/* Largest transition count accepted. */
#define TS_TRANS_MAX 100000
/* Limits of struct ingest_ts_zone's tables. */
#define TS_TYPES_MAX 256
#define TS_FOOTER_MAX 256

struct ts_type {
	int32_t utoff;
	uint8_t isdst;
};

/* One date rule of a POSIX TZ string: Jn, n or Mm.w.d, and a local time. */
struct ts_rule {
	char kind;      /* 'J', 'N' or 'M' */
	int a, b, c;    /* J: a=n (1..365); N: a=n (0..365); M: a=m, b=w, c=d */
	int32_t time;   /* seconds after local midnight, may be < 0 or > 86400 */
};

struct ingest_ts_zone {
	char name[INGEST_TS_ZONE_NAME_MAX + 1];
	size_t ntrans;
	int64_t *trans;          /* ascending UTC instants */
	uint8_t *trans_type;     /* index into types for each transition */
	size_t ntypes;
	struct ts_type types[TS_TYPES_MAX];
	int has_footer;          /* footer rule present and used */
	int has_dst;             /* footer has a daylight-saving part */
	int32_t std_off, dst_off;
	struct ts_rule start, end;
	size_t noffs;            /* distinct offsets the zone can have */
	int32_t offs[TS_TYPES_MAX + 2];
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- calendar arithmetic (proleptic Gregorian, days since 1970-01-01) ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

static int64_t floor_mod(int64_t a, int64_t b)
{
	return a - floor_div(a, b) * b;
}

static int is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_len(int64_t y, int m)
{
	static const int len[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && is_leap(y) ? 29 : len[m - 1];
}

static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = floor_div(z, 146097);
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* ---- POSIX TZ footer ---- */

static int parse_tz_name(const char **pp, const char *end)
{
	const char *p = *pp;
	const char *start;

	if (p < end && *p == '<') {
		start = ++p;
		while (p < end && *p != '>') {
			if (!(*p == '+' || *p == '-' || (*p >= '0' && *p <= '9') ||
			      (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')))
				return -1;
			p++;
		}
		if (p >= end || p - start < 3)
			return -1;
		*pp = p + 1;
		return 0;
	}
	start = p;
	while (p < end && ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')))
		p++;
	if (p - start < 3)
		return -1;
	*pp = p;
	return 0;
}

static int parse_uint(const char **pp, const char *end, int maxdigits, int *out)
{
	const char *p = *pp;
	int v = 0, n = 0;

	while (p < end && *p >= '0' && *p <= '9' && n < maxdigits) {
		v = v * 10 + (*p - '0');
		p++;
		n++;
	}
	if (n == 0)
		return -1;
	*out = v;
	*pp = p;
	return 0;
}

/* [+-]h[hh][:mm[:ss]] with hours <= max_hours; value in seconds. */
static int parse_hms(const char **pp, const char *end, int max_hours, int32_t *out)
{
	const char *p = *pp;
	int neg = 0, h, mi = 0, s = 0;

	if (p < end && (*p == '+' || *p == '-'))
		neg = *p++ == '-';
	if (parse_uint(&p, end, 3, &h) < 0 || h > max_hours)
		return -1;
	if (p < end && *p == ':') {
		p++;
		if (parse_uint(&p, end, 2, &mi) < 0 || mi > 59)
			return -1;
		if (p < end && *p == ':') {
			p++;
			if (parse_uint(&p, end, 2, &s) < 0 || s > 59)
				return -1;
		}
	}
	*out = (int32_t)((h * 3600 + mi * 60 + s) * (neg ? -1 : 1));
	*pp = p;
	return 0;
}

static int parse_rule(const char **pp, const char *end, struct ts_rule *r)
{
	const char *p = *pp;

	if (p < end && *p == 'J') {
		p++;
		r->kind = 'J';
		if (parse_uint(&p, end, 3, &r->a) < 0 || r->a < 1 || r->a > 365)
			return -1;
	} else if (p < end && *p == 'M') {
		p++;
		r->kind = 'M';
		if (parse_uint(&p, end, 2, &r->a) < 0 || r->a < 1 || r->a > 12)
			return -1;
		if (p >= end || *p++ != '.')
			return -1;
		if (parse_uint(&p, end, 1, &r->b) < 0 || r->b < 1 || r->b > 5)
			return -1;
		if (p >= end || *p++ != '.')
			return -1;
		if (parse_uint(&p, end, 1, &r->c) < 0 || r->c > 6)
			return -1;
	} else {
		r->kind = 'N';
		if (parse_uint(&p, end, 3, &r->a) < 0 || r->a > 365)
			return -1;
	}
	r->time = 7200;
	if (p < end && *p == '/') {
		p++;
		if (parse_hms(&p, end, 167, &r->time) < 0)
			return -1;
	}
	*pp = p;
	return 0;
}

/* Parse the footer "std offset [dst [offset] [,start[/time],end[/time]]]". */
static int parse_footer(struct ingest_ts_zone *z, const char *s, size_t len)
{
	const char *p = s, *end = s + len;
	int32_t off;

	if (parse_tz_name(&p, end) < 0 || parse_hms(&p, end, 24, &off) < 0)
		return -1;
	z->std_off = -off;
	z->has_footer = 1;
	if (p == end)
		return 0;
	if (parse_tz_name(&p, end) < 0)
		return -1;
	z->has_dst = 1;
	z->dst_off = z->std_off + 3600;
	if (p < end && *p != ',') {
		if (parse_hms(&p, end, 24, &off) < 0)
			return -1;
		z->dst_off = -off;
	}
	if (p == end) {
		/* POSIX leaves the default rule to the implementation: US rules. */
		z->start = (struct ts_rule){ 'M', 3, 2, 0, 7200 };
		z->end = (struct ts_rule){ 'M', 11, 1, 0, 7200 };
		return 0;
	}
	if (*p++ != ',' || parse_rule(&p, end, &z->start) < 0)
		return -1;
	if (p >= end || *p++ != ',' || parse_rule(&p, end, &z->end) < 0)
		return -1;
	return p == end ? 0 : -1;
}

static int64_t rule_day(const struct ts_rule *r, int64_t y)
{
	int64_t first, d;
	int wd, mlen;

	switch (r->kind) {
	case 'J':
		return days_from_civil(y, 1, 1) + r->a - 1 + (is_leap(y) && r->a >= 60);
	case 'N':
		return days_from_civil(y, 1, 1) + r->a;
	default:
		first = days_from_civil(y, r->a, 1);
		wd = (int)floor_mod(first + 4, 7); /* 1970-01-01 was a Thursday */
		d = first + (r->c - wd + 7) % 7 + (int64_t)(r->b - 1) * 7;
		mlen = month_len(y, r->a);
		while (d >= first + mlen)
			d -= 7;
		return d;
	}
}

static int32_t footer_offset(const struct ingest_ts_zone *z, int64_t t)
{
	int64_t y, yy, s, e, best_t = INT64_MIN;
	int32_t best = z->std_off;
	int m, d;

	if (!z->has_dst)
		return z->std_off;
	civil_from_days(floor_div(t, 86400), &y, &m, &d);
	/* The latest rule change at or before t, over enough years that one
	 * exists whichever hemisphere and however odd the rule times. */
	for (yy = y - 2; yy <= y + 1; yy++) {
		s = rule_day(&z->start, yy) * 86400 + z->start.time - z->std_off;
		e = rule_day(&z->end, yy) * 86400 + z->end.time - z->dst_off;
		if (e <= t && e > best_t) {
			best_t = e;
			best = z->std_off;
		}
		/* On a tie (a permanent-DST rule such as "J0/0,J365/25") DST wins. */
		if (s <= t && s >= best_t) {
			best_t = s;
			best = z->dst_off;
		}
	}
	return best;
}

int32_t ingest_ts_zone_offset(const struct ingest_ts_zone *z, int64_t t)
{
	size_t lo, hi, mid;

	if (z->ntrans == 0)
		return z->has_footer ? footer_offset(z, t) : z->types[0].utoff;
	if (t < z->trans[0])
		return z->types[0].utoff;
	if (t > z->trans[z->ntrans - 1] && z->has_footer)
		return footer_offset(z, t);
	/* Largest i with trans[i] <= t. */
	lo = 0;
	hi = z->ntrans;
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (z->trans[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	return z->types[z->trans_type[lo]].utoff;
}

/* ---- TZif ---- */

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const unsigned char *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

struct tzif_counts {
	uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static int tzif_header(const unsigned char *p, size_t len, struct tzif_counts *c, int *version)
{
	if (len < 44 || memcmp(p, "TZif", 4) != 0)
		return -1;
	*version = p[4] == 0 ? 1 : p[4] - '0';
	c->isutcnt = be32(p + 20);
	c->isstdcnt = be32(p + 24);
	c->leapcnt = be32(p + 28);
	c->timecnt = be32(p + 32);
	c->typecnt = be32(p + 36);
	c->charcnt = be32(p + 40);
	if (*version < 1 || *version > 9 || c->timecnt > TS_TRANS_MAX ||
	    c->typecnt == 0 || c->typecnt > TS_TYPES_MAX || c->charcnt > 65536 ||
	    c->leapcnt > 65536 || (c->isutcnt != 0 && c->isutcnt != c->typecnt) ||
	    (c->isstdcnt != 0 && c->isstdcnt != c->typecnt))
		return -1;
	return 0;
}

static size_t tzif_block_size(const struct tzif_counts *c, size_t tsize)
{
	return (size_t)c->timecnt * tsize + c->timecnt + (size_t)c->typecnt * 6 +
	       c->charcnt + (size_t)c->leapcnt * (tsize + 4) + c->isstdcnt + c->isutcnt;
}

static void add_off(struct ingest_ts_zone *z, int32_t off)
{
	size_t i;

	for (i = 0; i < z->noffs; i++)
		if (z->offs[i] == off)
			return;
	z->offs[z->noffs++] = off;
}

int ingest_ts_zone_from_tzif(const unsigned char *data, size_t len, const char *name,
			     struct ingest_ts_zone **out, char *err, size_t errlen)
{
	struct ingest_ts_zone *z = NULL;
	struct tzif_counts c;
	const unsigned char *p = data, *end = data + len, *nl;
	size_t tsize = 4, bsize, i;
	int version, rc = -EINVAL;

	if (out == NULL || data == NULL || name == NULL) {
		set_err(err, errlen, "invalid arguments");
		goto out;
	}
	*out = NULL;
	if (tzif_header(p, len, &c, &version) < 0)
		goto bad;
	bsize = tzif_block_size(&c, 4);
	if (version >= 2) {
		/* Skip the 32-bit block; use the 64-bit one that follows. */
		if ((size_t)(end - p) < 44 + bsize)
			goto bad;
		p += 44 + bsize;
		if (tzif_header(p, (size_t)(end - p), &c, &version) < 0)
			goto bad;
		tsize = 8;
		bsize = tzif_block_size(&c, 8);
	}
	if ((size_t)(end - p) < 44 + bsize)
		goto bad;
	if (c.leapcnt != 0) {
		set_err(err, errlen, "zone '%s' has leap-second records: not supported", name);
		goto out;
	}
	z = calloc(1, sizeof(*z) + (size_t)c.timecnt * (sizeof(int64_t) + 1));
	if (z == NULL) {
		rc = -ENOMEM;
		set_err(err, errlen, "cannot load zone '%s': out of memory", name);
		goto out;
	}
	snprintf(z->name, sizeof(z->name), "%s", name);
	z->ntrans = c.timecnt;
	z->trans = (int64_t *)(z + 1);
	z->trans_type = (uint8_t *)(z->trans + c.timecnt);
	p += 44;
	for (i = 0; i < c.timecnt; i++, p += tsize) {
		z->trans[i] = tsize == 8 ? (int64_t)be64(p) : (int64_t)(int32_t)be32(p);
		if (i > 0 && z->trans[i] <= z->trans[i - 1])
			goto bad;
	}
	for (i = 0; i < c.timecnt; i++, p++) {
		if (*p >= c.typecnt)
			goto bad;
		z->trans_type[i] = *p;
	}
	z->ntypes = c.typecnt;
	for (i = 0; i < c.typecnt; i++, p += 6) {
		int32_t off = (int32_t)be32(p);

		if (off < -89999 || off > 93599 || p[4] > 1)
			goto bad;
		z->types[i].utoff = off;
		z->types[i].isdst = p[4];
		add_off(z, off);
	}
	p += c.charcnt + c.isstdcnt + c.isutcnt;
	if (version >= 2) {
		/* Footer: "\n" TZ-string "\n". */
		if (p >= end || *p != '\n')
			goto bad;
		p++;
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL || nl - p > TS_FOOTER_MAX)
			goto bad;
		if (nl > p) {
			if (parse_footer(z, (const char *)p, (size_t)(nl - p)) < 0) {
				set_err(err, errlen, "zone '%s': cannot read its rule '%.*s'",
					name, (int)(nl - p), (const char *)p);
				goto out;
			}
			add_off(z, z->std_off);
			if (z->has_dst)
				add_off(z, z->dst_off);
		}
	}
	*out = z;
	z = NULL;
	rc = 0;
	goto out;
bad:
	set_err(err, errlen, "zone '%s': not a valid TZif file", name);
out:
	free(z);
	return rc;
}

static int valid_zone_name(const char *name)
{
	size_t n = strlen(name), i, comp = 0;

	if (n == 0 || n > INGEST_TS_ZONE_NAME_MAX || name[0] == '/')
		return 0;
	for (i = 0; i <= n; i++) {
		char ch = name[i];

		if (ch == '/' || ch == '\0') {
			if (comp == 0 || (comp == 1 && name[i - 1] == '.') ||
			    (comp == 2 && name[i - 1] == '.' && name[i - 2] == '.'))
				return 0;
			comp = 0;
			continue;
		}
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '+' || ch == '-' || ch == '.'))
			return 0;
		comp++;
	}
	return 1;
}

int ingest_ts_zone_load(const char *dir, const char *name, struct ingest_ts_zone **out,
			char *err, size_t errlen)
{
	char path[4096];
	unsigned char *buf = NULL;
	struct stat st;
	size_t got = 0;
	ssize_t r;
	int fd = -1, rc = -EINVAL;

	if (out == NULL || name == NULL) {
		set_err(err, errlen, "invalid arguments");
		goto out;
	}
	*out = NULL;
	if (!valid_zone_name(name)) {
		set_err(err, errlen, "invalid zone name '%.64s'", name);
		goto out;
	}
	if (dir == NULL)
		dir = INGEST_TS_ZONEINFO_DIR;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path)) {
		set_err(err, errlen, "zone '%s': path too long", name);
		goto out;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = -errno;
		set_err(err, errlen, "cannot open zone '%s' at '%s': %s%s", name, path,
			strerror(errno), errno == ENOENT ? " (is the tzdata package installed?)" : "");
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > TS_TZIF_MAX) {
		set_err(err, errlen, "zone '%s': '%s' is not a TZif file", name, path);
		goto out;
	}
	buf = malloc((size_t)st.st_size);
	if (buf == NULL) {
		rc = -ENOMEM;
		set_err(err, errlen, "cannot load zone '%s': out of memory", name);
		goto out;
	}
	while (got < (size_t)st.st_size) {
		r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = r < 0 ? -errno : -EIO;
			set_err(err, errlen, "cannot read zone '%s' at '%s': %s", name, path,
				r < 0 ? strerror(errno) : "file shrank");
			goto out;
		}
		got += (size_t)r;
	}
	rc = ingest_ts_zone_from_tzif(buf, got, name, out, err, errlen);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

void ingest_ts_zone_destroy(struct ingest_ts_zone *zone)
{
	free(zone);
}

const char *ingest_ts_zone_name(const struct ingest_ts_zone *zone)
{
	return zone->name;
}

static pthread_once_t default_once = PTHREAD_ONCE_INIT;
static struct ingest_ts_zone *default_zone;

static void load_default(void)
{
	if (ingest_ts_zone_load(NULL, INGEST_TS_DEFAULT_ZONE, &default_zone, NULL, 0) < 0)
		default_zone = NULL;
}

const struct ingest_ts_zone *ingest_ts_zone_default(void)
{
	pthread_once(&default_once, load_default);
	return default_zone;
}

/* ---- time stamps ---- */

static void put2(char *p, int v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
}

int ingest_ts_format(int64_t sec, int32_t nsec, int frac_digits, char *buf, size_t buflen)
{
	int64_t days = floor_div(sec, 86400), y;
	int32_t sod = (int32_t)floor_mod(sec, 86400), ns = nsec;
	int m, d, i, n;

	civil_from_days(days, &y, &m, &d);
	if (y < 1 || y > 9999 || frac_digits < 0 || frac_digits > 9 || nsec < 0 ||
	    nsec > 999999999 || buflen < (size_t)(21 + (frac_digits ? frac_digits + 1 : 0)))
		return -ERANGE;
	put2(buf, (int)(y / 100));
	put2(buf + 2, (int)(y % 100));
	buf[4] = '-';
	put2(buf + 5, m);
	buf[7] = '-';
	put2(buf + 8, d);
	buf[10] = 'T';
	put2(buf + 11, sod / 3600);
	buf[13] = ':';
	put2(buf + 14, sod / 60 % 60);
	buf[16] = ':';
	put2(buf + 17, sod % 60);
	n = 19;
	if (frac_digits > 0) {
		buf[n++] = '.';
		for (i = 0; i < 9 - frac_digits; i++)
			ns /= 10;
		for (i = frac_digits - 1; i >= 0; i--) {
			buf[n + i] = (char)('0' + ns % 10);
			ns /= 10;
		}
		n += frac_digits;
	}
	buf[n++] = 'Z';
	buf[n] = '\0';
	return n;
}

/* Read exactly n digits at s[*i]; -1 if not all digits. */
static int digits(const char *s, size_t len, size_t *i, int n)
{
	int v = 0;

	if (len - *i < (size_t)n)
		return -1;
	for (int k = 0; k < n; k++) {
		char ch = s[*i + (size_t)k];

		if (ch < '0' || ch > '9')
			return -1;
		v = v * 10 + (ch - '0');
	}
	*i += (size_t)n;
	return v;
}

/* s quoted for a message: at most 40 bytes, unprintable bytes as '?'. */
static void quote_input(const char *s, size_t len, char *out, size_t outlen)
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

/* The UTC instant of the local wall time 'local' (seconds, as if UTC) in
 * zone z: the earliest if it happens twice, -1 if it never happens. */
static int local_to_utc(const struct ingest_ts_zone *z, int64_t local, int64_t *utc)
{
	int found = 0;
	size_t i;

	for (i = 0; i < z->noffs; i++) {
		int64_t t = local - z->offs[i];

		if (ingest_ts_zone_offset(z, t) == z->offs[i] && (!found || t < *utc)) {
			*utc = t;
			found = 1;
		}
	}
	return found ? 0 : -1;
}

int ingest_ts_parse(const char *s, size_t len, const struct ingest_ts_zone *zone,
		    struct ingest_ts *out, char *err, size_t errlen)
{
	char q[64];
	size_t i = 0, nd = 0;
	int year, mon, day, hour, min, sec, fd = 0, has_off = 0, off = 0;
	int32_t nsec = 0;
	int64_t local, utc = 0;

	quote_input(s, len, q, sizeof(q));
	while (nd < len && s[nd] >= '0' && s[nd] <= '9')
		nd++;
	if (nd > 4 && nd < len && s[nd] == '-') {
		set_err(err, errlen, "year '%.*s' out of range 0001..9999", (int)(nd > 12 ? 12 : nd), s);
		return -EINVAL;
	}
	if ((year = digits(s, len, &i, 4)) < 0 || i >= len || s[i++] != '-' ||
	    (mon = digits(s, len, &i, 2)) < 0 || i >= len || s[i++] != '-' ||
	    (day = digits(s, len, &i, 2)) < 0)
		goto syntax;
	if (i == len) {
		set_err(err, errlen, "a date alone is not a time stamp: '%s' needs a time such as T00:00:00 and an offset", q);
		return -EINVAL;
	}
	if (s[i] != 'T' && s[i] != 't' && s[i] != ' ')
		goto syntax;
	i++;
	if ((hour = digits(s, len, &i, 2)) < 0 || i >= len || s[i++] != ':' ||
	    (min = digits(s, len, &i, 2)) < 0 || i >= len || s[i++] != ':' ||
	    (sec = digits(s, len, &i, 2)) < 0)
		goto syntax;
	if (i < len && s[i] == '.') {
		i++;
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			if (++fd > 9) {
				set_err(err, errlen, "more than 9 fraction digits in '%s'", q);
				return -EINVAL;
			}
			nsec = nsec * 10 + (s[i++] - '0');
		}
		if (fd == 0)
			goto syntax;
		for (int k = fd; k < 9; k++)
			nsec *= 10;
	}
	if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
		has_off = 1;
		i++;
	} else if (i < len && (s[i] == '+' || s[i] == '-')) {
		int neg = s[i++] == '-', oh, om;

		if ((oh = digits(s, len, &i, 2)) < 0)
			goto syntax;
		if (i < len && s[i] == ':')
			i++;
		if ((om = digits(s, len, &i, 2)) < 0)
			goto syntax;
		if (oh > 23 || om > 59) {
			set_err(err, errlen, "offset %c%02d:%02d out of range (at most 23:59 either way)",
				neg ? '-' : '+', oh, om);
			return -EINVAL;
		}
		has_off = 1;
		off = (oh * 3600 + om * 60) * (neg ? -1 : 1);
	}
	if (i != len)
		goto syntax;
	if (year < 1) {
		set_err(err, errlen, "year %04d out of range 0001..9999", year);
		return -EINVAL;
	}
	if (mon < 1 || mon > 12) {
		set_err(err, errlen, "month %02d out of range 01..12", mon);
		return -EINVAL;
	}
	if (day < 1 || day > month_len(year, mon)) {
		set_err(err, errlen, "day %02d out of range for %04d-%02d", day, year, mon);
		return -EINVAL;
	}
	if (hour > 23) {
		set_err(err, errlen, "hour %02d out of range 00..23", hour);
		return -EINVAL;
	}
	if (min > 59) {
		set_err(err, errlen, "minute %02d out of range 00..59", min);
		return -EINVAL;
	}
	if (sec > 59) {
		set_err(err, errlen, "second %02d out of range 00..59%s", sec,
			sec == 60 ? " (leap seconds are not accepted)" : "");
		return -EINVAL;
	}
	local = days_from_civil(year, mon, day) * 86400 + hour * 3600 + min * 60 + sec;
	if (has_off) {
		utc = local - off;
	} else if (zone == NULL) {
		set_err(err, errlen, "'%s' has no offset and no time zone is configured to read it in", q);
		return -EINVAL;
	} else if (local_to_utc(zone, local, &utc) < 0) {
		set_err(err, errlen, "nonexistent local time %04d-%02d-%02dT%02d:%02d:%02d in %s "
			"(skipped by a clock change)", year, mon, day, hour, min, sec, zone->name);
		return -EINVAL;
	}
	if (ingest_ts_format(utc, nsec, fd, out->utc, sizeof(out->utc)) < 0) {
		set_err(err, errlen, "'%s' is outside years 0001..9999 in UTC", q);
		return -EINVAL;
	}
	out->sec = utc;
	out->nsec = nsec;
	out->frac_digits = fd;
	return 0;
syntax:
	set_err(err, errlen, "'%s' is not a date-time like 2019-05-01T06:00:00-04:00", q);
	return -EINVAL;
}
