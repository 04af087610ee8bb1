/* listen.c - listening sockets and accept.
 *
 * An accepted descriptor becomes a connection over the socket layer
 * (sc_io_socket_open) speaking the loop's protocol; a TLS listener
 * (sc_listen_set_tls) pushes its layer (io_tls.c) right there, before the
 * first read.
 *
 * TCP listeners get SO_REUSEADDR always and SO_REUSEPORT unless
 * SC_LISTEN_EXCLUSIVE_PORT (so several loops, threads or processes can share
 * a port and the kernel balances accepts).  host NULL, "" or "::" binds an
 * IPv6 socket with IPV6_V6ONLY off (dual-stack), falling back to 0.0.0.0
 * where IPv6 is missing.  A Unix socket path left behind by a dead server is
 * unlinked only when connecting to it is refused (nothing listens).
 * Accepted connections are read in a loop until EAGAIN, except on a listener
 * adopted with sc_listen_fd: that one is presumed shared with sibling processes
 * (the CLI's workers), and a process that drains the whole backlog in one
 * wakeup takes every connection of a burst while its siblings are still being
 * scheduled.  There a wakeup accepts one connection (as nginx does without
 * multi_accept) and then sleeps for the shortest time the kernel grants (its
 * timer slack, ~50 us), which lets a sibling waiting for this CPU run and
 * accept the next one; and the listener is registered with EPOLLEXCLUSIVE, so
 * the kernel wakes one waiting process per new connection instead of all of
 * them.  Either alone leaves bursts where one worker takes nearly everything:
 * two workers on one Unix socket, bursts of 64 connections, the least busy
 * worker's share over 8 bursts (loaded 2-core machine, docs/performance.md):
 * EPOLLEXCLUSIVE alone 0-47%, the sleep alone 25-50%, both 41-50%.
 * EPOLLEXCLUSIVE can only be given to EPOLL_CTL_ADD, so pausing such a
 * listener (out of descriptors) removes and re-adds it.
 */
#include "core.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define SC_BACKLOG 1024

/* ---- listeners ------------------------------------------------------------ */

/* Watch (on) or stop watching listener index.  A shared listener is watched
 * with EPOLLEXCLUSIVE, which EPOLL_CTL_MOD refuses: it is added and removed. */
static int sc_listener_watch(sc_loop *loop, uint32_t index, int on)
{
    sc_listener *l = &loop->listeners[index];
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.data.u64 = SC_TAG_LISTENER + index;
    if (!l->shared) {
        ev.events = on ? EPOLLIN : 0; /* registered once; paused by watching nothing */
        if (epoll_ctl(loop->epfd, l->watched ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, l->fd, &ev) < 0)
            return -1;
        l->watched = 1;
        return 0;
    }
    if (!on) {
        if (l->watched)
            epoll_ctl(loop->epfd, EPOLL_CTL_DEL, l->fd, NULL);
        l->watched = 0;
        return 0;
    }
    if (l->watched)
        return 0;
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, l->fd, &ev) < 0) {
        if (errno != EINVAL)
            return -1;
        ev.events = EPOLLIN; /* a kernel before 4.5: every sibling is woken */
        if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, l->fd, &ev) < 0)
            return -1;
    }
    l->watched = 1;
    return 0;
}

static int sc_listener_add(sc_loop *loop, int fd, int is_unix, const char *path, int shared)
{
    sc_listener *l = realloc(loop->listeners, (loop->num_listeners + 1) * sizeof *l);
    if (!l)
        return -ENOMEM;
    loop->listeners = l;
    uint32_t index = loop->num_listeners;
    sc_listener *me = &l[index];
    memset(me, 0, sizeof *me);
    me->fd = fd;
    me->is_unix = is_unix;
    if (path) {
        struct stat st;
        me->unix_path = strdup(path);
        if (stat(path, &st) == 0) {
            me->dev = st.st_dev;
            me->ino = st.st_ino;
        }
    }
    me->shared = shared;
    if (sc_listener_watch(loop, index, 1) < 0) {
        int e = errno;
        free(me->unix_path);
        return -e;
    }
    loop->num_listeners++;
    return (int)index;
}

static int sc_bind_listen(int family, const struct sockaddr *sa, socklen_t len, int flags,
                          int dual_stack, int *out_fd)
{
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (!(flags & SC_LISTEN_EXCLUSIVE_PORT) &&
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    if (family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, dual_stack ? &zero : &one, sizeof one);
    if (bind(fd, sa, len) < 0 || listen(fd, SC_BACKLOG) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    *out_fd = fd;
    return 0;
}

static int sc_listen_tcp_errno(sc_loop *loop, const char *host, uint16_t port, int flags,
                               uint16_t *out_port)
{
    int fd = -1, rc;
    if (!host || !*host || strcmp(host, "::") == 0) {
        struct sockaddr_in6 a6;
        memset(&a6, 0, sizeof a6);
        a6.sin6_family = AF_INET6;
        a6.sin6_addr = in6addr_any;
        a6.sin6_port = htons(port);
        rc = sc_bind_listen(AF_INET6, (struct sockaddr *)&a6, sizeof a6, flags, 1, &fd);
        if (rc == -EAFNOSUPPORT && (!host || strcmp(host, "::") != 0)) {
            struct sockaddr_in a4;
            memset(&a4, 0, sizeof a4);
            a4.sin_family = AF_INET;
            a4.sin_addr.s_addr = htonl(INADDR_ANY);
            a4.sin_port = htons(port);
            rc = sc_bind_listen(AF_INET, (struct sockaddr *)&a4, sizeof a4, flags, 0, &fd);
        }
    } else {
        struct addrinfo hints, *res = NULL;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE;
        char service[8];
        snprintf(service, sizeof service, "%u", (unsigned)port);
        int g = getaddrinfo(host, service, &hints, &res);
        if (g != 0)
            return g == EAI_SYSTEM ? -errno : -EADDRNOTAVAIL;
        rc = -EADDRNOTAVAIL;
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
            rc = sc_bind_listen(ai->ai_family, ai->ai_addr, ai->ai_addrlen, flags, 0, &fd);
            if (rc == 0)
                break;
        }
        freeaddrinfo(res);
    }
    if (rc < 0)
        return rc;
    if (out_port) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        *out_port = port;
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
            sc_addr a;
            sc_addr_from_sockaddr(&a, &ss, sl);
            *out_port = a.port;
        }
    }
    rc = sc_listener_add(loop, fd, 0, NULL, 0);
    if (rc < 0)
        close(fd);
    return rc;
}

static int sc_listen_unix_errno(sc_loop *loop, const char *path, int flags)
{
    (void)flags;
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    if (!path || !*path)
        return -EINVAL;
    size_t n = strlen(path);
    if (n >= sizeof sun.sun_path)
        return -ENAMETOOLONG;
    memcpy(sun.sun_path, path, n);
    int fd = -1;
    int rc = sc_bind_listen(AF_UNIX, (struct sockaddr *)&sun, sizeof sun, SC_LISTEN_EXCLUSIVE_PORT,
                            0, &fd);
    if (rc == -EADDRINUSE) {
        /* Stale file from a dead server?  Only if nobody accepts on it. */
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe < 0)
            return rc;
        int c = connect(probe, (struct sockaddr *)&sun, sizeof sun);
        int e = errno;
        close(probe);
        if (c == 0 || e != ECONNREFUSED)
            return rc;
        unlink(path);
        rc = sc_bind_listen(AF_UNIX, (struct sockaddr *)&sun, sizeof sun, SC_LISTEN_EXCLUSIVE_PORT,
                            0, &fd);
    }
    if (rc < 0)
        return rc;
    rc = sc_listener_add(loop, fd, 1, path, 0);
    if (rc < 0)
        close(fd);
    return rc;
}

static int sc_listen_fd_errno(sc_loop *loop, int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
        return -EBADF;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    return sc_listener_add(loop, fd, ss.ss_family == AF_UNIX, NULL, 1);
}

void sc_loop_close_listeners(sc_loop *loop)
{
    for (uint32_t i = 0; i < loop->num_listeners; i++) {
        sc_listener *l = &loop->listeners[i];
        if (l->fd < 0)
            continue;
        epoll_ctl(loop->epfd, EPOLL_CTL_DEL, l->fd, NULL);
        close(l->fd);
        l->fd = -1;
        sc_tls_free(l->tls); /* the listener's reference; connections keep theirs */
        l->tls = NULL;
        if (l->unix_path) {
            struct stat st;
            if (stat(l->unix_path, &st) == 0 && st.st_dev == l->dev && st.st_ino == l->ino)
                unlink(l->unix_path);
            free(l->unix_path);
            l->unix_path = NULL;
        }
    }
}

/* ---- accept --------------------------------------------------------------- */

void sc_listener_accept(sc_loop *loop, uint32_t index)
{
    if (index >= loop->num_listeners || loop->listeners[index].fd < 0)
        return;
    sc_listener *l = &loop->listeners[index];
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            /* Out of descriptors or memory: the pending connection stays in the
             * backlog and the listener stays readable, so stop watching it until
             * the next tick or the next close instead of spinning. */
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                sc_listeners_arm(loop, 0);
            return;
        }
        sc_addr remote;
        memset(&remote, 0, sizeof remote);
        if (l->is_unix || ss.ss_family == AF_UNIX) {
            remote.family = 1;
        } else {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            sc_addr_from_sockaddr(&remote, &ss, sl);
        }
        sc_conn *c = sc_io_socket_open(loop, fd, &remote);
        if (!c)
            continue; /* out of memory or slots: fd was closed */
        if (l->tls && sc_io_tls_push(c, l->tls) < 0) {
            sc_conn_abandon(c); /* never read: freed (and fd closed) now */
            continue;
        }
        if (l->shared) {
            /* Level-triggered: the rest of the backlog wakes us or a sibling. */
            struct timespec pause = {0, 1000};
            nanosleep(&pause, NULL);
            return;
        }
    }
}

void sc_listeners_arm(sc_loop *loop, int on)
{
    if (loop->accept_paused == !on)
        return;
    for (uint32_t i = 0; i < loop->num_listeners; i++)
        if (loop->listeners[i].fd >= 0)
            sc_listener_watch(loop, i, on);
    loop->accept_paused = !on;
    sc_timer_update(loop);
}

int sc_listen_set_tls(sc_loop *loop, int listener, sc_tls *tls)
{
    if (!loop || !tls || listener < 0 || (uint32_t)listener >= loop->num_listeners ||
        loop->listeners[listener].fd < 0)
        return SC_EINVAL;
    sc_listener *l = &loop->listeners[listener];
    sc_tls_ref(tls);
    sc_tls_free(l->tls);
    l->tls = tls;
    uint32_t limit = sc_tls_handshake_timeout(tls);
    if (limit) { /* the handshake deadline is checked on the loop's tick */
        loop->always_tick = 1;
        sc_timer_tick_at_most(loop, limit / 4);
        sc_timer_update(loop);
    }
    return SC_OK;
}

int sc_listen_tcp(sc_loop *loop, const char *host, uint16_t port, int flags, uint16_t *out_port)
{
    int rc = sc_listen_tcp_errno(loop, host, port, flags, out_port);
    return rc < 0 ? SC_EOS(-rc) : rc;
}

int sc_listen_unix(sc_loop *loop, const char *path, int flags)
{
    int rc = sc_listen_unix_errno(loop, path, flags);
    return rc < 0 ? SC_EOS(-rc) : rc;
}

int sc_listen_fd(sc_loop *loop, int fd)
{
    int rc = sc_listen_fd_errno(loop, fd);
    return rc < 0 ? SC_EOS(-rc) : rc;
}
