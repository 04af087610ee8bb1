/* io_socket.c - the socket bottom layer: a connected non-blocking descriptor.
 *
 * Owns its own state (the descriptor) and nothing else: reads are recv, writes
 * are send (one buffer) or sendmsg (several), both retried on EINTR and never
 * blocking; EAGAIN is reported as "nothing now" and the connection asks the
 * reactor for the event (loop.c owns the epoll registration of c->io.fd).
 * close removes the descriptor from epoll and closes it; the connection is
 * freed at the end of the batch.  The layer lives in the connection's own
 * allocation (sc_conn_new), so accepting costs one calloc.
 */
#include "core.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct sc_io_socket {
    sc_io io;
    int fd;
} sc_io_socket;

static ssize_t sc_sock_read(sc_io *io, char *buf, size_t cap)
{
    int fd = ((sc_io_socket *)io)->fd;
    for (;;) {
        ssize_t n = recv(fd, buf, cap, 0);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? SC_IO_AGAIN : SC_IO_ERROR;
    }
}

static ssize_t sc_sock_write(sc_io *io, const struct iovec *iov, int iovcnt)
{
    int fd = ((sc_io_socket *)io)->fd;
    for (;;) {
        ssize_t n;
        if (iovcnt == 1) {
            n = send(fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
        } else {
            struct msghdr mh;
            memset(&mh, 0, sizeof mh);
            mh.msg_iov = (struct iovec *)iov;
            mh.msg_iovlen = (size_t)iovcnt;
            n = sendmsg(fd, &mh, MSG_NOSIGNAL);
        }
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : SC_IO_ERROR;
    }
}

static int sc_sock_close(sc_io *io)
{
    sc_io_socket *s = (sc_io_socket *)io;
    sc_conn *c = io->conn;
    if (s->fd >= 0) {
        epoll_ctl(c->loop->epfd, EPOLL_CTL_DEL, s->fd, NULL);
        close(s->fd);
        s->fd = -1;
        c->io.fd = -1;
    }
    return 1; /* free at the end of the batch */
}

static void sc_sock_release(sc_io *io)
{
    sc_io_socket *s = (sc_io_socket *)io;
    if (s->fd >= 0) {
        close(s->fd); /* the loop is being freed with the connection open */
        s->fd = -1;
        io->conn->io.fd = -1;
    }
}

const sc_io_ops sc_io_socket_ops = {
    "socket", sc_sock_read, sc_sock_write, NULL, NULL, sc_sock_close, sc_sock_release, NULL, NULL,
};

/* A connection over an accepted descriptor, watched by the reactor; takes
 * fd (closed on failure, when NULL is returned). */
sc_conn *sc_io_socket_open(sc_loop *loop, int fd, const sc_addr *remote)
{
    sc_conn *c = sc_conn_new(loop, &sc_io_socket_ops, sizeof(sc_io_socket), fd);
    if (!c) {
        close(fd);
        return NULL;
    }
    ((sc_io_socket *)c->io.bottom)->fd = fd;
    c->io.remote = *remote;
    if (sc_conn_watch(c) < 0) {
        sc_conn_abandon(c); /* never seen by anyone: freed (and fd closed) now */
        return NULL;
    }
    return c;
}
