/* test_utf8.c - the incremental UTF-8 validator: Autobahn-style vectors
 * (section 6 of its suite: boundaries, overlongs, surrogates, truncation,
 * fail-fast), every split point, and a comparison with a plain reference
 * decoder over every 1-, 2- and 3-byte input and many random ones. */
#include <stdio.h>
#include <string.h>

#include "utf8.h"

#include "check.h"

typedef struct vec {
    const char *bytes;
    int valid;
} vec;

static const vec VECTORS[] = {
    {"", 1},
    {"Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!", 1},
    {"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 1}, /* kosme */
    /* first and last code point of each length */
    {"\xc2\x80", 1},
    {"\xe0\xa0\x80", 1},
    {"\xf0\x90\x80\x80", 1},
    {"\x7f", 1},
    {"\xdf\xbf", 1},
    {"\xef\xbf\xbf", 1},
    {"\xf4\x8f\xbf\xbf", 1},
    /* around the surrogates, and noncharacters (valid) */
    {"\xed\x9f\xbf", 1},
    {"\xee\x80\x80", 1},
    {"\xef\xbf\xbd", 1},
    {"\xef\xbf\xbe", 1},
    {"\xf0\x9f\xbf\xbf", 1},
    /* past U+10FFFF */
    {"\xf4\x90\x80\x80", 0},
    {"\xf5\x80\x80\x80", 0},
    {"\xf7\xbf\xbf\xbf", 0},
    {"\xf8\x88\x80\x80\x80", 0},
    {"\xfc\x84\x80\x80\x80\x80", 0},
    /* stray continuation bytes */
    {"\x80", 0},
    {"\xbf", 0},
    {"\x80\xbf", 0},
    {"\x80\xbf\x80\xbf\x80\xbf\x80", 0},
    /* lone lead bytes followed by a space */
    {"\xc0 ", 0},
    {"\xdf ", 0},
    {"\xe0 ", 0},
    {"\xef ", 0},
    {"\xf0 ", 0},
    {"\xf4 ", 0},
    /* sequences with the last byte missing */
    {"\xc2", 0},
    {"\xe0\xa0", 0},
    {"\xf0\x90\x80", 0},
    {"\xdf", 0},
    {"\xef\xbf", 0},
    {"\xf4\x8f\xbf", 0},
    {"\xc2\xe0\xa0\xf0\x90\x80", 0},
    /* impossible bytes */
    {"\xfe", 0},
    {"\xff", 0},
    {"\xfe\xfe\xff\xff", 0},
    /* overlong slash and maximal overlongs */
    {"\xc0\xaf", 0},
    {"\xe0\x80\xaf", 0},
    {"\xf0\x80\x80\xaf", 0},
    {"\xf8\x80\x80\x80\xaf", 0},
    {"\xc1\xbf", 0},
    {"\xe0\x9f\xbf", 0},
    {"\xf0\x8f\xbf\xbf", 0},
    {"\xc0\x80", 0}, /* overlong NUL */
    /* surrogates, single and paired */
    {"\xed\xa0\x80", 0},
    {"\xed\xad\xbf", 0},
    {"\xed\xae\x80", 0},
    {"\xed\xaf\xbf", 0},
    {"\xed\xb0\x80", 0},
    {"\xed\xbe\x80", 0},
    {"\xed\xbf\xbf", 0},
    {"\xed\xa0\x80\xed\xb0\x80", 0},
    {"\xed\xaf\xbf\xed\xbf\xbf", 0},
    /* a continuation where a lead is expected mid-sequence */
    {"\xe2\x82\xac\x80", 0},
    {"\xe2\x82", 0},
    {"a\xe2\x82\xac", 1},
};

#define NVEC (sizeof VECTORS / sizeof VECTORS[0])

/* Straightforward decoder used as the reference. */
static int ref_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t c = p[i], need, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            need = 1, min = 0x80, c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            need = 2, min = 0x800, c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            need = 3, min = 0x10000, c &= 0x07;
        } else {
            return 0;
        }
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

static int feed_split(const uint8_t *p, size_t n, size_t cut)
{
    sc_utf8 v;
    sc_utf8_init(&v);
    if (sc_utf8_feed(&v, p, cut) != SC_UTF8_OK)
        return 0;
    if (sc_utf8_feed(&v, p + cut, n - cut) != SC_UTF8_OK)
        return 0;
    return sc_utf8_finish(&v) == SC_UTF8_OK;
}

static void test_vectors(void)
{
    for (size_t k = 0; k < NVEC; k++) {
        const uint8_t *p = (const uint8_t *)VECTORS[k].bytes;
        size_t n = strlen(VECTORS[k].bytes);
        int ok = sc_utf8_valid(p, n) == VECTORS[k].valid;
        if (!ok)
            fprintf(stderr, "vector %zu\n", k);
        CHECK(ok);
        CHECK(ref_valid(p, n) == VECTORS[k].valid);
        for (size_t cut = 0; cut <= n; cut++)
            CHECK(feed_split(p, n, cut) == VECTORS[k].valid);
        /* byte by byte */
        sc_utf8 v;
        sc_utf8_init(&v);
        int r = SC_UTF8_OK;
        for (size_t i = 0; i < n && r == SC_UTF8_OK; i++)
            r = sc_utf8_feed(&v, p + i, 1);
        CHECK((r == SC_UTF8_OK && sc_utf8_finish(&v) == SC_UTF8_OK) == VECTORS[k].valid);
    }
}

static void test_embedded_nul_is_valid(void)
{
    static const uint8_t z[] = {'a', 0, 'b', 0, 0, 0, 0, 0, 0, 0, 0, 'c'};
    CHECK(sc_utf8_valid(z, sizeof z) == 1);
}

static void test_truncated_only_fails_at_finish(void)
{
    sc_utf8 v;
    sc_utf8_init(&v);
    CHECK(sc_utf8_feed(&v, (const uint8_t *)"ab\xce", 3) == SC_UTF8_OK);
    CHECK(sc_utf8_finish(&v) == SC_UTF8_INVALID);
    CHECK(sc_utf8_feed(&v, (const uint8_t *)"\xba", 1) == SC_UTF8_OK);
    CHECK(sc_utf8_finish(&v) == SC_UTF8_OK);
}

static void test_fail_fast_and_sticky(void)
{
    /* Autobahn 6.4.x: kosme, then a surrogate, then more text. */
    sc_utf8 v;
    sc_utf8_init(&v);
    CHECK(sc_utf8_feed(&v, (const uint8_t *)"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 11) ==
          SC_UTF8_OK);
    CHECK(sc_utf8_feed(&v, (const uint8_t *)"\xf4\x90", 2) == SC_UTF8_INVALID);
    CHECK(sc_utf8_feed(&v, (const uint8_t *)"edited", 6) == SC_UTF8_INVALID);
    CHECK(sc_utf8_finish(&v) == SC_UTF8_INVALID);
    sc_utf8_init(&v);
    CHECK(sc_utf8_feed(&v, (const uint8_t *)"ok", 2) == SC_UTF8_OK);
    CHECK(sc_utf8_finish(&v) == SC_UTF8_OK);
}

static void test_ascii_fast_path_boundaries(void)
{
    /* A non-ASCII sequence at every offset of a long ASCII run, so the
     * 8-byte path meets it at every alignment. */
    uint8_t buf[80];
    for (size_t pos = 0; pos + 2 <= sizeof buf; pos++) {
        memset(buf, 'x', sizeof buf);
        buf[pos] = 0xC3, buf[pos + 1] = 0xA9; /* e-acute */
        CHECK(sc_utf8_valid(buf, sizeof buf) == 1);
        buf[pos + 1] = 'x'; /* now truncated inside text */
        CHECK(sc_utf8_valid(buf, sizeof buf) == 0);
        buf[pos] = 0x80; /* stray continuation */
        CHECK(sc_utf8_valid(buf, sizeof buf) == 0);
        buf[pos] = 0xFF;
        CHECK(sc_utf8_valid(buf, sizeof buf) == 0);
    }
    memset(buf, 'x', sizeof buf);
    buf[sizeof buf - 1] = 0xC3; /* open at the very end */
    CHECK(sc_utf8_valid(buf, sizeof buf) == 0);
}

static void test_exhaustive_short_inputs(void)
{
    int mismatches = 0;
    uint8_t b[3];
    for (unsigned x = 0; x < 256; x++) {
        b[0] = (uint8_t)x;
        mismatches += sc_utf8_valid(b, 1) != ref_valid(b, 1);
        for (unsigned y = 0; y < 256; y++) {
            b[1] = (uint8_t)y;
            mismatches += sc_utf8_valid(b, 2) != ref_valid(b, 2);
        }
    }
    /* every 3-byte input whose lead is not ASCII (ASCII leads reduce to the
     * 2-byte case above) */
    for (unsigned x = 0x80; x < 256; x++)
        for (unsigned y = 0; y < 256; y++)
            for (unsigned z = 0; z < 256; z++) {
                b[0] = (uint8_t)x, b[1] = (uint8_t)y, b[2] = (uint8_t)z;
                mismatches += sc_utf8_valid(b, 3) != ref_valid(b, 3);
            }
    CHECK(mismatches == 0);
}

static void test_random_against_reference(void)
{
    /* biased towards the bytes that matter */
    static const uint8_t pool[] = {'a',  0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0,
                                   0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0,
                                   0xF1, 0xF3, 0xF4, 0xF5, 0xFF, 0x41, 0x42, 0x43};
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    int mismatches = 0;
    uint8_t buf[24];
    for (int round = 0; round < 200000; round++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        size_t n = (size_t)(seed >> 59) % 24 + 1;
        for (size_t i = 0; i < n; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            buf[i] = pool[(seed >> 33) % sizeof pool];
        }
        int want = ref_valid(buf, n);
        mismatches += sc_utf8_valid(buf, n) != want;
        mismatches += feed_split(buf, n, (size_t)(seed >> 40) % (n + 1)) != want;
    }
    CHECK(mismatches == 0);
}

int main(void)
{
    test_vectors();
    test_embedded_nul_is_valid();
    test_truncated_only_fails_at_finish();
    test_fail_fast_and_sticky();
    test_ascii_fast_path_boundaries();
    test_exhaustive_short_inputs();
    test_random_against_reference();
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
