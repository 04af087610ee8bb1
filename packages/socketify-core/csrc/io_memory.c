/* io_memory.c - the in-memory bottom layer and the sc_mem_* calls that drive
 * it (the TestClient's transport, and the core's own tests).
 *
 * Its state is its own (sc_io_memory below), not every connection's: what
 * the fake socket "sent" (out, read by sc_mem_output, emptied by
 * sc_mem_consume), its capacity (cap: 0 = no limit; a write takes what fits,
 * so backpressure behaves as on a socket, and sc_mem_consume plays the
 * writable event), what the client fed while a layer sits above this one
 * (in), and whether the client went away (gone).
 *
 * Input: when this layer is the top (nothing to transform), sc_mem_feed
 * appends to c->io.in and offers it to the protocol at once - one copy, as
 * before there were layers.  With a layer above it (TLS), fed bytes queue in
 * `in` and are pulled through the stack by sc_conn_on_readable, as a
 * socket's would be.
 *
 * Closing: a memory connection closed by the server stays readable for its
 * client (sc_mem_output) until sc_mem_close, or until sc_mem_consume empties
 * its output after the client went away; then this layer buries it.
 */
#include "core.h"

#include <stdint.h>
#include <string.h>

typedef struct sc_io_memory {
    sc_io io;
    sc_buf out;                      /* what the fake socket sent, for sc_mem_output */
    sc_buf in;                       /* fed bytes waiting for a layer above to read them */
    size_t cap;                      /* bytes the fake socket holds (0 = no limit) */
    int gone;                        /* the client called sc_mem_close */
    uint64_t writes;                 /* write calls that took bytes (sc_mem_writes) */
    sc_buf tls[SC_TLS_INFO_MAX + 1]; /* sc_mem_set_tls: what the client says TLS gave it */
    uint8_t tls_set[SC_TLS_INFO_MAX + 1];
} sc_io_memory;

static ssize_t sc_mem_write(sc_io *io, const struct iovec *iov, int iovcnt)
{
    sc_io_memory *m = (sc_io_memory *)io;
    size_t held = sc_buf_size(&m->out);
    size_t room = SIZE_MAX;
    if (m->cap)
        room = m->cap > held ? m->cap - held : 0;
    size_t taken = 0;
    for (int i = 0; i < iovcnt && room; i++) {
        size_t n = iov[i].iov_len < room ? iov[i].iov_len : room;
        if (sc_buf_append(&m->out, iov[i].iov_base, n) < 0)
            return SC_IO_ERROR;
        taken += n;
        room -= n;
    }
    if (taken)
        m->writes++;
    return (ssize_t)taken;
}

static ssize_t sc_mem_read(sc_io *io, char *buf, size_t cap)
{
    sc_io_memory *m = (sc_io_memory *)io;
    size_t n = sc_buf_size(&m->in);
    if (!n)
        return m->gone ? 0 : SC_IO_AGAIN;
    if (n > cap)
        n = cap;
    memcpy(buf, m->in.data + m->in.off, n);
    sc_buf_consume(&m->in, n);
    return (ssize_t)n;
}

static int sc_mem_close_layer(sc_io *io)
{
    (void)io; /* out stays for the client to read */
    return 0; /* buried by sc_mem_close / sc_mem_consume */
}

static void sc_mem_release(sc_io *io)
{
    sc_io_memory *m = (sc_io_memory *)io;
    sc_buf_free(&m->out);
    sc_buf_free(&m->in);
    for (int i = 0; i <= SC_TLS_INFO_MAX; i++)
        sc_buf_free(&m->tls[i]);
}

/* The TLS facts the client set (sc_mem_set_tls); a memory connection with no
 * version set is plaintext and knows nothing. */
static ssize_t sc_mem_info(sc_io *io, int key, char *buf, size_t cap)
{
    sc_io_memory *m = (sc_io_memory *)io;
    if (key < 1 || key > SC_TLS_INFO_MAX || !m->tls_set[key])
        return 0;
    size_t n = sc_buf_size(&m->tls[key]);
    if (buf && n)
        memcpy(buf, m->tls[key].data + m->tls[key].off, n < cap ? n : cap);
    return (ssize_t)n;
}

const sc_io_ops sc_io_memory_ops = {
    "memory",           sc_mem_read,    sc_mem_write, NULL,        NULL,
    sc_mem_close_layer, sc_mem_release, NULL,         sc_mem_info,
};

/* The memory layer of a handle's connection, or NULL. */
static sc_io_memory *sc_mem_of(sc_loop *loop, sc_handle conn, sc_conn **out)
{
    sc_conn *c = sc_conn_by_handle(loop, conn);
    if (!c || c->io.bottom->ops != &sc_io_memory_ops)
        return NULL;
    *out = c;
    return (sc_io_memory *)c->io.bottom;
}

/* ---- the sc_mem_* API ----------------------------------------------------- */

sc_handle sc_mem_open(sc_loop *loop, const char *remote_ip, uint16_t remote_port)
{
    if (!loop)
        return 0;
    loop->thread = pthread_self(); /* the memory transport drives the loop here */
    sc_conn *c = sc_conn_new(loop, &sc_io_memory_ops, sizeof(sc_io_memory), -1);
    if (!c)
        return 0;
    sc_addr_from_text(&c->io.remote, remote_ip, remote_port);
    return sc_make_handle(c->conn_gen, c->slot);
}

int sc_mem_feed(sc_loop *loop, sc_handle conn, const char *data, size_t len)
{
    if (loop)
        loop->thread = pthread_self(); /* the memory transport drives the loop here */
    sc_conn *c = NULL;
    sc_io_memory *m = sc_mem_of(loop, conn, &c);
    if (!m || (c->flags & SC_CF_CLOSED))
        return SC_ESTALE;
    if (c->flags & SC_CF_PROCESSING)
        return SC_ESTATE; /* fed from inside its own callback */
    if (len && !data)
        return SC_EINVAL;
    int direct = c->io.top == &m->io;
    if (sc_buf_append(direct ? &c->io.in : &m->in, data, len) < 0)
        return SC_ENOMEM;
    sc_batch_begin(loop);
    loop->in_feed++;
    c->io.last_active_ms = loop->now_ms;
    if (direct) {
        loop->stats.bytes_in += len; /* as a read from a socket would count it */
        sc_conn_process(c);
    } else {
        /* pull through the layers above, as a readable socket would be */
        size_t before;
        do {
            before = sc_buf_size(&m->in);
            sc_conn_on_readable(c);
        } while (!(c->flags & (SC_CF_CLOSED | SC_CF_CLOSING | SC_CF_PAUSED)) &&
                 sc_buf_size(&m->in) && sc_buf_size(&m->in) < before);
    }
    sc_batch_end(loop);
    loop->in_feed--;
    return SC_OK;
}

size_t sc_mem_output(sc_loop *loop, sc_handle conn, const char **data)
{
    sc_conn *c = NULL;
    sc_io_memory *m = sc_mem_of(loop, conn, &c);
    if (!m) {
        if (data)
            *data = NULL;
        return 0;
    }
    if (data)
        *data = m->out.data ? m->out.data + m->out.off : NULL;
    return sc_buf_size(&m->out);
}

int sc_mem_consume(sc_loop *loop, sc_handle conn, size_t n)
{
    if (loop)
        loop->thread = pthread_self(); /* the memory transport drives the loop here */
    sc_conn *c = NULL;
    sc_io_memory *m = sc_mem_of(loop, conn, &c);
    if (!m)
        return SC_ESTALE;
    size_t held = sc_buf_size(&m->out);
    sc_buf_consume(&m->out, n < held ? n : held);
    sc_batch_begin(loop);
    if (c->flags & SC_CF_CLOSED) {
        if (m->gone && !sc_buf_size(&m->out))
            sc_conn_bury(c);
    } else if (sc_conn_pending(c) || (c->flags & (SC_CF_BLOCKED | SC_CF_WANT_WRITABLE))) {
        sc_conn_on_writable_ev(c);
    }
    sc_batch_end(loop);
    return SC_OK;
}

int sc_mem_set_capacity(sc_loop *loop, sc_handle conn, size_t cap)
{
    sc_conn *c = NULL;
    sc_io_memory *m = sc_mem_of(loop, conn, &c);
    if (!m)
        return SC_ESTALE;
    m->cap = cap;
    if (!(c->flags & SC_CF_CLOSED) && (sc_conn_pending(c) || (c->flags & SC_CF_BLOCKED))) {
        sc_batch_begin(loop);
        sc_conn_on_writable_ev(c);
        sc_batch_end(loop);
    }
    return SC_OK;
}

int sc_mem_is_open(sc_loop *loop, sc_handle conn)
{
    sc_conn *c = NULL;
    sc_io_memory *m = sc_mem_of(loop, conn, &c);
    return (m && !(c->flags & SC_CF_CLOSED)) ? 1 : 0;
}

uint64_t sc_mem_writes(sc_loop *loop, sc_handle conn)
{
    sc_conn *c = NULL;
    sc_io_memory *m = sc_mem_of(loop, conn, &c);
    return m ? m->writes : 0;
}

int sc_mem_set_tls(sc_loop *loop, sc_handle conn, int key, const char *value, size_t len)
{
    sc_conn *c = NULL;
    sc_io_memory *m = sc_mem_of(loop, conn, &c);
    if (!m || (c->flags & SC_CF_CLOSED))
        return SC_ESTALE;
    if (key < 1 || key > SC_TLS_INFO_MAX || (len && !value))
        return SC_EINVAL;
    m->tls[key].off = m->tls[key].len = 0;
    if (sc_buf_append(&m->tls[key], value, len) < 0)
        return SC_ENOMEM;
    m->tls_set[key] = 1;
    return SC_OK;
}

int sc_mem_close(sc_loop *loop, sc_handle conn, int discard)
{
    if (loop)
        loop->thread = pthread_self(); /* the memory transport drives the loop here */
    sc_conn *c = NULL;
    sc_io_memory *m = sc_mem_of(loop, conn, &c);
    if (!m || m->gone)
        return SC_ESTALE;
    sc_batch_begin(loop);
    m->gone = 1;
    sc_conn_close(c);
    if (discard || !sc_buf_size(&m->out))
        sc_conn_bury(c);
    sc_batch_end(loop);
    return SC_OK;
}
