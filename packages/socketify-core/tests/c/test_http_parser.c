/* test_http_parser.c - unit tests of csrc/http_parser.c.
 *
 * Standalone: built and run by tests/test_c_units.py.  Every input is copied
 * into a heap buffer of exactly its length (and the header array has exactly
 * max_headers entries) so AddressSanitizer catches any read past the end.
 * The last line printed is "N passed, N failed"; the exit code is non-zero
 * on any failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_parser.h"

static int passed, failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            passed++;                                                                              \
        } else {                                                                                   \
            failed++;                                                                              \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECK_EQ(a, b)                                                                             \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ == b_) {                                                                            \
            passed++;                                                                              \
        } else {                                                                                   \
            failed++;                                                                              \
            fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, #b,  \
                    a_, b_);                                                                       \
        }                                                                                          \
    } while (0)

/* a slice (pointer, length) equals a string literal */
#define CHECK_SLICE(p, n, lit)                                                                     \
    do {                                                                                           \
        size_t n_ = (size_t)(n);                                                                   \
        if (n_ == sizeof(lit) - 1 && memcmp((p), lit, n_) == 0) {                                  \
            passed++;                                                                              \
        } else {                                                                                   \
            failed++;                                                                              \
            fprintf(stderr, "%s:%d: %s is \"%.*s\", expected \"%s\"\n", __FILE__, __LINE__, #p,    \
                    (int)n_, (const char *)(p), lit);                                              \
        }                                                                                          \
    } while (0)

#define S(lit) lit, sizeof(lit) - 1

static const sc_http_limits LIM = {16384, 100, 8192};

/* One parse with its own exact-size buffers. */
typedef struct parsed {
    char *buf;
    size_t len;
    sc_header *headers;
    sc_request req;
    int rc;
} parsed;

static int parse_into(parsed *P, const char *s, size_t n, const sc_http_limits *lim)
{
    P->buf = malloc(n ? n : 1);
    memcpy(P->buf, s, n);
    P->len = n;
    P->headers = malloc(sizeof(sc_header) * (lim->max_headers ? lim->max_headers : 1));
    memset(&P->req, 0, sizeof P->req);
    P->req.headers = P->headers;
    P->rc = sc_http_parse_request(P->buf, n, &P->req, lim);
    return P->rc;
}

static void parsed_free(parsed *P)
{
    free(P->buf);
    free(P->headers);
}

static int parse_lim(const char *s, size_t n, const sc_http_limits *lim)
{
    parsed P;
    int rc = parse_into(&P, s, n, lim);
    parsed_free(&P);
    return rc;
}

static int parse(const char *s, size_t n)
{
    return parse_lim(s, n, &LIM);
}

static const sc_header *find(const sc_request *r, const char *name)
{
    for (uint32_t i = 0; i < r->num_headers; i++)
        if (r->headers[i].name_len == strlen(name) &&
            memcmp(r->headers[i].name, name, r->headers[i].name_len) == 0)
            return &r->headers[i];
    return NULL;
}

/* Parse "<line>\r\nHost: h\r\n<extra>\r\n" and return the rc (flags in *flags). */
static int parse_flags(const char *head, uint32_t *flags)
{
    parsed P;
    int rc = parse_into(&P, head, strlen(head), &LIM);
    *flags = rc > 0 ? P.req.flags : 0xffffffffu;
    parsed_free(&P);
    return rc;
}

/* ---- request line ------------------------------------------------------- */

static void test_simple_get(void)
{
    parsed P;
    const char in[] = "GET /a/b?x=1&y HTTP/1.1\r\nHost: example.com\r\nX-Thing:  v a l \t\r\n"
                      "Empty:\r\n\r\n";
    CHECK_EQ(parse_into(&P, S(in), &LIM), sizeof in - 1);
    CHECK_SLICE(P.req.method, P.req.method_len, "GET");
    CHECK_SLICE(P.req.target, P.req.target_len, "/a/b?x=1&y");
    CHECK_EQ(P.req.path_len, 4);
    CHECK_EQ(P.req.http_minor, 1);
    CHECK_EQ(P.req.flags, SC_REQ_KEEP_ALIVE);
    CHECK_EQ(P.req.content_length, 0);
    CHECK_EQ(P.req.num_headers, 3);
    CHECK_SLICE(P.req.headers[0].name, P.req.headers[0].name_len, "host");
    CHECK_SLICE(P.req.headers[0].value, P.req.headers[0].value_len, "example.com");
    CHECK_SLICE(P.req.headers[1].name, P.req.headers[1].name_len, "x-thing");
    CHECK_SLICE(P.req.headers[1].value, P.req.headers[1].value_len, "v a l");
    CHECK_SLICE(P.req.headers[2].name, P.req.headers[2].name_len, "empty");
    CHECK_EQ(P.req.headers[2].value_len, 0);
    /* the slices point into the buffer (zero-copy) and names are lowered there */
    CHECK(P.req.target == P.buf + 4);
    CHECK(memcmp(P.buf + 25, "host", 4) == 0);
    CHECK(memcmp(P.buf + 44, "x-thing", 7) == 0);
    parsed_free(&P);
}

/* names as long as a framing header's but different are plain headers */
static void test_lookalike_headers(void)
{
    parsed P;
    CHECK(parse_into(&P,
                     S("GET / HTTP/1.1\r\nHost: h\r\nAccept-Charset: x\r\n"
                       "If-Modified-Since: y\r\nHostX: a b\r\nExpectation: 100-continue\r\n"
                       "Connectionx: close\r\n\r\n"),
                     &LIM) > 0);
    CHECK_EQ(P.req.num_headers, 6);
    CHECK_EQ(P.req.flags, SC_REQ_KEEP_ALIVE);
    CHECK_EQ(P.req.content_length, 0);
    parsed_free(&P);
}

static void test_path_without_query(void)
{
    parsed P;
    CHECK(parse_into(&P, S("GET /plain HTTP/1.1\r\nHost: h\r\n\r\n"), &LIM) > 0);
    CHECK_EQ(P.req.path_len, 6);
    CHECK_EQ(P.req.target_len, 6);
    parsed_free(&P);
    CHECK(parse_into(&P, S("GET /?q HTTP/1.1\r\nHost: h\r\n\r\n"), &LIM) > 0);
    CHECK_EQ(P.req.path_len, 1);
    parsed_free(&P);
}

static void test_method_token(void)
{
    parsed P;
    CHECK(parse_into(&P, S("M-SEARCH! /x HTTP/1.1\r\nHost: h\r\n\r\n"), &LIM) > 0);
    CHECK_SLICE(P.req.method, P.req.method_len, "M-SEARCH!");
    parsed_free(&P);
    /* methods are case-sensitive: kept as sent */
    CHECK(parse_into(&P, S("get / HTTP/1.1\r\nHost: h\r\n\r\n"), &LIM) > 0);
    CHECK_SLICE(P.req.method, P.req.method_len, "get");
    parsed_free(&P);
    CHECK_EQ(parse(S("GE(T / HTTP/1.1\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GE\x01T / HTTP/1.1\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S(" / HTTP/1.1\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("G\xc3\xa9T / HTTP/1.1\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n")), -400);
    /* a bad method byte is reported before the head is complete */
    CHECK_EQ(parse(S("GE{")), -400);
}

static void test_single_spaces(void)
{
    CHECK_EQ(parse(S("GET  / HTTP/1.1\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET /  HTTP/1.1\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET / HTTP/1.1 \r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET /\tHTTP/1.1\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET / \r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET /\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET\r\n\r\n")), -400);
}

static void test_target_bytes(void)
{
    CHECK_EQ(parse(S("GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET /a\x80 HTTP/1.1\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET /a\xff HTTP/1.1\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET /a\x00 HTTP/1.1\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET /a\rb HTTP/1.1\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET /a\nb HTTP/1.1\r\nHost: h\r\n\r\n")), -400);
    /* every visible ASCII byte is allowed */
    CHECK(parse(S("GET /!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ HTTP/1.1\r\nHost: h\r\n\r\n")) > 0);
}

static void test_asterisk_form(void)
{
    parsed P;
    CHECK(parse_into(&P, S("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"), &LIM) > 0);
    CHECK_SLICE(P.req.target, P.req.target_len, "*");
    CHECK_EQ(P.req.path_len, 1);
    parsed_free(&P);
    CHECK_EQ(parse(S("GET * HTTP/1.1\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("OPTIONS *x HTTP/1.1\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("OPTIONS */ HTTP/1.1\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("options * HTTP/1.1\r\nHost: h\r\n\r\n")), -400);
}

static void test_other_forms_rejected(void)
{
    CHECK_EQ(parse(S("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET ftp://h/x HTTP/1.1\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET http:/h/x HTTP/1.1\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET http:// HTTP/1.1\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET http://u:p@h/x HTTP/1.1\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET http://h\"/x HTTP/1.1\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET a/b HTTP/1.1\r\nHost: h\r\n\r\n")), -400);
}

static void test_absolute_form(void)
{
    parsed P;
    const sc_header *h;
    CHECK(parse_into(&P, S("GET http://example.com:8080/a/b?c=d HTTP/1.1\r\nHost: other\r\n\r\n"),
                     &LIM) > 0);
    CHECK_SLICE(P.req.target, P.req.target_len, "/a/b?c=d");
    CHECK_EQ(P.req.path_len, 4);
    h = find(&P.req, "host");
    CHECK(h != NULL);
    if (h)
        CHECK_SLICE(h->value, h->value_len, "example.com:8080");
    CHECK_EQ(P.req.num_headers, 1);
    parsed_free(&P);

    /* scheme is case-insensitive; https too */
    CHECK(parse_into(&P, S("GET HTTPS://H/x HTTP/1.1\r\nHost: H\r\n\r\n"), &LIM) > 0);
    CHECK_SLICE(P.req.target, P.req.target_len, "/x");
    parsed_free(&P);

    /* empty path becomes "/" */
    CHECK(parse_into(&P, S("GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n"), &LIM) >
          0);
    CHECK_SLICE(P.req.target, P.req.target_len, "/");
    CHECK_EQ(P.req.path_len, 1);
    h = find(&P.req, "host");
    CHECK(h != NULL);
    if (h)
        CHECK_SLICE(h->value, h->value_len, "example.com");
    parsed_free(&P);

    CHECK(parse_into(&P, S("GET http://ex.com?x=1 HTTP/1.1\r\nHost: ex.com\r\n\r\n"), &LIM) > 0);
    CHECK_SLICE(P.req.target, P.req.target_len, "/?x=1");
    CHECK_EQ(P.req.path_len, 1);
    h = find(&P.req, "host");
    CHECK(h != NULL);
    if (h)
        CHECK_SLICE(h->value, h->value_len, "ex.com");
    parsed_free(&P);

    /* HTTP/1.0 without Host: the authority is added as a "host" header */
    CHECK(parse_into(&P, S("GET http://ex.com/p HTTP/1.0\r\nA: b\r\n\r\n"), &LIM) > 0);
    CHECK_EQ(P.req.num_headers, 2);
    h = find(&P.req, "host");
    CHECK(h != NULL);
    if (h)
        CHECK_SLICE(h->value, h->value_len, "ex.com");
    parsed_free(&P);

    /* ... unless there is no free header slot */
    sc_http_limits one = {16384, 1, 8192};
    CHECK(parse_into(&P, S("GET http://ex.com/p HTTP/1.0\r\nA: b\r\n\r\n"), &one) > 0);
    CHECK_EQ(P.req.num_headers, 1);
    parsed_free(&P);

    /* HTTP/1.1 still needs exactly one Host line (RFC 9112 3.2) */
    CHECK_EQ(parse(S("GET http://ex.com/p HTTP/1.1\r\n\r\n")), -400);
}

static void test_versions(void)
{
    parsed P;
    CHECK(parse_into(&P, S("GET / HTTP/1.0\r\n\r\n"), &LIM) > 0);
    CHECK_EQ(P.req.http_minor, 0);
    parsed_free(&P);
    CHECK(parse_into(&P, S("GET / HTTP/1.1\r\nHost: h\r\n\r\n"), &LIM) > 0);
    CHECK_EQ(P.req.http_minor, 1);
    parsed_free(&P);
    CHECK_EQ(parse(S("GET / HTTP/2.0\r\nHost: h\r\n\r\n")), -505);
    CHECK_EQ(parse(S("GET / HTTP/1.2\r\nHost: h\r\n\r\n")), -505);
    CHECK_EQ(parse(S("GET / HTTP/1.9\r\nHost: h\r\n\r\n")), -505);
    CHECK_EQ(parse(S("GET / HTTP/0.9\r\nHost: h\r\n\r\n")), -505);
    CHECK_EQ(parse(S("GET / HTTP/3\r\nHost: h\r\n\r\n")), -505);
    CHECK_EQ(parse(S("GET / HTTP/2\r\nHost: h\r\n\r\n")), -505);
    CHECK_EQ(parse(S("GET / HTTP/1\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET / HTTP/1.\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET / HTTP/1.a\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET / HTTP/1.1x\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET / HTTP/1.10\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET / HTTP/11.1\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET / http/1.1\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET / HTTP/\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET / HTTPS/1.1\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET / HTTP/1.1\rHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET / HTTP/1.1\nHost: h\r\n\r\n")), -400);
    /* garbage is seen before the line ends */
    CHECK_EQ(parse(S("GET / XTTP")), -400);
    CHECK_EQ(parse(S("GET / HTTP/x")), -400);
    CHECK_EQ(parse(S("GET / HTTP/1.1")), SC_HTTP_INCOMPLETE);
    CHECK_EQ(parse(S("GET / HTTP/1.1\r")), SC_HTTP_INCOMPLETE);
}

static void test_leading_empty_lines(void)
{
    parsed P;
    const char in[] = "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
    CHECK_EQ(parse_into(&P, S(in), &LIM), sizeof in - 1);
    CHECK_SLICE(P.req.method, P.req.method_len, "GET");
    parsed_free(&P);
    CHECK(parse(S("\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n")) > 0);
    CHECK_EQ(parse(S("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("\nGET / HTTP/1.1\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("\rGET / HTTP/1.1\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("\r")), SC_HTTP_INCOMPLETE);
    CHECK_EQ(parse(S("\r\n")), SC_HTTP_INCOMPLETE);
    CHECK_EQ(parse(S("")), SC_HTTP_INCOMPLETE);
    /* whitespace is not an empty line */
    CHECK_EQ(parse(S(" GET / HTTP/1.1\r\nHost: h\r\n\r\n")), -400);
}

/* ---- header lines ------------------------------------------------------- */

static void test_header_names(void)
{
    parsed P;
    CHECK(parse_into(&P, S("GET / HTTP/1.1\r\nHOST: h\r\nX-MiXeD_1~!: v\r\n\r\n"), &LIM) > 0);
    CHECK_SLICE(P.req.headers[0].name, P.req.headers[0].name_len, "host");
    CHECK_SLICE(P.req.headers[1].name, P.req.headers[1].name_len, "x-mixed_1~!");
    parsed_free(&P);
    CHECK_EQ(parse(S("GET / HTTP/1.1\r\nHost : h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET / HTTP/1.1\r\nHost: h\r\nA b: c\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET / HTTP/1.1\r\nHost: h\r\nA@b: c\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET / HTTP/1.1\r\nHost: h\r\n: c\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET / HTTP/1.1\r\nHost: h\r\nA\x00: c\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET / HTTP/1.1\r\nHost: h\r\n\xc3\xa9: c\r\n\r\n")), -400);
}

static void test_header_values(void)
{
    parsed P;
    CHECK(parse_into(&P, S("GET / HTTP/1.1\r\nHost: h\r\nA: \t x\ty \x80\xff \t\r\nB:c\r\n\r\n"),
                     &LIM) > 0);
    CHECK_SLICE(P.req.headers[1].value, P.req.headers[1].value_len, "x\ty \x80\xff");
    CHECK_SLICE(P.req.headers[2].value, P.req.headers[2].value_len, "c");
    parsed_free(&P);
    CHECK(parse_into(&P, S("GET / HTTP/1.1\r\nHost: h\r\nA:   \r\n\r\n"), &LIM) > 0);
    CHECK_EQ(P.req.headers[1].value_len, 0);
    parsed_free(&P);
    CHECK_EQ(parse(S("GET / HTTP/1.1\r\nHost: h\r\nA: x\x00y\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET / HTTP/1.1\r\nHost: h\r\nA: x\x01y\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET / HTTP/1.1\r\nHost: h\r\nA: x\x1fy\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET / HTTP/1.1\r\nHost: h\r\nA: x\x7fy\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET / HTTP/1.1\r\nHost: h\r\nA: x\ry\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET / HTTP/1.1\r\nHost: h\r\nA: x\r\r\n\r\n")), -400);
    /* a bad value byte is reported before the head is complete */
    CHECK_EQ(parse(S("GET / HTTP/1.1\r\nHost: h\r\nA: x\x01")), -400);
}

static void test_obs_fold_and_bare_lf(void)
{
    CHECK_EQ(parse(S("GET / HTTP/1.1\r\nHost: h\r\nA: x\r\n y\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET / HTTP/1.1\r\nHost: h\r\nA: x\r\n\ty\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET / HTTP/1.1\r\n Host: h\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET / HTTP/1.1\r\nHost: h\nA: b\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET / HTTP/1.1\r\nHost: h\r\n\n")), -400);
    CHECK_EQ(parse(S("GET / HTTP/1.1\r\nHost: h\n\n")), -400);
    CHECK_EQ(parse(S("GET / HTTP/1.1\nHost: h\n\n")), -400);
    CHECK_EQ(parse(S("GET / HTTP/1.1\r\nHost: h\r\n\rX")), -400);
}

/* ---- limits ------------------------------------------------------------- */

/* "GET /aaa... HTTP/1.1\r\nHost: h\r\n\r\n" with a target of n bytes */
static char *request_with_target(size_t n, size_t *out_len)
{
    const char *tail = " HTTP/1.1\r\nHost: h\r\n\r\n";
    size_t len = 4 + n + strlen(tail);
    char *s = malloc(len);
    memcpy(s, "GET ", 4);
    s[4] = '/';
    memset(s + 5, 'a', n - 1);
    memcpy(s + 4 + n, tail, strlen(tail));
    *out_len = len;
    return s;
}

static void test_url_limit(void)
{
    sc_http_limits lim = {16384, 100, 64};
    size_t n;
    char *s = request_with_target(63, &n);
    CHECK(parse_lim(s, n, &lim) > 0);
    free(s);
    s = request_with_target(64, &n);
    CHECK(parse_lim(s, n, &lim) > 0);
    free(s);
    s = request_with_target(65, &n);
    CHECK_EQ(parse_lim(s, n, &lim), -414);
    /* as soon as the target alone passes the limit, head incomplete */
    CHECK_EQ(parse_lim(s, 4 + 65, &lim), -414);
    CHECK_EQ(parse_lim(s, 4 + 64, &lim), SC_HTTP_INCOMPLETE);
    free(s);
    /* the whole absolute-form target counts */
    sc_http_limits small = {16384, 100, 10};
    CHECK_EQ(parse_lim(S("GET http://h/abc HTTP/1.1\r\nHost: h\r\n\r\n"), &small), -414);
    CHECK(parse_lim(S("GET http://h/a HTTP/1.1\r\nHost: h\r\n\r\n"), &small) > 0);
}

static void test_header_size_limit(void)
{
    const char in[] = "\r\nGET / HTTP/1.1\r\nHost: h\r\nA: 0123456789\r\n\r\n";
    uint32_t head = (uint32_t)(sizeof in - 1 - 2); /* leading CRLF not counted */
    sc_http_limits at = {head, 100, 8192}, below = {head + 1, 100, 8192};
    sc_http_limits above = {head - 1, 100, 8192};
    CHECK_EQ(parse_lim(S(in), &at), sizeof in - 1);
    CHECK_EQ(parse_lim(S(in), &below), sizeof in - 1);
    CHECK_EQ(parse_lim(S(in), &above), -431);
    /* incomplete: -431 once the buffered head bytes reach the limit */
    CHECK_EQ(parse_lim(in, 2 + head - 2, &above), SC_HTTP_INCOMPLETE);
    CHECK_EQ(parse_lim(in, 2 + head - 1, &above), -431);
    CHECK_EQ(parse_lim(in, 2 + head - 1, &at), SC_HTTP_INCOMPLETE);
    /* a long garbage line with no CRLF is stopped at the limit */
    char big[300];
    memset(big, 'a', sizeof big);
    memcpy(big, "GET /", 5);
    sc_http_limits lim = {256, 100, 8192};
    CHECK_EQ(parse_lim(big, 255, &lim), SC_HTTP_INCOMPLETE);
    CHECK_EQ(parse_lim(big, 256, &lim), -431);
    CHECK_EQ(parse_lim(big, 300, &lim), -431);
    /* bytes after a complete head do not count (pipelining) */
    char *pipe = malloc(sizeof in - 1 + 100);
    memcpy(pipe, in, sizeof in - 1);
    memset(pipe + sizeof in - 1, 'x', 100);
    CHECK_EQ(parse_lim(pipe, sizeof in - 1 + 100, &at), sizeof in - 1);
    free(pipe);
}

static void test_header_count_limit(void)
{
    const char in[] = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n";
    sc_http_limits at = {16384, 3, 8192}, below = {16384, 4, 8192}, above = {16384, 2, 8192};
    parsed P;
    CHECK_EQ(parse_into(&P, S(in), &at), sizeof in - 1);
    CHECK_EQ(P.req.num_headers, 3);
    parsed_free(&P);
    CHECK_EQ(parse_lim(S(in), &below), sizeof in - 1);
    CHECK_EQ(parse_lim(S(in), &above), -431);
    /* reported when the extra line starts, before the head is complete */
    CHECK_EQ(parse_lim(in, sizeof in - 1 - 7, &above), -431);
    CHECK_EQ(parse_lim(in, sizeof in - 1 - 8, &above), SC_HTTP_INCOMPLETE);
}

/* ---- framing ------------------------------------------------------------ */

static int cl_request(const char *cl_lines, uint64_t *cl, uint32_t *flags)
{
    char in[512];
    snprintf(in, sizeof in, "POST / HTTP/1.1\r\nHost: h\r\n%s\r\n", cl_lines);
    parsed P;
    int rc = parse_into(&P, in, strlen(in), &LIM);
    *cl = P.req.content_length;
    *flags = P.req.flags;
    parsed_free(&P);
    return rc;
}

static void test_content_length(void)
{
    uint64_t cl;
    uint32_t fl;
    CHECK(cl_request("Content-Length: 10\r\n", &cl, &fl) > 0);
    CHECK_EQ(cl, 10);
    CHECK_EQ(fl, SC_REQ_KEEP_ALIVE | SC_REQ_HAS_BODY);
    CHECK(cl_request("Content-Length: 0\r\n", &cl, &fl) > 0);
    CHECK_EQ(cl, 0);
    CHECK_EQ(fl, SC_REQ_KEEP_ALIVE);
    CHECK(cl_request("content-length:007\r\n", &cl, &fl) > 0);
    CHECK_EQ(cl, 7);
    CHECK(cl_request("Content-Length: 18446744073709551615\r\n", &cl, &fl) > 0);
    CHECK(cl == UINT64_MAX);
    CHECK_EQ(cl_request("Content-Length: 18446744073709551616\r\n", &cl, &fl), -400);
    CHECK_EQ(cl_request("Content-Length: 99999999999999999999999\r\n", &cl, &fl), -400);
    CHECK_EQ(cl_request("Content-Length: +5\r\n", &cl, &fl), -400);
    CHECK_EQ(cl_request("Content-Length: -5\r\n", &cl, &fl), -400);
    CHECK_EQ(cl_request("Content-Length: 5 5\r\n", &cl, &fl), -400);
    CHECK_EQ(cl_request("Content-Length: 5a\r\n", &cl, &fl), -400);
    CHECK_EQ(cl_request("Content-Length: 0x5\r\n", &cl, &fl), -400);
    CHECK_EQ(cl_request("Content-Length:\r\n", &cl, &fl), -400);
    CHECK_EQ(cl_request("Content-Length: 5.0\r\n", &cl, &fl), -400);
    /* duplicates and lists: only when every value is the same */
    CHECK(cl_request("Content-Length: 5\r\nContent-Length: 5\r\n", &cl, &fl) > 0);
    CHECK_EQ(cl, 5);
    CHECK(cl_request("Content-Length: 5 , 5,5\r\n", &cl, &fl) > 0);
    CHECK_EQ(cl, 5);
    CHECK_EQ(cl_request("Content-Length: 5\r\nContent-Length: 6\r\n", &cl, &fl), -400);
    CHECK_EQ(cl_request("Content-Length: 5, 6\r\n", &cl, &fl), -400);
    CHECK_EQ(cl_request("Content-Length: 5,\r\n", &cl, &fl), -400);
    CHECK_EQ(cl_request("Content-Length: ,5\r\n", &cl, &fl), -400);
    CHECK_EQ(cl_request("Content-Length: 5,,5\r\n", &cl, &fl), -400);
}

static void test_transfer_encoding(void)
{
    uint64_t cl;
    uint32_t fl;
    CHECK(cl_request("Transfer-Encoding: chunked\r\n", &cl, &fl) > 0);
    CHECK_EQ(fl, SC_REQ_KEEP_ALIVE | SC_REQ_HAS_BODY | SC_REQ_CHUNKED);
    CHECK_EQ(cl, 0);
    CHECK(cl_request("transfer-encoding:  ChUnKeD \r\n", &cl, &fl) > 0);
    CHECK(fl & SC_REQ_CHUNKED);
    CHECK(cl_request("Transfer-Encoding: ,chunked,\r\n", &cl, &fl) > 0);
    CHECK_EQ(cl_request("Transfer-Encoding: gzip, chunked\r\n", &cl, &fl), -501);
    CHECK_EQ(cl_request("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", &cl, &fl),
             -501);
    CHECK_EQ(cl_request("Transfer-Encoding: gzip\r\n", &cl, &fl), -501);
    CHECK_EQ(cl_request("Transfer-Encoding: identity\r\n", &cl, &fl), -501);
    CHECK_EQ(cl_request("Transfer-Encoding: chunked;x=1\r\n", &cl, &fl), -501);
    CHECK_EQ(cl_request("Transfer-Encoding: chunked, gzip\r\n", &cl, &fl), -400);
    CHECK_EQ(cl_request("Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n", &cl, &fl),
             -400);
    CHECK_EQ(cl_request("Transfer-Encoding: chunked, chunked\r\n", &cl, &fl), -400);
    CHECK_EQ(cl_request("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", &cl, &fl),
             -400);
    CHECK_EQ(cl_request("Transfer-Encoding:\r\n", &cl, &fl), -400);
    CHECK_EQ(cl_request("Transfer-Encoding: ,\r\n", &cl, &fl), -400);
    /* with Content-Length, in either order */
    CHECK_EQ(cl_request("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", &cl, &fl), -400);
    CHECK_EQ(cl_request("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", &cl, &fl), -400);
    CHECK_EQ(cl_request("Content-Length: 0\r\nTransfer-Encoding: chunked\r\n", &cl, &fl), -400);
    /* not in HTTP/1.0 */
    CHECK_EQ(parse(S("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n")), -400);
}

static void test_host(void)
{
    CHECK_EQ(parse(S("GET / HTTP/1.1\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n")), -400);
    CHECK(parse(S("GET / HTTP/1.0\r\n\r\n")) > 0);
    CHECK(parse(S("GET / HTTP/1.1\r\nHost:\r\n\r\n")) > 0);
    CHECK(parse(S("GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n")) > 0);
    CHECK(parse(S("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n")) > 0);
    CHECK(parse(S("GET / HTTP/1.1\r\nHost: xn--bcher-kva.example\r\n\r\n")) > 0);
    CHECK_EQ(parse(S("GET / HTTP/1.1\r\nHost: a b\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET / HTTP/1.1\r\nHost: a\"b\r\n\r\n")), -400);
    CHECK_EQ(parse(S("GET / HTTP/1.1\r\nHost: \x80\r\n\r\n")), -400);
}

static void test_keep_alive(void)
{
    uint32_t f;
    CHECK(parse_flags("GET / HTTP/1.1\r\nHost: h\r\n\r\n", &f) > 0);
    CHECK(f & SC_REQ_KEEP_ALIVE);
    CHECK(parse_flags("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", &f) > 0);
    CHECK(!(f & SC_REQ_KEEP_ALIVE));
    CHECK(parse_flags("GET / HTTP/1.1\r\nHost: h\r\nConnection: foo , CLOSE\r\n\r\n", &f) > 0);
    CHECK(!(f & SC_REQ_KEEP_ALIVE));
    CHECK(parse_flags("GET / HTTP/1.1\r\nHost: h\r\nConnection: foo\r\nConnection: Close\r\n\r\n",
                      &f) > 0);
    CHECK(!(f & SC_REQ_KEEP_ALIVE));
    CHECK(parse_flags("GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n", &f) > 0);
    CHECK(f & SC_REQ_KEEP_ALIVE);
    CHECK(parse_flags("GET / HTTP/1.0\r\n\r\n", &f) > 0);
    CHECK(!(f & SC_REQ_KEEP_ALIVE));
    CHECK(parse_flags("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &f) > 0);
    CHECK(f & SC_REQ_KEEP_ALIVE);
    CHECK(parse_flags("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", &f) > 0);
    CHECK(!(f & SC_REQ_KEEP_ALIVE));
}

static void test_other_flags(void)
{
    uint32_t f;
    CHECK(parse_flags("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\n"
                      "Content-Length: 3\r\n\r\n",
                      &f) > 0);
    CHECK(f & SC_REQ_EXPECT_100);
    CHECK(parse_flags("POST / HTTP/1.1\r\nHost: h\r\nExpect: something\r\n\r\n", &f) > 0);
    CHECK(!(f & SC_REQ_EXPECT_100));
    CHECK(parse_flags("POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", &f) > 0);
    CHECK(!(f & SC_REQ_EXPECT_100));
    CHECK(parse_flags("HEAD / HTTP/1.1\r\nHost: h\r\n\r\n", &f) > 0);
    CHECK(f & SC_REQ_HEAD);
    CHECK(parse_flags("head / HTTP/1.1\r\nHost: h\r\n\r\n", &f) > 0);
    CHECK(!(f & SC_REQ_HEAD));
    CHECK(parse_flags("HEADS / HTTP/1.1\r\nHost: h\r\n\r\n", &f) > 0);
    CHECK(!(f & SC_REQ_HEAD));
    CHECK(parse_flags("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\n"
                      "Upgrade: websocket\r\n\r\n",
                      &f) > 0);
    CHECK(f & SC_REQ_UPGRADE);
    CHECK(f & SC_REQ_KEEP_ALIVE);
    CHECK(parse_flags("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n", &f) > 0);
    CHECK(!(f & SC_REQ_UPGRADE));
    CHECK(parse_flags("GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n\r\n", &f) > 0);
    CHECK(!(f & SC_REQ_UPGRADE));
    CHECK(parse_flags("GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade:\r\n\r\n", &f) >
          0);
    CHECK(!(f & SC_REQ_UPGRADE));
    CHECK(parse_flags("GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", &f) >
          0);
    CHECK(!(f & SC_REQ_UPGRADE));
}

/* ---- incremental input and pipelining ------------------------------------ */

static const char FULL[] = "\r\nPOST http://Example.COM/up/load?x=1 HTTP/1.1\r\nHost: old\r\n"
                           "Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
                           "Connection: keep-alive\r\nX-Obs: caf\xc3\xa9\r\n\r\n";

static void test_method_ids(void)
{
    static const struct {
        const char *method;
        uint32_t id;
    } cases[] = {
        {"GET", SC_METHOD_GET},         {"POST", SC_METHOD_POST},      {"PUT", SC_METHOD_PUT},
        {"DELETE", SC_METHOD_DELETE},   {"PATCH", SC_METHOD_PATCH},    {"HEAD", SC_METHOD_HEAD},
        {"OPTIONS", SC_METHOD_OPTIONS}, {"TRACE", SC_METHOD_TRACE},    {"get", SC_METHOD_OTHER},
        {"GETS", SC_METHOD_OTHER},      {"PROPFIND", SC_METHOD_OTHER}, {"POS", SC_METHOD_OTHER},
    };
    char head[128];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n = snprintf(head, sizeof head, "%s /x HTTP/1.1\r\nHost: h\r\n\r\n", cases[i].method);
        parsed P;
        CHECK(parse_into(&P, head, (size_t)n, &LIM) > 0);
        CHECK(P.req.method_id == cases[i].id);
        parsed_free(&P);
    }
    const char *connect = "CONNECT h:1 HTTP/1.1\r\nHost: h\r\n\r\n";
    CHECK(parse(connect, strlen(connect)) < 0); /* refused (authority-form): no id needed */
}

static void test_every_split(void)
{
    size_t n = sizeof FULL - 1;
    parsed ref;
    CHECK_EQ(parse_into(&ref, FULL, n, &LIM), n);
    /* the core keeps one growing buffer and re-parses it from the start */
    for (size_t k = 0; k < n; k++) {
        char *buf = malloc(n);
        sc_header hdrs[100];
        sc_request req;
        memset(&req, 0, sizeof req);
        req.headers = hdrs;
        memcpy(buf, FULL, k);
        int rc = sc_http_parse_request(buf, k, &req, &LIM);
        if (rc != SC_HTTP_INCOMPLETE)
            fprintf(stderr, "split at %zu: rc %d\n", k, rc);
        CHECK_EQ(rc, SC_HTTP_INCOMPLETE);
        memcpy(buf + k, FULL + k, n - k);
        CHECK_EQ(sc_http_parse_request(buf, n, &req, &LIM), n);
        CHECK_EQ(req.num_headers, ref.req.num_headers);
        CHECK_EQ(req.flags, ref.req.flags);
        CHECK_EQ(req.target_len, ref.req.target_len);
        CHECK(memcmp(req.target, ref.req.target, req.target_len) == 0);
        for (uint32_t i = 0; i < req.num_headers && i < ref.req.num_headers; i++) {
            CHECK(req.headers[i].name_len == ref.req.headers[i].name_len &&
                  memcmp(req.headers[i].name, ref.req.headers[i].name, req.headers[i].name_len) ==
                      0);
            CHECK(req.headers[i].value_len == ref.req.headers[i].value_len &&
                  memcmp(req.headers[i].value, ref.req.headers[i].value,
                         req.headers[i].value_len) == 0);
        }
        free(buf);
    }
    CHECK_SLICE(ref.req.target, ref.req.target_len, "/up/load?x=1");
    CHECK_EQ(ref.req.flags, SC_REQ_KEEP_ALIVE | SC_REQ_HAS_BODY | SC_REQ_CHUNKED);
    const sc_header *h = find(&ref.req, "host");
    CHECK(h != NULL);
    if (h)
        CHECK_SLICE(h->value, h->value_len, "Example.COM");
    parsed_free(&ref);
}

static void test_pipelined(void)
{
    const char r1[] = "GET /one HTTP/1.1\r\nHost: h\r\n\r\n";
    const char r2[] = "POST /two HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
    const char r3[] = "HEAD /three HTTP/1.0\r\n\r\n";
    char all[256];
    size_t n1 = sizeof r1 - 1, n2 = sizeof r2 - 1, n3 = sizeof r3 - 1;
    memcpy(all, r1, n1);
    memcpy(all + n1, r2, n2);
    memcpy(all + n1 + n2, r3, n3);
    parsed P;
    CHECK_EQ(parse_into(&P, all, n1 + n2 + n3, &LIM), n1);
    CHECK_SLICE(P.req.target, P.req.target_len, "/one");
    int rc = sc_http_parse_request(P.buf + n1, n2 + n3, &P.req, &LIM);
    CHECK_EQ(rc, n2 - 3);
    CHECK_SLICE(P.req.target, P.req.target_len, "/two");
    CHECK_EQ(P.req.content_length, 3);
    rc = sc_http_parse_request(P.buf + n1 + n2, n3, &P.req, &LIM);
    CHECK_EQ(rc, n3);
    CHECK_SLICE(P.req.target, P.req.target_len, "/three");
    CHECK(P.req.flags & SC_REQ_HEAD);
    parsed_free(&P);
}

/* ---- chunked decoder ---------------------------------------------------- */

typedef struct decoded {
    char body[4096];
    size_t body_len;
    long rc;        /* last return code */
    char rest[256]; /* bytes left after the body */
    size_t rest_len;
    uint64_t total;
} decoded;

/* Feed in[0..n) in pieces cut at the given offsets (sorted, < n). */
static void decode_split(decoded *out, const char *in, size_t n, const size_t *cuts, size_t ncuts)
{
    sc_chunked d;
    sc_chunked_init(&d);
    memset(out, 0, sizeof *out);
    out->rc = SC_HTTP_INCOMPLETE;
    size_t pos = 0;
    for (size_t c = 0; c <= ncuts && out->rc == SC_HTTP_INCOMPLETE; c++) {
        size_t stop = c < ncuts ? cuts[c] : n;
        size_t len = stop - pos;
        char *piece = malloc(len ? len : 1);
        memcpy(piece, in + pos, len);
        out->rc = sc_chunked_decode(&d, piece, &len);
        if (out->body_len + len <= sizeof out->body) {
            memcpy(out->body + out->body_len, piece, len);
            out->body_len += len;
        }
        if (out->rc >= 0 && (size_t)out->rc <= sizeof out->rest) {
            memcpy(out->rest, piece + len, (size_t)out->rc);
            out->rest_len = (size_t)out->rc;
        }
        free(piece);
        pos = stop;
    }
    out->total = d.total;
}

static void decode_all(decoded *out, const char *in, size_t n)
{
    decode_split(out, in, n, NULL, 0);
}

static const char CHUNKED[] = "5\r\nhello\r\n1;name=value;x=\"q\"\r\n \r\n"
                              "00a \t; ext\r\n0123456789\r\nB\r\n-abcdefghij\r\n"
                              "0\r\nX-Trailer: yes\r\nY:\r\n\r\n"
                              "GET /next HTTP/1.1\r\n";
static const char CHUNKED_BODY[] = "hello 0123456789-abcdefghij";
static const char CHUNKED_REST[] = "GET /next HTTP/1.1\r\n";

static void test_chunked_basic(void)
{
    decoded r;
    decode_all(&r, S(CHUNKED));
    CHECK_EQ(r.rc, sizeof CHUNKED_REST - 1);
    CHECK_SLICE(r.body, r.body_len, CHUNKED_BODY);
    CHECK_SLICE(r.rest, r.rest_len, CHUNKED_REST);
    CHECK_EQ(r.total, sizeof CHUNKED_BODY - 1);

    /* in place: body at the front, the rest right after it */
    char buf[sizeof CHUNKED];
    memcpy(buf, CHUNKED, sizeof CHUNKED);
    size_t len = sizeof CHUNKED - 1;
    sc_chunked d;
    sc_chunked_init(&d);
    long rc = sc_chunked_decode(&d, buf, &len);
    CHECK_EQ(rc, sizeof CHUNKED_REST - 1);
    CHECK_EQ(len, sizeof CHUNKED_BODY - 1);
    CHECK(memcmp(buf, CHUNKED_BODY, len) == 0);
    CHECK(memcmp(buf + len, CHUNKED_REST, (size_t)rc) == 0);
    /* after the end, everything is left over */
    char more[] = "abc";
    len = 3;
    CHECK_EQ(sc_chunked_decode(&d, more, &len), 3);
    CHECK_EQ(len, 0);

    decode_all(&r, S("0\r\n\r\n"));
    CHECK_EQ(r.rc, 0);
    CHECK_EQ(r.body_len, 0);
    decode_all(&r, S("5\r\nhel"));
    CHECK_EQ(r.rc, SC_HTTP_INCOMPLETE);
    CHECK_SLICE(r.body, r.body_len, "hel");
    CHECK_EQ(r.total, 3);
}

static void test_chunked_every_split(void)
{
    size_t n = sizeof CHUNKED - 1;
    decoded r;
    /* one byte at a time */
    size_t cuts[sizeof CHUNKED];
    for (size_t i = 0; i + 1 < n; i++)
        cuts[i] = i + 1;
    decode_split(&r, CHUNKED, n, cuts, n - 1);
    CHECK_EQ(r.rc, 0); /* the final LF ends it; the rest arrives in later pieces */
    CHECK_SLICE(r.body, r.body_len, CHUNKED_BODY);
    CHECK_EQ(r.total, sizeof CHUNKED_BODY - 1);
    /* every 2-way split */
    size_t body_end = n - (sizeof CHUNKED_REST - 1);
    for (size_t k = 1; k < n; k++) {
        decode_split(&r, CHUNKED, n, &k, 1);
        CHECK_SLICE(r.body, r.body_len, CHUNKED_BODY);
        /* the piece holding the final LF reports the bytes after it */
        CHECK_EQ(r.rc, k < body_end ? (long)(n - body_end) : (long)(k - body_end));
    }
}

static long chunked_rc(const char *in, size_t n)
{
    decoded r;
    decode_all(&r, in, n);
    return r.rc;
}

static void test_chunked_sizes(void)
{
    decoded r;
    decode_all(&r, S("A\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n"));
    CHECK_EQ(r.rc, 0);
    CHECK_EQ(r.body_len, 20);
    /* 16 hex digits are fine (the declared size is kept in remaining) */
    sc_chunked d;
    sc_chunked_init(&d);
    char big[] = "ffffffffffffffff\r\nab";
    size_t len = sizeof big - 1;
    CHECK_EQ(sc_chunked_decode(&d, big, &len), SC_HTTP_INCOMPLETE);
    CHECK(d.remaining == UINT64_MAX - 2);
    CHECK_EQ(len, 2);
    CHECK_EQ(chunked_rc(S("0000000000000001\r\nx\r\n0\r\n\r\n")), 0);
    CHECK_EQ(chunked_rc(S("00000000000000001\r\nx\r\n0\r\n\r\n")), -400);
    CHECK_EQ(chunked_rc(S("10000000000000000\r\n")), -400);
    CHECK_EQ(chunked_rc(S("x\r\n")), -400);
    CHECK_EQ(chunked_rc(S("\r\n")), -400);
    CHECK_EQ(chunked_rc(S("-5\r\n")), -400);
    CHECK_EQ(chunked_rc(S("+5\r\n")), -400);
    CHECK_EQ(chunked_rc(S(" 5\r\n")), -400);
    CHECK_EQ(chunked_rc(S("0x5\r\n")), -400);
    CHECK_EQ(chunked_rc(S("5 \r\nhello\r\n")), -400);
    CHECK_EQ(chunked_rc(S("5 x\r\nhello\r\n")), -400);
}

static void test_chunked_line_endings(void)
{
    CHECK_EQ(chunked_rc(S("5\nhello\r\n0\r\n\r\n")), -400);
    CHECK_EQ(chunked_rc(S("5\rhello\r\n0\r\n\r\n")), -400);
    CHECK_EQ(chunked_rc(S("5\r\nhelloX\r\n0\r\n\r\n")), -400);
    CHECK_EQ(chunked_rc(S("5\r\nhello\n0\r\n\r\n")), -400);
    CHECK_EQ(chunked_rc(S("5\r\nhello\rX0\r\n\r\n")), -400);
    CHECK_EQ(chunked_rc(S("5\r\nhello\r\n0\n\r\n")), -400);
    CHECK_EQ(chunked_rc(S("5\r\nhello\r\n0\r\n\n")), -400);
    CHECK_EQ(chunked_rc(S("5\r\nhello\r\n0\r\n\rX")), -400);
    /* the error is sticky */
    sc_chunked d;
    sc_chunked_init(&d);
    char bad[] = "z";
    size_t len = 1;
    CHECK_EQ(sc_chunked_decode(&d, bad, &len), -400);
    char good[] = "0\r\n\r\n";
    len = 5;
    CHECK_EQ(sc_chunked_decode(&d, good, &len), -400);
}

/* "1;eee...\r\nx\r\n0\r\n\r\n" with ext_bytes extension bytes (the ';' included) */
static long chunked_with_ext(size_t ext_bytes)
{
    size_t n = 1 + ext_bytes + 10;
    char *in = malloc(n);
    in[0] = '1';
    in[1] = ';';
    memset(in + 2, 'e', ext_bytes - 1);
    memcpy(in + 1 + ext_bytes, "\r\nx\r\n0\r\n\r\n", 10);
    long rc = chunked_rc(in, n);
    free(in);
    return rc;
}

static void test_chunked_extensions(void)
{
    CHECK_EQ(chunked_rc(S("5;a=b;c\r\nhello\r\n0;last\r\n\r\n")), 0);
    CHECK_EQ(chunked_rc(S("5 \t ;a\r\nhello\r\n0\r\n\r\n")), 0);
    CHECK_EQ(chunked_rc(S("5;a=\"\x80\"\r\nhello\r\n0\r\n\r\n")), 0);
    CHECK_EQ(chunked_rc(S("5;a\x01\r\nhello\r\n0\r\n\r\n")), -400);
    CHECK_EQ(chunked_rc(S("5;a\x00\r\nhello\r\n0\r\n\r\n")), -400);
    CHECK_EQ(chunked_rc(S("5;a\nhello\r\n0\r\n\r\n")), -400);
    /* at most SC_CHUNK_EXT_MAX extension bytes (';' and BWS included) per body */
    CHECK_EQ(chunked_with_ext(SC_CHUNK_EXT_MAX), 0);
    CHECK_EQ(chunked_with_ext(SC_CHUNK_EXT_MAX + 1), -400);
    /* ... also when the ';' of a later chunk is the byte past the bound */
    char *at = malloc(SC_CHUNK_EXT_MAX + 8);
    at[0] = '1';
    at[1] = ';';
    memset(at + 2, 'e', SC_CHUNK_EXT_MAX - 1); /* the first chunk uses the whole bound */
    memcpy(at + SC_CHUNK_EXT_MAX + 1, "\r\nx\r\n1;", 7);
    CHECK_EQ(chunked_rc(at, SC_CHUNK_EXT_MAX + 7), SC_HTTP_INCOMPLETE);
    CHECK_EQ(chunked_rc(at, SC_CHUNK_EXT_MAX + 8), -400);
    free(at);
    /* the bound is per body: two chunks of 3000 extension bytes fail */
    char *two = malloc(2 * 3010 + 10);
    size_t k = 0;
    for (int c = 0; c < 2; c++) {
        two[k++] = '1';
        two[k++] = ';';
        memset(two + k, 'e', 3000);
        k += 3000;
        memcpy(two + k, "\r\nx\r\n", 5);
        k += 5;
    }
    CHECK_EQ(chunked_rc(two, k), -400);
    free(two);
}

static void test_chunked_trailers(void)
{
    decoded r;
    decode_all(&r, S("3\r\nabc\r\n0\r\nA: 1\r\nB-c:  x y \r\nEmpty:\r\n\r\nNEXT"));
    CHECK_EQ(r.rc, 4);
    CHECK_SLICE(r.body, r.body_len, "abc");
    CHECK_SLICE(r.rest, r.rest_len, "NEXT");
    CHECK_EQ(chunked_rc(S("0\r\nA: 1\r\n folded\r\n\r\n")), -400);
    CHECK_EQ(chunked_rc(S("0\r\nA: 1\r\n\tfolded\r\n\r\n")), -400);
    CHECK_EQ(chunked_rc(S("0\r\nNoColon\r\n\r\n")), -400);
    CHECK_EQ(chunked_rc(S("0\r\nA : 1\r\n\r\n")), -400);
    CHECK_EQ(chunked_rc(S("0\r\n: 1\r\n\r\n")), -400);
    CHECK_EQ(chunked_rc(S("0\r\nA: 1\x01\r\n\r\n")), -400);
    CHECK_EQ(chunked_rc(S("0\r\nA: 1\n\r\n")), -400);
    CHECK_EQ(chunked_rc(S("0\r\nA: 1\r\n\n")), -400);
    CHECK_EQ(chunked_rc(S("0\r\nA: 1\rX\r\n")), -400);
    CHECK_EQ(chunked_rc(S("0\r\nA\x80: 1\r\n\r\n")), -400);
    /* at most SC_CHUNK_TRAILER_MAX bytes of trailer section (final CRLF included) */
    size_t n = 3 + SC_CHUNK_TRAILER_MAX;
    char *in = malloc(n + 1);
    memcpy(in, "0\r\nA:", 5);
    memset(in + 5, 'v', n - 5);
    memcpy(in + n - 4, "\r\n\r\n", 4);
    CHECK_EQ(chunked_rc(in, n), 0);
    memset(in + 5, 'v', n + 1 - 5);
    memcpy(in + n + 1 - 4, "\r\n\r\n", 4);
    CHECK_EQ(chunked_rc(in, n + 1), -400);
    free(in);
}

static void test_chunked_total(void)
{
    sc_chunked d;
    sc_chunked_init(&d);
    char a[] = "4\r\nab";
    size_t len = sizeof a - 1;
    CHECK_EQ(sc_chunked_decode(&d, a, &len), SC_HTTP_INCOMPLETE);
    CHECK_EQ(d.total, 2);
    CHECK_EQ(d.remaining, 2);
    char b[] = "cd\r\n3\r\nefg";
    len = sizeof b - 1;
    CHECK_EQ(sc_chunked_decode(&d, b, &len), SC_HTTP_INCOMPLETE);
    CHECK_EQ(len, 5);
    CHECK(memcmp(b, "cdefg", 5) == 0);
    CHECK_EQ(d.total, 7);
    char c[] = "\r\n0\r\n\r\n";
    len = sizeof c - 1;
    CHECK_EQ(sc_chunked_decode(&d, c, &len), 0);
    CHECK_EQ(len, 0);
    CHECK_EQ(d.total, 7);
}

int main(void)
{
    test_simple_get();
    test_path_without_query();
    test_lookalike_headers();
    test_method_token();
    test_single_spaces();
    test_target_bytes();
    test_asterisk_form();
    test_other_forms_rejected();
    test_absolute_form();
    test_versions();
    test_leading_empty_lines();
    test_header_names();
    test_header_values();
    test_obs_fold_and_bare_lf();
    test_url_limit();
    test_header_size_limit();
    test_header_count_limit();
    test_content_length();
    test_transfer_encoding();
    test_host();
    test_keep_alive();
    test_other_flags();
    test_method_ids();
    test_every_split();
    test_pipelined();
    test_chunked_basic();
    test_chunked_every_split();
    test_chunked_sizes();
    test_chunked_line_endings();
    test_chunked_extensions();
    test_chunked_trailers();
    test_chunked_total();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
