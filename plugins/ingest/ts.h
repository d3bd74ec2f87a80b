/*
 * plugins/ingest/ts.h - time stamps of ingest samples, normalised to UTC.
 *
 * A sample's "time_stamp" is an ISO 8601 / RFC 3339 date-time:
 *
 *     YYYY-MM-DD(T|t| )HH:MM:SS[.f{1,9}][Z|z|+HH:MM|-HH:MM|+HHMM|-HHMM]
 *
 * With an offset (or Z) the instant is exact.  Without one, the wall-clock
 * time is read in a time zone (an IANA name such as "America/New_York"),
 * whose rules this module reads itself from the TZif file in
 * /usr/share/zoneinfo (Debian package tzdata): the 64-bit transition table,
 * and the POSIX TZ string of the file's footer for instants after the last
 * transition.  It never touches TZ, tzset() or mktime(), so it keeps no
 * global state and is safe to call from any number of threads.
 *
 * Choices, documented here because a user will meet them:
 *   - A wall-clock time that happens twice (the hour repeated when clocks go
 *     back) is the FIRST occurrence, i.e. the earlier instant, which carries
 *     the daylight-saving offset: 2019-11-03T01:30:00 in America/New_York is
 *     2019-11-03T05:30:00Z.
 *   - A wall-clock time that never happens (the hour skipped when clocks go
 *     forward) is an error: "nonexistent local time 2019-03-10T02:30:00 in
 *     America/New_York (skipped by a clock change)".
 *   - Leap seconds (SS = 60) are rejected, and so is hour 24: POSIX time has
 *     neither, and a sample's instant must be unambiguous.
 *   - Years are 0001..9999, in the input and in the UTC result.
 *   - Offsets are at most 23:59 either way; "-00:00" is read as Z.
 *   - Up to 9 fraction digits; the UTC text keeps exactly as many digits as
 *     were given ("06:00:00.250-04:00" -> "10:00:00.250Z").
 *   - A date alone, a time without seconds, a comma as decimal mark and
 *     anything after the offset are rejected.
 *
 * Zones are immutable once loaded and may be shared between threads.
 */
#ifndef INGEST_TS_H
#define INGEST_TS_H

#include <stddef.h>
#include <stdint.h>

/* Where zone files are read from when no directory is given. */
#define INGEST_TS_ZONEINFO_DIR "/usr/share/zoneinfo"
/* The zone naive time stamps are read in unless configured otherwise. */
#define INGEST_TS_DEFAULT_ZONE "America/New_York"
/* Longest zone name accepted (bytes, without the NUL). */
#define INGEST_TS_ZONE_NAME_MAX 255
/* Size of struct ingest_ts.utc: "YYYY-MM-DDTHH:MM:SS.fffffffffZ" + NUL. */
#define INGEST_TS_UTC_MAX 32

/* The rules of one time zone (opaque, immutable, thread-safe to share). */
struct ingest_ts_zone;

/* One instant, normalised. */
struct ingest_ts {
	int64_t sec;       /* seconds since 1970-01-01T00:00:00Z (may be < 0) */
	int32_t nsec;      /* 0..999999999, added to sec */
	int frac_digits;   /* fraction digits given and kept, 0..9 */
	char utc[INGEST_TS_UTC_MAX]; /* "YYYY-MM-DDTHH:MM:SS[.f]Z", NUL-ended */
};

/*
 * Load zone 'name' (e.g. "Europe/London") from directory 'dir', or from
 * INGEST_TS_ZONEINFO_DIR when dir is NULL.  The name must be a relative path
 * of letters, digits and "/_+-." with no "." or ".." component.
 * On success stores a new zone in *out (the caller owns it: free it with
 * ingest_ts_zone_destroy) and returns 0.  On failure returns a negative errno
 * value, leaves *out NULL and writes a message naming the zone into err
 * (errlen bytes, always NUL-ended when errlen > 0; err may be NULL).
 */
int ingest_ts_zone_load(const char *dir, const char *name,
			struct ingest_ts_zone **out, char *err, size_t errlen);

/*
 * Build a zone from the bytes of a TZif file (versions 1 to 4) already in
 * memory; 'name' is what messages call it.  The bytes are copied as needed
 * and may be freed after the call.  Same results as ingest_ts_zone_load.
 * Files with leap-second records ("right/" zones) are refused.
 */
int ingest_ts_zone_from_tzif(const unsigned char *data, size_t len,
			     const char *name, struct ingest_ts_zone **out,
			     char *err, size_t errlen);

/* Free a zone; NULL does nothing. */
void ingest_ts_zone_destroy(struct ingest_ts_zone *zone);

/*
 * The process-wide INGEST_TS_DEFAULT_ZONE, loaded on first use (once, safely
 * from any thread) and kept until the process ends.  Returns NULL if it
 * cannot be loaded (tzdata missing); never free it.
 */
const struct ingest_ts_zone *ingest_ts_zone_default(void);

/* The zone's name as given when it was loaded; valid as long as the zone. */
const char *ingest_ts_zone_name(const struct ingest_ts_zone *zone);

/*
 * The zone's offset east of UTC, in seconds, at instant 'utc' (seconds since
 * the epoch): from the transition table, before its first entry from the
 * file's first local time type, after its last from the footer rule.
 */
int32_t ingest_ts_zone_offset(const struct ingest_ts_zone *zone, int64_t utc);

/*
 * Parse the time stamp s[0..len) (need not be NUL-ended).  A time without an
 * offset is read in 'zone'; if zone is NULL such a time is an error.
 * Returns 0 and fills *out, or returns -EINVAL and writes a short lowercase
 * message (without the "time_stamp: " prefix) into err.
 */
int ingest_ts_parse(const char *s, size_t len, const struct ingest_ts_zone *zone,
		    struct ingest_ts *out, char *err, size_t errlen);

/*
 * Write "YYYY-MM-DDTHH:MM:SS[.f]Z" for sec/nsec with frac_digits fraction
 * digits (0..9, truncated from nsec) into buf.  Returns the length written, or
 * -ERANGE if the year falls outside 0001..9999 or buf is too small (needs
 * at most INGEST_TS_UTC_MAX bytes).
 */
int ingest_ts_format(int64_t sec, int32_t nsec, int frac_digits,
		     char *buf, size_t buflen);

#endif
