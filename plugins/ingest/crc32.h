/*
 * plugins/ingest/crc32.h - CRC-32 (IEEE 802.3, the polynomial of zlib and
 * gzip) over byte streams, slicing by 8 bytes at a time.
 *
 * Start with crc = 0 and feed the bytes in any pieces:
 *     uint32_t c = 0;
 *     c = ingest_crc32(c, a, alen);
 *     c = ingest_crc32(c, b, blen);   // == ingest_crc32(0, a||b, alen + blen)
 * ingest_crc32(0, "123456789", 9) == 0xcbf43926.  Thread-safe (the tables
 * are built once, on first use).
 */
#ifndef INGEST_CRC32_H
#define INGEST_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* The CRC of BUF[0..LEN) continuing from CRC (0 to start). */
uint32_t ingest_crc32(uint32_t crc, const void *buf, size_t len);

#endif
