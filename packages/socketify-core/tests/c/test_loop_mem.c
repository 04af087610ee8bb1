/* test_loop_mem.c - the loop, writer and memory transport without Python.
 *
 * The four sc_py_* callbacks are defined here; built with the sanitizers
 * (SOCKETIFY_SANITIZE=1) this also checks that freeing a loop with open,
 * half-read and closed connections leaks nothing.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core.h" /* sc_io_push: HTTP over a pushed I/O layer */
#include "socketify.h"

static int passed, failed;
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            passed++;                                                                              \
        } else {                                                                                   \
            failed++;                                                                              \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                                 \
        }                                                                                          \
    } while (0)

static sc_loop *g_loop;
static int g_requests, g_data_end, g_aborted, g_writable;
static sc_handle g_last;
/* 0: answer at once, 1: leave pending, 2: gather bodies, 3: gather without answering,
 * 4: gather, answer at the body's end and only then read the announced bytes */
static int g_mode;

void sc_py_on_request(uint32_t owner, sc_handle res)
{
    (void)owner;
    g_requests++;
    g_last = res;
    sc_request *req = sc_loop_request_view(g_loop);
    if (g_mode >= 2 && (req->flags & SC_REQ_HAS_BODY))
        CHECK(sc_res_collect_body(g_loop, res) == SC_OK); /* get_data()'s ask */
    if (g_mode != 1 && !(req->flags & SC_REQ_HAS_BODY)) {
        char body[64];
        int n = snprintf(body, sizeof body, "%.*s", (int)req->target_len, req->target);
        sc_res_write(g_loop, res, "200 OK\r\n", 8, body, (size_t)n, SC_W_END);
    }
}

/* what the last body chunk announced (the gathered bodies' test) */
static int g_events;
static size_t g_ev_len;
static const char *g_ev_data;
static int64_t g_ev_off;
static char g_ev_text[256];
static uint64_t g_ev_sum; /* mode 4: the sum of the bytes, read after the response ended */

void sc_py_on_data(uint32_t owner, sc_handle res)
{
    (void)owner;
    sc_event *ev = sc_loop_event_view(g_loop);
    g_events++;
    g_ev_len = ev->len;
    g_ev_data = ev->data;
    g_ev_off = ev->read_off;
    if (g_mode == 4) {
        if (ev->is_end)
            CHECK(sc_res_write(g_loop, res, NULL, 0, "body", 4, SC_W_END) == SC_OK);
        g_ev_sum = 0; /* the data stay valid for the whole callback */
        for (size_t i = 0; i < ev->len; i++)
            g_ev_sum += (unsigned char)ev->data[i];
        return;
    }
    snprintf(g_ev_text, sizeof g_ev_text, "%.*s", (int)ev->len, ev->data);
    if (ev->is_end && g_mode != 3) {
        g_data_end++;
        sc_res_write(g_loop, res, NULL, 0, "body", 4, SC_W_END);
    }
}

void sc_py_on_aborted(uint32_t owner, sc_handle res)
{
    (void)owner;
    (void)res;
    g_aborted++;
}

int sc_py_on_writable(uint32_t owner, sc_handle res, uint64_t offset)
{
    (void)owner;
    (void)res;
    (void)offset;
    g_writable++;
    return 1;
}

static size_t output(sc_handle c, char *buf, size_t cap)
{
    const char *p;
    size_t n = sc_mem_output(g_loop, c, &p);
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, p ? p : "", n);
    buf[n] = '\0';
    sc_mem_consume(g_loop, c, n);
    return n;
}

static int count(const char *hay, const char *needle)
{
    int k = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        k++;
    return k;
}

/* ---- HTTP over a pushed I/O layer (the shape of TLS) ------------------------------ */

/* An identity layer that hands at most 5 bytes up per read (holding the rest,
 * SC_IO_HAS_DATA) and keeps what the layer below refuses (SC_IO_WANT_WRITE),
 * as a TLS layer does with records and ciphertext. */
typedef struct chunky {
    sc_io io;
    sc_buf held; /* read from below, not yet returned */
    sc_buf out;  /* taken from above, not yet passed down */
} chunky;

static ssize_t chunky_read(sc_io *io, char *buf, size_t cap)
{
    chunky *k = (chunky *)io;
    if (!sc_buf_size(&k->held)) {
        char tmp[512];
        ssize_t r = sc_io_read(io->lower, tmp, sizeof tmp);
        if (r <= 0)
            return r;
        if (sc_buf_append(&k->held, tmp, (size_t)r) < 0)
            return SC_IO_ERROR;
    }
    size_t n = sc_buf_size(&k->held);
    n = n < 5 ? n : 5;
    n = n < cap ? n : cap;
    memcpy(buf, k->held.data + k->held.off, n);
    sc_buf_consume(&k->held, n);
    return (ssize_t)n;
}

static int chunky_flush(sc_io *io)
{
    chunky *k = (chunky *)io;
    if (!sc_buf_size(&k->out))
        return 0;
    struct iovec v = {k->out.data + k->out.off, sc_buf_size(&k->out)};
    ssize_t w = sc_io_write(io->lower, &v, 1);
    if (w < 0)
        return SC_IO_ERROR;
    sc_buf_consume(&k->out, (size_t)w);
    return sc_buf_size(&k->out) ? 1 : 0;
}

static ssize_t chunky_write(sc_io *io, const struct iovec *iov, int iovcnt)
{
    chunky *k = (chunky *)io;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++) {
        if (sc_buf_append(&k->out, iov[i].iov_base, iov[i].iov_len) < 0)
            return SC_IO_ERROR;
        total += iov[i].iov_len;
    }
    return chunky_flush(io) < 0 ? SC_IO_ERROR : (ssize_t)total;
}

static uint32_t chunky_wants(sc_io *io)
{
    chunky *k = (chunky *)io;
    return (sc_buf_size(&k->out) ? SC_IO_WANT_WRITE : 0) |
           (sc_buf_size(&k->held) ? SC_IO_HAS_DATA : 0);
}

static int chunky_close(sc_io *io)
{
    (void)io;
    return 1;
}

static void chunky_release(sc_io *io)
{
    chunky *k = (chunky *)io;
    sc_buf_free(&k->held);
    sc_buf_free(&k->out);
}

static const sc_io_ops chunky_ops = {
    "chunky",     chunky_read,    chunky_write, chunky_flush, chunky_wants,
    chunky_close, chunky_release, NULL,         NULL,
};

static int count(const char *hay, const char *needle);

/* ---- gathered bodies (sc_res_collect_body) ------------------------------------------ */

static int feed(sc_handle h, const char *text)
{
    return sc_mem_feed(g_loop, h, text, strlen(text));
}

static void test_gathered_bodies(void)
{
    static char out[1 << 16];
    sc_settings s;
    sc_settings_default(&s);
    s.max_body_size = 16;
    g_loop = sc_loop_new(&s, 9);
    g_mode = 2; /* on_request asks for the whole body, on_data answers at its end */
    sc_handle h = sc_mem_open(g_loop, "127.0.0.1", 1000);

    /* a body spanning three reads reaches on_data once, whole */
    g_events = 0;
    CHECK(feed(h, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc") == SC_OK);
    CHECK(feed(h, "defg") == SC_OK);
    CHECK(g_events == 0);
    CHECK(feed(h, "hij") == SC_OK);
    CHECK(g_events == 1 && g_ev_len == 10 && strcmp(g_ev_text, "abcdefghij") == 0);
    CHECK(g_ev_off == -1); /* gathered: not in a read buffer */
    const char *first = g_ev_data;
    output(h, out, sizeof out);
    CHECK(count(out, "\r\n\r\nbody") == 1);

    /* the next one reuses the buffer (the loop's pool), not a new allocation */
    g_events = 0;
    CHECK(feed(h, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nwx") == SC_OK);
    CHECK(feed(h, "yz") == SC_OK);
    CHECK(g_events == 1 && strcmp(g_ev_text, "wxyz") == 0 && g_ev_data == first);

    /* a body that came in one read is passed where it lies */
    g_events = 0;
    CHECK(feed(h, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello") == SC_OK);
    CHECK(g_events == 1 && strcmp(g_ev_text, "hello") == 0 && g_ev_data != first);
    CHECK(g_ev_off == -1); /* in the loop's own read buffer: no offset (none was lent) */

    /* chunked, at max_body_size (16), then a pipelined request behind it */
    g_events = 0;
    CHECK(feed(h, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "8\r\nabcdefgh\r\n") == SC_OK);
    CHECK(g_events == 0);
    CHECK(feed(h, "8\r\nijklmnop\r\n0\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n") == SC_OK);
    CHECK(g_events == 1 && strcmp(g_ev_text, "abcdefghijklmnop") == 0);
    output(h, out, sizeof out);
    CHECK(count(out, "HTTP/1.1 200 OK\r\n") == 4 && strstr(out, "\r\n\r\n/after") != NULL);

    /* a response ended while its body is gathered: the rest is dropped, the next
     * request is served */
    g_mode = 3; /* on_data does not answer */
    g_events = 0;
    CHECK(feed(h, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nab") == SC_OK);
    CHECK(sc_res_write(g_loop, g_last, NULL, 0, "early", 5, SC_W_END) == SC_OK);
    CHECK(feed(h, "cdefGET /next HTTP/1.1\r\nHost: x\r\n\r\n") == SC_OK);
    CHECK(g_events == 0);
    output(h, out, sizeof out);
    CHECK(strstr(out, "\r\n\r\nearly") != NULL && strstr(out, "\r\n\r\n/next") != NULL);

    /* stale handles are refused; a finished body needs no gathering */
    CHECK(sc_res_collect_body(g_loop, g_last) == SC_ESTALE);

    /* chunked past max_body_size while gathering: 413, the connection closes */
    g_mode = 2;
    CHECK(feed(h, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "9\r\nabcdefghi\r\n9\r\njklmnopqr\r\n") == SC_OK);
    output(h, out, sizeof out);
    CHECK(strstr(out, "413 Content Too Large") != NULL);

    /* Content-Length above max_body_size: 413 before any gathering; at it: served */
    sc_handle k = sc_mem_open(g_loop, "127.0.0.1", 1001);
    g_events = 0;
    CHECK(feed(k, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\n\r\n0123456789") == SC_OK);
    CHECK(feed(k, "abcdef") == SC_OK);
    CHECK(g_events == 1 && g_ev_len == 16);
    CHECK(feed(k, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n") == SC_OK);
    output(k, out, sizeof out);
    CHECK(strstr(out, "413 Content Too Large") != NULL);

    /* a connection that goes away mid-body: aborted, its buffer freed (ASan) */
    sc_handle m = sc_mem_open(g_loop, "127.0.0.1", 1002);
    int aborted = g_aborted;
    CHECK(feed(m, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\nabc") == SC_OK);
    CHECK(sc_mem_close(g_loop, m, 1) == SC_OK);
    CHECK(g_aborted == aborted + 1);

    /* the read buffer the loop may borrow: refused when too small or with connections */
    static char lent[32768];
    CHECK(sc_loop_set_read_buffer(g_loop, lent, 100) == SC_EINVAL);
    sc_mem_open(g_loop, "127.0.0.1", 1003);
    CHECK(sc_loop_set_read_buffer(g_loop, lent, sizeof lent) == SC_EINVAL); /* one is open */
    sc_loop_free(g_loop);
    g_loop = sc_loop_new(&s, 10);
    CHECK(sc_loop_set_read_buffer(g_loop, NULL, sizeof lent) == SC_EINVAL);
    CHECK(sc_loop_set_read_buffer(g_loop, lent, sizeof lent) == SC_OK);
    sc_loop_free(g_loop); /* never frees the lent buffer (ASan would say) */
    g_mode = 0;
}

/* A gathered body larger than the pool keeps (SC_BODY_KEEP) stays readable for the
 * whole on_data call even when the call ends the response first (its buffer is freed
 * after the call, not by the end). */
static void test_gathered_body_outlives_its_response(void)
{
    static char part[64 * 1024];
    static char out[1 << 16];
    sc_settings s;
    sc_settings_default(&s);
    s.max_body_size = 4u * 1024u * 1024u;
    g_loop = sc_loop_new(&s, 11);
    g_mode = 4;
    sc_handle h = sc_mem_open(g_loop, "127.0.0.1", 1005);
    size_t total = SC_BODY_KEEP + sizeof part, sent = 0;
    uint64_t expect = 0;
    char head[128];
    snprintf(head, sizeof head, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", total);
    g_events = 0;
    CHECK(feed(h, head) == SC_OK);
    while (sent < total) {
        for (size_t i = 0; i < sizeof part; i++)
            part[i] = (char)('a' + (sent + i) % 26);
        for (size_t i = 0; i < sizeof part; i++)
            expect += (unsigned char)part[i];
        CHECK(sc_mem_feed(g_loop, h, part, sizeof part) == SC_OK);
        sent += sizeof part;
    }
    CHECK(g_events == 1 && g_ev_len == total && g_ev_off == -1);
    CHECK(g_ev_sum == expect);
    output(h, out, sizeof out);
    CHECK(strstr(out, "\r\n\r\nbody") != NULL);
    sc_loop_free(g_loop);
    g_mode = 0;
}

static void test_http_over_a_pushed_layer(void)
{
    static char out[1 << 16];
    sc_settings s;
    sc_settings_default(&s);
    g_loop = sc_loop_new(&s, 8);
    g_mode = 0;
    sc_handle h = sc_mem_open(g_loop, "127.0.0.1", 1000);
    sc_conn *c = sc_conn_by_handle(g_loop, h);
    chunky *k = calloc(1, sizeof *k);
    CHECK(c != NULL && k != NULL);
    sc_io_push(c, &k->io, &chunky_ops);
    sc_mem_set_capacity(g_loop, h, 40); /* the layer below takes 40 bytes at a time */
    const char *three = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /bb HTTP/1.1\r\nHost: x\r\n\r\n"
                        "GET /ccc HTTP/1.1\r\nHost: x\r\n\r\n";
    CHECK(sc_mem_feed(g_loop, h, three, strlen(three)) == SC_OK);
    size_t got = 0;
    for (int i = 0; i < 100; i++) { /* read 40 bytes at a time: each read makes room */
        const char *p;
        size_t n = sc_mem_output(g_loop, h, &p);
        if (!n)
            break;
        memcpy(out + got, p, n);
        got += n;
        sc_mem_consume(g_loop, h, n);
    }
    out[got] = '\0';
    CHECK(count(out, "HTTP/1.1 200 OK\r\n") == 3);
    CHECK(strstr(out, "\r\n\r\n/a") && strstr(out, "\r\n\r\n/bb") && strstr(out, "\r\n\r\n/ccc"));
    CHECK(strstr(out, "/a") < strstr(out, "/bb") && strstr(out, "/bb") < strstr(out, "/ccc"));
    CHECK(sc_buf_size(&k->held) == 0 && sc_buf_size(&k->out) == 0);
    CHECK(sc_mem_close(g_loop, h, 1) == SC_OK);
    sc_loop_free(g_loop); /* the pushed layer is released and freed with the connection */
}

/* Under AddressSanitizer an allocation it cannot serve returns NULL, as the C
 * library's does, instead of ending the program: the out-of-memory test asks
 * for one.  (Unused without the sanitizer.) */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

/* Out of memory part way through a streamed write: the chunk's size line was
 * queued, its data could not be.  The response cannot be framed any more, so
 * the connection closes (the response is aborted) instead of staying open
 * with a size line and no data, which the next write would follow with bytes
 * the client would read as that chunk. */
static void test_out_of_memory_mid_response(void)
{
    static char out[4096];
    sc_settings s;
    sc_settings_default(&s);
    g_loop = sc_loop_new(&s, 7);
    g_mode = 1;
    g_aborted = 0;
    sc_handle c = sc_mem_open(g_loop, "127.0.0.1", 1000);
    CHECK(sc_mem_feed(g_loop, c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27) == SC_OK);
    sc_handle res = g_last;
    CHECK(sc_res_write(g_loop, res, "200 OK\r\n", 8, "ab", 2, 0) == SC_OK);
    output(c, out, sizeof out);
    CHECK(strstr(out, "\r\n\r\n2\r\nab\r\n") != NULL);
    /* a length no allocation can hold (the bytes are never read: the copy fails first) */
    CHECK(sc_res_write(g_loop, res, NULL, 0, "x", (size_t)1 << 62, 0) == SC_ENOMEM);
    CHECK(g_aborted == 1 && sc_res_alive(g_loop, res) == 0);
    CHECK(sc_mem_is_open(g_loop, c) == 0);
    output(c, out, sizeof out);
    CHECK(strstr(out, "4000000000000000") == NULL); /* no size line without its data */
    CHECK(sc_res_write(g_loop, res, NULL, 0, "cd", 2, SC_W_END) == SC_ESTALE);
    sc_mem_close(g_loop, c, 1);
    sc_loop_free(g_loop);
    g_mode = 0;
}

/* A connection opened inside a batch (accepted during a poll) starts its idle
 * clock at the batch's time, the time the loop's tick compares with: the
 * tick of the same poll (the timer's event after the listener's) must not
 * see it as idle for ~2^64 ms because the wall clock moved on meanwhile. */
static void test_new_connection_is_not_idle_in_its_batch(void)
{
    sc_settings s;
    sc_settings_default(&s);
    s.idle_timeout_ms = 1000;
    g_loop = sc_loop_new(&s, 7);
    g_mode = 1;
    sc_batch_begin(g_loop); /* as sc_loop_poll does: the batch's time is taken now */
    struct timespec pause = {0, 5 * 1000 * 1000};
    nanosleep(&pause, NULL); /* other events of the poll take their time */
    sc_handle h = sc_mem_open(g_loop, "127.0.0.1", 1000);
    sc_conn *c = sc_conn_by_handle(g_loop, h);
    CHECK(c != NULL);
    if (c) {
        c->proto->on_tick(c, g_loop->now_ms); /* the timer's event in the same poll */
        CHECK(sc_mem_is_open(g_loop, h) == 1);
    }
    sc_batch_end(g_loop);
    sc_mem_close(g_loop, h, 1);
    sc_loop_free(g_loop);
    g_mode = 0;
}

int main(void)
{
    static char out[1 << 16];
    sc_settings s;
    sc_settings_default(&s);
    g_loop = sc_loop_new(&s, 7);
    CHECK(g_loop != NULL);

    /* pipelining: three answers in one output, in order */
    sc_handle c = sc_mem_open(g_loop, "127.0.0.1", 1000);
    const char *three = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"
                        "GET /c HTTP/1.1\r\nHost: x\r\n\r\n";
    CHECK(sc_mem_feed(g_loop, c, three, strlen(three)) == SC_OK);
    output(c, out, sizeof out);
    CHECK(count(out, "HTTP/1.1 200 OK\r\n") == 3);
    CHECK(strstr(out, "/a") < strstr(out, "/b") && strstr(out, "/b") < strstr(out, "/c"));
    CHECK(count(out, "Content-Length: 2\r\n") == 3);

    /* a body, then a stale handle */
    const char *post = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz";
    CHECK(sc_mem_feed(g_loop, c, post, strlen(post)) == SC_OK);
    CHECK(g_data_end == 1);
    output(c, out, sizeof out);
    CHECK(strstr(out, "\r\n\r\nbody") != NULL);
    CHECK(sc_res_write(g_loop, g_last, NULL, 0, "x", 1, SC_W_END) == SC_ESTALE);

    /* a pending response aborted by the client */
    g_mode = 1;
    CHECK(sc_mem_feed(g_loop, c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27) == SC_OK);
    CHECK(sc_res_alive(g_loop, g_last) == 1);
    CHECK(sc_mem_close(g_loop, c, 1) == SC_OK);
    CHECK(g_aborted == 1);
    CHECK(sc_res_alive(g_loop, g_last) == 0);

    /* try_end against a small fake socket */
    sc_handle d = sc_mem_open(g_loop, "::1", 1);
    CHECK(sc_mem_feed(g_loop, d, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27) == SC_OK);
    sc_mem_set_capacity(g_loop, d, 100);
    static char big[1000];
    memset(big, 'q', sizeof big);
    int rc = sc_res_try_end(g_loop, g_last, NULL, 0, big, sizeof big, sizeof big, 0);
    CHECK(rc == 0);
    uint64_t off = sc_res_write_offset(g_loop, g_last);
    CHECK(off > 0 && off < 100);
    output(d, out, sizeof out);
    CHECK(g_writable == 1);
    rc = sc_res_try_end(g_loop, g_last, NULL, 0, big + off, sizeof big - off, sizeof big, 0);
    CHECK(rc == 0);
    sc_mem_set_capacity(g_loop, d, 0);
    CHECK(g_writable == 2);
    off = sc_res_write_offset(g_loop, g_last);
    rc = sc_res_try_end(g_loop, g_last, NULL, 0, big + off, sizeof big - off, sizeof big, 0);
    CHECK(rc == 3);

    /* leave some connections in odd states for sc_loop_free */
    sc_handle e = sc_mem_open(g_loop, "10.0.0.1", 2);
    sc_mem_feed(g_loop, e, "GET / HTTP/1.1\r\nHo", 18);
    sc_handle f = sc_mem_open(g_loop, "10.0.0.1", 3);
    sc_mem_feed(g_loop, f, "GET / HTTP/1.0\r\n\r\n", 18);
    CHECK(sc_mem_is_open(g_loop, f) == 1); /* pending response */
    sc_handle g = sc_mem_open(g_loop, "10.0.0.1", 4);
    sc_mem_feed(g_loop, g, "BAD\r\n\r\n", 7);
    CHECK(sc_mem_is_open(g_loop, g) == 0);
    CHECK(sc_loop_num_connections(g_loop) == 3);
    uint16_t port = 0;
    CHECK(sc_listen_tcp(g_loop, "127.0.0.1", 0, 0, &port) >= 0 && port != 0);
    CHECK(sc_loop_poll(g_loop, 0) >= 0);
    sc_loop_free(g_loop);
    CHECK(g_aborted == 1); /* freeing calls nothing */

    test_http_over_a_pushed_layer();
    test_gathered_bodies();
    test_gathered_body_outlives_its_response();
    test_out_of_memory_mid_response();
    test_new_connection_is_not_idle_in_its_batch();

    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
