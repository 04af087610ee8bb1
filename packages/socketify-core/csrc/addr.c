/* addr.c - sc_addr, a peer address as the core keeps it (declared in core.h):
 * family (4, 6, 1 for a Unix socket, 0 unknown), the raw bytes, the port and
 * the printable text, filled once when the connection is accepted (or opened
 * in memory, or named by a PROXY header) so Python reads it without a
 * syscall.  IPv4 peers seen through a dual-stack socket are reported as IPv4.
 */
#include "core.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

void sc_addr_from_ip(sc_addr *a, int family, const void *ip, uint16_t port)
{
    memset(a, 0, sizeof *a);
    a->port = port;
    const uint8_t *b = ip;
    if (family == 6) {
        struct in6_addr in6; /* ip may be unaligned: the test reads an aligned copy */
        memcpy(&in6, b, 16);
        if (IN6_IS_ADDR_V4MAPPED(&in6)) {
            family = 4; /* a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d */
            b += 12;
        }
    }
    a->family = (uint8_t)family;
    memcpy(a->bytes, b, family == 4 ? 4 : 16);
    inet_ntop(family == 4 ? AF_INET : AF_INET6, a->bytes, a->text, sizeof a->text);
}

void sc_addr_from_sockaddr(sc_addr *a, const void *sa, socklen_t len)
{
    const struct sockaddr *s = sa;
    if (len >= (socklen_t)sizeof(struct sockaddr_in) && s->sa_family == AF_INET) {
        const struct sockaddr_in *in = sa;
        sc_addr_from_ip(a, 4, &in->sin_addr, ntohs(in->sin_port));
    } else if (len >= (socklen_t)sizeof(struct sockaddr_in6) && s->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = sa;
        sc_addr_from_ip(a, 6, &in6->sin6_addr, ntohs(in6->sin6_port));
    } else {
        memset(a, 0, sizeof *a);
        if (s->sa_family == AF_UNIX)
            a->family = 1;
    }
}

void sc_addr_from_text(sc_addr *a, const char *ip, uint16_t port)
{
    memset(a, 0, sizeof *a);
    if (!ip)
        return;
    a->port = port;
    if (inet_pton(AF_INET, ip, a->bytes) == 1) {
        a->family = 4;
    } else if (inet_pton(AF_INET6, ip, a->bytes) == 1) {
        a->family = 6;
    }
    size_t n = strlen(ip);
    if (n >= sizeof a->text)
        n = sizeof a->text - 1;
    memcpy(a->text, ip, n);
    a->text[n] = '\0';
}

int sc_addr_text(const sc_addr *a, char *buf, size_t cap)
{
    size_t n = strlen(a->text);
    if (!buf || cap < n)
        return SC_EINVAL;
    memcpy(buf, a->text, n);
    if (cap > n)
        buf[n] = '\0';
    return (int)n;
}

int sc_addr_bytes(const sc_addr *a, char *buf, size_t cap)
{
    size_t n = a->family == 4 ? 4 : a->family == 6 ? 16 : 0;
    if (!buf || cap < n)
        return SC_EINVAL;
    memcpy(buf, a->bytes, n);
    return (int)n;
}
