/* utf8.h - incremental UTF-8 validation (RFC 3629) for WebSocket text.
 *
 * Internal to the core (not seen by cffi).  A validator carries its state
 * across fragments, so a text message can be checked piece by piece as its
 * bytes arrive and rejected at the first byte that makes it invalid (the
 * "fail fast" behaviour WebSocket clients and Autobahn expect).
 *
 * Rejected: stray continuation bytes, C0/C1 and E0 80..9F / F0 80..8F
 * overlong forms, UTF-16 surrogates (ED A0..BF), code points above U+10FFFF
 * (F4 90.. and F5..FF), and, at the end of a message, a truncated sequence.
 * Once invalid, a validator stays invalid until sc_utf8_init.
 */
#ifndef SC_UTF8_H
#define SC_UTF8_H

#include <stddef.h>
#include <stdint.h>

#define SC_UTF8_OK 0
#define SC_UTF8_INVALID (-1)

typedef struct sc_utf8 {
    uint32_t state; /* 0 at a code point boundary */
} sc_utf8;

static inline void sc_utf8_init(sc_utf8 *v)
{
    v->state = 0;
}

/* Validate the next piece.  SC_UTF8_OK when every byte so far can start a
 * valid text (a sequence may still be open), SC_UTF8_INVALID otherwise. */
int sc_utf8_feed(sc_utf8 *v, const uint8_t *p, size_t n);

/* End of the message: SC_UTF8_OK when nothing is invalid and no sequence is
 * left open. */
int sc_utf8_finish(const sc_utf8 *v);

/* One shot: 1 when p[0..n) is complete, valid UTF-8, else 0. */
int sc_utf8_valid(const uint8_t *p, size_t n);

#endif
