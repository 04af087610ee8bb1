/* test_layers.c - the reactor, the listeners and the I/O layers with a stub
 * protocol and no HTTP or WebSocket object linked in.
 *
 * Linked with loop.c, listen.c, io.c, io_socket.c, io_memory.c, buf.c and
 * addr.c only (C_UNITS in test_c_units.py): if any of them called an HTTP
 * or WebSocket function by name, this program would not link.  The stub
 * protocol answers each line ("...\n") with the line upper-cased, so it
 * also checks what the layers promise: partial consumption keeps the rest
 * for the next offer, backpressure and the writable event, close and
 * release each exactly once, drain, a socket round trip, and a pushed layer
 * (a byte-flipping "cipher" with its own buffer, as TLS will have) over the
 * memory bottom.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "core.h"

/* ---- the stub protocol ------------------------------------------------------ */

static int g_open, g_closed, g_released, g_writable, g_going_away, g_ticks;
/* "file\n" queues bytes 2..6 of it between "<" and ">\n"; "bare\n" all of it, alone;
 * "pub\n" queues g_shared by reference (a published frame) */
static int g_file_fd = -1;
static int g_file_rc;
static sc_shared_msg *g_shared;

static void stub_open(sc_conn *c)
{
    (void)c;
    g_open++;
}

static size_t stub_data(sc_conn *c, char *buf, size_t *len)
{
    size_t pos = 0;
    for (;;) {
        char *nl = memchr(buf + pos, '\n', *len - pos);
        if (!nl)
            return pos; /* an incomplete line stays with the connection */
        size_t n = (size_t)(nl - (buf + pos)) + 1;
        if (n == 5 && memcmp(buf + pos, "bare\n", 5) == 0) { /* the file alone */
            pos += n;
            g_file_rc = sc_conn_queue_file(c, g_file_fd, 0, 10);
            continue;
        }
        if (n == 4 && memcmp(buf + pos, "pub\n", 4) == 0) {
            pos += n;
            sc_out_append_shared(c, g_shared);
            continue;
        }
        if (n == 5 && memcmp(buf + pos, "file\n", 5) == 0) {
            pos += n;
            sc_out_append(c, "<", 1);
            g_file_rc = sc_conn_queue_file(c, g_file_fd, 2, 5);
            sc_out_append(c, ">\n", 2); /* after the file, though appended to out */
            sc_conn_want_writable(c, 1);
            continue;
        }
        char *w = sc_out_reserve(c, n);
        if (!w)
            return pos;
        for (size_t i = 0; i < n; i++) {
            char ch = buf[pos + i];
            w[i] = (ch >= 'a' && ch <= 'z') ? (char)(ch - 32) : ch;
        }
        sc_out_commit(c, n);
        pos += n;
        if (n == 5 && memcmp(buf + pos - n, "quit\n", 5) == 0) {
            sc_conn_close_after_flush(c);
            return pos;
        }
    }
}

static void stub_tick(sc_conn *c, uint64_t now)
{
    (void)c;
    (void)now;
    g_ticks++;
}

static void stub_writable(sc_conn *c)
{
    g_writable++;
    sc_conn_want_writable(c, 0); /* told once, as HTTP does when Python is done */
}

static void stub_closed(sc_conn *c)
{
    (void)c;
    g_closed++;
}

static void stub_going_away(sc_conn *c)
{
    g_going_away++;
    sc_conn_close_after_flush(c);
}

static void stub_release(sc_conn *c)
{
    (void)c;
    g_released++;
}

static const sc_proto_ops stub_proto = {
    "stub",        stub_open,   stub_data,       stub_tick,
    stub_writable, stub_closed, stub_going_away, stub_release,
};

static void reset_counts(void)
{
    g_open = g_closed = g_released = g_writable = g_going_away = g_ticks = 0;
}

static sc_loop *new_loop(void)
{
    sc_settings s;
    sc_settings_default(&s);
    return sc_loop_create(&s, 1, &stub_proto);
}

/* Everything the memory client can read, consumed; as a NUL-terminated string. */
static const char *take(sc_loop *loop, sc_handle h)
{
    static char out[4096];
    const char *p;
    size_t n = sc_mem_output(loop, h, &p);
    if (n >= sizeof out)
        n = sizeof out - 1;
    if (n)
        memcpy(out, p, n);
    out[n] = '\0';
    sc_mem_consume(loop, h, n);
    return out;
}

/* ---- a pushed layer: flips every byte, holds what its lower layer refused ---- */

typedef struct flip_layer {
    sc_io io;
    sc_buf pending; /* flipped bytes the layer below did not take yet */
    sc_buf held;    /* plaintext read from below, not returned yet */
    size_t chunk;   /* at most this much per read (0: no limit), like TLS records */
} flip_layer;

static int g_flip_released;

static ssize_t flip_read(sc_io *io, char *buf, size_t cap)
{
    flip_layer *f = (flip_layer *)io;
    if (!sc_buf_size(&f->held)) {
        char tmp[256];
        ssize_t r = sc_io_read(io->lower, tmp, sizeof tmp);
        if (r <= 0)
            return r;
        for (ssize_t i = 0; i < r; i++)
            tmp[i] = (char)~tmp[i];
        if (sc_buf_append(&f->held, tmp, (size_t)r) < 0)
            return SC_IO_ERROR;
    }
    size_t n = sc_buf_size(&f->held);
    if (f->chunk && n > f->chunk)
        n = f->chunk;
    if (n > cap)
        n = cap;
    memcpy(buf, f->held.data + f->held.off, n);
    sc_buf_consume(&f->held, n);
    return (ssize_t)n;
}

static int flip_flush(sc_io *io)
{
    flip_layer *f = (flip_layer *)io;
    size_t held = sc_buf_size(&f->pending);
    if (!held)
        return 0;
    struct iovec v = {f->pending.data + f->pending.off, held};
    ssize_t w = sc_io_write(io->lower, &v, 1);
    if (w < 0)
        return SC_IO_ERROR;
    sc_buf_consume(&f->pending, (size_t)w);
    return sc_buf_size(&f->pending) ? 1 : 0;
}

static ssize_t flip_write(sc_io *io, const struct iovec *iov, int iovcnt)
{
    flip_layer *f = (flip_layer *)io;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++) {
        if (sc_buf_reserve(&f->pending, iov[i].iov_len) < 0)
            return SC_IO_ERROR;
        const char *p = iov[i].iov_base;
        for (size_t k = 0; k < iov[i].iov_len; k++)
            f->pending.data[f->pending.len++] = (char)~p[k];
        total += iov[i].iov_len;
    }
    if (flip_flush(io) < 0)
        return SC_IO_ERROR;
    return (ssize_t)total; /* all taken: what the lower layer refused is ours now */
}

static uint32_t flip_wants(sc_io *io)
{
    flip_layer *f = (flip_layer *)io;
    return (sc_buf_size(&f->pending) ? SC_IO_WANT_WRITE : 0) |
           (sc_buf_size(&f->held) ? SC_IO_HAS_DATA : 0);
}

static int flip_close(sc_io *io)
{
    (void)io;
    return 1;
}

static void flip_release(sc_io *io)
{
    flip_layer *f = (flip_layer *)io;
    sc_buf_free(&f->pending);
    sc_buf_free(&f->held);
    g_flip_released++;
}

static const sc_io_ops flip_ops = {
    "flip", flip_read, flip_write, flip_flush, flip_wants, flip_close, flip_release, NULL, NULL,
};

static void flip_bytes(char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (char)~p[i];
}

/* ---- the tests -------------------------------------------------------------- */

static void test_memory(void)
{
    reset_counts();
    sc_loop *loop = new_loop();
    sc_handle h = sc_mem_open(loop, "192.0.2.7", 4000);
    CHECK(h != 0 && g_open == 1);
    sc_conn *c = sc_conn_by_handle(loop, h);
    CHECK(c && c->proto == &stub_proto && c->io.top == c->io.bottom);
    CHECK(strcmp(c->io.bottom->ops->name, "memory") == 0);
    CHECK(strcmp(c->io.remote.text, "192.0.2.7") == 0 && c->io.remote.port == 4000);

    CHECK(sc_mem_feed(loop, h, "hello\nwor", 9) == SC_OK);
    CHECK(strcmp(take(loop, h), "HELLO\n") == 0);
    CHECK(sc_buf_size(&c->io.in) == 3); /* "wor" kept for the next offer */
    CHECK(sc_mem_feed(loop, h, "ld\n", 3) == SC_OK);
    CHECK(strcmp(take(loop, h), "WORLD\n") == 0);
    CHECK(sc_buf_size(&c->io.in) == 0);

    /* backpressure: the fake socket holds 4 bytes; the rest waits in c->io.out */
    sc_mem_set_capacity(loop, h, 4);
    CHECK(sc_mem_feed(loop, h, "abcdefgh\n", 9) == SC_OK);
    CHECK((c->flags & SC_CF_BLOCKED) && sc_buf_size(&c->io.out) == 5);
    sc_conn_want_writable(c, 1);
    CHECK(strcmp(take(loop, h), "ABCD") == 0);
    CHECK(g_writable == 0); /* one byte still in c->io.out */
    CHECK(strcmp(take(loop, h), "EFGH") == 0);
    CHECK(g_writable == 1 && !(c->flags & SC_CF_BLOCKED)); /* c->io.out drained */
    CHECK(strcmp(take(loop, h), "\n") == 0);
    CHECK(g_writable == 1);
    /* asked while nothing is held (the output already left whole): the next read of
     * the client says writable, or a protocol waiting for drain would wait forever */
    sc_conn_want_writable(c, 1);
    CHECK(sc_mem_feed(loop, h, "x\n", 2) == SC_OK);
    CHECK(strcmp(take(loop, h), "X\n") == 0);
    CHECK(g_writable == 2);
    sc_mem_set_capacity(loop, h, 0);

    /* the protocol closes after its output: the client still reads it */
    CHECK(sc_mem_feed(loop, h, "quit\n", 5) == SC_OK);
    CHECK(g_closed == 1 && sc_mem_is_open(loop, h) == 0);
    CHECK(strcmp(take(loop, h), "QUIT\n") == 0);
    CHECK(sc_mem_feed(loop, h, "x\n", 2) == SC_ESTALE);
    CHECK(g_released == 0); /* the memory layer keeps it until the client goes */
    CHECK(sc_mem_close(loop, h, 0) == SC_OK);
    CHECK(g_closed == 1 && g_released == 1);
    CHECK(sc_conn_by_handle(loop, h) == NULL);
    CHECK(sc_loop_num_connections(loop) == 0);
    sc_loop_free(loop);
}

static void test_client_close_and_drain(void)
{
    reset_counts();
    sc_loop *loop = new_loop();
    sc_handle a = sc_mem_open(loop, "127.0.0.1", 1);
    sc_handle b = sc_mem_open(loop, "127.0.0.1", 2);
    CHECK(sc_mem_feed(loop, a, "half", 4) == SC_OK);
    CHECK(sc_mem_close(loop, a, 1) == SC_OK); /* the client goes away mid-line */
    CHECK(g_closed == 1 && g_released == 1);
    CHECK(sc_mem_close(loop, a, 1) == SC_ESTALE);
    sc_loop_drain(loop);
    CHECK(g_going_away == 1 && g_closed == 2);
    CHECK(sc_mem_close(loop, b, 1) == SC_OK);
    CHECK(g_released == 2);
    /* connections still open when the loop is freed are released, not closed */
    sc_handle c = sc_mem_open(loop, "127.0.0.1", 3);
    CHECK(sc_mem_feed(loop, c, "x", 1) == SC_OK);
    sc_loop_free(loop);
    CHECK(g_released == 3 && g_closed == 2);
}

static void test_pushed_layer(void)
{
    reset_counts();
    g_flip_released = 0;
    sc_loop *loop = new_loop();
    sc_handle h = sc_mem_open(loop, "127.0.0.1", 5);
    sc_conn *c = sc_conn_by_handle(loop, h);
    flip_layer *f = calloc(1, sizeof *f);
    CHECK(f != NULL);
    sc_io_push(c, &f->io, &flip_ops);
    CHECK(c->io.top == &f->io && f->io.lower == c->io.bottom && f->io.conn == c);

    char wire[] = "ping\npo";
    flip_bytes(wire, 7);
    CHECK(sc_mem_feed(loop, h, wire, 7) == SC_OK); /* read up through the flip layer */
    const char *p;
    size_t n = sc_mem_output(loop, h, &p);
    char got[64];
    memcpy(got, p, n);
    flip_bytes(got, n);
    CHECK(n == 5 && memcmp(got, "PING\n", 5) == 0);
    sc_mem_consume(loop, h, n);
    CHECK(sc_buf_size(&c->io.in) == 2); /* "po": plaintext kept above the layers */

    /* the layer below refuses bytes: the flip layer holds them and wants write */
    sc_mem_set_capacity(loop, h, 2);
    char more[] = "ng\n";
    flip_bytes(more, 3);
    CHECK(sc_mem_feed(loop, h, more, 3) == SC_OK);
    CHECK(sc_buf_size(&f->pending) == 3 && sc_io_stack_wants(c) == SC_IO_WANT_WRITE);
    n = sc_mem_output(loop, h, &p);
    CHECK(n == 2);
    sc_mem_consume(loop, h, n); /* writable: the stack is flushed first */
    n = sc_mem_output(loop, h, &p);
    CHECK(n == 2 && sc_buf_size(&f->pending) == 1);
    sc_mem_set_capacity(loop, h, 0);
    n = sc_mem_output(loop, h, &p);
    CHECK(n == 3 && sc_buf_size(&f->pending) == 0);
    memcpy(got, p, n);
    flip_bytes(got, n);
    CHECK(memcmp(got, "NG\n", 3) == 0);
    sc_mem_consume(loop, h, n);

    /* the layer returns 4 bytes per read and holds the rest (SC_IO_HAS_DATA):
     * the connection reads again until it is out, with no new bytes below */
    f->chunk = 4;
    char lines[] = "abc\ndef\nghi\n";
    flip_bytes(lines, 12);
    CHECK(sc_mem_feed(loop, h, lines, 12) == SC_OK);
    n = sc_mem_output(loop, h, &p);
    memcpy(got, p, n);
    flip_bytes(got, n);
    CHECK(n == 12 && memcmp(got, "ABC\nDEF\nGHI\n", 12) == 0);
    CHECK(sc_buf_size(&f->held) == 0);
    sc_mem_consume(loop, h, n);

    CHECK(sc_mem_close(loop, h, 1) == SC_OK);
    CHECK(g_closed == 1 && g_released == 1 && g_flip_released == 1);
    sc_loop_free(loop);
}

/* A file holding "0123456789"; its descriptor. */
static int digits_file(void)
{
    char path[] = "/tmp/sc-test-file-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    unlink(path);
    CHECK(write(fd, "0123456789", 10) == 10);
    return fd;
}

static int fd_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

/* A file segment keeps its place between the bytes queued before and after it,
 * leaves in pieces as the client reads, reports on_writable once, and its
 * descriptor is closed: once sent, refused, or when the connection closes. */
static void test_file_segment(void)
{
    reset_counts();
    sc_loop *loop = new_loop();
    sc_handle h = sc_mem_open(loop, "127.0.0.1", 6);
    sc_mem_set_capacity(loop, h, 3);
    int fd = g_file_fd = digits_file();
    CHECK(sc_mem_feed(loop, h, "file\n", 5) == SC_OK);
    CHECK(g_file_rc == SC_OK && fd_open(fd));
    char got[64];
    size_t n = 0;
    for (int i = 0; i < 20 && n < 8; i++) {
        const char *t = take(loop, h);
        CHECK(strlen(t) <= 3);
        memcpy(got + n, t, strlen(t));
        n += strlen(t);
    }
    CHECK(n == 8 && memcmp(got, "<23456>\n", 8) == 0);
    CHECK(g_writable == 1 && !fd_open(fd));

    /* a second file while one waits: refused, and its descriptor closed */
    fd = g_file_fd = digits_file();
    CHECK(sc_mem_feed(loop, h, "file\n", 5) == SC_OK);
    int second = g_file_fd = digits_file();
    CHECK(sc_mem_feed(loop, h, "file\n", 5) == SC_OK);
    CHECK(g_file_rc == SC_ESTATE && !fd_open(second) && fd_open(fd));

    /* the client goes away mid-file: the descriptor is closed with the connection */
    CHECK(sc_mem_close(loop, h, 1) == SC_OK);
    CHECK(g_closed == 1 && !fd_open(fd));
    sc_loop_free(loop);
}

/* sc_buf refuses a size it could never hold instead of letting len + extra wrap
 * around (which would claim room it does not have and copy past the end). */
static void test_buf_bounds(void)
{
    sc_buf b = {0};
    CHECK(sc_buf_append(&b, "0123456789", 10) == 0);
    CHECK(sc_buf_reserve(&b, SIZE_MAX - 5) == SC_ENOMEM);
    CHECK(sc_buf_append(&b, "x", SIZE_MAX - 5) == SC_ENOMEM); /* nothing is read */
    CHECK(sc_buf_reserve(&b, SIZE_MAX / 2) == SC_ENOMEM);
    CHECK(sc_buf_size(&b) == 10 && memcmp(b.data, "0123456789", 10) == 0);
    CHECK(sc_buf_reserve(&b, 1000) == 0 && b.cap >= 1010);
    sc_buf_free(&b);
}

/* A shared frame queued by reference ahead of a file segment: the frame, the
 * bytes before the file, the file and the bytes after it leave in that order,
 * a few at a time, and the frame's reference is dropped once it is out. */
static void test_shared_frame_before_file(void)
{
    reset_counts();
    sc_loop *loop = new_loop();
    sc_handle h = sc_mem_open(loop, "127.0.0.1", 6);
    sc_mem_set_capacity(loop, h, 2);
    g_shared = sc_shared_msg_new("{frame}", 7);
    int fd = g_file_fd = digits_file();
    CHECK(sc_mem_feed(loop, h, "pub\nfile\n", 9) == SC_OK);
    CHECK(g_file_rc == SC_OK && g_shared->refs == 2);
    char got[64];
    size_t n = 0;
    for (int i = 0; i < 30 && n < 15; i++) {
        const char *t = take(loop, h);
        CHECK(strlen(t) <= 2);
        memcpy(got + n, t, strlen(t));
        n += strlen(t);
        /* written so far: what was taken and the 2 bytes the fake socket holds */
        CHECK(g_shared->refs == (n + 2 < 7 ? 2u : 1u));
    }
    CHECK(n == 15 && memcmp(got, "{frame}<23456>\n", 15) == 0);
    CHECK(g_shared->refs == 1 && g_writable == 1 && !fd_open(fd));
    sc_shared_msg_release(g_shared);
    g_shared = NULL;
    CHECK(sc_mem_close(loop, h, 1) == SC_OK);
    sc_loop_free(loop);
}

static int poll_until(sc_loop *loop, int *counter, int want)
{
    for (int i = 0; i < 200 && *counter < want; i++)
        sc_loop_poll(loop, 10);
    return *counter >= want;
}

/* Polls the loop until want bytes came on fd (or about 2 s): how many came. */
static size_t recv_until(sc_loop *loop, int fd, char *buf, size_t cap, size_t want)
{
    size_t got = 0;
    for (int i = 0; i < 200 && got < want; i++) {
        sc_loop_poll(loop, 10);
        ssize_t r = recv(fd, buf + got, cap - got, MSG_DONTWAIT);
        if (r > 0)
            got += (size_t)r;
    }
    return got;
}

/* sendfile(2) to a peer that is gone: EPIPE, and SIGPIPE (no MSG_NOSIGNAL for it)
 * that would end this program under the default disposition.  The connection
 * closes, the file's descriptor with it, and the process lives on. */
static void test_file_to_a_peer_that_left(void)
{
    reset_counts();
    void (*previous)(int) = signal(SIGPIPE, SIG_DFL);
    sc_loop *loop = new_loop();
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
    sc_addr remote;
    memset(&remote, 0, sizeof remote);
    CHECK(sc_io_socket_open(loop, sv[0], &remote) != NULL);
    int file = g_file_fd = digits_file();
    CHECK(write(sv[1], "bare\n", 5) == 5);
    close(sv[1]); /* gone before the answer: the flush after "bare" meets EPIPE */
    CHECK(poll_until(loop, &g_closed, 1));
    CHECK(g_released == 1 && !fd_open(file));
    sc_loop_free(loop);
    signal(SIGPIPE, previous);
}

static void test_socket(void)
{
    reset_counts();
    sc_loop *loop = new_loop();
    uint16_t port = 0;
    CHECK(sc_listen_tcp(loop, "127.0.0.1", 0, 0, &port) >= 0 && port != 0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    CHECK(poll_until(loop, &g_open, 1));
    CHECK(sc_loop_num_connections(loop) == 1);
    CHECK(send(fd, "over tcp\n", 9, 0) == 9);
    char buf[64];
    CHECK(recv_until(loop, fd, buf, sizeof buf, 9) == 9 && memcmp(buf, "OVER TCP\n", 9) == 0);
    int file = g_file_fd = digits_file(); /* over a plain socket: sendfile(2) */
    CHECK(send(fd, "file\n", 5, 0) == 5);
    CHECK(recv_until(loop, fd, buf, sizeof buf, 8) == 8 && memcmp(buf, "<23456>\n", 8) == 0);
    CHECK(sc_loop_stats(loop)->file_bytes_sendfile == 5 && !fd_open(file));
    close(fd); /* EOF: the protocol hears on_closed, the struct is released */
    CHECK(poll_until(loop, &g_closed, 1));
    CHECK(g_released == 1 && sc_loop_num_connections(loop) == 0);
    sc_loop_free(loop);
}

int main(void)
{
    test_memory();
    test_client_close_and_drain();
    test_pushed_layer();
    test_file_segment();
    test_shared_frame_before_file();
    test_buf_bounds();
    test_socket();
    test_file_to_a_peer_that_left();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
