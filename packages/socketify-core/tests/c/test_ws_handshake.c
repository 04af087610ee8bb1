/* test_ws_handshake.c - SHA-1 (FIPS 180 vectors), base64 (RFC 4648
 * vectors), Sec-WebSocket-Accept (RFC 6455 example), upgrade request checks,
 * token lists and permessage-deflate negotiation (RFC 7692). */
#include <stdio.h>
#include <string.h>

#include "ws_handshake.h"

#include "check.h"

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static int sha1_is(const void *data, size_t len, const char *want)
{
    uint8_t d[20];
    char h[41];
    sc_sha1(data, len, d);
    hex(d, 20, h);
    if (strcmp(h, want) != 0)
        fprintf(stderr, "sha1 got %s want %s\n", h, want);
    return strcmp(h, want) == 0;
}

static void test_sha1_fips_vectors(void)
{
    CHECK(sha1_is("abc", 3, "a9993e364706816aba3e25717850c26c9cd0d89d"));
    CHECK(sha1_is("", 0, "da39a3ee5e6b4b0d3255bfef95601890afd80709"));
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    CHECK(sha1_is(two, strlen(two), "84983e441c3bd26ebaae4aa1f95129e5e54670f1"));
    const char *four = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                       "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    CHECK(sha1_is(four, strlen(four), "a49b2446a02c645bf419f995b67091253a04a259"));
}

static void test_sha1_million_a_incremental(void)
{
    static uint8_t chunk[1000];
    memset(chunk, 'a', sizeof chunk);
    sc_sha1_ctx c;
    sc_sha1_init(&c);
    /* odd piece sizes cross every block boundary position */
    size_t left = 1000000, step = 1;
    while (left) {
        size_t k = step < left ? step : left;
        sc_sha1_update(&c, chunk, k);
        left -= k;
        step = step % 990 + 7; /* stays below sizeof chunk */
    }
    uint8_t d[20];
    char h[41];
    sc_sha1_final(&c, d);
    hex(d, 20, h);
    CHECK(strcmp(h, "34aa973cd4c4daa4f61eeb2bdbad27316534016f") == 0);
}

static void test_sha1_padding_boundaries(void)
{
    static const struct {
        size_t n;
        const char *digest;
    } v[] = {
        {55, "c1c8bbdc22796e28c0e15163d20899b65621d65a"},
        {56, "c2db330f6083854c99d4b5bfb6e8f29f201be699"},
        {57, "f08f24908d682555111be7ff6f004e78283d989a"},
        {63, "03f09f5b158a7a8cdad920bddc29b81c18a551f5"},
        {64, "0098ba824b5c16427bd7a1122a5a442a25ec644d"},
        {65, "11655326c708d70319be2610e8a57d9a5b959d3b"},
        {119, "ee971065aaa017e0632a8ca6c77bb3bf8b1dfc56"},
        {120, "f34c1488385346a55709ba056ddd08280dd4c6d6"},
    };
    uint8_t a[120];
    memset(a, 'a', sizeof a);
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        CHECK(sha1_is(a, v[i].n, v[i].digest));
        /* every split of the input into two updates gives the same digest */
        uint8_t one[20];
        sc_sha1(a, v[i].n, one);
        int same = 1;
        for (size_t cut = 0; cut <= v[i].n; cut++) {
            sc_sha1_ctx c;
            uint8_t two[20];
            sc_sha1_init(&c);
            sc_sha1_update(&c, a, cut);
            sc_sha1_update(&c, a + cut, v[i].n - cut);
            sc_sha1_final(&c, two);
            same &= memcmp(one, two, 20) == 0;
        }
        CHECK(same);
    }
}

static void test_base64_vectors(void)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const enc[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char out[16];
        size_t n = strlen(plain[i]);
        size_t k = sc_base64_encode((const uint8_t *)plain[i], n, out);
        CHECK(k == SC_BASE64_ENCODED_LEN(n));
        CHECK(k == strlen(enc[i]) && memcmp(out, enc[i], k) == 0);
        uint8_t back[16];
        long d = sc_base64_decode(enc[i], strlen(enc[i]), back, sizeof back);
        CHECK(d == (long)n && memcmp(back, plain[i], n) == 0);
    }
    /* all byte values round-trip, including + and / */
    uint8_t all[256], back[256];
    char text[SC_BASE64_ENCODED_LEN(256)];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)(255 - i);
    size_t k = sc_base64_encode(all, 256, text);
    CHECK(memchr(text, '+', k) != NULL && memchr(text, '/', k) != NULL);
    CHECK(sc_base64_decode(text, k, back, sizeof back) == 256 && memcmp(all, back, 256) == 0);
}

static void test_base64_rejects(void)
{
    uint8_t out[16];
    CHECK(sc_base64_decode("Zg=", 3, out, sizeof out) == -1);      /* not a multiple of 4 */
    CHECK(sc_base64_decode("Z===", 4, out, sizeof out) == -1);     /* too much padding */
    CHECK(sc_base64_decode("Zg==Zg==", 8, out, sizeof out) == -1); /* padding inside */
    CHECK(sc_base64_decode("Zm9v!A==", 8, out, sizeof out) == -1); /* not the alphabet */
    CHECK(sc_base64_decode("=AAA", 4, out, sizeof out) == -1);     /* padding first */
    CHECK(sc_base64_decode("Zm-v", 4, out, sizeof out) == -1);     /* url-safe alphabet */
    CHECK(sc_base64_decode("Zm9vYmFy", 8, out, 5) == -1);          /* does not fit */
    CHECK(sc_base64_decode("Zm9vYmFy", 8, out, 6) == 6);
}

static void test_accept_key_rfc6455_example(void)
{
    char out[SC_WS_ACCEPT_LEN + 1];
    CHECK(sc_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out) == SC_OK);
    CHECK(strcmp(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0);
    CHECK(sc_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ=", 23, out) == SC_EINVAL);
    CHECK(sc_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ!!", 24, out) == SC_EINVAL);
    /* 24 chars that decode to 17 bytes: not a key */
    CHECK(sc_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ1A", 24, out) == SC_EINVAL);
}

#define H(n, v) {n, (uint32_t)(sizeof n - 1), v, (uint32_t)(sizeof v - 1)}

static void test_handshake_valid(void)
{
    sc_header h[] = {
        H("host", "example.com"),         H("upgrade", "websocket"),
        H("connection", "Upgrade"),       H("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        H("sec-websocket-version", "13"),
    };
    const char *key = NULL;
    uint32_t key_len = 0;
    CHECK(sc_ws_handshake_check(h, 5, &key, &key_len) == SC_WS_HS_OK);
    CHECK(key_len == 24 && key && memcmp(key, "dGhlIHNhbXBsZSBub25jZQ==", 24) == 0);

    /* token lists, case-insensitive tokens, Connection split over two fields */
    sc_header h2[] = {
        H("upgrade", "h2c, WebSocket"),
        H("connection", "keep-alive"),
        H("connection", " keep-alive ,  UPGRADE "),
        H("sec-websocket-version", "13"),
        H("sec-websocket-key", "AAAAAAAAAAAAAAAAAAAAAA=="),
    };
    CHECK(sc_ws_handshake_check(h2, 5, NULL, NULL) == SC_WS_HS_OK);
}

static void test_handshake_rejects(void)
{
    sc_header no_upgrade[] = {H("connection", "upgrade"), H("sec-websocket-version", "13"),
                              H("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")};
    CHECK(sc_ws_handshake_check(no_upgrade, 3, NULL, NULL) == SC_WS_HS_NO_UPGRADE);
    sc_header wrong_upgrade[] = {H("upgrade", "websocketx"), H("connection", "upgrade"),
                                 H("sec-websocket-version", "13"),
                                 H("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")};
    CHECK(sc_ws_handshake_check(wrong_upgrade, 4, NULL, NULL) == SC_WS_HS_NO_UPGRADE);
    CHECK(sc_ws_handshake_status(SC_WS_HS_NO_UPGRADE) == 400);

    sc_header no_conn[] = {H("upgrade", "websocket"), H("connection", "upgraded, close"),
                           H("sec-websocket-version", "13"),
                           H("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")};
    CHECK(sc_ws_handshake_check(no_conn, 4, NULL, NULL) == SC_WS_HS_NO_CONNECTION);
    CHECK(sc_ws_handshake_status(SC_WS_HS_NO_CONNECTION) == 400);

    sc_header v8[] = {H("upgrade", "websocket"), H("connection", "upgrade"),
                      H("sec-websocket-version", "8"),
                      H("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")};
    CHECK(sc_ws_handshake_check(v8, 4, NULL, NULL) == SC_WS_HS_BAD_VERSION);
    CHECK(sc_ws_handshake_status(SC_WS_HS_BAD_VERSION) == 426);
    CHECK(sc_ws_handshake_check(v8, 2, NULL, NULL) == SC_WS_HS_BAD_VERSION); /* missing */
    sc_header two_v[] = {H("upgrade", "websocket"), H("connection", "upgrade"),
                         H("sec-websocket-version", "13"), H("sec-websocket-version", "13"),
                         H("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")};
    CHECK(sc_ws_handshake_check(two_v, 5, NULL, NULL) == SC_WS_HS_BAD_VERSION);
    sc_header v13list[] = {H("upgrade", "websocket"), H("connection", "upgrade"),
                           H("sec-websocket-version", "13, 8"),
                           H("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")};
    CHECK(sc_ws_handshake_check(v13list, 4, NULL, NULL) == SC_WS_HS_BAD_VERSION);

    sc_header base[] = {H("upgrade", "websocket"), H("connection", "upgrade"),
                        H("sec-websocket-version", "13"), H("sec-websocket-key", "")};
    CHECK(sc_ws_handshake_check(base, 3, NULL, NULL) == SC_WS_HS_BAD_KEY); /* missing */
    static const char *const bad_keys[] = {
        "",
        "dGhlIHNhbXBsZSBub25jZQ=",      /* 23 chars */
        "dGhlIHNhbXBsZSBub25j",         /* 15 bytes */
        "dGhlIHNhbXBsZSBub25jZQ==AAAA", /* 19 bytes */
        "dGhlIHNhbXBsZSBub25jZQ!=",     /* not base64 */
        "dGhlIHNhbXBsZSBub25jZ===",     /* bad padding */
    };
    for (size_t i = 0; i < sizeof bad_keys / sizeof bad_keys[0]; i++) {
        base[3].value = bad_keys[i];
        base[3].value_len = (uint32_t)strlen(bad_keys[i]);
        CHECK(sc_ws_handshake_check(base, 4, NULL, NULL) == SC_WS_HS_BAD_KEY);
    }
    sc_header two_keys[] = {H("upgrade", "websocket"), H("connection", "upgrade"),
                            H("sec-websocket-version", "13"),
                            H("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
                            H("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")};
    CHECK(sc_ws_handshake_check(two_keys, 5, NULL, NULL) == SC_WS_HS_BAD_KEY);
    CHECK(sc_ws_handshake_status(SC_WS_HS_BAD_KEY) == 400);
}

static void test_list_next(void)
{
    const char *v = " chat ,, superchat,v2.json ", *pos = v, *end = v + strlen(v), *tok;
    size_t len;
    CHECK(sc_ws_list_next(&pos, end, &tok, &len) == 1 && len == 4 && !memcmp(tok, "chat", 4));
    CHECK(sc_ws_list_next(&pos, end, &tok, &len) == 1 && len == 9 && !memcmp(tok, "superchat", 9));
    CHECK(sc_ws_list_next(&pos, end, &tok, &len) == 1 && len == 7 && !memcmp(tok, "v2.json", 7));
    CHECK(sc_ws_list_next(&pos, end, &tok, &len) == 0);
    const char *e = "", *epos = e;
    CHECK(sc_ws_list_next(&epos, e, &tok, &len) == 0);
    const char *bad = "a b", *bpos = bad;
    CHECK(sc_ws_list_next(&bpos, bad + 3, &tok, &len) == -1);
    const char *semi = "a;b", *spos = semi;
    CHECK(sc_ws_list_next(&spos, semi + 3, &tok, &len) == -1);
}

static void test_protocol_offered(void)
{
    sc_header h[] = {H("sec-websocket-protocol", "chat, superchat"), H("host", "x"),
                     H("sec-websocket-protocol", "mqtt")};
    CHECK(sc_ws_protocol_offered(h, 3, "chat", 4) == 1);
    CHECK(sc_ws_protocol_offered(h, 3, "superchat", 9) == 1);
    CHECK(sc_ws_protocol_offered(h, 3, "mqtt", 4) == 1);
    CHECK(sc_ws_protocol_offered(h, 3, "Chat", 4) == 0); /* case-sensitive */
    CHECK(sc_ws_protocol_offered(h, 3, "cha", 3) == 0);
    CHECK(sc_ws_protocol_offered(h, 1, "mqtt", 4) == 0);
}

static const sc_ws_deflate_config DEFAULTS = {15, 15, 0, 0};

/* negotiate one value, render the response; "" when declined, "ERR" on a
 * syntax error */
static const char *nego(const char *offer, const sc_ws_deflate_config *cfg, sc_ws_deflate_params *p)
{
    static char out[SC_WS_EXT_RESPONSE_MAX + 1];
    sc_ws_deflate_params tmp;
    if (!p)
        p = &tmp;
    int r = sc_ws_deflate_negotiate_value(offer, strlen(offer), cfg, p);
    if (r < 0)
        return "ERR";
    if (r == 0)
        return "";
    int n = sc_ws_deflate_response(p, out, sizeof out);
    if (n < 0)
        return "RESPONSE-ERR";
    out[n] = '\0';
    return out;
}

#define NEGO_IS(offer, cfg, want) CHECK(strcmp(nego(offer, cfg, NULL), want) == 0)

static void test_deflate_accepts(void)
{
    sc_ws_deflate_params p;
    CHECK(strcmp(nego("permessage-deflate", &DEFAULTS, &p), "permessage-deflate") == 0);
    CHECK(p.server_max_window_bits == 15 && p.client_max_window_bits == 15);
    CHECK(!p.server_no_context_takeover && !p.client_no_context_takeover);

    /* client_max_window_bits without a value: we may choose, 15 means say nothing */
    NEGO_IS("permessage-deflate; client_max_window_bits", &DEFAULTS, "permessage-deflate");
    sc_ws_deflate_config small = {15, 10, 0, 0};
    CHECK(strcmp(nego("permessage-deflate; client_max_window_bits", &small, &p),
                 "permessage-deflate; client_max_window_bits=10") == 0);
    CHECK(p.client_max_window_bits == 10);
    /* without the offer we may not send it, and the client keeps 15 */
    CHECK(strcmp(nego("permessage-deflate", &small, &p), "permessage-deflate") == 0);
    CHECK(p.client_max_window_bits == 15);

    CHECK(strcmp(nego("permessage-deflate; client_max_window_bits=12", &DEFAULTS, &p),
                 "permessage-deflate; client_max_window_bits=12") == 0);
    CHECK(p.client_max_window_bits == 12);
    NEGO_IS("permessage-deflate; client_max_window_bits=8", &DEFAULTS,
            "permessage-deflate; client_max_window_bits=8");
    NEGO_IS("permessage-deflate; client_max_window_bits=12", &small,
            "permessage-deflate; client_max_window_bits=10");

    CHECK(strcmp(nego("permessage-deflate; server_max_window_bits=10", &DEFAULTS, &p),
                 "permessage-deflate; server_max_window_bits=10") == 0);
    CHECK(p.server_max_window_bits == 10);
    sc_ws_deflate_config srv12 = {12, 15, 0, 0};
    NEGO_IS("permessage-deflate; server_max_window_bits=15", &srv12,
            "permessage-deflate; server_max_window_bits=12");
    CHECK(strcmp(nego("permessage-deflate", &srv12, &p), "permessage-deflate") == 0);
    CHECK(p.server_max_window_bits == 12);

    CHECK(strcmp(nego("permessage-deflate; server_no_context_takeover", &DEFAULTS, &p),
                 "permessage-deflate; server_no_context_takeover") == 0);
    CHECK(p.server_no_context_takeover == 1);
    CHECK(strcmp(nego("permessage-deflate; client_no_context_takeover", &DEFAULTS, &p),
                 "permessage-deflate; client_no_context_takeover") == 0);
    CHECK(p.client_no_context_takeover == 1);
    sc_ws_deflate_config shared = {15, 15, 1, 1};
    NEGO_IS("permessage-deflate", &shared,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover");

    /* quoted values are unescaped and must be tokens */
    NEGO_IS("permessage-deflate; client_max_window_bits=\"10\"", &DEFAULTS,
            "permessage-deflate; client_max_window_bits=10");
    NEGO_IS("permessage-deflate; client_max_window_bits=\"1\\1\"", &DEFAULTS,
            "permessage-deflate; client_max_window_bits=11");
    /* whitespace and case */
    NEGO_IS("  Permessage-Deflate ;  Server_Max_Window_Bits = 9 ", &DEFAULTS,
            "permessage-deflate; server_max_window_bits=9");
    /* other extensions are ignored */
    NEGO_IS("x-webkit-deflate-frame, permessage-deflate; client_max_window_bits=9", &DEFAULTS,
            "permessage-deflate; client_max_window_bits=9");

    /* everything at once, and the buffer bound */
    sc_ws_deflate_config all = {9, 8, 1, 1};
    const char *full =
        nego("permessage-deflate; server_max_window_bits=15; client_max_window_bits", &all, &p);
    CHECK(strcmp(full, "permessage-deflate; server_no_context_takeover; "
                       "client_no_context_takeover; server_max_window_bits=9; "
                       "client_max_window_bits=8") == 0);
    CHECK(strlen(full) <= SC_WS_EXT_RESPONSE_MAX);
    char tiny[20];
    CHECK(sc_ws_deflate_response(&p, tiny, sizeof tiny) == SC_EINVAL);
    sc_ws_deflate_params garbage = p;
    garbage.server_max_window_bits = 200;
    char big[SC_WS_EXT_RESPONSE_MAX];
    CHECK(sc_ws_deflate_response(&garbage, big, sizeof big) == SC_EINVAL);
}

static void test_deflate_declines(void)
{
    static const char *const declined[] = {
        "permessage-deflate; server_max_window_bits",   /* a value is required */
        "permessage-deflate; server_max_window_bits=8", /* zlib cannot do a 256-byte window */
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; client_max_window_bits=07", /* leading zero */
        "permessage-deflate; client_max_window_bits=abc",
        "permessage-deflate; client_max_window_bits=\"\"",
        "permessage-deflate; client_max_window_bits=\"1 0\"", /* not a token inside */
        "permessage-deflate; client_max_window_bits=123456789012",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover=\"x\"",
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
        "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
        "permessage-deflate; mux",
        "x-webkit-deflate-frame",
        "deflate-stream",
        "",
        " , ,",
    };
    for (size_t i = 0; i < sizeof declined / sizeof declined[0]; i++) {
        int ok = strcmp(nego(declined[i], &DEFAULTS, NULL), "") == 0;
        if (!ok)
            fprintf(stderr, "not declined: %s\n", declined[i]);
        CHECK(ok);
    }
    /* a declined offer falls back to the next one */
    NEGO_IS("permessage-deflate; server_max_window_bits=8, permessage-deflate; "
            "client_max_window_bits",
            &DEFAULTS, "permessage-deflate");
    NEGO_IS("permessage-deflate; foo, permessage-deflate; server_no_context_takeover", &DEFAULTS,
            "permessage-deflate; server_no_context_takeover");
    /* the first acceptable offer wins */
    NEGO_IS("permessage-deflate; server_max_window_bits=10, permessage-deflate", &DEFAULTS,
            "permessage-deflate; server_max_window_bits=10");
}

static void test_deflate_syntax_errors(void)
{
    static const char *const bad[] = {
        "permessage-deflate;",           "permessage-deflate; ",
        "permessage-deflate;;",          "permessage-deflate x",
        "permessage-deflate; a=",        "permessage-deflate; a=\"unterminated",
        "permessage-deflate; a=\"bad\\", "permessage-deflate; a=b c",
        "permessage-deflate; =10",       "permessage/deflate",
        "\"permessage-deflate\"",        "permessage-deflate, ;",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int ok = strcmp(nego(bad[i], &DEFAULTS, NULL), "ERR") == 0;
        if (!ok)
            fprintf(stderr, "not a syntax error: %s\n", bad[i]);
        CHECK(ok);
    }
}

static void test_deflate_negotiate_headers(void)
{
    sc_ws_deflate_params p;
    sc_header h[] = {
        H("sec-websocket-extensions", "permessage-deflate; foo"),
        H("host", "x"),
        H("sec-websocket-extensions", "permessage-deflate; client_max_window_bits=11"),
        H("sec-websocket-extensions", "permessage-deflate"),
    };
    CHECK(sc_ws_deflate_negotiate(h, 4, &DEFAULTS, &p) == 1);
    CHECK(p.client_max_window_bits == 11 && p.send_client_max_window_bits == 1);
    CHECK(sc_ws_deflate_negotiate(h, 2, &DEFAULTS, &p) == 0);
    sc_header broken[] = {
        H("sec-websocket-extensions", "permessage-deflate"),
        H("sec-websocket-extensions", "permessage-deflate;;"),
    };
    CHECK(sc_ws_deflate_negotiate(broken, 2, &DEFAULTS, &p) == 0);
    CHECK(sc_ws_deflate_negotiate(broken, 1, &DEFAULTS, &p) == 1);
    CHECK(sc_ws_deflate_negotiate(NULL, 0, &DEFAULTS, &p) == 0);
}

int main(void)
{
    test_sha1_fips_vectors();
    test_sha1_million_a_incremental();
    test_sha1_padding_boundaries();
    test_base64_vectors();
    test_base64_rejects();
    test_accept_key_rfc6455_example();
    test_handshake_valid();
    test_handshake_rejects();
    test_list_next();
    test_protocol_offered();
    test_deflate_accepts();
    test_deflate_declines();
    test_deflate_syntax_errors();
    test_deflate_negotiate_headers();
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
