/* ws_handshake.c - upgrade request checks, Sec-WebSocket-Accept (with our
 * own SHA-1 and base64), token lists and permessage-deflate negotiation.
 * See ws_handshake.h for the contract. */
#include "ws_handshake.h"
#include "tokens.h"

#include <string.h>

/* ---- SHA-1 ---------------------------------------------------------------- */

static uint32_t rol32(uint32_t x, unsigned n)
{
    return (x << n) | (x >> (32 - n));
}

static uint32_t load_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void sha1_block(uint32_t h[5], const uint8_t *blk)
{
    uint32_t w[80];
    for (int t = 0; t < 16; t++)
        w[t] = load_be32(blk + 4 * t);
    for (int t = 16; t < 80; t++)
        w[t] = rol32(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);

    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int t = 0; t < 80; t++) {
        uint32_t f, k;
        if (t < 20)
            f = (b & c) | (~b & d), k = 0x5A827999u;
        else if (t < 40)
            f = b ^ c ^ d, k = 0x6ED9EBA1u;
        else if (t < 60)
            f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDCu;
        else
            f = b ^ c ^ d, k = 0xCA62C1D6u;
        uint32_t tmp = rol32(a, 5) + f + e + k + w[t];
        e = d, d = c, c = rol32(b, 30), b = a, a = tmp;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
}

void sc_sha1_init(sc_sha1_ctx *c)
{
    static const uint32_t iv[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
    memcpy(c->h, iv, sizeof iv);
    c->total = 0;
    c->used = 0;
}

void sc_sha1_update(sc_sha1_ctx *c, const void *data, size_t len)
{
    const uint8_t *p = data;
    c->total += len;
    if (c->used) {
        size_t take = 64 - c->used < len ? 64 - c->used : len;
        memcpy(c->block + c->used, p, take);
        c->used += (uint32_t)take, p += take, len -= take;
        if (c->used < 64)
            return;
        sha1_block(c->h, c->block);
        c->used = 0;
    }
    for (; len >= 64; p += 64, len -= 64)
        sha1_block(c->h, p);
    memcpy(c->block, p, len);
    c->used = (uint32_t)len;
}

void sc_sha1_final(sc_sha1_ctx *c, uint8_t digest[20])
{
    uint64_t bits = c->total * 8;
    c->block[c->used++] = 0x80;
    if (c->used > 56) {
        memset(c->block + c->used, 0, 64 - c->used);
        sha1_block(c->h, c->block);
        c->used = 0;
    }
    memset(c->block + c->used, 0, 56 - c->used);
    for (int i = 0; i < 8; i++)
        c->block[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
    sha1_block(c->h, c->block);
    for (int i = 0; i < 5; i++) {
        digest[4 * i] = (uint8_t)(c->h[i] >> 24);
        digest[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
        digest[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
        digest[4 * i + 3] = (uint8_t)c->h[i];
    }
}

void sc_sha1(const void *data, size_t len, uint8_t digest[20])
{
    sc_sha1_ctx c;
    sc_sha1_init(&c);
    sc_sha1_update(&c, data, len);
    sc_sha1_final(&c, digest);
}

/* ---- base64 --------------------------------------------------------------- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t sc_base64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0, i = 0;
    for (; n - i >= 3; i += 3) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];
        out[o++] = B64[v >> 18];
        out[o++] = B64[(v >> 12) & 63];
        out[o++] = B64[(v >> 6) & 63];
        out[o++] = B64[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = B64[v >> 18];
        out[o++] = B64[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8);
        out[o++] = B64[v >> 18];
        out[o++] = B64[(v >> 12) & 63];
        out[o++] = B64[(v >> 6) & 63];
        out[o++] = '=';
    }
    return o;
}

static int b64_value(char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+')
        return 62;
    if (ch == '/')
        return 63;
    return -1;
}

long sc_base64_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
    if (n % 4)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int last = i + 4 == n;
        int pad = 0;
        if (last && in[i + 3] == '=')
            pad = in[i + 2] == '=' ? 2 : 1;
        uint32_t v = 0;
        for (int k = 0; k < 4 - pad; k++) {
            int d = b64_value(in[i + (size_t)k]);
            if (d < 0)
                return -1;
            v = (v << 6) | (uint32_t)d;
        }
        v <<= 6 * pad;
        size_t bytes = 3 - (size_t)pad;
        if (o + bytes > cap)
            return -1;
        out[o++] = (uint8_t)(v >> 16);
        if (bytes > 1)
            out[o++] = (uint8_t)(v >> 8);
        if (bytes > 2)
            out[o++] = (uint8_t)v;
    }
    return (long)o;
}

/* ---- small text helpers --------------------------------------------------- */

static int is_ows(char ch)
{
    return ch == ' ' || ch == '\t';
}

static unsigned char lower(unsigned char ch)
{
    return ch >= 'A' && ch <= 'Z' ? (unsigned char)(ch + 32) : ch;
}

/* a case-insensitive comparison with a lower-case literal */
static int ieq(const char *s, size_t n, const char *lit)
{
    size_t k = strlen(lit);
    if (n != k)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)s[i]) != (unsigned char)lit[i])
            return 0;
    return 1;
}

static int name_is(const sc_header *h, const char *lit)
{
    size_t k = strlen(lit);
    return h->name_len == k && memcmp(h->name, lit, k) == 0;
}

/* 1 when one comma-separated element of v equals lit, ignoring case and
 * surrounding whitespace.  Elements need not be tokens (Upgrade may list
 * "HTTP/2.0"). */
static int list_has(const char *v, size_t n, const char *lit)
{
    size_t i = 0;
    while (i <= n) {
        size_t start = i;
        while (i < n && v[i] != ',')
            i++;
        size_t a = start, b = i;
        while (a < b && is_ows(v[a]))
            a++;
        while (b > a && is_ows(v[b - 1]))
            b--;
        if (ieq(v + a, b - a, lit))
            return 1;
        i++; /* past the comma (or past the end) */
    }
    return 0;
}

/* ---- the upgrade request -------------------------------------------------- */

int sc_ws_handshake_check(const sc_header *headers, uint32_t n, const char **key, uint32_t *key_len)
{
    int upgrade = 0, connection = 0, versions = 0, version_ok = 0, keys = 0;
    const sc_header *key_h = NULL;

    for (uint32_t i = 0; i < n; i++) {
        const sc_header *h = &headers[i];
        if (name_is(h, "upgrade"))
            upgrade |= list_has(h->value, h->value_len, "websocket");
        else if (name_is(h, "connection"))
            connection |= list_has(h->value, h->value_len, "upgrade");
        else if (name_is(h, "sec-websocket-version"))
            versions++, version_ok = h->value_len == 2 && memcmp(h->value, "13", 2) == 0;
        else if (name_is(h, "sec-websocket-key"))
            keys++, key_h = h;
    }
    if (!upgrade)
        return SC_WS_HS_NO_UPGRADE;
    if (!connection)
        return SC_WS_HS_NO_CONNECTION;
    if (versions != 1 || !version_ok)
        return SC_WS_HS_BAD_VERSION;
    uint8_t raw[18];
    if (keys != 1 || key_h->value_len != 24 ||
        sc_base64_decode(key_h->value, 24, raw, sizeof raw) != 16)
        return SC_WS_HS_BAD_KEY;
    if (key)
        *key = key_h->value;
    if (key_len)
        *key_len = key_h->value_len;
    return SC_WS_HS_OK;
}

int sc_ws_handshake_status(int result)
{
    return result == SC_WS_HS_BAD_VERSION ? 426 : 400;
}

int sc_ws_accept_key(const char *key, size_t key_len, char out[SC_WS_ACCEPT_LEN + 1])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"; /* RFC 6455 1.3 */
    uint8_t raw[18], digest[20];
    if (key_len != 24 || sc_base64_decode(key, key_len, raw, sizeof raw) != 16)
        return SC_EINVAL;
    sc_sha1_ctx c;
    sc_sha1_init(&c);
    sc_sha1_update(&c, key, key_len);
    sc_sha1_update(&c, guid, sizeof guid - 1);
    sc_sha1_final(&c, digest);
    sc_base64_encode(digest, 20, out);
    out[SC_WS_ACCEPT_LEN] = '\0';
    return SC_OK;
}

/* ---- token lists ---------------------------------------------------------- */

int sc_ws_list_next(const char **pos, const char *end, const char **tok, size_t *tok_len)
{
    const char *p = *pos;
    for (;;) {
        while (p < end && (is_ows(*p) || *p == ','))
            p++;
        if (p == end) {
            *pos = p;
            return 0;
        }
        const char *start = p;
        while (p < end && sc_is_tchar((unsigned char)*p))
            p++;
        if (p == start)
            return -1;
        *tok = start;
        *tok_len = (size_t)(p - start);
        while (p < end && is_ows(*p))
            p++;
        if (p < end && *p != ',')
            return -1;
        *pos = p;
        return 1;
    }
}

int sc_ws_protocol_offered(const sc_header *headers, uint32_t n, const char *proto,
                           size_t proto_len)
{
    for (uint32_t i = 0; i < n; i++) {
        if (!name_is(&headers[i], "sec-websocket-protocol"))
            continue;
        const char *pos = headers[i].value, *end = pos + headers[i].value_len, *tok;
        size_t len;
        while (sc_ws_list_next(&pos, end, &tok, &len) == 1)
            if (len == proto_len && memcmp(tok, proto, len) == 0)
                return 1;
    }
    return 0;
}

/* ---- Sec-WebSocket-Extensions --------------------------------------------- */

/* One parameter as the scanner saw it.  Quoted values are unescaped into
 * buf; a value that does not fit or is not a token is marked bad (it can
 * only make the offer declined, never the syntax wrong). */
typedef struct ext_param {
    const char *name;
    size_t name_len;
    int has_value;
    int value_bad;
    char value[8];
    size_t value_len;
} ext_param;

typedef struct ext_scan {
    const char *p, *end;
} ext_scan;

static void skip_ows(ext_scan *s)
{
    while (s->p < s->end && is_ows(*s->p))
        s->p++;
}

static int scan_token(ext_scan *s, const char **tok, size_t *len)
{
    const char *start = s->p;
    while (s->p < s->end && sc_is_tchar((unsigned char)*s->p))
        s->p++;
    *tok = start;
    *len = (size_t)(s->p - start);
    return *len ? 0 : -1;
}

static void keep_value_char(ext_param *prm, char ch)
{
    if (!sc_is_tchar((unsigned char)ch) || prm->value_len == sizeof prm->value)
        prm->value_bad = 1;
    else
        prm->value[prm->value_len++] = ch;
}

/* token [ "=" ( token / quoted-string ) ], the scanner just past ";" and OWS */
static int scan_param(ext_scan *s, ext_param *prm)
{
    memset(prm, 0, sizeof *prm);
    if (scan_token(s, &prm->name, &prm->name_len) < 0)
        return -1;
    skip_ows(s);
    if (s->p == s->end || *s->p != '=')
        return 0;
    s->p++;
    skip_ows(s);
    prm->has_value = 1;
    if (s->p < s->end && *s->p == '"') {
        s->p++;
        for (;;) {
            if (s->p == s->end)
                return -1;
            char ch = *s->p++;
            if (ch == '"')
                break;
            if (ch == '\\') {
                if (s->p == s->end)
                    return -1;
                ch = *s->p++;
            }
            if ((unsigned char)ch < 0x20 && ch != '\t')
                return -1;
            keep_value_char(prm, ch);
        }
        if (prm->value_len == 0)
            prm->value_bad = 1;
        return 0;
    }
    const char *tok;
    size_t len;
    if (scan_token(s, &tok, &len) < 0)
        return -1;
    for (size_t i = 0; i < len; i++)
        keep_value_char(prm, tok[i]);
    return 0;
}

/* "8".."15", no leading zero; 0 when invalid */
static int window_bits_value(const ext_param *prm)
{
    if (prm->value_bad || prm->value_len == 0 || prm->value_len > 2 || prm->value[0] == '0')
        return 0;
    int v = 0;
    for (size_t i = 0; i < prm->value_len; i++) {
        if (prm->value[i] < '0' || prm->value[i] > '9')
            return 0;
        v = v * 10 + (prm->value[i] - '0');
    }
    return v >= 8 && v <= 15 ? v : 0;
}

enum { P_SNCT, P_CNCT, P_SMWB, P_CMWB, P_COUNT };
static const char *const PARAM_NAMES[P_COUNT] = {
    "server_no_context_takeover",
    "client_no_context_takeover",
    "server_max_window_bits",
    "client_max_window_bits",
};

/* What one permessage-deflate offer said; seen[] doubles as a duplicate check. */
typedef struct offer {
    int seen[P_COUNT];
    int bits[P_COUNT]; /* window bits value, 0 when absent */
    int declined;
} offer;

static void offer_add(offer *o, const ext_param *prm)
{
    int which = -1;
    for (int i = 0; i < P_COUNT; i++)
        if (ieq(prm->name, prm->name_len, PARAM_NAMES[i]))
            which = i;
    if (which < 0 || o->seen[which]++) {
        o->declined = 1; /* unknown or duplicate */
        return;
    }
    switch (which) {
    case P_SNCT:
    case P_CNCT:
        if (prm->has_value)
            o->declined = 1;
        break;
    case P_SMWB: /* a value is required in an offer */
        o->bits[which] = prm->has_value ? window_bits_value(prm) : 0;
        if (!o->bits[which])
            o->declined = 1;
        break;
    case P_CMWB: /* the value is optional */
        if (prm->has_value && !(o->bits[which] = window_bits_value(prm)))
            o->declined = 1;
        break;
    }
}

static int clamp_bits(int v, int lo)
{
    if (v == 0 || v > 15)
        return 15;
    return v < lo ? lo : v;
}

/* Accept an offer for cfg, or decline it (0). */
static int offer_accept(const offer *o, const sc_ws_deflate_config *cfg, sc_ws_deflate_params *out)
{
    if (o->declined)
        return 0;
    sc_ws_deflate_params p;
    memset(&p, 0, sizeof p);
    int ours = clamp_bits(cfg->server_max_window_bits, 9);
    if (o->seen[P_SMWB]) {
        p.server_max_window_bits = (uint8_t)(o->bits[P_SMWB] < ours ? o->bits[P_SMWB] : ours);
        /* zlib's raw deflate cannot make a 256-byte window: decline 8. */
        if (p.server_max_window_bits < 9)
            return 0;
        p.send_server_max_window_bits = 1;
    } else {
        p.server_max_window_bits = (uint8_t)ours;
    }
    p.client_max_window_bits = 15;
    if (o->seen[P_CMWB]) {
        int want = clamp_bits(cfg->client_max_window_bits, 8);
        int offered = o->bits[P_CMWB] ? o->bits[P_CMWB] : 15;
        p.client_max_window_bits = (uint8_t)(offered < want ? offered : want);
        p.send_client_max_window_bits = p.client_max_window_bits < 15;
    }
    p.server_no_context_takeover = o->seen[P_SNCT] || cfg->server_no_context_takeover;
    p.client_no_context_takeover = o->seen[P_CNCT] || cfg->client_no_context_takeover;
    *out = p;
    return 1;
}

int sc_ws_deflate_negotiate_value(const char *value, size_t len, const sc_ws_deflate_config *cfg,
                                  sc_ws_deflate_params *out)
{
    ext_scan s = {value, value + len};
    int accepted = 0;
    for (;;) {
        /* empty list elements are allowed */
        while (s.p < s.end && (is_ows(*s.p) || *s.p == ','))
            s.p++;
        if (s.p == s.end)
            return accepted;
        const char *name;
        size_t name_len;
        if (scan_token(&s, &name, &name_len) < 0)
            return -1;
        offer o;
        memset(&o, 0, sizeof o);
        skip_ows(&s);
        while (s.p < s.end && *s.p == ';') {
            s.p++;
            skip_ows(&s);
            ext_param prm;
            if (scan_param(&s, &prm) < 0)
                return -1;
            offer_add(&o, &prm);
            skip_ows(&s);
        }
        if (s.p < s.end && *s.p != ',')
            return -1;
        if (!accepted && ieq(name, name_len, "permessage-deflate"))
            accepted = offer_accept(&o, cfg, out);
    }
}

int sc_ws_deflate_negotiate(const sc_header *headers, uint32_t n, const sc_ws_deflate_config *cfg,
                            sc_ws_deflate_params *out)
{
    sc_ws_deflate_params found;
    int accepted = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!name_is(&headers[i], "sec-websocket-extensions"))
            continue;
        sc_ws_deflate_params p;
        int r = sc_ws_deflate_negotiate_value(headers[i].value, headers[i].value_len, cfg, &p);
        if (r < 0)
            return 0;
        if (r == 1 && !accepted)
            found = p, accepted = 1;
    }
    if (accepted)
        *out = found;
    return accepted;
}

static size_t put(char *out, size_t o, const char *s)
{
    size_t k = strlen(s);
    memcpy(out + o, s, k);
    return o + k;
}

static size_t put_bits(char *out, size_t o, int bits)
{
    if (bits >= 10)
        out[o++] = '1', bits -= 10;
    out[o++] = (char)('0' + bits);
    return o;
}

int sc_ws_deflate_response(const sc_ws_deflate_params *p, char *out, size_t cap)
{
    char tmp[SC_WS_EXT_RESPONSE_MAX];
    if (p->server_max_window_bits < 8 || p->server_max_window_bits > 15 ||
        p->client_max_window_bits < 8 || p->client_max_window_bits > 15)
        return SC_EINVAL;
    size_t o = put(tmp, 0, "permessage-deflate");
    if (p->server_no_context_takeover)
        o = put(tmp, o, "; server_no_context_takeover");
    if (p->client_no_context_takeover)
        o = put(tmp, o, "; client_no_context_takeover");
    if (p->send_server_max_window_bits) {
        o = put(tmp, o, "; server_max_window_bits=");
        o = put_bits(tmp, o, p->server_max_window_bits);
    }
    if (p->send_client_max_window_bits) {
        o = put(tmp, o, "; client_max_window_bits=");
        o = put_bits(tmp, o, p->client_max_window_bits);
    }
    if (o > cap)
        return SC_EINVAL;
    memcpy(out, tmp, o);
    return (int)o;
}
