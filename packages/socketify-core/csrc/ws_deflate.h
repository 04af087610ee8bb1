/* ws_deflate.h - permessage-deflate (RFC 7692) message compression on zlib.
 *
 * Internal to the core (not seen by cffi).  Link with -lz.
 *
 * A message is compressed whole: raw deflate, then a sync flush, whose
 * trailing 00 00 FF FF is stripped (RFC 7692 7.2.1).  A message is
 * decompressed in pieces as its frames arrive; on the last piece the
 * stripped 00 00 FF FF is fed back (7.2.2).  Output is appended to a
 * growable sc_ws_buf owned by the caller.
 *
 * Context takeover: by default each side keeps its LZ77 window from one
 * message to the next.  SC_WS_Z_NO_CONTEXT resets it after every message
 * (server_no_context_takeover for the deflater, client_no_context_takeover
 * for the inflater).
 *
 * Sharing: SC_WS_Z_SHARED marks an object used by many connections of one
 * loop.  It implies SC_WS_Z_NO_CONTEXT, so nothing of one connection's data
 * can leak into another's output; a shared inflater only takes whole
 * messages (fin set on the one call), since interleaved fragments of two
 * connections would mix their streams.  Only negotiate a shared deflater
 * with server_no_context_takeover and a shared inflater with
 * client_no_context_takeover, and use a deflater whose window is not larger
 * than the negotiated server_max_window_bits.
 *
 * Zip bombs: sc_ws_inflate takes the largest decompressed size of a message
 * and stops with -1009 as soon as it would pass it; the buffer never grows
 * more than one step (16 KiB) past the limit.
 *
 * Windows: an inflater's window should match what the client agreed to
 * (client_max_window_bits).  With a window under 15 bits zlib still accepts
 * a match distance past the window while the bytes it names are in the
 * output of the same inflate call, so such invalid input may pass or fail
 * depending on how it was cut; that is harmless (zlib bounds-checks it) and
 * never happens with a conforming client.
 *
 * Errors: SC_ENOMEM, SC_EINVAL (bad argument or zlib refused), SC_ESTATE
 * (a fragment given to a shared inflater), -1007 (the client's data is not
 * valid deflate), -1009 (too big).  An inflater that failed keeps failing
 * until sc_ws_inflater_reset.
 */
#ifndef SC_WS_DEFLATE_H
#define SC_WS_DEFLATE_H

#include <stddef.h>
#include <stdint.h>

#include "socketify.h"

/* A growable byte buffer; zero-initialise it, free it with sc_ws_buf_free. */
typedef struct sc_ws_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} sc_ws_buf;

/* Make room for extra more bytes after len: SC_OK or SC_ENOMEM. */
int sc_ws_buf_reserve(sc_ws_buf *b, size_t extra);
void sc_ws_buf_free(sc_ws_buf *b);

#define SC_WS_Z_NO_CONTEXT 1u /* reset the window after every message */
#define SC_WS_Z_SHARED 2u     /* used by many connections (implies NO_CONTEXT) */

typedef struct sc_ws_deflater sc_ws_deflater;
typedef struct sc_ws_inflater sc_ws_inflater;

/* window_bits 9..15 (zlib's raw deflate cannot do 8); mem_level 1..9 (8 is
 * zlib's default); level -1 (default) or 0..9.  NULL on a bad argument or
 * no memory. */
sc_ws_deflater *sc_ws_deflater_new(int window_bits, int mem_level, int level, uint32_t flags);
void sc_ws_deflater_free(sc_ws_deflater *d);
/* Append the compressed payload of one whole message to out. */
int sc_ws_deflate_message(sc_ws_deflater *d, const uint8_t *in, size_t len, sc_ws_buf *out);

/* window_bits 8..15: the client's negotiated client_max_window_bits (15 when
 * none was agreed).  NULL on a bad argument or no memory. */
sc_ws_inflater *sc_ws_inflater_new(int window_bits, uint32_t flags);
void sc_ws_inflater_free(sc_ws_inflater *inf);
/* Feed the next piece of a compressed message (fin on its last piece, which
 * may be empty) and append what it decompresses to out.  limit bounds the
 * decompressed size of the whole message. */
int sc_ws_inflate(sc_ws_inflater *inf, const uint8_t *in, size_t len, int fin, uint64_t limit,
                  sc_ws_buf *out);
/* Forget the message in progress and the window; clears a failure. */
void sc_ws_inflater_reset(sc_ws_inflater *inf);

#endif
