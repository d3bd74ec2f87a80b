/* plugins/ingest/uuid.c - random v4 UUIDs; see uuid.h. */
#include "uuid.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>

/* Random bytes are drawn from the kernel a few hundred at a time, per thread. */
static _Thread_local struct {
	uint8_t buf[512];
	size_t pos;
} pool = { .pos = sizeof(pool.buf) };
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

/* A forked child must not hand out the ids its parent will. */
static void pool_drop(void)
{
	memset(pool.buf, 0, sizeof(pool.buf));
	pool.pos = sizeof(pool.buf);
}

static void fork_hook(void)
{
	pthread_atfork(NULL, NULL, pool_drop);
}

int ingest_uuid_v4(uint8_t id[16])
{
	pthread_once(&fork_once, fork_hook);
	if (pool.pos + 16 > sizeof(pool.buf)) {
		size_t got = 0;
		while (got < sizeof(pool.buf)) {
			ssize_t n = getrandom(pool.buf + got, sizeof(pool.buf) - got, 0);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
			got += (size_t)n;
		}
		pool.pos = 0;
	}
	memcpy(id, pool.buf + pool.pos, 16);
	memset(pool.buf + pool.pos, 0, 16); /* never hand out the same bytes twice */
	pool.pos += 16;
	id[6] = (uint8_t)((id[6] & 0x0f) | 0x40); /* version 4 */
	id[8] = (uint8_t)((id[8] & 0x3f) | 0x80); /* variant 10xx */
	return 0;
}

void ingest_uuid_format(const uint8_t id[16], char out[INGEST_UUID_TEXT])
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[id[i] >> 4];
		out[o++] = hex[id[i] & 15];
	}
	out[o] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int ingest_uuid_parse(const char *s, size_t len, uint8_t id[16])
{
	uint8_t tmp[16];
	size_t i = 0;
	int n = 0;
	if (len != 36)
		return -EINVAL;
	while (i < len) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i++] != '-')
				return -EINVAL;
			continue;
		}
		int hi = hexval(s[i]), lo = hexval(s[i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		tmp[n++] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	for (int k = 0; k < 16; k++)
		id[k] = tmp[k];
	return 0;
}
