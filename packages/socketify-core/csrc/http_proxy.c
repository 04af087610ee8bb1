/* http_proxy.c - the PROXY protocol header (HAProxy's spec, versions 1 and 2).
 *
 * With settings.proxy_protocol every connection must start with one header;
 * anything else is answered 400 and closed.  The source address it carries
 * becomes the connection's proxied address (sc_res_proxied_*); UNKNOWN (v1)
 * and LOCAL or non-IP (v2) leave it empty.  Called by http_conn.c in the
 * SC_PH_PROXY phase; writes c->http.proxied only.
 *   v1: "PROXY TCP4|TCP6 src dst sport dport\r\n" or "PROXY UNKNOWN...\r\n",
 *       at most 107 bytes.
 *   v2: 12-byte signature, version/command, family/transport, 16-bit length,
 *       addresses, then TLVs (skipped).
 */
#include "core.h"

#include <arpa/inet.h>
#include <string.h>

#define SC_PROXY_V1_MAX 107

static const char sc_v2_sig[12] = {'\r', '\n', '\r', '\n', '\0', '\r',
                                   '\n', 'Q',  'U',  'I',  'T',  '\n'};

/* n bytes of s are a prefix of the literal (or the literal a prefix of s) */
static int sc_prefix(const char *s, size_t n, const char *lit, size_t lit_len)
{
    return memcmp(s, lit, n < lit_len ? n : lit_len) == 0;
}

/* Next space-separated field of [*p, end) into out (NUL-terminated). */
static int sc_field(const char **p, const char *end, char *out, size_t cap)
{
    const char *s = *p;
    while (*p < end && **p != ' ')
        (*p)++;
    size_t n = (size_t)(*p - s);
    if (n == 0 || n >= cap)
        return -1;
    memcpy(out, s, n);
    out[n] = '\0';
    if (*p < end)
        (*p)++; /* the space */
    return 0;
}

static int sc_port(const char *s, uint16_t *out)
{
    unsigned v = 0;
    size_t n = strlen(s);
    if (n == 0 || n > 5)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10u + (unsigned)(s[i] - '0');
    }
    if (v > 65535u)
        return -1;
    *out = (uint16_t)v;
    return 0;
}

static long sc_proxy_v1(sc_conn *c, const char *buf, size_t len)
{
    size_t scan = len < SC_PROXY_V1_MAX ? len : SC_PROXY_V1_MAX;
    const char *crlf = NULL;
    for (size_t i = 0; i + 1 < scan; i++) {
        if (buf[i] == '\r') {
            if (buf[i + 1] != '\n')
                return -400;
            crlf = buf + i;
            break;
        }
        if (buf[i] == '\n' || buf[i] == '\0')
            return -400;
    }
    if (!crlf)
        return len >= SC_PROXY_V1_MAX ? -400 : SC_HTTP_INCOMPLETE;
    const char *p = buf + 6, *end = crlf;
    long consumed = (long)(crlf + 2 - buf);
    char proto[8], src[46], dst[46], sport[8], dport[8];
    if (sc_field(&p, end, proto, sizeof proto) < 0)
        return -400;
    if (strcmp(proto, "UNKNOWN") == 0) {
        memset(&c->http.proxied, 0, sizeof c->http.proxied);
        return consumed;
    }
    int af;
    if (strcmp(proto, "TCP4") == 0)
        af = AF_INET;
    else if (strcmp(proto, "TCP6") == 0)
        af = AF_INET6;
    else
        return -400;
    uint16_t port, dport_v;
    unsigned char tmp[16];
    if (sc_field(&p, end, src, sizeof src) < 0 || sc_field(&p, end, dst, sizeof dst) < 0 ||
        sc_field(&p, end, sport, sizeof sport) < 0 || sc_field(&p, end, dport, sizeof dport) < 0 ||
        p != end || inet_pton(af, src, tmp) != 1 || inet_pton(af, dst, tmp) != 1 ||
        sc_port(sport, &port) < 0 || sc_port(dport, &dport_v) < 0)
        return -400;
    sc_addr_from_text(&c->http.proxied, src, port);
    return consumed;
}

static long sc_proxy_v2(sc_conn *c, const unsigned char *b, size_t len)
{
    if (len < 16)
        return SC_HTTP_INCOMPLETE;
    unsigned ver = b[12] >> 4, cmd = b[12] & 0x0f;
    unsigned fam = b[13] >> 4;
    size_t body = ((size_t)b[14] << 8) | b[15];
    if (ver != 2 || cmd > 1)
        return -400;
    if (16 + body > c->loop->max_held_input)
        return -400;
    if (len < 16 + body)
        return SC_HTTP_INCOMPLETE;
    memset(&c->http.proxied, 0, sizeof c->http.proxied);
    if (cmd == 0)
        return (long)(16 + body); /* LOCAL: the proxy's own connection */
    const unsigned char *a = b + 16;
    if (fam == 1 || fam == 2) { /* TCP/UDP over IPv4 or IPv6 */
        /* the source and destination addresses, then their ports, big-endian */
        size_t n = fam == 1 ? 4 : 16;
        if (body < 2 * n + 4)
            return -400;
        uint16_t port = (uint16_t)(a[2 * n] << 8 | a[2 * n + 1]);
        sc_addr_from_ip(&c->http.proxied, fam == 1 ? 4 : 6, a, port);
    } else if (fam > 3) {
        return -400; /* 0 UNSPEC and 3 UNIX carry no address we report */
    }
    return (long)(16 + body);
}

long sc_proxy_parse(sc_conn *c, const char *buf, size_t len)
{
    if (len && buf[0] == '\r') {
        if (!sc_prefix(buf, len, sc_v2_sig, sizeof sc_v2_sig))
            return -400;
        if (len < sizeof sc_v2_sig)
            return SC_HTTP_INCOMPLETE;
        return sc_proxy_v2(c, (const unsigned char *)buf, len);
    }
    if (!sc_prefix(buf, len, "PROXY ", 6))
        return -400;
    if (len < 6)
        return SC_HTTP_INCOMPLETE;
    return sc_proxy_v1(c, buf, len);
}
