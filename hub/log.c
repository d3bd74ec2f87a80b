/* Structured logs in logfmt on stderr; see log.h. */
#include "hub/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define LOG_LINE_MAX 8192

static atomic_int threshold = LOG_INFO;
static const char *const names[] = { "debug", "info", "warn", "error" };

void log_set_level(enum log_level level)
{
	atomic_store(&threshold, (int)level);
}

enum log_level log_get_level(void)
{
	return (enum log_level)atomic_load(&threshold);
}

int log_level_parse(const char *s)
{
	for (int i = 0; s && i < 4; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

/* Append S to BUF (at *POS, capacity CAP), quoting when needed. */
static void put_value(char *buf, size_t cap, size_t *pos, const char *s)
{
	int quote = (*s == '\0');
	for (const char *p = s; *p && !quote; p++)
		if (*p == ' ' || *p == '"' || *p == '=' || (unsigned char)*p < 0x20 || *p == 0x7f)
			quote = 1;
	if (quote && *pos < cap - 1)
		buf[(*pos)++] = '"';
	for (const char *p = s; *p && *pos < cap - 8; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '"' || c == '\\') {
			buf[(*pos)++] = '\\';
			buf[(*pos)++] = (char)c;
		} else if (c == '\n') {
			memcpy(buf + *pos, "\\n", 2);
			*pos += 2;
		} else if (c < 0x20 || c == 0x7f) {
			*pos += (size_t)snprintf(buf + *pos, cap - *pos, "\\x%02x", c);
		} else {
			buf[(*pos)++] = (char)c;
		}
	}
	if (quote && *pos < cap - 1)
		buf[(*pos)++] = '"';
}

void log_eventv(enum log_level level, const char *msg, va_list ap)
{
	if ((int)level < atomic_load(&threshold))
		return;
	char buf[LOG_LINE_MAX];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t pos = strftime(buf, sizeof(buf), "ts=%Y-%m-%dT%H:%M:%S", &tm);
	pos += (size_t)snprintf(buf + pos, sizeof(buf) - pos, ".%03ldZ level=%s msg=",
				ts.tv_nsec / 1000000, names[level < 0 || level > 3 ? 1 : level]);
	put_value(buf, sizeof(buf), &pos, msg ? msg : "");
	for (;;) {
		const char *key = va_arg(ap, const char *);
		if (!key)
			break;
		const char *value = va_arg(ap, const char *);
		if (pos >= sizeof(buf) - 16)
			continue;
		buf[pos++] = ' ';
		for (const char *k = key; *k && pos < sizeof(buf) - 16; k++)
			buf[pos++] = *k;
		buf[pos++] = '=';
		put_value(buf, sizeof(buf), &pos, value ? value : "");
	}
	buf[pos++] = '\n';
	fwrite(buf, 1, pos, stderr);
}

void log_event(enum log_level level, const char *msg, ...)
{
	va_list ap;
	va_start(ap, msg);
	log_eventv(level, msg, ap);
	va_end(ap);
}
