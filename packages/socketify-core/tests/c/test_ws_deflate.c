/* test_ws_deflate.c - permessage-deflate: the RFC 7692 7.2.3 examples,
 * round trips, context takeover, windows, fragments, the decompressed-size
 * limit (zip bombs), corrupt input and shared objects. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws_deflate.h"
#include "ws_frame.h"

#include "check.h"

#define NOLIMIT UINT64_MAX

static int buf_is(const sc_ws_buf *b, const void *want, size_t n)
{
    return b->len == n && (n == 0 || memcmp(b->data, want, n) == 0);
}

/* inflate one whole message with a fresh inflater */
static int inflate_all(const void *in, size_t n, sc_ws_buf *out)
{
    sc_ws_inflater *inf = sc_ws_inflater_new(15, 0);
    int r = sc_ws_inflate(inf, in, n, 1, NOLIMIT, out);
    sc_ws_inflater_free(inf);
    return r;
}

static void test_rfc7692_examples(void)
{
    sc_ws_buf out = {0};
    /* 7.2.3.1: "Hello" */
    sc_ws_deflater *d = sc_ws_deflater_new(15, 8, -1, 0);
    CHECK(d != NULL);
    CHECK(sc_ws_deflate_message(d, (const uint8_t *)"Hello", 5, &out) == SC_OK);
    CHECK(buf_is(&out, "\xf2\x48\xcd\xc9\xc9\x07\x00", 7));
    /* 7.2.3.2: the same message again, with the window taken over */
    out.len = 0;
    CHECK(sc_ws_deflate_message(d, (const uint8_t *)"Hello", 5, &out) == SC_OK);
    CHECK(buf_is(&out, "\xf2\x00\x11\x00\x00", 5));
    sc_ws_deflater_free(d);

    static const struct {
        const char *in;
        size_t n;
    } hello[] = {
        {"\xf2\x48\xcd\xc9\xc9\x07\x00", 7},
        {"\x00\x05\x00\xfa\xff\x48\x65\x6c\x6c\x6f\x00", 11},         /* 7.2.3.3 stored */
        {"\xf3\x48\xcd\xc9\xc9\x07\x00\x00", 8},                      /* 7.2.3.4 BFINAL */
        {"\xf2\x48\x05\x00\x00\x00\xff\xff\xca\xc9\xc9\x07\x00", 13}, /* 7.2.3.5 two blocks */
    };
    for (size_t i = 0; i < sizeof hello / sizeof hello[0]; i++) {
        out.len = 0;
        CHECK(inflate_all(hello[i].in, hello[i].n, &out) == SC_OK);
        CHECK(buf_is(&out, "Hello", 5));
    }
    /* 7.2.3.2 read back with one inflater: the second needs the first's window */
    sc_ws_inflater *inf = sc_ws_inflater_new(15, 0);
    out.len = 0;
    CHECK(sc_ws_inflate(inf, (const uint8_t *)"\xf2\x48\xcd\xc9\xc9\x07\x00", 7, 1, NOLIMIT,
                        &out) == SC_OK);
    CHECK(sc_ws_inflate(inf, (const uint8_t *)"\xf2\x00\x11\x00\x00", 5, 1, NOLIMIT, &out) ==
          SC_OK);
    CHECK(buf_is(&out, "HelloHello", 10));
    sc_ws_inflater_free(inf);
    /* without the window it is invalid data */
    inf = sc_ws_inflater_new(15, SC_WS_Z_NO_CONTEXT);
    out.len = 0;
    CHECK(sc_ws_inflate(inf, (const uint8_t *)"\xf2\x48\xcd\xc9\xc9\x07\x00", 7, 1, NOLIMIT,
                        &out) == SC_OK);
    CHECK(sc_ws_inflate(inf, (const uint8_t *)"\xf2\x00\x11\x00\x00", 5, 1, NOLIMIT, &out) ==
          -SC_WS_CLOSE_INVALID_DATA);
    sc_ws_inflater_free(inf);
    sc_ws_buf_free(&out);
}

static void test_empty_message(void)
{
    sc_ws_buf out = {0};
    sc_ws_deflater *d = sc_ws_deflater_new(15, 8, -1, 0);
    /* 7.2.3.6: an empty message compresses to one 00 byte, also after others */
    CHECK(sc_ws_deflate_message(d, NULL, 0, &out) == SC_OK && buf_is(&out, "\x00", 1));
    out.len = 0;
    CHECK(sc_ws_deflate_message(d, (const uint8_t *)"abc", 3, &out) == SC_OK);
    out.len = 0;
    CHECK(sc_ws_deflate_message(d, NULL, 0, &out) == SC_OK && buf_is(&out, "\x00", 1));
    sc_ws_deflater_free(d);
    out.len = 0;
    CHECK(inflate_all("\x00", 1, &out) == SC_OK && out.len == 0);
    CHECK(inflate_all("", 0, &out) == SC_OK && out.len == 0);
    sc_ws_buf_free(&out);
}

static uint8_t *make_data(size_t n, uint32_t seed, int compressible)
{
    uint8_t *p = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = compressible ? (uint8_t)("abcdefgh"[(seed >> 16) & 7]) : (uint8_t)(seed >> 16);
    }
    return p;
}

static void test_round_trips_and_fragments(void)
{
    static const size_t sizes[] = {1, 5, 100, 4096, 100000, 300000};
    sc_ws_deflater *d = sc_ws_deflater_new(15, 8, -1, 0);
    sc_ws_inflater *inf = sc_ws_inflater_new(15, 0);
    sc_ws_inflater *pieces = sc_ws_inflater_new(15, 0);
    sc_ws_buf z = {0}, plain = {0}, plain2 = {0};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        for (int comp = 0; comp < 2; comp++) {
            uint8_t *data = make_data(sizes[k], (uint32_t)(k * 2 + (size_t)comp), comp);
            z.len = plain.len = plain2.len = 0;
            CHECK(sc_ws_deflate_message(d, data, sizes[k], &z) == SC_OK);
            if (comp && sizes[k] > 1000)
                CHECK(z.len < sizes[k] / 2);
            CHECK(sc_ws_inflate(inf, z.data, z.len, 1, NOLIMIT, &plain) == SC_OK);
            CHECK(buf_is(&plain, data, sizes[k]));
            /* the same message in fragments of varying size, last one empty */
            size_t off = 0, step = 1;
            int ok = 1;
            while (off < z.len) {
                size_t take = step < z.len - off ? step : z.len - off;
                ok &= sc_ws_inflate(pieces, z.data + off, take, 0, NOLIMIT, &plain2) == SC_OK;
                off += take;
                step = step * 3 + 1;
            }
            ok &= sc_ws_inflate(pieces, NULL, 0, 1, NOLIMIT, &plain2) == SC_OK;
            CHECK(ok);
            CHECK(buf_is(&plain2, data, sizes[k]));
            free(data);
        }
    }
    sc_ws_deflater_free(d);
    sc_ws_inflater_free(inf);
    sc_ws_inflater_free(pieces);
    sc_ws_buf_free(&z);
    sc_ws_buf_free(&plain);
    sc_ws_buf_free(&plain2);
}

static void test_byte_by_byte_inflate(void)
{
    uint8_t *data = make_data(5000, 7, 1);
    sc_ws_deflater *d = sc_ws_deflater_new(12, 8, 9, 0);
    sc_ws_inflater *inf = sc_ws_inflater_new(12, 0);
    sc_ws_buf z = {0}, out = {0};
    CHECK(sc_ws_deflate_message(d, data, 5000, &z) == SC_OK);
    int ok = 1;
    for (size_t i = 0; i < z.len; i++)
        ok &= sc_ws_inflate(inf, z.data + i, 1, i + 1 == z.len, NOLIMIT, &out) == SC_OK;
    CHECK(ok && buf_is(&out, data, 5000));
    sc_ws_deflater_free(d);
    sc_ws_inflater_free(inf);
    sc_ws_buf_free(&z);
    sc_ws_buf_free(&out);
    free(data);
}

static void test_no_context_takeover_is_independent(void)
{
    sc_ws_deflater *d = sc_ws_deflater_new(15, 8, -1, SC_WS_Z_NO_CONTEXT);
    sc_ws_buf a = {0}, b = {0};
    CHECK(sc_ws_deflate_message(d, (const uint8_t *)"Hello", 5, &a) == SC_OK);
    CHECK(sc_ws_deflate_message(d, (const uint8_t *)"Hello", 5, &b) == SC_OK);
    CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
    /* so an inflater without the window reads each one */
    b.len = 0;
    sc_ws_inflater *inf = sc_ws_inflater_new(15, SC_WS_Z_NO_CONTEXT);
    CHECK(sc_ws_inflate(inf, a.data, a.len, 1, NOLIMIT, &b) == SC_OK);
    CHECK(sc_ws_inflate(inf, a.data, a.len, 1, NOLIMIT, &b) == SC_OK);
    CHECK(buf_is(&b, "HelloHello", 10));
    sc_ws_inflater_free(inf);
    sc_ws_deflater_free(d);
    sc_ws_buf_free(&a);
    sc_ws_buf_free(&b);
}

static void test_window_bits(void)
{
    /* 4 KiB of noise twice: the repeat is 4096 bytes back */
    uint8_t *noise = make_data(4096, 99, 0), *data = malloc(8192);
    memcpy(data, noise, 4096);
    memcpy(data + 4096, noise, 4096);
    sc_ws_buf z = {0}, out = {0};
    sc_ws_deflater *wide = sc_ws_deflater_new(15, 8, -1, 0);
    CHECK(sc_ws_deflate_message(wide, data, 8192, &z) == SC_OK);
    CHECK(z.len < 6000); /* the repeat was found */
    sc_ws_inflater *narrow = sc_ws_inflater_new(9, 0);
    /* (zlib does not promise to reject a distance past a smaller window when
     * the target is still in its output buffer, so that is not asserted.) */
    CHECK(sc_ws_inflate(narrow, (const uint8_t *)"\xff\xff", 2, 1, NOLIMIT, &out) ==
          -SC_WS_CLOSE_INVALID_DATA);
    /* sticky until reset */
    CHECK(sc_ws_inflate(narrow, (const uint8_t *)"\x00", 1, 1, NOLIMIT, &out) ==
          -SC_WS_CLOSE_INVALID_DATA);
    sc_ws_inflater_reset(narrow);
    out.len = 0;
    CHECK(sc_ws_inflate(narrow, (const uint8_t *)"\xf2\x48\xcd\xc9\xc9\x07\x00", 7, 1, NOLIMIT,
                        &out) == SC_OK);
    CHECK(buf_is(&out, "Hello", 5));

    /* a 9-bit compressor's output is read by a 9-bit inflater, and by an
     * inflater asked for 8 (which reads 9-bit windows too) */
    sc_ws_deflater *small = sc_ws_deflater_new(9, 8, -1, 0);
    sc_ws_inflater *eight = sc_ws_inflater_new(8, 0);
    z.len = 0;
    CHECK(sc_ws_deflate_message(small, data, 8192, &z) == SC_OK);
    CHECK(z.len > 8000); /* no 4096-byte match in a 512-byte window */
    out.len = 0;
    sc_ws_inflater_reset(narrow);
    CHECK(sc_ws_inflate(narrow, z.data, z.len, 1, NOLIMIT, &out) == SC_OK);
    CHECK(buf_is(&out, data, 8192));
    out.len = 0;
    CHECK(sc_ws_inflate(eight, z.data, z.len, 1, NOLIMIT, &out) == SC_OK);
    CHECK(buf_is(&out, data, 8192));

    sc_ws_deflater_free(wide);
    sc_ws_deflater_free(small);
    sc_ws_inflater_free(narrow);
    sc_ws_inflater_free(eight);
    sc_ws_buf_free(&z);
    sc_ws_buf_free(&out);
    free(noise);
    free(data);
}

static void test_size_limit_zip_bomb(void)
{
    size_t n = 4u << 20; /* 4 MiB of zeros deflate to a few KiB */
    uint8_t *zeros = calloc(n, 1);
    sc_ws_buf z = {0}, out = {0};
    sc_ws_deflater *d = sc_ws_deflater_new(15, 9, 9, 0);
    CHECK(sc_ws_deflate_message(d, zeros, n, &z) == SC_OK);
    CHECK(z.len < 8192);

    sc_ws_inflater *inf = sc_ws_inflater_new(15, 0);
    CHECK(sc_ws_inflate(inf, z.data, z.len, 1, 1000, &out) == -SC_WS_CLOSE_TOO_BIG);
    CHECK(out.len <= 1001 && out.cap <= 2048); /* stopped right after the limit */
    CHECK(sc_ws_inflate(inf, z.data, z.len, 1, NOLIMIT, &out) == -SC_WS_CLOSE_TOO_BIG);
    sc_ws_inflater_free(inf);

    /* exactly at the limit passes; one byte less fails */
    inf = sc_ws_inflater_new(15, 0);
    out.len = 0;
    CHECK(sc_ws_inflate(inf, z.data, z.len, 1, n, &out) == SC_OK && out.len == n);
    sc_ws_inflater_free(inf);
    inf = sc_ws_inflater_new(15, 0);
    sc_ws_buf_free(&out);
    CHECK(sc_ws_inflate(inf, z.data, z.len, 1, n - 1, &out) == -SC_WS_CLOSE_TOO_BIG);
    CHECK(out.len == n);
    sc_ws_inflater_free(inf);

    /* the limit counts the whole message across fragments, and restarts per message */
    inf = sc_ws_inflater_new(15, 0);
    sc_ws_buf_free(&out);
    size_t half = z.len / 2;
    CHECK(sc_ws_inflate(inf, z.data, half, 0, n, &out) == SC_OK);
    CHECK(sc_ws_inflate(inf, z.data + half, z.len - half, 1, n, &out) == SC_OK);
    CHECK(out.len == n);
    sc_ws_buf small = {0};
    CHECK(sc_ws_inflate(inf, (const uint8_t *)"\x00", 1, 1, 0, &small) == SC_OK);
    sc_ws_inflater_free(inf);
    inf = sc_ws_inflater_new(15, 0);
    out.len = 0;
    CHECK(sc_ws_inflate(inf, z.data, half, 0, n / 2, &out) == SC_OK ||
          out.len > n / 2); /* may or may not reach it within the first half */
    CHECK(sc_ws_inflate(inf, z.data + half, z.len - half, 1, n / 2, &out) == -SC_WS_CLOSE_TOO_BIG);
    sc_ws_inflater_free(inf);

    sc_ws_deflater_free(d);
    sc_ws_buf_free(&z);
    sc_ws_buf_free(&out);
    sc_ws_buf_free(&small);
    free(zeros);
}

static void test_corrupt_input(void)
{
    static const struct {
        const char *in;
        size_t n;
    } bad[] = {
        {"\xff\xff\xff", 3},               /* reserved block type */
        {"\x00\x05\x00\x00\x00Hello", 10}, /* stored block with a bad NLEN */
        {"\x07", 1},                       /* reserved block type, BFINAL */
    };
    sc_ws_buf out = {0};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        out.len = 0;
        CHECK(inflate_all(bad[i].in, bad[i].n, &out) == -SC_WS_CLOSE_INVALID_DATA);
    }
    sc_ws_buf_free(&out);
}

static void test_shared(void)
{
    sc_ws_deflater *shared = sc_ws_deflater_new(15, 8, -1, SC_WS_Z_SHARED);
    sc_ws_buf a = {0}, b = {0}, c = {0};
    /* "two connections" alternate: each message stands alone */
    CHECK(sc_ws_deflate_message(shared, (const uint8_t *)"Hello", 5, &a) == SC_OK);
    CHECK(sc_ws_deflate_message(shared, (const uint8_t *)"secret", 6, &c) == SC_OK);
    CHECK(sc_ws_deflate_message(shared, (const uint8_t *)"Hello", 5, &b) == SC_OK);
    CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);

    sc_ws_inflater *inf = sc_ws_inflater_new(15, SC_WS_Z_SHARED);
    sc_ws_buf out = {0};
    CHECK(sc_ws_inflate(inf, a.data, a.len, 0, NOLIMIT, &out) == SC_ESTATE);
    CHECK(sc_ws_inflate(inf, a.data, a.len, 1, NOLIMIT, &out) == SC_OK);
    CHECK(sc_ws_inflate(inf, c.data, c.len, 1, NOLIMIT, &out) == SC_OK);
    CHECK(buf_is(&out, "Hellosecret", 11));
    sc_ws_inflater_free(inf);
    sc_ws_deflater_free(shared);
    sc_ws_buf_free(&a);
    sc_ws_buf_free(&b);
    sc_ws_buf_free(&c);
    sc_ws_buf_free(&out);
}

static void test_bad_arguments(void)
{
    CHECK(sc_ws_deflater_new(8, 8, -1, 0) == NULL);
    CHECK(sc_ws_deflater_new(16, 8, -1, 0) == NULL);
    CHECK(sc_ws_deflater_new(15, 0, -1, 0) == NULL);
    CHECK(sc_ws_deflater_new(15, 10, -1, 0) == NULL);
    CHECK(sc_ws_deflater_new(15, 8, 10, 0) == NULL);
    CHECK(sc_ws_deflater_new(15, 8, -2, 0) == NULL);
    CHECK(sc_ws_inflater_new(7, 0) == NULL);
    CHECK(sc_ws_inflater_new(16, 0) == NULL);
    sc_ws_deflater_free(NULL);
    sc_ws_inflater_free(NULL);
    sc_ws_buf b = {0};
    CHECK(sc_ws_buf_reserve(&b, SIZE_MAX) == SC_ENOMEM);
    CHECK(sc_ws_buf_reserve(&b, 10) == SC_OK && b.cap >= 10);
    sc_ws_buf_free(&b);
    CHECK(b.data == NULL && b.cap == 0);
}

static void test_output_appends(void)
{
    sc_ws_buf out = {0};
    sc_ws_buf_reserve(&out, 3);
    memcpy(out.data, "hdr", 3);
    out.len = 3; /* room for a frame header in front, as the writer will want */
    sc_ws_deflater *d = sc_ws_deflater_new(15, 8, -1, 0);
    CHECK(sc_ws_deflate_message(d, (const uint8_t *)"Hello", 5, &out) == SC_OK);
    CHECK(buf_is(&out, "hdr\xf2\x48\xcd\xc9\xc9\x07\x00", 10));
    sc_ws_inflater *inf = sc_ws_inflater_new(15, 0);
    sc_ws_buf plain = {0};
    CHECK(sc_ws_inflate(inf, out.data + 3, out.len - 3, 1, NOLIMIT, &plain) == SC_OK);
    CHECK(sc_ws_inflate(inf, out.data + 3, 0, 1, NOLIMIT, &plain) == SC_OK); /* empty payload */
    CHECK(buf_is(&plain, "Hello", 5));
    sc_ws_deflater_free(d);
    sc_ws_inflater_free(inf);
    sc_ws_buf_free(&out);
    sc_ws_buf_free(&plain);
}

int main(void)
{
    test_rfc7692_examples();
    test_empty_message();
    test_round_trips_and_fragments();
    test_byte_by_byte_inflate();
    test_no_context_takeover_is_independent();
    test_window_bits();
    test_size_limit_zip_bomb();
    test_corrupt_input();
    test_shared();
    test_bad_arguments();
    test_output_appends();
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
