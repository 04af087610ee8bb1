/* io.c - a connection's I/O engine: everything between the protocol and the
 * I/O layers (io.h), and nothing that knows HTTP or WebSocket.
 *
 * Owns c->io (the layer stack, the input and output buffers) and, with
 * loop.c, the core flags in c->flags.  The protocol files change them only
 * through the calls here (sc_conn_close_after_flush, sc_conn_pause,
 * sc_conn_want_writable, sc_conn_backlog, sc_conn_cork).
 *
 * Writing: bytes leave through c->io.top->ops->write, which takes what it
 * can and reports how much: a socket takes what the kernel accepts, the
 * memory transport what fits under its capacity (a fake send buffer that
 * sc_mem_consume empties), so backpressure behaves the same on both.  What
 * was not taken stays in c->io.out, SC_CF_BLOCKED is set and the reactor
 * watches for writability (or, for memory, sc_mem_consume plays the writable
 * event); then the stack is flushed, c->io.out is written, and the protocol
 * hears on_writable.
 *
 * Files: sc_conn_queue_file queues one file segment per connection, after
 * what out holds at that moment (c->io.file.before counts those bytes; bytes
 * appended later wait for the file).  When the top layer is the plain socket
 * it leaves with sendfile(2) from the page cache; otherwise (TLS, memory) it is
 * read with pread into the loop's file_buf, SC_FILE_PIECE at a time, and
 * written through the top layer like any bytes - a piece the layers did not
 * take is read again later, so nothing of the file is held per connection.
 * With a descriptor to wait on, one write call sends at most SC_FILE_BURST of
 * it and then waits for the (level-triggered) writable event, so one fast
 * reader does not starve the other connections.  The descriptor is closed
 * when the segment is out, when the connection closes, and when it is freed.
 *
 * Reading: sc_conn_on_readable reads from the top layer into the loop's
 * scratch buffer when nothing is held (the common case: a whole request per
 * read, parsed where it lies), else appends to c->io.in; the protocol's
 * on_data says how much it consumed and the rest is kept in c->io.in.  When
 * on_data swaps the protocol (an upgrade), the rest goes to the new one.
 *
 * Closing: sc_conn_close closes the layers top-down at once, tells the
 * protocol (on_closed: HTTP aborts a response in flight, WebSocket reports
 * 1006) and hands the struct to the loop's graveyard, freed at the end of
 * the batch - unless the bottom layer keeps it (memory: its client may still
 * read the output), which buries it itself later.
 */
#include "core.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#define SC_FILE_PIECE (64u * 1024u) /* read and written at a time through a layer */
#define SC_FILE_BURST (1u << 20)    /* at most this much of a file per write call */

/* ---- the layer stack ------------------------------------------------------ */

/* The file segment is out, or will never be: its descriptor is closed. */
static void sc_conn_drop_file(sc_conn *c)
{
    if (!(c->flags & SC_CF_FILE))
        return;
    close(c->io.file.fd);
    c->io.file.fd = -1;
    c->io.file.left = 0;
    c->io.file.before = 0;
    c->flags &= ~SC_CF_FILE;
}

void sc_io_push(sc_conn *c, sc_io *layer, const sc_io_ops *ops)
{
    layer->ops = ops;
    layer->conn = c;
    layer->lower = c->io.top;
    c->io.top = layer;
    sc_conn_update_events(c);
}

void sc_io_wants_changed(sc_conn *c)
{
    sc_conn_update_events(c);
}

uint32_t sc_io_stack_wants(sc_conn *c)
{
    uint32_t w = 0;
    for (sc_io *io = c->io.top; io; io = io->lower)
        if (io->ops->wants)
            w |= io->ops->wants(io);
    return w;
}

ssize_t sc_io_info(sc_conn *c, int key, char *buf, size_t cap)
{
    for (sc_io *io = c->io.top; io; io = io->lower) {
        if (!io->ops->info)
            continue;
        ssize_t r = io->ops->info(io, key, buf, cap);
        if (r >= 0)
            return r;
    }
    return 0;
}

void sc_io_tick(sc_conn *c, uint64_t now_ms)
{
    for (sc_io *io = c->io.top; io && io != c->io.bottom; io = io->lower) {
        if (io->ops->tick)
            io->ops->tick(io, now_ms);
        if (c->flags & SC_CF_CLOSED)
            return;
    }
}

/* Flush the layers above the bottom, top-down: 0 nothing held, 1 some layer
 * still holds bytes, SC_IO_ERROR. */
static int sc_io_flush_stack(sc_conn *c)
{
    int held = 0;
    for (sc_io *io = c->io.top; io && io != c->io.bottom; io = io->lower) {
        if (!io->ops->flush)
            continue;
        int r = io->ops->flush(io);
        if (r < 0)
            return SC_IO_ERROR;
        held |= r;
    }
    return held;
}

/* A layer above the bottom holds bytes it could not pass down yet. */
static inline int sc_io_layers_hold(sc_conn *c)
{
    return c->io.top != c->io.bottom && (sc_io_stack_wants(c) & SC_IO_WANT_WRITE);
}

/* The connection is freed: release the layers top-down (loop.c). */
void sc_io_release(sc_conn *c)
{
    sc_io *io = c->io.top;
    while (io) {
        sc_io *lower = io->lower;
        if (io->ops->release)
            io->ops->release(io);
        if (io != c->io.bottom)
            free(io); /* pushed layers are the connection's; the bottom is inside it */
        io = lower;
    }
    c->io.top = NULL;
    sc_buf_free(&c->io.in);
    sc_buf_free(&c->io.out);
    sc_shared_msg_release(c->io.shared);
    c->io.shared = NULL;
    sc_conn_drop_file(c);
}

/* ---- closing -------------------------------------------------------------- */

void sc_conn_bury(sc_conn *c)
{
    if (c->flags & SC_CF_FREED_LIST)
        return;
    c->flags |= SC_CF_FREED_LIST;
    c->conn_gen = 0;
    c->next_dead = c->loop->dead;
    c->loop->dead = c;
}

void sc_conn_close(sc_conn *c)
{
    if (c->flags & SC_CF_CLOSED)
        return;
    sc_loop *loop = c->loop;
    c->flags |= SC_CF_CLOSED;
    c->flags &= ~(SC_CF_CLOSING | SC_CF_WANT_WRITABLE | SC_CF_BLOCKED);
    int bury = 1;
    for (sc_io *io = c->io.top; io; io = io->lower)
        bury = io->ops->close(io); /* the bottom's answer counts */
    sc_conn_drop_file(c);          /* at once: a memory connection may be buried much later */
    loop->num_conns--;
    c->proto->on_closed(c); /* before burial: the handle still names c */
    if (bury)
        sc_conn_bury(c); /* else the bottom layer buries it (memory: sc_mem_close) */
}

void sc_conn_close_lingering(sc_conn *c)
{
    if (c->flags & SC_CF_CLOSED)
        return;
    /* A plain socket only: a layer above it (TLS) ends with its own close. */
    if (c->io.fd >= 0 && c->io.top == c->io.bottom && c->loop->settings.lingering_timeout_ms)
        c->flags |= SC_CF_LINGER;
    sc_conn_close_after_flush(c);
}

/* The output is out and the connection is closing: close it, or start lingering. */
static void sc_conn_output_done(sc_conn *c)
{
    if (!(c->flags & SC_CF_LINGER)) {
        sc_conn_close(c);
        return;
    }
    if (c->flags & SC_CF_LINGERING)
        return;
    const sc_settings *s = &c->loop->settings;
    if (shutdown(c->io.fd, SHUT_WR) < 0) {
        sc_conn_close(c);
        return;
    }
    c->flags |= SC_CF_LINGERING;
    c->flags &= ~(SC_CF_PAUSED | SC_CF_BACKLOG | SC_CF_WANT_WRITABLE | SC_CF_BLOCKED);
    c->io.linger_until_ms = c->loop->now_ms + s->lingering_timeout_ms;
    c->io.linger_left = s->max_lingering_bytes;
    sc_buf_free(&c->io.in); /* never parsed now */
    sc_conn_update_events(c);
}

/* Lingering: read and drop until EOF, the byte bound or an error. */
static void sc_conn_linger_read(sc_conn *c)
{
    sc_loop *loop = c->loop;
    for (int i = 0; i < 16; i++) {
        ssize_t r = c->io.top->ops->read(c->io.top, loop->scratch, loop->scratch_size);
        if (r == SC_IO_AGAIN)
            return;
        if (r <= 0 || (uint64_t)r >= c->io.linger_left) {
            sc_conn_close(c);
            return;
        }
        c->io.linger_left -= (uint64_t)r;
    }
}

void sc_conn_linger_tick(sc_conn *c, uint64_t now)
{
    if (now >= c->io.linger_until_ms)
        sc_conn_close(c);
}

void sc_conn_close_after_flush(sc_conn *c)
{
    if (c->flags & SC_CF_CLOSED)
        return;
    c->flags |= SC_CF_CLOSING;
    sc_mark_dirty(c);
    sc_conn_update_events(c);
}

/* ---- flags the protocols ask for ------------------------------------------ */

void sc_conn_pause(sc_conn *c, int on)
{
    if (on) {
        c->flags |= SC_CF_PAUSED;
    } else if (c->flags & SC_CF_PAUSED) {
        c->flags &= ~SC_CF_PAUSED;
        if (sc_buf_size(&c->io.in) ||
            (c->io.top != c->io.bottom && (sc_io_stack_wants(c) & SC_IO_HAS_DATA)))
            sc_mark_pending(c); /* delivered by the next poll */
    } else {
        return;
    }
    sc_conn_update_events(c);
}

void sc_conn_backlog(sc_conn *c, size_t resume_below)
{
    c->flags |= SC_CF_BACKLOG;
    c->io.backlog_below = resume_below;
}

/* Cork or uncork a connection (responses and WebSockets alike). */
int sc_conn_cork(sc_conn *c, int on)
{
    sc_loop *loop = c->loop;
    if (on) {
        if (!loop->in_poll && !loop->in_feed)
            c->flags |= SC_CF_USER_CORK; /* inside a batch everything is corked */
        return SC_OK;
    }
    sc_batch_begin(loop);
    c->flags &= ~SC_CF_USER_CORK;
    if (sc_conn_pending(c))
        sc_mark_dirty(c);
    sc_batch_end(loop);
    return SC_OK;
}

/* Input or output just moved: the idle clock restarts. */
void sc_conn_touch(sc_conn *c)
{
    c->io.last_active_ms = c->loop->now_ms;
}

/* ---- writing -------------------------------------------------------------- */

int sc_out_append(sc_conn *c, const void *p, size_t n)
{
    if (sc_buf_append(&c->io.out, p, n) < 0)
        return SC_ENOMEM;
    sc_mark_dirty(c);
    return SC_OK;
}

int sc_out_append_shared(sc_conn *c, sc_shared_msg *m)
{
    if (c->io.shared || sc_buf_size(&c->io.out) || (c->flags & SC_CF_FILE) ||
        !sc_shared_msg_acquire(m))
        return sc_out_append(c, m->data, m->len); /* something waits: keep the order */
    c->io.shared = m;
    c->io.shared_off = 0;
    sc_mark_dirty(c);
    return SC_OK;
}

/* The shared frame went out, or the connection is freed. */
static void sc_conn_drop_shared(sc_conn *c)
{
    sc_shared_msg_release(c->io.shared);
    c->io.shared = NULL;
    c->io.shared_off = 0;
}

/* Write iov through the layer stack; a layer's own held bytes go first.
 * Returns the bytes taken or SC_IO_ERROR; SC_CF_BLOCKED is set when a layer
 * holds bytes it could not pass down. */
static inline ssize_t sc_conn_layers_write(sc_conn *c, const struct iovec *iov, int cnt)
{
    ssize_t w = 0;
    if (c->io.top != c->io.bottom) {
        int r = sc_io_flush_stack(c);
        if (r < 0)
            return SC_IO_ERROR;
        if (cnt && !r)
            w = c->io.top->ops->write(c->io.top, iov, cnt);
        if (w >= 0 && (r || (sc_io_stack_wants(c) & SC_IO_WANT_WRITE)))
            c->flags |= SC_CF_BLOCKED;
    } else if (cnt) {
        w = c->io.top->ops->write(c->io.top, iov, cnt);
    }
    return w;
}

/* One write through the layers of what is queued ahead - the rest of the
 * shared frame, then the first `ahead` bytes of out - and of p[0..n) after
 * it.  What left is counted and dropped from the queue; SC_CF_BLOCKED is set
 * when anything offered stayed.  Returns the bytes of p taken, *ahead_left
 * the bytes of those `ahead` still in out; or -1 when the connection failed
 * (it is closed).  PERF: always inlined (gcc -O2 keeps one out-of-line copy
 * for two callers): every response's sc_conn_write_now pays no call for it. */
static SC_ALWAYS_INLINE ssize_t sc_conn_write_queue(sc_conn *c, size_t ahead, const char *p,
                                                    size_t n, size_t *ahead_left)
{
    size_t sh = sc_conn_shared_left(c);
    struct iovec iov[3];
    int cnt = 0;
    if (sh) {
        iov[cnt].iov_base = c->io.shared->data + c->io.shared_off;
        iov[cnt++].iov_len = sh;
    }
    if (ahead) {
        iov[cnt].iov_base = c->io.out.data + c->io.out.off;
        iov[cnt++].iov_len = ahead;
    }
    if (n) {
        iov[cnt].iov_base = (void *)p;
        iov[cnt++].iov_len = n;
    }
    ssize_t w = sc_conn_layers_write(c, iov, cnt);
    if (w < 0) {
        sc_conn_close(c);
        return -1;
    }
    size_t left = (size_t)w; /* of what was written, not yet accounted for */
    if (left) {
        c->io.last_active_ms = c->loop->now_ms;
        c->loop->stats.bytes_out += (uint64_t)left;
    }
    if (c->io.shared) {
        if (left >= sh) {
            sc_conn_drop_shared(c);
            left -= sh;
        } else {
            c->io.shared_off += left;
            left = 0;
        }
    }
    size_t from_out = left < ahead ? left : ahead;
    sc_buf_consume(&c->io.out, from_out);
    size_t taken = left - from_out;
    *ahead_left = ahead - from_out;
    if (c->io.shared || *ahead_left || taken < n)
        c->flags |= SC_CF_BLOCKED;
    return (ssize_t)taken;
}

static ssize_t sc_conn_write_file(sc_conn *c, const char *p, size_t n, int buffer_rest);
static void sc_conn_after_write(sc_conn *c, int moved);

/* Write the shared frame, c->io.out, then p[0..n) in one call.  Bytes of p
 * the layers did not take are appended to out when buffer_rest, else
 * dropped.  Returns the bytes of p taken (or buffered), or -1 when the
 * connection failed. */
ssize_t sc_conn_write_now(sc_conn *c, const char *p, size_t n, int buffer_rest)
{
    if (c->flags & SC_CF_CLOSED)
        return -1;
    if (c->flags & SC_CF_FILE)
        return sc_conn_write_file(c, p, n, buffer_rest);
    size_t held = sc_buf_size(&c->io.out);
    int moved = held || sc_conn_shared_left(c);
    size_t held_left;
    ssize_t w = sc_conn_write_queue(c, held, p, n, &held_left);
    if (w < 0)
        return -1;
    size_t taken = (size_t)w;
    if (taken < n && buffer_rest) {
        if (sc_buf_append(&c->io.out, p + taken, n - taken) < 0) {
            sc_conn_close(c);
            return -1;
        }
        taken = n;
    }
    sc_conn_after_write(c, moved);
    return (ssize_t)taken;
}

/* After a write: close when closing and all is out, else tell the protocol
 * what drained (moved: queued output the protocol may wait on left). */
static void sc_conn_after_write(sc_conn *c, int moved)
{
    if (!sc_conn_pending(c) && (c->flags & SC_CF_CLOSING) && !sc_io_layers_hold(c)) {
        sc_conn_output_done(c);
        return;
    }
    if (moved && !sc_conn_pending(c) &&
        (c->flags & (SC_CF_WANT_WRITABLE | SC_CF_BLOCKED)) == SC_CF_WANT_WRITABLE) {
        /* Output the protocol waits on (bytes corked in a callback count as buffered)
         * left without the socket ever refusing: on_writable still fires, from the
         * pending list (never from inside this flush). */
        c->flags |= SC_CF_DRAIN_DUE;
        sc_mark_pending(c);
    }
    if ((c->flags & SC_CF_BACKLOG) && sc_conn_pending(c) <= c->io.backlog_below) {
        c->flags &= ~SC_CF_BACKLOG; /* drained enough: offer the held input again */
        sc_mark_pending(c);
    }
    sc_conn_update_events(c);
}

/* ---- files ---------------------------------------------------------------- */

int sc_conn_queue_file(sc_conn *c, int fd, uint64_t off, uint64_t count)
{
    if ((c->flags & (SC_CF_FILE | SC_CF_CLOSED)) || off > (uint64_t)INT64_MAX ||
        count > (uint64_t)INT64_MAX - off) {
        close(fd);
        return (c->flags & SC_CF_CLOSED) ? SC_EIO : (c->flags & SC_CF_FILE) ? SC_ESTATE : SC_EINVAL;
    }
    if (!count) {
        close(fd);
        return SC_OK;
    }
    c->io.file.fd = fd;
    c->io.file.off = off;
    c->io.file.left = count;
    c->io.file.before = sc_buf_size(&c->io.out);
    c->flags |= SC_CF_FILE;
    sc_mark_dirty(c);
    return SC_OK;
}

/* sendfile(2) has no MSG_NOSIGNAL: writing to a socket the peer reset raises
 * SIGPIPE.  Python ignores SIGPIPE (one rt_sigaction asks); any other host
 * gets it blocked around the call and a SIGPIPE this call raised consumed. */
static ssize_t sc_sendfile_quiet(int out_fd, int in_fd, off_t *off, size_t n)
{
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
        return sendfile(out_fd, in_fd, off, n);
    sigset_t pipe, old, pending;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, &old);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);
    ssize_t w = sendfile(out_fd, in_fd, off, n);
    int err = errno;
    if (w < 0 && err == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = err;
    return w;
}

/* Send pieces of the file until it is out, the layers refuse or the burst is
 * spent.  Returns 0, or -1 when the connection failed (it is closed). */
static int sc_conn_send_file(sc_conn *c)
{
    sc_loop *loop = c->loop;
    int plain = c->io.top == c->io.bottom && c->io.bottom->ops == &sc_io_socket_ops;
    uint64_t budget = c->io.fd >= 0 ? SC_FILE_BURST : UINT64_MAX; /* memory: no reactor */
    while (c->io.file.left && budget) {
        uint64_t want = c->io.file.left < budget ? c->io.file.left : budget;
        ssize_t w;
        size_t asked;
        if (plain) {
            off_t off = (off_t)c->io.file.off;
            asked = (size_t)want;
            w = sc_sendfile_quiet(c->io.fd, c->io.file.fd, &off, asked);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                w = 0;
            else if (w <= 0)
                return -1; /* an error, or the file shrank: the length cannot be kept */
            loop->stats.file_bytes_sendfile += (uint64_t)w;
        } else {
            if (!loop->file_buf && !(loop->file_buf = malloc(SC_FILE_PIECE)))
                return -1;
            asked = want < SC_FILE_PIECE ? (size_t)want : SC_FILE_PIECE;
            ssize_t r = pread(c->io.file.fd, loop->file_buf, asked, (off_t)c->io.file.off);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                return -1;
            asked = (size_t)r;
            struct iovec v = {loop->file_buf, asked};
            w = sc_conn_layers_write(c, &v, 1);
            if (w < 0)
                return -1;
            loop->stats.file_bytes_copied += (uint64_t)w;
        }
        if (w > 0) {
            c->io.file.off += (uint64_t)w;
            c->io.file.left -= (uint64_t)w;
            c->io.last_active_ms = loop->now_ms;
            loop->stats.bytes_out += (uint64_t)w;
            budget -= (uint64_t)w < budget ? (uint64_t)w : budget;
        }
        if ((size_t)w < asked || (c->flags & SC_CF_BLOCKED)) {
            c->flags |= SC_CF_BLOCKED; /* the socket or a layer is full: wait for writable */
            return 0;
        }
    }
    if (!c->io.file.left)
        sc_conn_drop_file(c);
    else
        c->flags |= SC_CF_BLOCKED; /* burst spent: the writable event comes back at once */
    return 0;
}

/* sc_conn_write_now while a file segment is queued: the shared frame and the
 * bytes of out before the file, then the file, then the rest (p included) the
 * normal way once the file is out. */
static ssize_t sc_conn_write_file(sc_conn *c, const char *p, size_t n, int buffer_rest)
{
    int moved = 0; /* the file advanced (what goes ahead of it cannot empty the queue) */
    if (sc_conn_shared_left(c) || c->io.file.before) {
        size_t before_left;
        if (sc_conn_write_queue(c, c->io.file.before, NULL, 0, &before_left) < 0)
            return -1;
        c->io.file.before = before_left;
    }
    if (!c->io.shared && !c->io.file.before && !(c->flags & SC_CF_BLOCKED)) {
        uint64_t left = c->io.file.left;
        if (sc_conn_send_file(c) < 0) {
            sc_conn_close(c);
            return -1;
        }
        moved |= c->io.file.left != left;
    }
    if (!(c->flags & SC_CF_FILE) && !(c->flags & SC_CF_BLOCKED)) {
        /* the file is out: the rest follows the normal way */
        ssize_t r = sc_conn_write_now(c, p, n, buffer_rest);
        if (r >= 0 && moved && !(c->flags & SC_CF_CLOSED))
            sc_conn_after_write(c, 1); /* the protocol may wait on the file */
        return r;
    }
    size_t taken = 0;
    if (n && buffer_rest) {
        if (sc_buf_append(&c->io.out, p, n) < 0) {
            sc_conn_close(c);
            return -1;
        }
        taken = n;
    }
    c->flags |= SC_CF_BLOCKED;
    sc_conn_after_write(c, moved);
    return (ssize_t)taken;
}

void sc_conn_flush(sc_conn *c)
{
    if (c->flags & SC_CF_CLOSED)
        return;
    if (!sc_conn_pending(c)) {
        if ((c->flags & SC_CF_CLOSING) && !sc_io_layers_hold(c))
            sc_conn_output_done(c); /* else the writable event does, once a layer let go */
        return;
    }
    sc_conn_write_now(c, NULL, 0, 1);
}

/* The layers can take bytes again: send what is held, then tell the protocol. */
void sc_conn_on_writable_ev(sc_conn *c)
{
    c->flags &= ~SC_CF_BLOCKED;
    if (c->io.top != c->io.bottom) {
        int r = sc_io_flush_stack(c);
        if (r < 0) {
            sc_conn_close(c);
            return;
        }
        if (r) {
            c->flags |= SC_CF_BLOCKED; /* a layer still holds bytes */
            sc_conn_update_events(c);
            return;
        }
    }
    if (sc_conn_pending(c)) {
        sc_conn_write_now(c, NULL, 0, 1);
        if ((c->flags & SC_CF_CLOSED) || sc_conn_pending(c))
            return;
    }
    if (c->flags & SC_CF_CLOSING) {
        sc_conn_output_done(c);
        return;
    }
    c->proto->on_writable(c);
    sc_conn_update_events(c);
}

/* ---- reading -------------------------------------------------------------- */

/* Offer buf[0..*len) to the protocol; a protocol swapped on the way (an
 * upgrade) gets the rest.  Returns the bytes consumed; *len may shrink. */
static inline size_t sc_conn_offer(sc_conn *c, char *buf, size_t *len)
{
    const sc_proto_ops *p = c->proto;
    size_t pos = p->on_data(c, buf, len);
    while (c->proto != p && pos < *len &&
           !(c->flags & (SC_CF_CLOSED | SC_CF_CLOSING | SC_CF_PAUSED))) {
        p = c->proto;
        size_t rest = *len - pos;
        size_t used = p->on_data(c, buf + pos, &rest);
        *len = pos + rest;
        pos += used;
    }
    return pos;
}

void sc_conn_feed(sc_conn *c, char *buf, size_t len)
{
    c->flags |= SC_CF_PROCESSING;
    size_t n = len;
    size_t pos = sc_conn_offer(c, buf, &n);
    c->flags &= ~SC_CF_PROCESSING;
    if (c->flags & SC_CF_CLOSED)
        return;
    if (pos < n && sc_buf_append(&c->io.in, buf + pos, n - pos) < 0) {
        sc_conn_close(c);
        return;
    }
    sc_conn_update_events(c);
}

void sc_conn_process(sc_conn *c)
{
    if (c->flags & (SC_CF_CLOSED | SC_CF_PAUSED | SC_CF_PROCESSING))
        return;
    if (!sc_buf_size(&c->io.in))
        return;
    c->flags |= SC_CF_PROCESSING;
    size_t n = sc_buf_size(&c->io.in);
    size_t pos = sc_conn_offer(c, c->io.in.data + c->io.in.off, &n);
    c->io.in.len = c->io.in.off + n;
    c->flags &= ~SC_CF_PROCESSING;
    sc_buf_consume(&c->io.in, pos);
    sc_conn_update_events(c);
}

/* The pending list's entry (batch end): buffered input first, then what a
 * layer above the bottom still holds. */
void sc_conn_resume_input(sc_conn *c)
{
    if (c->flags & SC_CF_DRAIN_DUE) {
        c->flags &= ~SC_CF_DRAIN_DUE;
        if (!sc_conn_pending(c) && (c->flags & SC_CF_WANT_WRITABLE))
            c->proto->on_writable(c);
        if (c->flags & SC_CF_CLOSED)
            return;
    }
    sc_conn_process(c);
    if (c->io.top != c->io.bottom && !(c->flags & (SC_CF_CLOSED | SC_CF_CLOSING | SC_CF_PAUSED)) &&
        (sc_io_stack_wants(c) & SC_IO_HAS_DATA))
        sc_conn_on_readable(c);
}

static void sc_conn_read_once(sc_conn *c);

/* The reactor says readable.  A layer above the bottom may hold plaintext
 * the descriptor will not signal again (SC_IO_HAS_DATA): read until it is
 * out, as long as the protocol takes input. */
void sc_conn_on_readable(sc_conn *c)
{
    sc_conn_read_once(c);
    if (c->io.top == c->io.bottom)
        return;
    for (int i = 0; i < 64; i++) {
        if ((c->flags & (SC_CF_CLOSED | SC_CF_CLOSING | SC_CF_PAUSED)) ||
            !(sc_io_stack_wants(c) & SC_IO_HAS_DATA))
            return;
        sc_conn_read_once(c);
    }
    sc_mark_pending(c); /* still more: the next round of the batch goes on */
}

static void sc_conn_read_once(sc_conn *c)
{
    sc_loop *loop = c->loop;
    sc_io *top = c->io.top;
    if (c->flags & SC_CF_LINGERING) {
        sc_conn_linger_read(c);
        return;
    }
    if (c->flags & (SC_CF_PAUSED | SC_CF_CLOSING)) {
        sc_conn_update_events(c);
        return;
    }
    ssize_t r;
    if (!sc_buf_size(&c->io.in)) {
        r = top->ops->read(top, loop->scratch, loop->scratch_size);
        if (r > 0) {
            c->io.last_active_ms = loop->now_ms;
            loop->stats.bytes_in += (uint64_t)r;
            sc_conn_feed(c, loop->scratch, (size_t)r);
            return;
        }
    } else {
        size_t limit = loop->max_held_input;
        size_t held = sc_buf_size(&c->io.in);
        if (held >= limit) {
            sc_conn_update_events(c);
            return;
        }
        if (sc_buf_reserve(&c->io.in, limit - held) < 0) {
            sc_conn_close(c);
            return;
        }
        r = top->ops->read(top, c->io.in.data + c->io.in.len, limit - held);
        if (r > 0) {
            c->io.last_active_ms = loop->now_ms;
            loop->stats.bytes_in += (uint64_t)r;
            c->io.in.len += (size_t)r;
            sc_conn_process(c);
            return;
        }
    }
    if (r == 0 || r == SC_IO_ERROR)
        sc_conn_close(c); /* EOF or error: the protocol hears on_closed */
}
