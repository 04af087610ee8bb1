/* fuzz_ws_handshake.c - libFuzzer target for the handshake text parsers:
 * Sec-WebSocket-Extensions negotiation, token lists, base64, the upgrade
 * check.  The first byte picks the server's deflate config; the rest is the
 * header text.  -DSC_FUZZ_STANDALONE adds a corpus-replay main().
 *
 * Properties:
 *   - an accepted offer has parameters in range and no larger than the
 *     config, and its response renders; the response, read back as an offer
 *     with the same config, is accepted and renders to the same text;
 *   - every token sc_ws_list_next returns lies inside the input, is
 *     non-empty, and the walk makes progress;
 *   - base64: decode(encode(x)) == x;
 *   - the upgrade check never reports OK without a 24-char key.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws_handshake.h"

#define FZ_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

static void fz_negotiation(uint8_t pick, const char *text, size_t n)
{
    sc_ws_deflate_config cfg = {
        (uint8_t)(9 + pick % 7),
        (uint8_t)(8 + (pick >> 3) % 8),
        (uint8_t)((pick >> 6) & 1),
        (uint8_t)(pick >> 7),
    };
    sc_ws_deflate_params p;
    int r = sc_ws_deflate_negotiate_value(text, n, &cfg, &p);
    FZ_CHECK(r >= -1 && r <= 1);
    if (r != 1)
        return;
    FZ_CHECK(p.server_max_window_bits >= 9 &&
             p.server_max_window_bits <= cfg.server_max_window_bits);
    FZ_CHECK(p.client_max_window_bits >= 8 && p.client_max_window_bits <= 15);
    FZ_CHECK(!p.send_client_max_window_bits ||
             p.client_max_window_bits <= cfg.client_max_window_bits);
    char resp[SC_WS_EXT_RESPONSE_MAX];
    int len = sc_ws_deflate_response(&p, resp, sizeof resp);
    FZ_CHECK(len > 0 && len <= SC_WS_EXT_RESPONSE_MAX);

    sc_ws_deflate_params again;
    FZ_CHECK(sc_ws_deflate_negotiate_value(resp, (size_t)len, &cfg, &again) == 1);
    char resp2[SC_WS_EXT_RESPONSE_MAX];
    int len2 = sc_ws_deflate_response(&again, resp2, sizeof resp2);
    FZ_CHECK(len2 == len && memcmp(resp, resp2, (size_t)len) == 0);
}

static void fz_list(const char *text, size_t n)
{
    const char *pos = text, *end = text + n, *tok;
    size_t len;
    for (;;) {
        const char *before = pos;
        int r = sc_ws_list_next(&pos, end, &tok, &len);
        if (r != 1)
            break;
        FZ_CHECK(len > 0 && tok >= text && tok + len <= end);
        FZ_CHECK(pos > before && pos <= end);
    }
}

static void fz_base64(const uint8_t *data, size_t n)
{
    if (n > 3000)
        n = 3000;
    char *enc = malloc(SC_BASE64_ENCODED_LEN(n) + 1);
    uint8_t *dec = malloc(n + 3);
    size_t k = sc_base64_encode(data, n, enc);
    FZ_CHECK(k == SC_BASE64_ENCODED_LEN(n));
    FZ_CHECK(sc_base64_decode(enc, k, dec, n + 3) == (long)n);
    FZ_CHECK(n == 0 || memcmp(dec, data, n) == 0);
    /* arbitrary text: a result fits the bound */
    long d = sc_base64_decode((const char *)data, n, dec, n + 3);
    FZ_CHECK(d == -1 || (d >= 0 && (size_t)d <= n));
    free(enc);
    free(dec);
}

static void fz_upgrade(const char *text, size_t n)
{
    /* four values cut at the first three '\n' */
    static const char *const names[4] = {"upgrade", "connection", "sec-websocket-version",
                                         "sec-websocket-key"};
    sc_header h[4];
    size_t start = 0;
    for (int i = 0; i < 4; i++) {
        size_t end = start;
        while (end < n && (i == 3 || text[end] != '\n'))
            end++;
        h[i].name = names[i];
        h[i].name_len = (uint32_t)strlen(names[i]);
        h[i].value = text + start;
        h[i].value_len = (uint32_t)(end - start);
        start = end < n ? end + 1 : n;
    }
    const char *key = NULL;
    uint32_t key_len = 0;
    int r = sc_ws_handshake_check(h, 4, &key, &key_len);
    FZ_CHECK(r <= 0 && r >= SC_WS_HS_BAD_KEY);
    int status = sc_ws_handshake_status(r);
    FZ_CHECK(status == 400 || status == 426);
    if (r == SC_WS_HS_OK) {
        FZ_CHECK(key_len == 24);
        char accept[SC_WS_ACCEPT_LEN + 1];
        FZ_CHECK(sc_ws_accept_key(key, key_len, accept) == SC_OK);
        FZ_CHECK(strlen(accept) == SC_WS_ACCEPT_LEN);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *text = (const char *)data + 1;
    size_t n = size - 1;
    fz_negotiation(data[0], text, n);
    fz_list(text, n);
    fz_base64(data + 1, n);
    fz_upgrade(text, n);
    return 0;
}

#include "fuzz_replay.h"
