/* utf8.c - incremental UTF-8 validator: a nine-state machine driven by two
 * small tables.  A lead byte picks the state from LEAD; each state accepts
 * one continuation range (TAIL_LO..TAIL_HI) and moves to TAIL_NEXT.  The
 * narrowed first-continuation states (after E0, ED, F0, F4) are what reject
 * overlongs, surrogates and code points past U+10FFFF.
 */
#include "utf8.h"

#include <string.h>

enum {
    S_ACCEPT = 0,
    S_TAIL1, /* one 80..BF left */
    S_TAIL2, /* two left */
    S_TAIL3, /* three left */
    S_E0,    /* A0..BF then one more: no overlong 3-byte forms */
    S_ED,    /* 80..9F then one more: no surrogates */
    S_F0,    /* 90..BF then two more: no overlong 4-byte forms */
    S_F4,    /* 80..8F then two more: nothing past U+10FFFF */
    S_REJECT
};

#define R16(s) s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s

/* state entered from S_ACCEPT by each byte */
/* clang-format off: one row per 16 bytes */
static const uint8_t LEAD[256] = {
    R16(S_ACCEPT),
    R16(S_ACCEPT),
    R16(S_ACCEPT),
    R16(S_ACCEPT), /* 00..3F */
    R16(S_ACCEPT),
    R16(S_ACCEPT),
    R16(S_ACCEPT),
    R16(S_ACCEPT), /* 40..7F */
    R16(S_REJECT),
    R16(S_REJECT),
    R16(S_REJECT),
    R16(S_REJECT), /* 80..BF */
    /* C0 C1 are overlong leads */
    S_REJECT,
    S_REJECT,
    S_TAIL1,
    S_TAIL1,
    S_TAIL1,
    S_TAIL1,
    S_TAIL1,
    S_TAIL1, /* C0..C7 */
    S_TAIL1,
    S_TAIL1,
    S_TAIL1,
    S_TAIL1,
    S_TAIL1,
    S_TAIL1,
    S_TAIL1,
    S_TAIL1,      /* C8..CF */
    R16(S_TAIL1), /* D0..DF */
    S_E0,
    S_TAIL2,
    S_TAIL2,
    S_TAIL2,
    S_TAIL2,
    S_TAIL2,
    S_TAIL2,
    S_TAIL2, /* E0..E7 */
    S_TAIL2,
    S_TAIL2,
    S_TAIL2,
    S_TAIL2,
    S_TAIL2,
    S_ED,
    S_TAIL2,
    S_TAIL2, /* E8..EF */
    S_F0,
    S_TAIL3,
    S_TAIL3,
    S_TAIL3,
    S_F4,
    S_REJECT,
    S_REJECT,
    S_REJECT, /* F0..F7 */
    S_REJECT,
    S_REJECT,
    S_REJECT,
    S_REJECT,
    S_REJECT,
    S_REJECT,
    S_REJECT,
    S_REJECT,
};
/* clang-format on */

/* indexed by state: the continuation byte range it accepts and what follows */
static const uint8_t TAIL_LO[S_REJECT] = {0, 0x80, 0x80, 0x80, 0xA0, 0x80, 0x90, 0x80};
static const uint8_t TAIL_HI[S_REJECT] = {0, 0xBF, 0xBF, 0xBF, 0xBF, 0x9F, 0xBF, 0x8F};
/* clang-format off */
static const uint8_t TAIL_NEXT[S_REJECT] = {
    S_ACCEPT, S_ACCEPT, S_TAIL1, S_TAIL2, S_TAIL1, S_TAIL1, S_TAIL2, S_TAIL2,
};
/* clang-format on */

#define HIGH_BITS 0x8080808080808080ull

int sc_utf8_feed(sc_utf8 *v, const uint8_t *p, size_t n)
{
    uint32_t s = v->state;
    size_t i = 0;

    if (s == S_REJECT)
        return SC_UTF8_INVALID;
    while (i < n) {
        if (s == S_ACCEPT) {
            /* PERF: text is mostly ASCII; test 8 bytes per step for a high bit. */
            while (n - i >= 8) {
                uint64_t w;
                memcpy(&w, p + i, 8);
                if (w & HIGH_BITS)
                    break;
                i += 8;
            }
            while (i < n && p[i] < 0x80)
                i++;
            if (i == n)
                break;
            s = LEAD[p[i++]];
            if (s == S_REJECT)
                goto reject;
        } else {
            uint8_t b = p[i++];
            if (b < TAIL_LO[s] || b > TAIL_HI[s])
                goto reject;
            s = TAIL_NEXT[s];
        }
    }
    v->state = s;
    return SC_UTF8_OK;
reject:
    v->state = S_REJECT;
    return SC_UTF8_INVALID;
}

int sc_utf8_finish(const sc_utf8 *v)
{
    return v->state == S_ACCEPT ? SC_UTF8_OK : SC_UTF8_INVALID;
}

int sc_utf8_valid(const uint8_t *p, size_t n)
{
    sc_utf8 v;
    sc_utf8_init(&v);
    return sc_utf8_feed(&v, p, n) == SC_UTF8_OK && sc_utf8_finish(&v) == SC_UTF8_OK;
}
