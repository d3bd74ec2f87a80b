#ifndef TERRARIUM_LOG_H
#define TERRARIUM_LOG_H
/*
 * Structured logs: one line per event on stderr, in logfmt:
 *   ts=2026-11-21T18:30:00.123Z level=info msg="listening" addr=127.0.0.1:8080
 * Values with spaces, quotes or '=' are quoted and escaped; control
 * characters are escaped, so a line is always one line.
 */
#include <stdarg.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

/* Set the threshold (default LOG_INFO).  Thread-safe. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Parse "debug" | "info" | "warn" | "error"; -1 if none. */
int log_level_parse(const char *s);

/*
 * Log MSG with key/value pairs: a NULL-terminated list of (const char *key,
 * const char *value) pairs.  A NULL value is written as "".
 *   log_event(LOG_INFO, "listening", "addr", addr, NULL);
 */
void log_event(enum log_level level, const char *msg, ...);

/* The same with a va_list. */
void log_eventv(enum log_level level, const char *msg, va_list ap);

#endif
