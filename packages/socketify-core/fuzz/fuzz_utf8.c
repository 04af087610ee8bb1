/* fuzz_utf8.c - libFuzzer target for the incremental UTF-8 validator.
 *
 * The first byte chooses a split point; the rest is the text.  Without
 * libFuzzer (gcc), -DSC_FUZZ_STANDALONE adds a main() that runs the target
 * once per file named on the command line (corpus replay).
 *
 * Properties: the one-shot answer equals a plain reference decoder's; feeding
 * in two pieces or byte by byte gives the same answer; a failure is sticky.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

#define FZ_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

/* RFC 3629 by arithmetic on code points, independent of the state machine. */
static int fz_ref_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t c = p[i], need, min;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xE0) == 0xC0)
            need = 1, min = 0x80, c &= 0x1F;
        else if ((c & 0xF0) == 0xE0)
            need = 2, min = 0x800, c &= 0x0F;
        else if ((c & 0xF8) == 0xF0)
            need = 3, min = 0x10000, c &= 0x07;
        else
            return 0;
        if (n - i - 1 < need)
            return 0;
        for (uint32_t k = 1; k <= need; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return 0;
            c = (c << 6) | (p[i + k] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return 0;
        i += need + 1;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    int want = fz_ref_valid(p, n);
    FZ_CHECK(sc_utf8_valid(p, n) == want);

    size_t cut = (size_t)data[0] * 257 % (n + 1);
    sc_utf8 v;
    sc_utf8_init(&v);
    int r1 = sc_utf8_feed(&v, p, cut);
    int r2 = sc_utf8_feed(&v, p + cut, n - cut);
    FZ_CHECK((r1 == SC_UTF8_OK && r2 == SC_UTF8_OK && sc_utf8_finish(&v) == SC_UTF8_OK) == want);
    if (r1 != SC_UTF8_OK)
        FZ_CHECK(r2 != SC_UTF8_OK); /* sticky */

    sc_utf8_init(&v);
    int ok = 1;
    for (size_t i = 0; i < n && ok; i++)
        ok = sc_utf8_feed(&v, p + i, 1) == SC_UTF8_OK;
    FZ_CHECK((ok && sc_utf8_finish(&v) == SC_UTF8_OK) == want);
    return 0;
}

#include "fuzz_replay.h"
