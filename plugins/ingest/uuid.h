/*
 * plugins/ingest/uuid.h - submission ids: random (version 4) UUIDs.
 *
 * An id is 16 bytes; its text is the canonical lowercase
 * "xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx" (V one of 8, 9, a, b): 36
 * characters, INGEST_UUID_TEXT bytes with the NUL.
 */
#ifndef INGEST_UUID_H
#define INGEST_UUID_H

#include <stddef.h>
#include <stdint.h>

#define INGEST_UUID_TEXT 37

/* A new v4 id from the kernel's random source (getrandom, drawn in blocks of
 * 512 bytes per thread).  0, or -errno. */
int ingest_uuid_v4(uint8_t id[16]);

/* Write ID's canonical text (36 characters and a NUL) into OUT. */
void ingest_uuid_format(const uint8_t id[16], char out[INGEST_UUID_TEXT]);

/*
 * Parse the LEN bytes of S as a UUID in 8-4-4-4-12 hexadecimal form (either
 * case, any version) into ID.  0, or -EINVAL (ID untouched).
 */
int ingest_uuid_parse(const char *s, size_t len, uint8_t id[16]);

#endif
