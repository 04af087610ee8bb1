/* fuzz_ws_deflate.c - libFuzzer target for permessage-deflate.
 *
 * The first byte picks window bits, a size limit and a split point; the rest
 * is read as a compressed message from a client and, separately, compressed
 * as a server message.  Link with -lz.  -DSC_FUZZ_STANDALONE adds a
 * corpus-replay main().
 *
 * Properties:
 *   - inflating at once or in two pieces gives the same result and output
 *     (with a 15-bit window; see below for smaller ones);
 *   - a success never passes the limit; -1009 stops at most one byte past it;
 *   - the only results are SC_OK, -1007 and -1009;
 *   - deflate then inflate gives back the input, with or without context
 *     takeover, over two messages in a row.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws_deflate.h"

#define FZ_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

static int fz_inflate(int bits, const uint8_t *in, size_t n, size_t cut, uint64_t limit,
                      sc_ws_buf *out)
{
    sc_ws_inflater *inf = sc_ws_inflater_new(bits, 0);
    FZ_CHECK(inf != NULL);
    int r = sc_ws_inflate(inf, in, cut, 0, limit, out);
    if (r == SC_OK)
        r = sc_ws_inflate(inf, in + cut, n - cut, 1, limit, out);
    sc_ws_inflater_free(inf);
    FZ_CHECK(r == SC_OK || r == -1007 || r == -1009);
    if (r == SC_OK)
        FZ_CHECK(out->len <= limit);
    if (r == -1009)
        FZ_CHECK(out->len == limit + 1);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int bits = 9 + data[0] % 7;
    uint64_t limit = (data[0] & 0x80) ? 100000 : (uint64_t)(data[0] >> 3 & 15) * 64;
    const uint8_t *in = data + 1;
    size_t n = size - 1;
    size_t cut = n ? (size_t)data[0] * 131 % (n + 1) : 0;

    sc_ws_buf a = {0}, b = {0};
    int r1 = fz_inflate(15, in, n, n, limit, &a);
    int r2 = fz_inflate(15, in, n, cut, limit, &b);
    FZ_CHECK(r1 == r2);
    if (r1 == SC_OK)
        FZ_CHECK(a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0));
    /* A smaller window is checked for safety only: zlib accepts a distance
     * past the window while the bytes it names are still in the output of
     * the same inflate call, so where the pieces are cut may decide whether
     * such (invalid) input passes. */
    a.len = 0;
    fz_inflate(bits, in, n, cut, limit, &a);

    /* round trip of the raw bytes, twice, so the second message may lean on
     * the first's window */
    for (int noctx = 0; noctx < 2; noctx++) {
        uint32_t flags = noctx ? SC_WS_Z_NO_CONTEXT : 0;
        sc_ws_deflater *d = sc_ws_deflater_new(bits, 8, -1, flags);
        sc_ws_inflater *inf = sc_ws_inflater_new(bits, flags);
        FZ_CHECK(d && inf);
        for (int round = 0; round < 2; round++) {
            a.len = b.len = 0;
            FZ_CHECK(sc_ws_deflate_message(d, in, n, &a) == SC_OK);
            FZ_CHECK(sc_ws_inflate(inf, a.data, a.len, 1, UINT64_MAX, &b) == SC_OK);
            FZ_CHECK(b.len == n && (n == 0 || memcmp(b.data, in, n) == 0));
        }
        sc_ws_deflater_free(d);
        sc_ws_inflater_free(inf);
    }
    sc_ws_buf_free(&a);
    sc_ws_buf_free(&b);
    return 0;
}

#include "fuzz_replay.h"
