/* transport.c - socket and in-memory transports behind one small interface.
 *
 * A connection's bytes leave through sc_transport_table[kind].write, which
 * takes what it can and reports how much: a socket takes what the kernel
 * accepts, the memory transport takes what fits under its capacity (a fake
 * send buffer that sc_mem_consume empties), so backpressure behaves the same
 * on both.  What was not taken stays in conn->out and EPOLLOUT is armed (or,
 * for memory, sc_mem_consume plays the writable event).
 *
 * Closing: sc_conn_close closes the server side at once (and calls
 * sc_py_on_aborted for a response in flight); the struct is freed at the end
 * of the batch.  A memory connection closed by the server stays readable for
 * its client (sc_mem_output) until sc_mem_close.
 */
#include "core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- the two transports --------------------------------------------------- */

static ssize_t sc_sock_write(sc_conn *c, const struct iovec *iov, int iovcnt)
{
    for (;;) {
        ssize_t n;
        if (iovcnt == 1) {
            n = send(c->fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
        } else {
            struct msghdr mh;
            memset(&mh, 0, sizeof mh);
            mh.msg_iov = (struct iovec *)iov;
            mh.msg_iovlen = (size_t)iovcnt;
            n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
        }
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
    }
}

static ssize_t sc_sock_read(sc_conn *c, char *buf, size_t cap)
{
    for (;;) {
        ssize_t n = recv(c->fd, buf, cap, 0);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? -1 : -2;
    }
}

static void sc_sock_close(sc_conn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(c->loop->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
}

static ssize_t sc_mem_write(sc_conn *c, const struct iovec *iov, int iovcnt)
{
    size_t held = sc_buf_size(&c->mem_out);
    size_t room = SIZE_MAX;
    if (c->mem_cap)
        room = c->mem_cap > held ? c->mem_cap - held : 0;
    size_t taken = 0;
    for (int i = 0; i < iovcnt && room; i++) {
        size_t n = iov[i].iov_len < room ? iov[i].iov_len : room;
        if (sc_buf_append(&c->mem_out, iov[i].iov_base, n) < 0)
            return -1;
        taken += n;
        room -= n;
    }
    return (ssize_t)taken;
}

static ssize_t sc_mem_read(sc_conn *c, char *buf, size_t cap)
{
    (void)c;
    (void)buf;
    (void)cap;
    return -1; /* bytes are pushed with sc_mem_feed */
}

static void sc_mem_close_transport(sc_conn *c)
{
    (void)c; /* mem_out stays for the client to read */
}

const sc_transport_ops sc_transport_table[2] = {
    [SC_T_SOCKET] = {sc_sock_write, sc_sock_read, sc_sock_close},
    [SC_T_MEMORY] = {sc_mem_write, sc_mem_read, sc_mem_close_transport},
};

/* ---- closing -------------------------------------------------------------- */

static void sc_conn_bury(sc_conn *c)
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
    sc_handle res = c->res_gen ? sc_make_handle(c->res_gen, c->slot) : 0;
    c->flags |= SC_CF_CLOSED;
    c->flags &= ~(SC_CF_CLOSING | SC_CF_WANT_WRITABLE | SC_CF_BLOCKED);
    c->res_gen = 0;
    sc_transport_table[c->kind].close(c);
    loop->num_conns--;
    if (c->ws)
        loop->ws_hooks->closed(c); /* before burial: the handle still names c */
    if (c->kind == SC_T_SOCKET)
        sc_conn_bury(c); /* memory: sc_mem_close or sc_mem_consume buries it */
    if (res)
        sc_py_on_aborted(loop->owner, res);
}

/* ---- writing -------------------------------------------------------------- */

/* Write conn->out then p[0..n) in one call.  Bytes of p the transport did
 * not take are appended to out when buffer_rest, else dropped.  Returns the
 * bytes of p taken (or buffered), or -1 when the connection failed. */
ssize_t sc_conn_write_now(sc_conn *c, const char *p, size_t n, int buffer_rest)
{
    if (c->flags & SC_CF_CLOSED)
        return -1;
    size_t held = sc_buf_size(&c->out);
    struct iovec iov[2];
    int cnt = 0;
    if (held) {
        iov[cnt].iov_base = c->out.data + c->out.off;
        iov[cnt++].iov_len = held;
    }
    if (n) {
        iov[cnt].iov_base = (void *)p;
        iov[cnt++].iov_len = n;
    }
    ssize_t w = cnt ? sc_transport_table[c->kind].write(c, iov, cnt) : 0;
    if (w < 0) {
        sc_conn_close(c);
        return -1;
    }
    if (w > 0)
        c->last_active_ms = c->loop->now_ms;
    size_t taken;
    if ((size_t)w >= held) {
        sc_buf_consume(&c->out, held);
        taken = (size_t)w - held;
    } else {
        sc_buf_consume(&c->out, (size_t)w);
        taken = 0;
    }
    if (taken < n || sc_buf_size(&c->out))
        c->flags |= SC_CF_BLOCKED;
    if (taken < n && buffer_rest) {
        if (sc_buf_append(&c->out, p + taken, n - taken) < 0) {
            sc_conn_close(c);
            return -1;
        }
        taken = n;
    }
    if (!sc_buf_size(&c->out) && (c->flags & SC_CF_CLOSING)) {
        sc_conn_close(c);
        return (ssize_t)taken;
    }
    if ((c->flags & SC_CF_BACKLOG) &&
        sc_buf_size(&c->out) <= c->loop->settings.max_backpressure) {
        c->flags &= ~SC_CF_BACKLOG; /* drained enough: parse the next request */
        sc_mark_pending(c);
    }
    sc_conn_update_events(c);
    return (ssize_t)taken;
}

void sc_conn_flush(sc_conn *c)
{
    if (c->flags & SC_CF_CLOSED)
        return;
    if (!sc_buf_size(&c->out)) {
        if (c->flags & SC_CF_CLOSING)
            sc_conn_close(c);
        return;
    }
    sc_conn_write_now(c, NULL, 0, 1);
}

/* The transport can take bytes again: send what is held, then tell Python. */
void sc_conn_on_writable_ev(sc_conn *c)
{
    c->flags &= ~SC_CF_BLOCKED;
    if (sc_buf_size(&c->out)) {
        sc_conn_write_now(c, NULL, 0, 1);
        if ((c->flags & SC_CF_CLOSED) || sc_buf_size(&c->out))
            return;
    }
    if (c->flags & SC_CF_CLOSING) {
        sc_conn_close(c);
        return;
    }
    if (c->ws) {
        c->loop->ws_hooks->drained(c);
        sc_conn_update_events(c);
        return;
    }
    if ((c->flags & SC_CF_WANT_WRITABLE) && c->res_gen) {
        uint64_t gen = c->res_gen;
        int done = sc_py_on_writable(c->loop->owner, sc_make_handle(gen, c->slot), c->write_offset);
        if (done && c->res_gen == gen)
            c->flags &= ~SC_CF_WANT_WRITABLE;
    }
    sc_conn_update_events(c);
}

/* ---- reading (sockets) ---------------------------------------------------- */

void sc_conn_on_readable(sc_conn *c)
{
    sc_loop *loop = c->loop;
    if (c->flags & (SC_CF_PAUSED | SC_CF_CLOSING)) {
        sc_conn_update_events(c);
        return;
    }
    ssize_t r;
    if (!sc_buf_size(&c->in)) {
        r = sc_transport_table[c->kind].read(c, loop->scratch, SC_SCRATCH_SIZE);
        if (r > 0) {
            c->last_active_ms = loop->now_ms;
            sc_conn_feed(c, loop->scratch, (size_t)r);
            return;
        }
    } else {
        size_t limit = (size_t)loop->settings.max_header_size + 4096u;
        size_t held = sc_buf_size(&c->in);
        if (held >= limit) {
            sc_conn_update_events(c);
            return;
        }
        if (sc_buf_reserve(&c->in, limit - held) < 0) {
            sc_conn_close(c);
            return;
        }
        r = sc_transport_table[c->kind].read(c, c->in.data + c->in.len, limit - held);
        if (r > 0) {
            c->last_active_ms = loop->now_ms;
            c->in.len += (size_t)r;
            sc_conn_process(c);
            return;
        }
    }
    if (r == 0 || r == -2)
        sc_conn_close(c); /* EOF or error: a response in flight is aborted */
}

/* ---- the memory transport's API ------------------------------------------- */

sc_handle sc_mem_open(sc_loop *loop, const char *remote_ip, uint16_t remote_port)
{
    if (!loop)
        return 0;
    sc_conn *c = sc_conn_new(loop, SC_T_MEMORY, -1);
    if (!c)
        return 0;
    sc_addr_from_text(&c->remote, remote_ip, remote_port);
    return sc_make_handle(c->conn_gen, c->slot);
}

int sc_mem_feed(sc_loop *loop, sc_handle conn, const char *data, size_t len)
{
    sc_conn *c = sc_conn_by_handle(loop, conn);
    if (!c || c->kind != SC_T_MEMORY || (c->flags & SC_CF_CLOSED))
        return SC_ESTALE;
    if (c->flags & SC_CF_PROCESSING)
        return SC_ESTATE; /* fed from inside its own callback */
    if (len && !data)
        return SC_EINVAL;
    if (sc_buf_append(&c->in, data, len) < 0)
        return SC_ENOMEM;
    sc_batch_begin(loop);
    loop->in_feed++;
    c->last_active_ms = loop->now_ms;
    sc_conn_process(c);
    sc_batch_end(loop);
    loop->in_feed--;
    return SC_OK;
}

size_t sc_mem_output(sc_loop *loop, sc_handle conn, const char **data)
{
    sc_conn *c = sc_conn_by_handle(loop, conn);
    if (!c || c->kind != SC_T_MEMORY) {
        if (data)
            *data = NULL;
        return 0;
    }
    if (data)
        *data = c->mem_out.data ? c->mem_out.data + c->mem_out.off : NULL;
    return sc_buf_size(&c->mem_out);
}

int sc_mem_consume(sc_loop *loop, sc_handle conn, size_t n)
{
    sc_conn *c = sc_conn_by_handle(loop, conn);
    if (!c || c->kind != SC_T_MEMORY)
        return SC_ESTALE;
    size_t held = sc_buf_size(&c->mem_out);
    sc_buf_consume(&c->mem_out, n < held ? n : held);
    sc_batch_begin(loop);
    if (c->flags & SC_CF_CLOSED) {
        if ((c->flags & SC_CF_MEM_GONE) && !sc_buf_size(&c->mem_out))
            sc_conn_bury(c);
    } else if (sc_buf_size(&c->out) || (c->flags & SC_CF_BLOCKED)) {
        sc_conn_on_writable_ev(c);
    }
    sc_batch_end(loop);
    return SC_OK;
}

int sc_mem_set_capacity(sc_loop *loop, sc_handle conn, size_t cap)
{
    sc_conn *c = sc_conn_by_handle(loop, conn);
    if (!c || c->kind != SC_T_MEMORY)
        return SC_ESTALE;
    c->mem_cap = cap;
    if (!(c->flags & SC_CF_CLOSED) && (sc_buf_size(&c->out) || (c->flags & SC_CF_BLOCKED))) {
        sc_batch_begin(loop);
        sc_conn_on_writable_ev(c);
        sc_batch_end(loop);
    }
    return SC_OK;
}

int sc_mem_is_open(sc_loop *loop, sc_handle conn)
{
    sc_conn *c = sc_conn_by_handle(loop, conn);
    return (c && c->kind == SC_T_MEMORY && !(c->flags & SC_CF_CLOSED)) ? 1 : 0;
}

int sc_mem_close(sc_loop *loop, sc_handle conn, int discard)
{
    sc_conn *c = sc_conn_by_handle(loop, conn);
    if (!c || c->kind != SC_T_MEMORY || (c->flags & SC_CF_MEM_GONE))
        return SC_ESTALE;
    sc_batch_begin(loop);
    c->flags |= SC_CF_MEM_GONE;
    sc_conn_close(c);
    if (discard || !sc_buf_size(&c->mem_out))
        sc_conn_bury(c);
    sc_batch_end(loop);
    return SC_OK;
}
