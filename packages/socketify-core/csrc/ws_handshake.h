/* ws_handshake.h - the server side of the WebSocket opening handshake.
 *
 * Internal to the core (not seen by cffi).  Everything works on the header
 * slices of a parsed request (sc_header from socketify.h, names lower-case,
 * values trimmed) and on caller buffers; nothing allocates.
 *
 *   sc_ws_handshake_check   RFC 6455 4.2.1: Upgrade has the "websocket"
 *                           token, Connection has "upgrade", exactly one
 *                           Sec-WebSocket-Version that is 13, exactly one
 *                           Sec-WebSocket-Key that is base64 of 16 bytes.
 *                           The method (GET) and HTTP/1.1 are the caller's
 *                           checks.
 *   sc_ws_accept_key        Sec-WebSocket-Accept = base64(SHA-1(key + GUID))
 *   sc_ws_list_next         walks a comma list of tokens (protocols)
 *   sc_ws_protocol_offered  was this subprotocol in Sec-WebSocket-Protocol?
 *   sc_ws_deflate_negotiate picks the first acceptable permessage-deflate
 *                           offer (RFC 7692 section 7) for a server config;
 *   sc_ws_deflate_response  renders the Sec-WebSocket-Extensions answer.
 *
 * Offers are declined, never failed: a permessage-deflate offer with an
 * unknown, duplicate or invalid parameter is skipped (RFC 7692 section 5),
 * and an extension header that is not valid syntax means no compression.
 */
#ifndef SC_WS_HANDSHAKE_H
#define SC_WS_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#include "socketify.h"

/* ---- SHA-1 (FIPS 180-4) and base64 (RFC 4648, standard alphabet) -------- */

typedef struct sc_sha1_ctx {
    uint32_t h[5];
    uint64_t total; /* bytes */
    uint8_t block[64];
    uint32_t used; /* bytes in block */
} sc_sha1_ctx;

void sc_sha1_init(sc_sha1_ctx *c);
void sc_sha1_update(sc_sha1_ctx *c, const void *data, size_t len);
void sc_sha1_final(sc_sha1_ctx *c, uint8_t digest[20]);
void sc_sha1(const void *data, size_t len, uint8_t digest[20]);

/* Output length for n input bytes (with padding). */
#define SC_BASE64_ENCODED_LEN(n) ((((n) + 2) / 3) * 4)
/* Writes SC_BASE64_ENCODED_LEN(n) chars (no NUL); returns that count. */
size_t sc_base64_encode(const uint8_t *in, size_t n, char *out);
/* Strict decode: standard alphabet, length a multiple of 4, '=' only as
 * final padding.  Returns the decoded length, or -1 when invalid or when
 * it would not fit in cap. */
long sc_base64_decode(const char *in, size_t n, uint8_t *out, size_t cap);

/* ---- the upgrade request -------------------------------------------------- */

enum sc_ws_hs_result {
    SC_WS_HS_OK = 0,
    SC_WS_HS_NO_UPGRADE = -1,    /* no "websocket" in Upgrade: not a WebSocket request */
    SC_WS_HS_NO_CONNECTION = -2, /* no "upgrade" token in Connection -> 400 */
    SC_WS_HS_BAD_VERSION = -3,   /* -> 426 with "Sec-WebSocket-Version: 13" */
    SC_WS_HS_BAD_KEY = -4        /* missing, repeated or not 16 bytes of base64 -> 400 */
};

/* On SC_WS_HS_OK, *key / *key_len name the Sec-WebSocket-Key value. */
int sc_ws_handshake_check(const sc_header *headers, uint32_t n, const char **key,
                          uint32_t *key_len);
/* The HTTP status to answer a failed check with: 400 or 426. */
int sc_ws_handshake_status(int result);

#define SC_WS_ACCEPT_LEN 28
/* out receives 28 chars and a NUL.  SC_EINVAL when key is not a valid key. */
int sc_ws_accept_key(const char *key, size_t key_len, char out[SC_WS_ACCEPT_LEN + 1]);

/* ---- token lists ---------------------------------------------------------- */

/* Walk a comma-separated list of tokens (optional whitespace, empty
 * elements skipped).  *pos starts at value and advances.  Returns 1 with the
 * next token in *tok and *tok_len, 0 at the end, -1 when an element is not a
 * single token. */
int sc_ws_list_next(const char **pos, const char *end, const char **tok, size_t *tok_len);

/* 1 when proto (exact, case-sensitive) is among the offered
 * Sec-WebSocket-Protocol values of every such header, else 0. */
int sc_ws_protocol_offered(const sc_header *headers, uint32_t n, const char *proto,
                           size_t proto_len);

/* ---- permessage-deflate negotiation (RFC 7692) ---------------------------- */

/* What the server is willing to do. */
typedef struct sc_ws_deflate_config {
    uint8_t server_max_window_bits;     /* our compressor window, 9..15 (15 default) */
    uint8_t client_max_window_bits;     /* largest client window we want, 8..15 */
    uint8_t server_no_context_takeover; /* reset our compressor per message (shared compressor) */
    uint8_t client_no_context_takeover; /* ask the client to reset per message */
} sc_ws_deflate_config;

/* The agreement: what each side must do. */
typedef struct sc_ws_deflate_params {
    uint8_t server_max_window_bits; /* window of our compressor, 9..15 */
    uint8_t client_max_window_bits; /* window the client may use, 8..15: size the inflater */
    uint8_t server_no_context_takeover;
    uint8_t client_no_context_takeover;
    /* what goes into the response (set by negotiate) */
    uint8_t send_server_max_window_bits;
    uint8_t send_client_max_window_bits;
} sc_ws_deflate_params;

/* Offers in one Sec-WebSocket-Extensions value.  Returns 1 and fills *out
 * when an offer is accepted, 0 when none is, -1 on a syntax error. */
int sc_ws_deflate_negotiate_value(const char *value, size_t len, const sc_ws_deflate_config *cfg,
                                  sc_ws_deflate_params *out);
/* Every Sec-WebSocket-Extensions header in order.  1 accepted, 0 not (a
 * syntax error anywhere also gives 0: no compression). */
int sc_ws_deflate_negotiate(const sc_header *headers, uint32_t n, const sc_ws_deflate_config *cfg,
                            sc_ws_deflate_params *out);

#define SC_WS_EXT_RESPONSE_MAX 128
/* "permessage-deflate; ..." into out (no NUL); returns its length, or
 * SC_EINVAL when cap is too small. */
int sc_ws_deflate_response(const sc_ws_deflate_params *p, char *out, size_t cap);

#endif
