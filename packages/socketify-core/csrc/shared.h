/* shared.h - sc_shared_msg: a refcounted byte buffer.
 *
 * One published frame is built once and queued by reference on every
 * subscriber's connection (io.c: c->io.shared), instead of one copy per
 * subscriber; the last connection that sent it frees it.  Header-only so the
 * I/O layer and the topic table share it without a link dependency.  Not
 * thread-safe: everything runs on the loop's thread.
 */
#ifndef SC_SHARED_H
#define SC_SHARED_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct sc_shared_msg {
    uint32_t refs;
    uint32_t tag; /* free for the caller (opcode, flags) */
    size_t len;
    uint8_t data[];
} sc_shared_msg;

/* refs = 1; copies data when it is not NULL (else data is uninitialised).
 * NULL when out of memory. */
static inline sc_shared_msg *sc_shared_msg_new(const void *data, size_t len)
{
    if (len > SIZE_MAX - sizeof(sc_shared_msg))
        return NULL;
    sc_shared_msg *m = (sc_shared_msg *)malloc(sizeof *m + len);
    if (!m)
        return NULL;
    m->refs = 1;
    m->tag = 0;
    m->len = len;
    if (data && len)
        memcpy(m->data, data, len);
    return m;
}

/* One more reference; returns m (NULL when the count would overflow). */
static inline sc_shared_msg *sc_shared_msg_acquire(sc_shared_msg *m)
{
    if (m->refs == UINT32_MAX)
        return NULL;
    m->refs++;
    return m;
}

/* Drop a reference; frees on the last one.  NULL is ignored. */
static inline void sc_shared_msg_release(sc_shared_msg *m)
{
    if (m && --m->refs == 0)
        free(m);
}

#endif
