/* SHA-256 (FIPS 180-4), for the data checksums hiss-train writes into a model's metadata. */
#ifndef HISS_TRAIN_SHA256_H
#define HISS_TRAIN_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct ht_sha256 {
    uint32_t h[8];
    uint64_t len; /* bytes hashed so far */
    unsigned char buf[64];
    size_t used;
} ht_sha256;

void ht_sha256_init(ht_sha256 *s);
void ht_sha256_update(ht_sha256 *s, const void *data, size_t n);
/* hex: 65 bytes (64 lowercase hex digits and a NUL). */
void ht_sha256_final(ht_sha256 *s, char hex[65]);
/* The digest of a whole file; 0, or -1 when it cannot be read. */
int ht_sha256_file(const char *path, char hex[65]);

#endif
