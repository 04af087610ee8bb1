/* http_parser.c - HTTP/1.1 request heads and chunked bodies (RFC 9110/9112).
 *
 * Theory of operation
 * -------------------
 * sc_http_parse_request() parses a whole head in one pass over the caller's
 * bytes.  It keeps no state between calls: on SC_HTTP_INCOMPLETE the caller
 * parses again from the start once more bytes arrived.  The scan never looks
 * past max_header_size bytes of head, so a re-parse costs at most that much,
 * and an oversized head is reported (-431) as soon as that many bytes are
 * buffered.  Every scan is a tight loop over a 256-entry table: sc_tchar_lower
 * both tests a token byte and gives its lower-case form (names are lowered in
 * place, which is idempotent, so re-parsing is safe), sc_class holds the
 * value / target / host byte classes.  Nothing is allocated; every slice in
 * sc_request points into buf.
 *
 * The framing headers (Content-Length, Transfer-Encoding, Host, Connection,
 * Expect, Upgrade) are interpreted as each line is read, into a local
 * sc_head_info, and judged once the blank line is seen.  Choices beyond the
 * RFC's MUSTs (the header file lists them for the core):
 *   - up to SC_HTTP_MAX_EMPTY_LINES CRLFs before the request line are
 *     skipped (and counted in the consumed bytes, not in the head size);
 *   - a bare LF is rejected everywhere (-400), never taken as a line end;
 *   - absolute-form "http://authority/path" (and https) is accepted: the
 *     target becomes "/path?query" and the authority replaces the Host value
 *     (RFC 9112 3.2.2); authority-form (CONNECT) is rejected (-400);
 *   - Content-Length may be repeated and may be a list only when every value
 *     is the same number; empty list elements are rejected there;
 *   - Transfer-Encoding: "chunked" twice or not last -> -400, otherwise any
 *     other coding (gzip, identity, "chunked;param") -> -501;
 *   - Expect other than 100-continue is ignored; Expect and Upgrade are
 *     ignored in HTTP/1.0 requests (RFC 9110 10.1.1, 7.8).
 *
 * sc_chunked_decode() is a byte-at-a-time state machine for the framing and a
 * memmove for the data, so any split of the input is handled; the body is
 * compacted to the front of the buffer in place.
 */
#include "http_parser.h"
#include "tokens.h"

#include <string.h>

#define SC_E400 (-400)
#define SC_E414 (-414)
#define SC_E431 (-431)
#define SC_E501 (-501)
#define SC_E505 (-505)

enum { SC_C_VALUE = 1, SC_C_TARGET = 2, SC_C_HOST = 4 };

/* SC_C_VALUE: field-vchar, SP, HTAB, obs-text.  SC_C_TARGET: visible ASCII.
 * SC_C_HOST: unreserved, sub-delims, '%', ':', '[', ']' (RFC 3986 host:port). */
/* clang-format off: one row per 16 bytes */
static const unsigned char sc_class[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 7, 3, 3, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 3, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 3, 7, 3, 3,
    3, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 3, 7, 3, 7,
    3, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 3, 3, 3, 7, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};
/* clang-format on */

/* Hex digit value; 255 for every other byte. */
/* clang-format off: one row per 16 bytes */
static const unsigned char sc_hex[256] = {
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 0,   1,   2,   3,   4,   5,   6,   7,   8,
    9,   255, 255, 255, 255, 255, 255, 255, 10,  11,  12,  13,  14,  15,  255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 10,  11,  12,  13,  14,  15,  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255,
};
/* clang-format on */

#define SC_IS_OWS(c) ((c) == ' ' || (c) == '\t')

/* Framing facts gathered while the header lines are read. */
typedef struct sc_head_info {
    uint64_t content_length;
    int host_index; /* -1: no Host line */
    uint32_t host_count;
    uint32_t cl_seen;         /* 1 once a Content-Length line was read */
    uint32_t te_seen;         /* Transfer-Encoding lines */
    uint32_t te_chunked;      /* "chunked" elements */
    uint32_t te_other;        /* any other coding */
    uint32_t te_last_chunked; /* the last element read was "chunked" */
    uint32_t conn_close, conn_keep_alive, conn_upgrade, has_upgrade, expect_100;
} sc_head_info;

/* Case-insensitive compare of s[0..n) with a lower-case token literal. */
static int sc_token_ieq(const unsigned char *s, size_t n, const char *lit, size_t lit_len)
{
    if (n != lit_len)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (sc_tchar_lower[s[i]] != (unsigned char)lit[i])
            return 0;
    return 1;
}

#define SC_TOKEN_IEQ(s, n, lit) sc_token_ieq((s), (n), lit, sizeof(lit) - 1)

/* Next element of a comma-separated list (RFC 9110 5.6.1), OWS-trimmed;
 * empty elements are skipped.  Returns 0 when the list is exhausted. */
static int sc_list_next(const unsigned char **cur, const unsigned char *end,
                        const unsigned char **elem, size_t *elem_len)
{
    const unsigned char *p = *cur;
    for (;;) {
        while (p < end && (SC_IS_OWS(*p) || *p == ','))
            p++;
        if (p == end) {
            *cur = p;
            return 0;
        }
        const unsigned char *s = p;
        while (p < end && *p != ',')
            p++;
        const unsigned char *e = p;
        while (e > s && SC_IS_OWS(e[-1]))
            e--;
        *elem = s;
        *elem_len = (size_t)(e - s);
        *cur = p;
        return 1;
    }
}

/* Content-Length: 1*DIGIT, or a list of the same number; every line must
 * agree with the ones before. */
static int sc_on_content_length(sc_head_info *hi, const unsigned char *p, const unsigned char *end)
{
    if (p == end)
        return SC_E400;
    for (;;) {
        uint64_t v = 0;
        const unsigned char *digits = p;
        while (p < end && *p >= '0' && *p <= '9') {
            unsigned d = (unsigned)(*p - '0');
            if (v > (UINT64_MAX - d) / 10)
                return SC_E400;
            v = v * 10 + d;
            p++;
        }
        if (p == digits)
            return SC_E400;
        if (hi->cl_seen && v != hi->content_length)
            return SC_E400;
        hi->cl_seen = 1;
        hi->content_length = v;
        while (p < end && SC_IS_OWS(*p))
            p++;
        if (p == end)
            return 0;
        if (*p != ',')
            return SC_E400;
        p++;
        while (p < end && SC_IS_OWS(*p))
            p++;
    }
}

static int sc_on_transfer_encoding(sc_head_info *hi, const unsigned char *p,
                                   const unsigned char *end)
{
    const unsigned char *e;
    size_t n;
    int any = 0;
    hi->te_seen++;
    while (sc_list_next(&p, end, &e, &n)) {
        any = 1;
        if (SC_TOKEN_IEQ(e, n, "chunked")) {
            hi->te_chunked++;
            hi->te_last_chunked = 1;
        } else {
            hi->te_other++;
            hi->te_last_chunked = 0;
        }
    }
    return any ? 0 : SC_E400;
}

static void sc_on_connection(sc_head_info *hi, const unsigned char *p, const unsigned char *end)
{
    const unsigned char *e;
    size_t n;
    while (sc_list_next(&p, end, &e, &n)) {
        if (SC_TOKEN_IEQ(e, n, "close"))
            hi->conn_close = 1;
        else if (SC_TOKEN_IEQ(e, n, "keep-alive"))
            hi->conn_keep_alive = 1;
        else if (SC_TOKEN_IEQ(e, n, "upgrade"))
            hi->conn_upgrade = 1;
    }
}

static int sc_host_ok(const unsigned char *p, const unsigned char *end)
{
    while (p < end && (sc_class[*p] & SC_C_HOST))
        p++;
    return p == end;
}

/* Interpret one header line (name already lower-cased).  PERF: dispatch on
 * the length first so most lines cost one switch and no memcmp. */
static int sc_on_header(sc_head_info *hi, int index, const unsigned char *name, size_t name_len,
                        const unsigned char *v, const unsigned char *vend)
{
    switch (name_len) {
    case 4:
        if (memcmp(name, "host", 4) == 0) {
            if (!sc_host_ok(v, vend))
                return SC_E400;
            hi->host_count++;
            hi->host_index = index;
        }
        break;
    case 6:
        if (memcmp(name, "expect", 6) == 0 && SC_TOKEN_IEQ(v, (size_t)(vend - v), "100-continue"))
            hi->expect_100 = 1;
        break;
    case 7:
        if (memcmp(name, "upgrade", 7) == 0 && vend > v)
            hi->has_upgrade = 1;
        break;
    case 10:
        if (memcmp(name, "connection", 10) == 0)
            sc_on_connection(hi, v, vend);
        break;
    case 14:
        if (memcmp(name, "content-length", 14) == 0)
            return sc_on_content_length(hi, v, vend);
        break;
    case 17:
        if (memcmp(name, "transfer-encoding", 17) == 0)
            return sc_on_transfer_encoding(hi, v, vend);
        break;
    default:
        break;
    }
    return 0;
}

/* "HTTP/1.0" or "HTTP/1.1" then CRLF.  Returns the minor version, or an error,
 * or SC_HTTP_INCOMPLETE; *pp moves past the CRLF on success. */
static int sc_parse_version(const unsigned char **pp, const unsigned char *end)
{
    static const char prefix[] = "HTTP/";
    const unsigned char *p = *pp;
    for (int i = 0; i < 5; i++, p++) {
        if (p == end)
            return SC_HTTP_INCOMPLETE;
        if (*p != (unsigned char)prefix[i])
            return SC_E400;
    }
    if (p == end)
        return SC_HTTP_INCOMPLETE;
    if (*p < '0' || *p > '9')
        return SC_E400;
    int major = *p++ - '0', minor = -1;
    if (p == end)
        return SC_HTTP_INCOMPLETE;
    if (*p == '.') {
        if (++p == end)
            return SC_HTTP_INCOMPLETE;
        if (*p < '0' || *p > '9')
            return SC_E400;
        minor = *p++ - '0';
        if (p == end)
            return SC_HTTP_INCOMPLETE;
    }
    if (*p != '\r')
        return SC_E400;
    if (++p == end)
        return SC_HTTP_INCOMPLETE;
    if (*p != '\n')
        return SC_E400;
    if (minor < 0) /* "HTTP/2", "HTTP/3": a version, just not ours */
        return major == 1 ? SC_E400 : SC_E505;
    if (major != 1 || minor > 1)
        return SC_E505;
    *pp = p + 1;
    return minor;
}

/* Where an absolute-form target's parts are, for the fix-up after the head. */
typedef struct sc_absolute {
    unsigned char *authority; /* NULL: not absolute-form */
    size_t authority_len;
} sc_absolute;

/* Length of a leading "http://" or "https://" (case-insensitive), else 0. */
static size_t sc_scheme_len(const unsigned char *t, size_t n)
{
    if (n >= 7 && SC_TOKEN_IEQ(t, 4, "http") && memcmp(t + 4, "://", 3) == 0)
        return 7;
    if (n >= 8 && SC_TOKEN_IEQ(t, 5, "https") && memcmp(t + 5, "://", 3) == 0)
        return 8;
    return 0;
}

/* Bytes needed past the end of what may be scanned: either the head is too
 * big already (the scan stopped at the max_header_size bound) or more input
 * is needed. */
#define SC_NEED_MORE()                                                                             \
    return (len - start >= limits->max_header_size) ? SC_E431 : SC_HTTP_INCOMPLETE

/* The standard methods as SC_METHOD_* (case-sensitive, as RFC 9110 says), else 0. */
static uint32_t sc_method_id(const unsigned char *m, size_t n)
{
    static const struct {
        const char *name;
        uint32_t len, id;
    } known[] = {
        {"GET", 3, SC_METHOD_GET},         {"POST", 4, SC_METHOD_POST},
        {"PUT", 3, SC_METHOD_PUT},         {"DELETE", 6, SC_METHOD_DELETE},
        {"PATCH", 5, SC_METHOD_PATCH},     {"HEAD", 4, SC_METHOD_HEAD},
        {"OPTIONS", 7, SC_METHOD_OPTIONS}, {"CONNECT", 7, SC_METHOD_CONNECT},
        {"TRACE", 5, SC_METHOD_TRACE},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (known[i].len == n && memcmp(m, known[i].name, n) == 0)
            return known[i].id;
    return SC_METHOD_OTHER;
}

int sc_http_parse_request(char *buf, size_t len, sc_request *req, const sc_http_limits *limits)
{
    unsigned char *b = (unsigned char *)buf;
    size_t start = 0;

    /* RFC 9112 2.2: a few empty lines before the request line are skipped. */
    for (unsigned empty = 0;; empty++) {
        if (start == len || (b[start] == '\r' && start + 1 == len))
            return SC_HTTP_INCOMPLETE;
        if (b[start] == '\n')
            return SC_E400;
        if (b[start] != '\r')
            break;
        if (b[start + 1] != '\n' || empty == SC_HTTP_MAX_EMPTY_LINES)
            return SC_E400;
        start += 2;
    }

    unsigned char *p = b + start;
    unsigned char *end =
        b + (len - start > limits->max_header_size ? start + limits->max_header_size : len);

    /* method SP */
    unsigned char *method = p;
    while (p < end && sc_tchar_lower[*p])
        p++;
    if (p == end)
        SC_NEED_MORE();
    if (*p != ' ' || p == method)
        return SC_E400;
    size_t method_len = (size_t)(p - method);

    /* request-target SP; -414 as soon as the target alone is too long */
    unsigned char *target = ++p;
    size_t url_room = (size_t)(end - p);
    unsigned char *url_end = url_room > limits->max_url_size ? p + limits->max_url_size + 1 : end;
    while (p < url_end && (sc_class[*p] & SC_C_TARGET))
        p++;
    size_t target_len = (size_t)(p - target);
    if (target_len > limits->max_url_size)
        return SC_E414;
    if (p == end)
        SC_NEED_MORE();
    if (*p != ' ' || target_len == 0)
        return SC_E400;

    sc_absolute abs = {NULL, 0};
    size_t path_off = 0; /* where the origin-form part starts in target */
    if (target[0] == '*') {
        if (target_len != 1 || method_len != 7 || memcmp(method, "OPTIONS", 7) != 0)
            return SC_E400;
    } else if (target[0] != '/') {
        size_t i = sc_scheme_len(target, target_len), a = i;
        if (i == 0)
            return SC_E400; /* authority-form, other schemes, garbage */
        while (i < target_len && target[i] != '/' && target[i] != '?')
            i++;
        if (i == a || !sc_host_ok(target + a, target + i) || memchr(target + a, '@', i - a))
            return SC_E400; /* empty authority or userinfo (RFC 9110 4.2.4) */
        abs.authority = target + a;
        abs.authority_len = i - a;
        path_off = i;
    }

    /* HTTP-version CRLF */
    p++;
    const unsigned char *vp = p;
    int minor = sc_parse_version(&vp, end);
    if (minor == SC_HTTP_INCOMPLETE)
        SC_NEED_MORE();
    if (minor < 0)
        return minor;
    p = (unsigned char *)b + (vp - b);

    /* header lines up to the empty line */
    sc_head_info hi;
    memset(&hi, 0, sizeof hi);
    hi.host_index = -1;
    uint32_t num = 0;
    for (;;) {
        if (p == end)
            SC_NEED_MORE();
        if (*p == '\r') {
            if (++p == end)
                SC_NEED_MORE();
            if (*p != '\n')
                return SC_E400;
            p++;
            break;
        }
        if (num == limits->max_headers)
            return SC_E431;
        /* name ':' -- PERF: one table lookup both checks and lower-cases */
        unsigned char *name = p, lc;
        while (p < end && (lc = sc_tchar_lower[*p]) != 0)
            *p++ = lc;
        if (p == end)
            SC_NEED_MORE();
        if (*p != ':' || p == name)
            return SC_E400; /* obs-fold, space before ':', bare LF, non-token */
        size_t name_len = (size_t)(p - name);
        p++;
        /* OWS value OWS CRLF */
        while (p < end && SC_IS_OWS(*p))
            p++;
        unsigned char *value = p;
        while (p < end && (sc_class[*p] & SC_C_VALUE))
            p++;
        if (p == end)
            SC_NEED_MORE();
        if (*p != '\r')
            return SC_E400; /* control byte or bare LF */
        unsigned char *vend = p;
        if (++p == end)
            SC_NEED_MORE();
        if (*p != '\n')
            return SC_E400;
        p++;
        while (vend > value && SC_IS_OWS(vend[-1]))
            vend--;
        sc_header *h = &req->headers[num];
        h->name = (const char *)name;
        h->name_len = (uint32_t)name_len;
        h->value = (const char *)value;
        h->value_len = (uint32_t)(vend - value);
        int rc = sc_on_header(&hi, (int)num, name, name_len, value, vend);
        if (rc < 0)
            return rc;
        num++;
    }

    /* judge the framing (RFC 9112 3.2, 6.1, 6.3) */
    if (hi.host_count > 1 || (minor == 1 && hi.host_count == 0))
        return SC_E400;
    uint32_t flags = 0;
    if (hi.te_seen) {
        if (minor == 0 || hi.cl_seen || hi.te_chunked > 1)
            return SC_E400;
        if (hi.te_chunked == 1 && !hi.te_last_chunked)
            return SC_E400;
        if (hi.te_other || !hi.te_chunked)
            return SC_E501;
        flags |= SC_REQ_CHUNKED | SC_REQ_HAS_BODY;
        hi.content_length = 0;
    } else if (hi.content_length > 0) {
        flags |= SC_REQ_HAS_BODY;
    }
    if (minor == 1 ? !hi.conn_close : (hi.conn_keep_alive && !hi.conn_close))
        flags |= SC_REQ_KEEP_ALIVE;
    if (minor == 1 && hi.expect_100)
        flags |= SC_REQ_EXPECT_100;
    if (minor == 1 && hi.conn_upgrade && hi.has_upgrade)
        flags |= SC_REQ_UPGRADE;
    uint32_t method_id = sc_method_id(method, method_len);
    if (method_id == SC_METHOD_HEAD)
        flags |= SC_REQ_HEAD;

    /* absolute-form: the path is the target and the authority the Host.  An
     * empty path becomes "/": the authority moves one byte left (over the
     * second '/' of "//") to make room.  Only done on success, so an
     * incomplete head is never changed except for its lower-cased names. */
    if (abs.authority) {
        if (path_off == target_len || target[path_off] != '/') {
            memmove(abs.authority - 1, abs.authority, abs.authority_len);
            abs.authority--;
            path_off--;
            target[path_off] = '/';
        }
        target += path_off;
        target_len -= path_off;
        if (hi.host_index >= 0) {
            req->headers[hi.host_index].value = (const char *)abs.authority;
            req->headers[hi.host_index].value_len = (uint32_t)abs.authority_len;
        } else if (num < limits->max_headers) {
            sc_header *h = &req->headers[num++];
            h->name = "host";
            h->name_len = 4;
            h->value = (const char *)abs.authority;
            h->value_len = (uint32_t)abs.authority_len;
        }
    }

    const unsigned char *q = memchr(target, '?', target_len);
    req->method = (const char *)method;
    req->method_len = (uint32_t)method_len;
    req->method_id = method_id;
    req->target = (const char *)target;
    req->target_len = (uint32_t)target_len;
    req->path_len = q ? (uint32_t)(q - target) : (uint32_t)target_len;
    req->http_minor = (uint32_t)minor;
    req->flags = flags;
    req->content_length = hi.content_length;
    req->num_headers = num;
    return (int)(p - b);
}

/* ---- chunked bodies (RFC 9112 7.1) ----------------------------------------- */

enum {
    SC_CK_SIZE_START, /* first hex digit of a chunk size */
    SC_CK_SIZE,       /* more hex digits */
    SC_CK_SIZE_WS,    /* BWS after the size: only ';' may follow */
    SC_CK_EXT,        /* chunk extensions up to CR (skipped) */
    SC_CK_SIZE_LF,
    SC_CK_DATA,
    SC_CK_DATA_CR,
    SC_CK_DATA_LF,
    SC_CK_TRAILER_START, /* start of a trailer line or the final CRLF */
    SC_CK_TRAILER_NAME,
    SC_CK_TRAILER_VALUE,
    SC_CK_TRAILER_LF,
    SC_CK_FINAL_LF,
    SC_CK_DONE,
    SC_CK_ERROR
};

void sc_chunked_init(sc_chunked *d)
{
    memset(d, 0, sizeof *d);
    d->state = SC_CK_SIZE_START;
}

long sc_chunked_decode(sc_chunked *d, char *buf, size_t *len)
{
    unsigned char *b = (unsigned char *)buf;
    size_t n = *len, i = 0, out = 0;

    if (d->state == SC_CK_DONE) {
        *len = 0;
        return (long)n;
    }
    while (i < n) {
        if (d->state == SC_CK_DATA) {
            /* PERF: the data of a chunk moves in one memmove, whatever its size */
            size_t take = n - i;
            if (take > d->remaining)
                take = (size_t)d->remaining;
            if (out != i)
                memmove(b + out, b + i, take);
            out += take;
            i += take;
            d->remaining -= take;
            d->total += take;
            if (d->remaining == 0)
                d->state = SC_CK_DATA_CR;
            continue;
        }
        unsigned c = b[i++];
        switch (d->state) {
        case SC_CK_SIZE_START:
            if (sc_hex[c] == 255)
                goto fail;
            d->remaining = sc_hex[c];
            d->count = 1;
            d->state = SC_CK_SIZE;
            break;
        case SC_CK_SIZE:
            if (sc_hex[c] != 255) {
                if (++d->count > 16)
                    goto fail; /* 16 hex digits fill a uint64: no overflow */
                d->remaining = (d->remaining << 4) | sc_hex[c];
            } else if (c == '\r') {
                d->state = SC_CK_SIZE_LF;
            } else if (c == ';' || SC_IS_OWS(c)) {
                if (++d->ext_total > SC_CHUNK_EXT_MAX)
                    goto fail;
                d->state = c == ';' ? SC_CK_EXT : SC_CK_SIZE_WS;
            } else {
                goto fail;
            }
            break;
        case SC_CK_SIZE_WS:
            if (++d->ext_total > SC_CHUNK_EXT_MAX || !(c == ';' || SC_IS_OWS(c)))
                goto fail;
            if (c == ';')
                d->state = SC_CK_EXT;
            break;
        case SC_CK_EXT:
            if (c == '\r') {
                d->state = SC_CK_SIZE_LF;
                break;
            }
            if (++d->ext_total > SC_CHUNK_EXT_MAX || !(sc_class[c] & SC_C_VALUE))
                goto fail;
            break;
        case SC_CK_SIZE_LF:
            if (c != '\n')
                goto fail;
            d->count = 0;
            d->state = d->remaining ? SC_CK_DATA : SC_CK_TRAILER_START;
            break;
        case SC_CK_DATA_CR:
            if (c != '\r')
                goto fail;
            d->state = SC_CK_DATA_LF;
            break;
        case SC_CK_DATA_LF:
            if (c != '\n')
                goto fail;
            d->state = SC_CK_SIZE_START;
            break;
        default: /* the trailer section: every byte counts against its bound */
            if (++d->count > SC_CHUNK_TRAILER_MAX)
                goto fail;
            switch (d->state) {
            case SC_CK_TRAILER_START:
                if (c == '\r')
                    d->state = SC_CK_FINAL_LF;
                else if (sc_tchar_lower[c])
                    d->state = SC_CK_TRAILER_NAME;
                else
                    goto fail; /* obs-fold, bare LF, non-token */
                break;
            case SC_CK_TRAILER_NAME:
                if (c == ':')
                    d->state = SC_CK_TRAILER_VALUE;
                else if (!sc_tchar_lower[c])
                    goto fail;
                break;
            case SC_CK_TRAILER_VALUE:
                if (c == '\r')
                    d->state = SC_CK_TRAILER_LF;
                else if (!(sc_class[c] & SC_C_VALUE))
                    goto fail;
                break;
            case SC_CK_TRAILER_LF:
                if (c != '\n')
                    goto fail;
                d->state = SC_CK_TRAILER_START;
                break;
            case SC_CK_FINAL_LF:
                if (c != '\n')
                    goto fail;
                d->state = SC_CK_DONE;
                goto done;
            default: /* SC_CK_ERROR */
                goto fail;
            }
            break;
        }
    }
    *len = out;
    return d->state == SC_CK_ERROR ? SC_E400 : SC_HTTP_INCOMPLETE;

done: {
    size_t rest = n - i;
    if (rest && out != i)
        memmove(b + out, b + i, rest);
    *len = out;
    return (long)rest;
}
fail:
    d->state = SC_CK_ERROR;
    *len = out;
    return SC_E400;
}
