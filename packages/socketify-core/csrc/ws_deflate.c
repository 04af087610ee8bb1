/* ws_deflate.c - permessage-deflate on zlib.  See ws_deflate.h. */
#include "ws_deflate.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "ws_frame.h"

#define INFLATE_STEP 16384u /* output room added per inflate round */

static const uint8_t SYNC_TAIL[4] = {0x00, 0x00, 0xFF, 0xFF};

struct sc_ws_deflater {
    z_stream z;
    uint32_t flags;
};

struct sc_ws_inflater {
    z_stream z;
    uint32_t flags;
    int error;         /* sticky: 0 or a negative code */
    uint64_t produced; /* bytes of the current message so far */
};

/* ---- buffer --------------------------------------------------------------- */

int sc_ws_buf_reserve(sc_ws_buf *b, size_t extra)
{
    if (extra <= b->cap - b->len)
        return SC_OK;
    if (extra > SIZE_MAX / 2 - b->len)
        return SC_ENOMEM;
    size_t want = b->len + extra;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < want)
        cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return SC_ENOMEM;
    b->data = p;
    b->cap = cap;
    return SC_OK;
}

void sc_ws_buf_free(sc_ws_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- compression ---------------------------------------------------------- */

sc_ws_deflater *sc_ws_deflater_new(int window_bits, int mem_level, int level, uint32_t flags)
{
    if (window_bits < 9 || window_bits > 15 || mem_level < 1 || mem_level > 9 || level < -1 ||
        level > 9)
        return NULL;
    sc_ws_deflater *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->flags = flags & SC_WS_Z_SHARED ? flags | SC_WS_Z_NO_CONTEXT : flags;
    /* negative window bits: raw deflate, no zlib header or trailer */
    if (deflateInit2(&d->z, level, Z_DEFLATED, -window_bits, mem_level, Z_DEFAULT_STRATEGY) !=
        Z_OK) {
        free(d);
        return NULL;
    }
    return d;
}

void sc_ws_deflater_free(sc_ws_deflater *d)
{
    if (!d)
        return;
    deflateEnd(&d->z);
    free(d);
}

int sc_ws_deflate_message(sc_ws_deflater *d, const uint8_t *in, size_t len, sc_ws_buf *out)
{
    size_t start = out->len;
    int rc = SC_OK;
    if (len == 0) {
        /* RFC 7692 7.2.3.6: one 00 byte.  Calling deflate with nothing to do
         * after an earlier sync flush would produce nothing at all. */
        if ((rc = sc_ws_buf_reserve(out, 1)) != SC_OK)
            return rc;
        out->data[out->len++] = 0x00;
        return SC_OK;
    }
    /* zlib counts in uInt: feed very large messages in slices */
    const uint8_t *p = in;
    size_t left = len;
    do {
        uInt slice = left > UINT_MAX ? UINT_MAX : (uInt)left;
        int flush = slice == left ? Z_SYNC_FLUSH : Z_NO_FLUSH;
        d->z.next_in = (Bytef *)(uintptr_t)p; /* zlib does not write through next_in */
        d->z.avail_in = slice;
        p += slice, left -= slice;
        for (;;) {
            size_t room = deflateBound(&d->z, d->z.avail_in) + 16;
            if (room > UINT_MAX)
                room = UINT_MAX;
            if ((rc = sc_ws_buf_reserve(out, room)) != SC_OK)
                goto done;
            d->z.next_out = out->data + out->len;
            d->z.avail_out = (uInt)room;
            int zr = deflate(&d->z, flush);
            out->len += room - d->z.avail_out;
            if (zr == Z_STREAM_ERROR) {
                rc = SC_EINVAL;
                goto done;
            }
            /* room left over: this slice is consumed (and flushed if asked) */
            if (d->z.avail_out != 0)
                break;
        }
    } while (left);

    /* a sync flush always ends with an empty stored block: strip its 00 00 FF FF */
    if (out->len - start < 4 || memcmp(out->data + out->len - 4, SYNC_TAIL, 4) != 0) {
        rc = SC_EINVAL;
        goto done;
    }
    out->len -= 4;
done:
    if (rc != SC_OK)
        out->len = start;
    if (rc != SC_OK || (d->flags & SC_WS_Z_NO_CONTEXT))
        deflateReset(&d->z);
    return rc;
}

/* ---- decompression -------------------------------------------------------- */

sc_ws_inflater *sc_ws_inflater_new(int window_bits, uint32_t flags)
{
    if (window_bits < 8 || window_bits > 15)
        return NULL;
    sc_ws_inflater *inf = calloc(1, sizeof *inf);
    if (!inf)
        return NULL;
    inf->flags = flags & SC_WS_Z_SHARED ? flags | SC_WS_Z_NO_CONTEXT : flags;
    /* Some zlib-based clients silently turn a window of 8 into 9; a 9-bit
     * window reads both. */
    if (window_bits == 8)
        window_bits = 9;
    if (inflateInit2(&inf->z, -window_bits) != Z_OK) {
        free(inf);
        return NULL;
    }
    return inf;
}

void sc_ws_inflater_free(sc_ws_inflater *inf)
{
    if (!inf)
        return;
    inflateEnd(&inf->z);
    free(inf);
}

void sc_ws_inflater_reset(sc_ws_inflater *inf)
{
    inflateReset(&inf->z);
    inf->error = 0;
    inf->produced = 0;
}

static int inflate_fail(sc_ws_inflater *inf, int code)
{
    inf->error = code;
    return code;
}

/* Inflate in[0..len) into out, never past limit + 1 bytes for the message. */
static int inflate_piece(sc_ws_inflater *inf, const uint8_t *in, size_t len, uint64_t limit,
                         sc_ws_buf *out)
{
    while (len) {
        uInt slice = len > UINT_MAX ? UINT_MAX : (uInt)len;
        inf->z.next_in = (Bytef *)(uintptr_t)in;
        inf->z.avail_in = slice;
        in += slice, len -= slice;
        for (;;) {
            /* room for at most one byte past the limit: enough to see it passed */
            uint64_t allowed = limit - inf->produced;
            size_t room = allowed < INFLATE_STEP ? (size_t)allowed + 1 : INFLATE_STEP;
            if (sc_ws_buf_reserve(out, room) != SC_OK)
                return inflate_fail(inf, SC_ENOMEM);
            inf->z.next_out = out->data + out->len;
            inf->z.avail_out = (uInt)room;
            int zr = inflate(&inf->z, Z_SYNC_FLUSH);
            size_t got = room - inf->z.avail_out;
            out->len += got;
            inf->produced += got;
            if (inf->produced > limit)
                return inflate_fail(inf, -SC_WS_CLOSE_TOO_BIG);
            if (zr == Z_STREAM_END) {
                /* the client ended the stream (BFINAL): what follows starts a new one */
                inflateReset(&inf->z);
            } else if (zr == Z_MEM_ERROR) {
                return inflate_fail(inf, SC_ENOMEM);
            } else if (zr != Z_OK && zr != Z_BUF_ERROR) {
                return inflate_fail(inf, -SC_WS_CLOSE_INVALID_DATA);
            }
            /* done with this slice when it is consumed and the output was not cut short */
            if (inf->z.avail_in == 0 && inf->z.avail_out != 0)
                break;
        }
    }
    return SC_OK;
}

int sc_ws_inflate(sc_ws_inflater *inf, const uint8_t *in, size_t len, int fin, uint64_t limit,
                  sc_ws_buf *out)
{
    if (inf->error)
        return inf->error;
    if ((inf->flags & SC_WS_Z_SHARED) && !fin)
        return SC_ESTATE;
    int rc = inflate_piece(inf, in, len, limit, out);
    if (rc == SC_OK && fin)
        rc = inflate_piece(inf, SYNC_TAIL, 4, limit, out);
    if (rc != SC_OK)
        return rc;
    if (fin) {
        inf->produced = 0;
        if (inf->flags & SC_WS_Z_NO_CONTEXT)
            inflateReset(&inf->z);
    }
    return SC_OK;
}
