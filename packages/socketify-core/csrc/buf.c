/* buf.c - sc_buf, the growable byte buffer every layer uses (declared in
 * core.h).  Live bytes are data[off .. len): consuming from the front only
 * moves off, and the bytes are slid back to the start only when an append
 * needs the room, so a buffer that is read as it is filled costs no memmove.
 * An emptied buffer keeps its memory up to SC_BUF_KEEP bytes, larger ones are
 * freed so one big response does not pin its size for the connection's life.
 */
#include "core.h"

#include <stdlib.h>
#include <string.h>

int sc_buf_reserve(sc_buf *b, size_t extra)
{
    if (extra <= b->cap - b->len) /* len <= cap: no wrap (len + extra could) */
        return 0;
    if (extra > SIZE_MAX / 2 - b->len)
        return SC_ENOMEM; /* no such allocation, and the doubling below stays in range */
    if (b->off) {
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (extra <= b->cap - b->len)
            return 0;
    }
    size_t cap = b->cap ? b->cap * 2 : 512;
    if (cap < b->len + extra)
        cap = b->len + extra;
    char *d = realloc(b->data, cap);
    if (!d)
        return SC_ENOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

int sc_buf_append(sc_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (sc_buf_reserve(b, n) < 0)
        return SC_ENOMEM;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

void sc_buf_consume(sc_buf *b, size_t n)
{
    b->off += n;
    if (b->off >= b->len) {
        b->off = b->len = 0;
        if (b->cap > SC_BUF_KEEP)
            sc_buf_free(b);
    }
}

void sc_buf_free(sc_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->off = b->len = b->cap = 0;
}
