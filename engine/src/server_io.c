/* What both ends of the hiss-server protocol do alike: whole messages over the control socket,
 * and copies into and out of a ring of frames. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "server_proto.h"

int hs_send_all(int fd, const void *p, size_t n)
{
    const char *b = p;
    while (n) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

int hs_recv_all(int fd, void *p, size_t n)
{
    char *b = p;
    while (n) {
        ssize_t r = recv(fd, b, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

void hs_ring_write(float *ring, uint32_t size, uint64_t pos, const float *src, int n)
{
    const uint32_t at = (uint32_t)(pos & (size - 1u));
    const uint32_t first = (uint32_t)n < size - at ? (uint32_t)n : size - at;
    memcpy(ring + at, src, first * sizeof(float));
    memcpy(ring, src + first, ((uint32_t)n - first) * sizeof(float));
}

void hs_ring_read(float *dst, const float *ring, uint32_t size, uint64_t pos, int n)
{
    const uint32_t at = (uint32_t)(pos & (size - 1u));
    const uint32_t first = (uint32_t)n < size - at ? (uint32_t)n : size - at;
    memcpy(dst, ring + at, first * sizeof(float));
    memcpy(dst + first, ring, ((uint32_t)n - first) * sizeof(float));
}
