/* io_tls.c - TLS as an I/O layer (io.h), OpenSSL underneath, and the
 * server-side TLS setup (sc_tls: certificates, SNI names, client
 * certificates) that listeners hand to their connections.
 *
 * Theory of operation
 * -------------------
 * A TLS listener (sc_listen_set_tls) pushes one sc_io_tls on every accepted
 * connection before its first read.  The layer talks to OpenSSL through a BIO
 * of our own (sc_bio_*): OpenSSL's reads go straight to the layer below
 * (socket or memory: no intermediate copy), its writes append ciphertext to
 * the layer's `cipher` buffer, which is then pushed down with one write.  So
 * OpenSSL owns only the crypto: the reactor, buffers and backpressure stay
 * the core's.
 *
 *   read   the handshake is driven from here (the reactor says readable, io.c
 *          reads the top layer); once it is done, SSL_read fills the caller's
 *          buffer with as many records as are available.  A read that filled
 *          the buffer sets `more`: wants() then says SC_IO_HAS_DATA, because
 *          OpenSSL may hold decrypted or read-ahead bytes the descriptor will
 *          not signal again.
 *   write  the connection's cork buffer (everything a poll wrote) becomes ONE
 *          SSL_write when it is at most SC_TLS_CHUNK bytes (records of up to
 *          16 KiB each), then one write to the layer below.  Larger output is
 *          encrypted in chunks of SC_TLS_CHUNK, each pushed before the next is
 *          encrypted: what the layer below refuses stays in `cipher` (one
 *          chunk at most), wants() says SC_IO_WANT_WRITE, and the rest of the
 *          plaintext stays in the connection's buffer (backpressure).
 *   close  close_notify is sent best effort (never blocking) when the
 *          handshake had finished.
 *   tick   a handshake not finished within handshake_timeout_ms closes.
 *   info   version, cipher, ALPN, server name, the client's certificate.
 *
 * Errors: a failed handshake (garbage, plain HTTP, a bad client certificate)
 * sends OpenSSL's alert if it made one and closes; every path frees what it
 * allocated (release frees the SSL and drops the sc_tls reference).
 *
 * This file names no protocol and no Python callback (the layering rule of
 * core.h): the calls Python makes by response or WebSocket handle, and the
 * hook that asks Python about an unknown server name, are in tls_api.c.
 *
 * sc_tls: a default SSL_CTX and an SNI table of (name, SSL_CTX).  Every
 * context is built by sc_tls_ctx_build from an sc_tls_config, checking each
 * file itself so a configuration error names the file and the reason.  Only
 * the default context has the servername callback: it looks the client's
 * name up (exact, then "*." + the name without its first label) and switches
 * the connection's context, with its client-certificate settings.
 */
#include "core.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#if OPENSSL_VERSION_NUMBER < 0x10101000L
#error "socketify needs OpenSSL 1.1.1 or newer (TLS 1.3)"
#endif

#define SC_TLS_CHUNK (64u * 1024u) /* plaintext encrypted per SSL_write */

/* TLS 1.2 suites: forward secrecy and AEAD only.  TLS 1.3 keeps OpenSSL's
 * own list (all of its suites are AEAD with forward secrecy). */
static const char sc_tls_default_ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

static const unsigned char sc_tls_sid_ctx[] = "socketify";

/* ---- the server's TLS setup ------------------------------------------------ */

typedef struct sc_tls_name {
    char *name; /* lower-cased; "*.example.com" for a wildcard */
    SSL_CTX *ctx;
} sc_tls_name;

struct sc_tls {
    int refs;
    SSL_CTX *ctx; /* the default certificate */
    sc_tls_name *names;
    uint32_t num_names;
    uint32_t cap_names;
    uint32_t handshake_timeout_ms;
    sc_tls_ask_fn ask; /* unknown names (tls_api.c: Python's missing_server_name) */
};

enum { SC_TLS_HANDSHAKE = 0, SC_TLS_OPEN, SC_TLS_DONE, SC_TLS_FAILED, SC_TLS_PREAMBLE };

/* A PROXY protocol header precedes the TLS handshake (a load balancer sends it
 * in the clear): v1 is one text line of at most 107 bytes, v2 a 16-byte head and
 * the length it gives.  The layer passes it up as plaintext, unparsed (the
 * protocol above parses PROXY headers), then starts the handshake. */
#define SC_PROXY_V1_MAX 107
#define SC_PROXY_V2_HEAD 16
#define SC_PROXY_MAX (SC_PROXY_V2_HEAD + 65535)
static const char sc_proxy_v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                         0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

typedef struct sc_io_tls {
    sc_io io;
    SSL *ssl;
    sc_tls *tls;
    sc_buf cipher; /* encrypted bytes the layer below has not taken yet */
    uint64_t started_ms;
    uint8_t state;
    uint8_t eof;        /* the layer below reported end of stream */
    uint8_t failed;     /* the layer below reported an error */
    uint8_t more;       /* the last read filled its buffer: more may be waiting */
    uint8_t short_read; /* the layer below gave less than OpenSSL asked: it is drained */
    sc_buf pre;         /* PREAMBLE: bytes read before the handshake (then OpenSSL's first) */
} sc_io_tls;

/* ---- error messages --------------------------------------------------------- */

static void sc_tls_msg(char *err, size_t cap, const char *fmt, ...)
{
    if (!err || !cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

/* OpenSSL's reason for the last error, for the end of a message. */
static const char *sc_tls_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    return r ? r : "unknown reason";
}

/* ---- the thread's error queue ---------------------------------------------
 *
 * SSL_get_error explains a failed call only if the thread's error queue was
 * empty before that call.  PERF: ERR_clear_error visits every slot of the
 * queue (about 840 instructions in OpenSSL 3.0; called three times a request
 * it was 1.6% of the server's CPU under keep-alive load), so the hot calls
 * keep the queue empty instead of clearing it each time: a failed call clears
 * what it left, and before each read whose failure SSL_get_error would explain,
 * a peek (about 200 instructions on an empty queue) clears what other code on
 * this thread left behind (a handler using OpenSSL).  Writes need neither: a
 * failed SSL_write is fatal without asking why.  The handshake, close and
 * setup paths are not hot and clear as before. */
static inline void sc_tls_queue_empty(void)
{
    if (ERR_peek_error())
        ERR_clear_error();
}

/* ---- the BIO between OpenSSL and the layer below ------------------------- */

static BIO_METHOD *sc_bio_method;
static pthread_once_t sc_bio_once = PTHREAD_ONCE_INIT;

static int sc_bio_write(BIO *b, const char *data, size_t len, size_t *written)
{
    sc_io_tls *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (sc_buf_append(&t->cipher, data, len) < 0)
        return 0;
    *written = len;
    return 1;
}

static int sc_bio_read(BIO *b, char *buf, size_t cap, size_t *got)
{
    sc_io_tls *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    size_t early = sc_buf_size(&t->pre);
    if (early) { /* read with a PROXY preamble: the handshake's first bytes */
        size_t n = early < cap ? early : cap;
        memcpy(buf, t->pre.data + t->pre.off, n);
        sc_buf_consume(&t->pre, n);
        if (!sc_buf_size(&t->pre))
            sc_buf_free(&t->pre);
        *got = n;
        t->short_read = 0;
        return 1;
    }
    ssize_t r = sc_io_read(t->io.lower, buf, cap);
    if (r > 0) {
        *got = (size_t)r;
        t->short_read = (size_t)r < cap;
        return 1;
    }
    if (r == SC_IO_AGAIN)
        BIO_set_retry_read(b);
    else if (r == 0)
        t->eof = 1;
    else
        t->failed = 1;
    return 0;
}

static long sc_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int sc_bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static int sc_bio_destroy(BIO *b)
{
    (void)b;
    return 1;
}

static void sc_bio_init(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "socketify");
    if (!m)
        return;
    BIO_meth_set_write_ex(m, sc_bio_write);
    BIO_meth_set_read_ex(m, sc_bio_read);
    BIO_meth_set_ctrl(m, sc_bio_ctrl);
    BIO_meth_set_create(m, sc_bio_create);
    BIO_meth_set_destroy(m, sc_bio_destroy);
    sc_bio_method = m;
}

/* ---- contexts ----------------------------------------------------------------- */

static int sc_tls_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    /* The one protocol we speak; a client that offers others only is refused. */
    unsigned int i = 0;
    while (i < inlen) {
        unsigned int n = in[i];
        if (i + 1 + n > inlen)
            break;
        if (n == 8 && memcmp(in + i + 1, "http/1.1", 8) == 0) {
            *out = in + i + 1;
            *outlen = 8;
            return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + n;
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

typedef struct sc_pass {
    const char *pass;
    int asked;
} sc_pass;

static int sc_tls_pass_cb(char *buf, int size, int rwflag, void *u)
{
    (void)rwflag;
    sc_pass *p = u;
    p->asked = 1;
    if (!p->pass)
        return -1; /* never prompt on a terminal */
    size_t n = strlen(p->pass);
    if (n > (size_t)size)
        return -1;
    memcpy(buf, p->pass, n);
    return (int)n;
}

/* Can the file be opened for reading?  Else a message naming it. */
static int sc_tls_file_ok(const char *option, const char *path, char *err, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        sc_tls_msg(err, cap, "%s '%s': %s", option, path, strerror(errno));
        return 0;
    }
    fclose(f);
    return 1;
}

static void sc_tls_time_text(const ASN1_TIME *t, char *buf, size_t cap)
{
    buf[0] = 0;
    BIO *m = BIO_new(BIO_s_mem());
    if (!m)
        return;
    if (ASN1_TIME_print(m, t)) {
        int n = BIO_read(m, buf, (int)cap - 1);
        buf[n > 0 ? n : 0] = 0;
    }
    BIO_free(m);
}

static int sc_tls_load_cert(SSL_CTX *ctx, const char *path, char *err, size_t cap)
{
    if (!sc_tls_file_ok("cert_file_name", path, err, cap))
        return 0;
    BIO *b = BIO_new_file(path, "r");
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    if (!x) {
        sc_tls_msg(err, cap, "cert_file_name '%s': not a PEM certificate (%s)", path,
                   sc_tls_reason());
        return 0;
    }
    char when[64];
    int ok = 1;
    if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0) {
        sc_tls_time_text(X509_get0_notAfter(x), when, sizeof when);
        sc_tls_msg(err, cap, "cert_file_name '%s': the certificate expired on %s", path, when);
        ok = 0;
    } else if (X509_cmp_current_time(X509_get0_notBefore(x)) >= 0) {
        sc_tls_time_text(X509_get0_notBefore(x), when, sizeof when);
        sc_tls_msg(err, cap, "cert_file_name '%s': the certificate is not valid before %s", path,
                   when);
        ok = 0;
    }
    X509_free(x);
    if (ok && SSL_CTX_use_certificate_chain_file(ctx, path) != 1) {
        sc_tls_msg(err, cap, "cert_file_name '%s': cannot use the certificate chain (%s)", path,
                   sc_tls_reason());
        ok = 0;
    }
    return ok;
}

static int sc_tls_load_key(SSL_CTX *ctx, const char *path, const char *cert, const char *pass,
                           char *err, size_t cap)
{
    if (!sc_tls_file_ok("key_file_name", path, err, cap))
        return 0;
    sc_pass p = {pass && *pass ? pass : NULL, 0};
    BIO *b = BIO_new_file(path, "r");
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, sc_tls_pass_cb, &p) : NULL;
    BIO_free(b);
    if (!k) {
        if (p.asked && !p.pass)
            sc_tls_msg(err, cap,
                       "key_file_name '%s': the key is encrypted and no passphrase was given",
                       path);
        else if (p.asked)
            sc_tls_msg(err, cap, "key_file_name '%s': wrong passphrase (%s)", path,
                       sc_tls_reason());
        else
            sc_tls_msg(err, cap, "key_file_name '%s': not a PEM private key (%s)", path,
                       sc_tls_reason());
        return 0;
    }
    int ok = SSL_CTX_use_PrivateKey(ctx, k) == 1 && SSL_CTX_check_private_key(ctx) == 1;
    EVP_PKEY_free(k);
    if (!ok)
        sc_tls_msg(err, cap, "key_file_name '%s' does not match cert_file_name '%s'", path, cert);
    return ok;
}

static int sc_tls_load_dh(SSL_CTX *ctx, const char *path, char *err, size_t cap)
{
    if (!sc_tls_file_ok("dh_params_file_name", path, err, cap))
        return 0;
    BIO *b = BIO_new_file(path, "r");
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    EVP_PKEY *dh = b ? PEM_read_bio_Parameters(b, NULL) : NULL;
    BIO_free(b);
    if (!dh || EVP_PKEY_get_base_id(dh) != EVP_PKEY_DH || SSL_CTX_set0_tmp_dh_pkey(ctx, dh) != 1) {
        EVP_PKEY_free(dh);
        sc_tls_msg(err, cap, "dh_params_file_name '%s': not PEM DH parameters (%s)", path,
                   sc_tls_reason());
        return 0;
    }
#else
    DH *dh = b ? PEM_read_bio_DHparams(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    int ok = dh && SSL_CTX_set_tmp_dh(ctx, dh) == 1;
    DH_free(dh);
    if (!ok) {
        sc_tls_msg(err, cap, "dh_params_file_name '%s': not PEM DH parameters (%s)", path,
                   sc_tls_reason());
        return 0;
    }
#endif
    return 1;
}

static int sc_tls_load_ca(SSL_CTX *ctx, const char *path, uint32_t verify, char *err, size_t cap)
{
    if (!sc_tls_file_ok("ca_file_name", path, err, cap))
        return 0;
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(path);
    if (!names || SSL_CTX_load_verify_locations(ctx, path, NULL) != 1) {
        sk_X509_NAME_pop_free(names, X509_NAME_free);
        sc_tls_msg(err, cap, "ca_file_name '%s': no PEM CA certificate in it (%s)", path,
                   sc_tls_reason());
        return 0;
    }
    if (verify == SC_TLS_VERIFY_NONE) { /* loaded (and checked) but not asked for */
        sk_X509_NAME_pop_free(names, X509_NAME_free);
        return 1;
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    int mode = SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE;
    if (verify == SC_TLS_VERIFY_REQUIRED)
        mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ctx, mode, NULL);
    return 1;
}

static int sc_tls_sni(SSL *ssl, int *alert, void *arg);

static SSL_CTX *sc_tls_ctx_build(const sc_tls_config *cfg, char *err, size_t cap)
{
    if (!cfg) {
        sc_tls_msg(err, cap, "no TLS configuration");
        return NULL;
    }
    const char *key = cfg->key_file, *cert = cfg->cert_file;
    if (!key || !*key || !cert || !*cert) {
        sc_tls_msg(err, cap, "TLS needs both key_file_name and cert_file_name");
        return NULL;
    }
    if (cfg->verify > SC_TLS_VERIFY_REQUIRED) {
        sc_tls_msg(err, cap, "unknown client certificate mode %u", (unsigned)cfg->verify);
        return NULL;
    }
    if (cfg->verify != SC_TLS_VERIFY_NONE && (!cfg->ca_file || !*cfg->ca_file)) {
        sc_tls_msg(err, cap, "verifying client certificates needs ca_file_name");
        return NULL;
    }
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        sc_tls_msg(err, cap, "cannot create a TLS context (%s)", sc_tls_reason());
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_session_id_context(ctx, sc_tls_sid_ctx, sizeof sc_tls_sid_ctx - 1);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_set_read_ahead(ctx, 1);
    /* The chain is what cert_file holds: never completed from the verify store (which
     * holds the client CAs with ca_file), and no store walk on every handshake. */
    SSL_CTX_set_mode(ctx, SSL_MODE_NO_AUTO_CHAIN);
    if (cfg->low_memory)
        SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_alpn_select_cb(ctx, sc_tls_alpn, NULL);
    const char *ciphers = cfg->ciphers && *cfg->ciphers ? cfg->ciphers : sc_tls_default_ciphers;
    if (SSL_CTX_set_cipher_list(ctx, ciphers) != 1) {
        sc_tls_msg(err, cap, "ssl_ciphers '%s': no cipher OpenSSL knows (%s)", ciphers,
                   sc_tls_reason());
        goto fail;
    }
    if (!sc_tls_load_cert(ctx, cert, err, cap) ||
        !sc_tls_load_key(ctx, key, cert, cfg->passphrase, err, cap))
        goto fail;
    if (cfg->dh_params_file && *cfg->dh_params_file) {
        if (!sc_tls_load_dh(ctx, cfg->dh_params_file, err, cap))
            goto fail;
    } else {
        SSL_CTX_set_dh_auto(ctx, 1);
    }
    if (cfg->ca_file && *cfg->ca_file) {
        if (!sc_tls_load_ca(ctx, cfg->ca_file, cfg->verify, err, cap))
            goto fail;
    }
    if (cfg->ticket_keys_len || cfg->ticket_keys) {
        unsigned char keys[SC_TLS_TICKET_KEYS_LEN];
        if (!cfg->ticket_keys || cfg->ticket_keys_len != sizeof keys) {
            sc_tls_msg(err, cap, "session ticket keys must be %u bytes, not %u",
                       (unsigned)sizeof keys, (unsigned)cfg->ticket_keys_len);
            goto fail;
        }
        memcpy(keys, cfg->ticket_keys, sizeof keys);
        long set = SSL_CTX_set_tlsext_ticket_keys(ctx, keys, sizeof keys);
        OPENSSL_cleanse(keys, sizeof keys);
        if (set != 1) {
            sc_tls_msg(err, cap, "cannot set the session ticket keys (%s)", sc_tls_reason());
            goto fail;
        }
    }
    ERR_clear_error();
    return ctx;
fail:
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return NULL;
}

sc_tls *sc_tls_new(const sc_tls_config *config, char *err, size_t err_cap)
{
    pthread_once(&sc_bio_once, sc_bio_init);
    if (!sc_bio_method) {
        sc_tls_msg(err, err_cap, "cannot set up OpenSSL's I/O");
        return NULL;
    }
    SSL_CTX *ctx = sc_tls_ctx_build(config, err, err_cap);
    if (!ctx)
        return NULL;
    sc_tls *t = calloc(1, sizeof *t);
    if (!t) {
        SSL_CTX_free(ctx);
        sc_tls_msg(err, err_cap, "out of memory");
        return NULL;
    }
    t->refs = 1;
    t->ctx = ctx;
    t->handshake_timeout_ms = config->handshake_timeout_ms;
    SSL_CTX_set_tlsext_servername_callback(ctx, sc_tls_sni);
    SSL_CTX_set_tlsext_servername_arg(ctx, t);
    return t;
}

void sc_tls_ref(sc_tls *tls)
{
    tls->refs++;
}

uint32_t sc_tls_handshake_timeout(sc_tls *tls)
{
    return tls->handshake_timeout_ms;
}

void sc_tls_free(sc_tls *tls)
{
    if (!tls || --tls->refs > 0)
        return;
    for (uint32_t i = 0; i < tls->num_names; i++) {
        free(tls->names[i].name);
        SSL_CTX_free(tls->names[i].ctx);
    }
    free(tls->names);
    SSL_CTX_free(tls->ctx);
    free(tls);
}

/* ---- SNI ----------------------------------------------------------------------- */

/* A server name as stored: lower-cased; letters, digits, '-', '.', and an
 * optional leading "*." (NULL with a message for anything else). */
static char *sc_tls_name_norm(const char *name, char *err, size_t cap)
{
    size_t n = name ? strlen(name) : 0;
    if (!n || n > 253) {
        sc_tls_msg(err, cap, "server name must be 1 to 253 characters");
        return NULL;
    }
    char *out = malloc(n + 1);
    if (!out) {
        sc_tls_msg(err, cap, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i <= n; i++) {
        char ch = name[i];
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        int ok = !ch || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                 ch == '.' || (ch == '*' && i == 0 && name[1] == '.' && n > 2);
        if (!ok) {
            sc_tls_msg(err, cap,
                       "server name '%s': only letters, digits, '-', '.' and a leading '*.'", name);
            free(out);
            return NULL;
        }
        out[i] = ch;
    }
    return out;
}

static int sc_tls_find(sc_tls *t, const char *name)
{
    for (uint32_t i = 0; i < t->num_names; i++)
        if (strcmp(t->names[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* The context for a client's name: exact first, then the wildcard one label up. */
static SSL_CTX *sc_tls_lookup(sc_tls *t, const char *name)
{
    char low[256];
    size_t n = strlen(name);
    if (!n || n >= sizeof low)
        return NULL;
    for (size_t i = 0; i <= n; i++)
        low[i] = (name[i] >= 'A' && name[i] <= 'Z') ? (char)(name[i] - 'A' + 'a') : name[i];
    int i = sc_tls_find(t, low);
    if (i >= 0)
        return t->names[i].ctx;
    const char *dot = strchr(low, '.');
    if (!dot || !dot[1] || dot == low)
        return NULL;
    char wild[258];
    snprintf(wild, sizeof wild, "*%s", dot);
    i = sc_tls_find(t, wild);
    return i >= 0 ? t->names[i].ctx : NULL;
}

int sc_tls_add_server_name(sc_tls *tls, const char *name, const sc_tls_config *config, char *err,
                           size_t err_cap)
{
    if (!tls)
        return SC_EINVAL;
    char *norm = sc_tls_name_norm(name, err, err_cap);
    if (!norm)
        return SC_EINVAL;
    SSL_CTX *ctx = sc_tls_ctx_build(config, err, err_cap);
    if (!ctx) {
        free(norm);
        return SC_EINVAL;
    }
    int i = sc_tls_find(tls, norm);
    if (i >= 0) { /* replaces: connections using the old one keep their reference */
        free(norm);
        SSL_CTX_free(tls->names[i].ctx);
        tls->names[i].ctx = ctx;
        return SC_OK;
    }
    if (tls->num_names == tls->cap_names) {
        uint32_t cap = tls->cap_names ? tls->cap_names * 2 : 8;
        sc_tls_name *grown = realloc(tls->names, cap * sizeof *grown);
        if (!grown) {
            free(norm);
            SSL_CTX_free(ctx);
            sc_tls_msg(err, err_cap, "out of memory");
            return SC_ENOMEM;
        }
        tls->names = grown;
        tls->cap_names = cap;
    }
    tls->names[tls->num_names].name = norm;
    tls->names[tls->num_names].ctx = ctx;
    tls->num_names++;
    return SC_OK;
}

int sc_tls_remove_server_name(sc_tls *tls, const char *name)
{
    if (!tls)
        return SC_EINVAL;
    char *norm = sc_tls_name_norm(name, NULL, 0);
    if (!norm)
        return 0;
    int i = sc_tls_find(tls, norm);
    free(norm);
    if (i < 0)
        return 0;
    free(tls->names[i].name);
    SSL_CTX_free(tls->names[i].ctx);
    tls->names[i] = tls->names[--tls->num_names];
    return 1;
}

uint32_t sc_tls_num_server_names(sc_tls *tls)
{
    return tls ? tls->num_names : 0;
}

void sc_tls_set_ask(sc_tls *tls, sc_tls_ask_fn ask)
{
    tls->ask = ask;
}

static int sc_tls_sni(SSL *ssl, int *alert, void *arg)
{
    (void)alert;
    sc_tls *t = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!name || !*name)
        return SSL_TLSEXT_ERR_OK; /* the default certificate */
    SSL_CTX *ctx = sc_tls_lookup(t, name);
    sc_io_tls *layer = SSL_get_app_data(ssl);
    if (!ctx && t->ask && layer) {
        t->ask(layer->io.conn, name); /* may add the name */
        ctx = sc_tls_lookup(t, name);
    }
    if (ctx && ctx != SSL_get_SSL_CTX(ssl)) {
        SSL_set_SSL_CTX(ssl, ctx);
        /* The switch takes the certificate; client verification is the name's too. */
        SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx), NULL);
        STACK_OF(X509_NAME) *cas = SSL_CTX_get_client_CA_list(ctx);
        SSL_set_client_CA_list(ssl, cas ? SSL_dup_CA_list(cas) : NULL);
    }
    return SSL_TLSEXT_ERR_OK;
}

/* ---- the layer ---------------------------------------------------------------- */

/* Push ciphertext down: 0 all taken, 1 some held, SC_IO_ERROR. */
static int sc_tls_push_down(sc_io_tls *t)
{
    size_t n = sc_buf_size(&t->cipher);
    if (!n)
        return 0;
    struct iovec v;
    v.iov_base = t->cipher.data + t->cipher.off;
    v.iov_len = n;
    ssize_t w = sc_io_write(t->io.lower, &v, 1);
    if (w < 0)
        return SC_IO_ERROR;
    sc_buf_consume(&t->cipher, (size_t)w);
    return sc_buf_size(&t->cipher) ? 1 : 0;
}

/* After OpenSSL ran: push what it wrote; tell the reactor when some is held. */
static int sc_tls_after(sc_io_tls *t)
{
    int r = sc_tls_push_down(t);
    if (r > 0)
        sc_io_wants_changed(t->io.conn);
    return r;
}

/* 1 finished, 0 in progress, SC_IO_ERROR failed (the alert was pushed). */
static int sc_tls_handshake(sc_io_tls *t)
{
    ERR_clear_error();
    int r = SSL_do_handshake(t->ssl);
    int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, r);
    int pushed = sc_tls_after(t);
    if (r == 1) {
        t->state = SC_TLS_OPEN;
        return pushed < 0 ? SC_IO_ERROR : 1;
    }
    if (pushed >= 0 && !t->eof && !t->failed &&
        (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE))
        return 0;
    t->state = SC_TLS_FAILED;
    ERR_clear_error();
    return SC_IO_ERROR;
}

/* The PROXY header's length once pre holds all of it; 0 more bytes needed; -1 not one. */
static long sc_tls_preamble_len(const sc_buf *pre)
{
    const char *p = pre->data + pre->off;
    size_t n = sc_buf_size(pre);
    if (!n)
        return 0;
    if (p[0] == 'P') {
        for (size_t i = 0; i + 1 < n && i + 1 < SC_PROXY_V1_MAX; i++)
            if (p[i] == '\r' && p[i + 1] == '\n')
                return (long)(i + 2);
        return n >= SC_PROXY_V1_MAX ? -1 : 0;
    }
    size_t sig = n < sizeof sc_proxy_v2_sig ? n : sizeof sc_proxy_v2_sig;
    if (memcmp(p, sc_proxy_v2_sig, sig) != 0)
        return -1;
    if (n < SC_PROXY_V2_HEAD)
        return 0;
    size_t total = SC_PROXY_V2_HEAD + ((size_t)(uint8_t)p[14] << 8 | (uint8_t)p[15]);
    return n >= total ? (long)total : 0;
}

/* Before the handshake, with proxy_protocol on: gather the PROXY header and
 * hand it up as it came; what was read past it waits in pre for OpenSSL. */
static ssize_t sc_tls_preamble(sc_io_tls *t, char *buf, size_t cap)
{
    for (;;) {
        long len = sc_tls_preamble_len(&t->pre);
        if (len < 0)
            return SC_IO_ERROR; /* no PROXY header: a TLS client that skipped the proxy */
        if (len > 0) {
            if ((size_t)len > cap)
                return SC_IO_ERROR;
            memcpy(buf, t->pre.data + t->pre.off, (size_t)len);
            sc_buf_consume(&t->pre, (size_t)len);
            t->state = SC_TLS_HANDSHAKE;
            t->more = sc_buf_size(&t->pre) ? 1 : 0; /* read on: the ClientHello may be here */
            return (ssize_t)len;
        }
        if (sc_buf_size(&t->pre) >= SC_PROXY_MAX || sc_buf_reserve(&t->pre, 512) < 0)
            return SC_IO_ERROR;
        size_t room = t->pre.cap - t->pre.len;
        if (room > SC_PROXY_MAX - sc_buf_size(&t->pre))
            room = SC_PROXY_MAX - sc_buf_size(&t->pre);
        ssize_t r = sc_io_read(t->io.lower, t->pre.data + t->pre.len, room);
        if (r <= 0)
            return r == SC_IO_AGAIN ? SC_IO_AGAIN : (r == 0 ? 0 : SC_IO_ERROR);
        t->pre.len += (size_t)r;
    }
}

static ssize_t sc_tls_read(sc_io *io, char *buf, size_t cap)
{
    sc_io_tls *t = (sc_io_tls *)io;
    t->more = 0;
    if (t->state == SC_TLS_PREAMBLE)
        return sc_tls_preamble(t, buf, cap);
    if (t->state == SC_TLS_HANDSHAKE) {
        int h = sc_tls_handshake(t);
        if (h < 0)
            return t->eof ? 0 : SC_IO_ERROR;
        if (h == 0) {
            if (t->state == SC_TLS_HANDSHAKE)
                sc_io_wants_changed(io->conn);
            return SC_IO_AGAIN;
        }
    }
    if (t->state == SC_TLS_DONE)
        return 0;
    if (t->state != SC_TLS_OPEN)
        return SC_IO_ERROR;
    size_t got = 0;
    int fatal = 0;
    while (got < cap) {
        size_t n = 0;
        sc_tls_queue_empty();
        t->short_read = 0;
        int r = SSL_read_ex(t->ssl, buf + got, cap - got, &n);
        if (r == 1) {
            got += n;
            /* PERF: the layer below gave less than asked (read-ahead asks for a
             * whole buffer) and OpenSSL holds nothing more: the socket is drained,
             * so stop here instead of paying a recv() that says EAGAIN.  If more
             * arrived meanwhile, the level-triggered reactor says so. */
            if (t->short_read && !SSL_has_pending(t->ssl))
                break;
            continue;
        }
        int e = SSL_get_error(t->ssl, r);
        ERR_clear_error(); /* what the failure left: the queue stays empty */
        if (e == SSL_ERROR_ZERO_RETURN)
            t->state = SC_TLS_DONE; /* close_notify */
        else if (e != SSL_ERROR_WANT_READ || t->eof || t->failed)
            fatal = 1;
        break;
    }
    if (sc_tls_after(t) < 0)
        return SC_IO_ERROR;
    if (got == cap)
        t->more = 1;
    if (got)
        return (ssize_t)got; /* an end or error is reported by the next read */
    if (t->state == SC_TLS_DONE || t->eof)
        return 0;
    if (fatal) {
        t->state = SC_TLS_FAILED;
        return SC_IO_ERROR;
    }
    return SC_IO_AGAIN;
}

static ssize_t sc_tls_write(sc_io *io, const struct iovec *iov, int iovcnt)
{
    sc_io_tls *t = (sc_io_tls *)io;
    if (t->state == SC_TLS_FAILED || t->state == SC_TLS_DONE)
        return SC_IO_ERROR;
    if (t->state != SC_TLS_OPEN)
        return 0; /* nothing goes out before the handshake: kept by the connection */
    int held = sc_tls_push_down(t);
    if (held < 0)
        return SC_IO_ERROR;
    if (held)
        return 0;
    size_t taken = 0;
    int i = 0;
    size_t off = 0; /* into iov[i] */
    char *joined = NULL;
    while (i < iovcnt) {
        const char *p = (const char *)iov[i].iov_base + off;
        size_t n = iov[i].iov_len - off;
        if (!n) {
            i++;
            off = 0;
            continue;
        }
        if (n < SC_TLS_CHUNK && i + 1 < iovcnt) {
            /* several pieces: joined so they leave as one SSL_write (one record
             * when small) instead of one record per piece */
            if (!joined && !(joined = malloc(SC_TLS_CHUNK)))
                return taken ? (ssize_t)taken : SC_IO_ERROR;
            size_t fill = 0;
            while (i < iovcnt && fill < SC_TLS_CHUNK) {
                size_t k = iov[i].iov_len - off;
                if (k > SC_TLS_CHUNK - fill)
                    k = SC_TLS_CHUNK - fill;
                memcpy(joined + fill, (const char *)iov[i].iov_base + off, k);
                fill += k;
                off += k;
                if (off == iov[i].iov_len) {
                    i++;
                    off = 0;
                }
            }
            p = joined;
            n = fill;
        } else {
            if (n > SC_TLS_CHUNK)
                n = SC_TLS_CHUNK;
            off += n;
            if (off == iov[i].iov_len) {
                i++;
                off = 0;
            }
        }
        size_t w = 0;
        /* no SSL_get_error here (a failed write is fatal): no need for an empty queue */
        if (SSL_write_ex(t->ssl, p, n, &w) != 1 || w != n) {
            ERR_clear_error();
            free(joined);
            t->state = SC_TLS_FAILED;
            return SC_IO_ERROR;
        }
        taken += n;
        held = sc_tls_push_down(t);
        if (held < 0) {
            free(joined);
            return SC_IO_ERROR;
        }
        if (held)
            break; /* the layer below is full: the rest waits (backpressure) */
    }
    free(joined);
    return (ssize_t)taken;
}

static int sc_tls_flush(sc_io *io)
{
    sc_io_tls *t = (sc_io_tls *)io;
    if (t->state == SC_TLS_FAILED)
        return SC_IO_ERROR;
    return sc_tls_push_down(t);
}

static uint32_t sc_tls_wants(sc_io *io)
{
    sc_io_tls *t = (sc_io_tls *)io;
    uint32_t w = 0;
    if (sc_buf_size(&t->cipher))
        w |= SC_IO_WANT_WRITE;
    if (t->state == SC_TLS_HANDSHAKE)
        w |= SC_IO_WANT_READ;
    if (t->state == SC_TLS_PREAMBLE)
        w |= SC_IO_WANT_READ;
    if ((t->state == SC_TLS_OPEN || t->state == SC_TLS_HANDSHAKE) && t->more)
        w |= SC_IO_HAS_DATA;
    return w;
}

static int sc_tls_close(sc_io *io)
{
    sc_io_tls *t = (sc_io_tls *)io;
    if (t->state == SC_TLS_OPEN || t->state == SC_TLS_DONE) {
        ERR_clear_error();
        SSL_shutdown(t->ssl); /* close_notify into `cipher` */
        ERR_clear_error();
        sc_tls_push_down(t); /* best effort: the socket closes next */
    }
    t->state = SC_TLS_FAILED;
    return 1;
}

static void sc_tls_release(sc_io *io)
{
    sc_io_tls *t = (sc_io_tls *)io;
    SSL_free(t->ssl); /* and its BIO */
    t->ssl = NULL;
    sc_buf_free(&t->cipher);
    sc_buf_free(&t->pre);
    sc_tls_free(t->tls);
    t->tls = NULL;
}

static void sc_tls_tick(sc_io *io, uint64_t now_ms)
{
    sc_io_tls *t = (sc_io_tls *)io;
    uint32_t limit = t->tls->handshake_timeout_ms;
    if ((t->state == SC_TLS_HANDSHAKE || t->state == SC_TLS_PREAMBLE) && limit &&
        now_ms - t->started_ms >= limit)
        sc_conn_close(io->conn);
}

static ssize_t sc_tls_copy(char *buf, size_t cap, const char *s, size_t n)
{
    if (buf && n)
        memcpy(buf, s, n < cap ? n : cap);
    return (ssize_t)n;
}

static ssize_t sc_tls_info(sc_io *io, int key, char *buf, size_t cap)
{
    sc_io_tls *t = (sc_io_tls *)io;
    SSL *ssl = t->ssl;
    if (!ssl || t->state == SC_TLS_HANDSHAKE || t->state == SC_TLS_PREAMBLE)
        return 0;
    switch (key) {
    case SC_TLS_INFO_VERSION: {
        const char *v = SSL_get_version(ssl);
        return sc_tls_copy(buf, cap, v, strlen(v));
    }
    case SC_TLS_INFO_CIPHER: {
        const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
        const char *name = c ? SSL_CIPHER_get_name(c) : "";
        return sc_tls_copy(buf, cap, name, strlen(name));
    }
    case SC_TLS_INFO_CIPHER_BITS: {
        const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
        char text[16];
        int n = snprintf(text, sizeof text, "%d", c ? SSL_CIPHER_get_bits(c, NULL) : 0);
        return sc_tls_copy(buf, cap, text, (size_t)n);
    }
    case SC_TLS_INFO_VERSION_ID: {
        char text[16];
        int n = snprintf(text, sizeof text, "%d", SSL_version(ssl));
        return sc_tls_copy(buf, cap, text, (size_t)n);
    }
    case SC_TLS_INFO_CIPHER_ID: {
        const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
        char text[16];
        int n = snprintf(text, sizeof text, "%u", c ? (unsigned)SSL_CIPHER_get_protocol_id(c) : 0u);
        return sc_tls_copy(buf, cap, text, (size_t)n);
    }
    case SC_TLS_INFO_SERVER_CERT: {
        X509 *x = SSL_get_certificate(ssl); /* not a new reference */
        unsigned char *der = NULL;
        int len = x ? i2d_X509(x, &der) : 0;
        ssize_t n = len > 0 ? sc_tls_copy(buf, cap, (const char *)der, (size_t)len) : 0;
        OPENSSL_free(der);
        return n;
    }
    case SC_TLS_INFO_ALPN: {
        const unsigned char *p = NULL;
        unsigned int n = 0;
        SSL_get0_alpn_selected(ssl, &p, &n);
        return sc_tls_copy(buf, cap, (const char *)p, p ? n : 0);
    }
    case SC_TLS_INFO_SERVER_NAME: {
        const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
        return sc_tls_copy(buf, cap, name ? name : "", name ? strlen(name) : 0);
    }
    case SC_TLS_INFO_PEER_CERT: {
        X509 *x = SSL_get_peer_certificate(ssl);
        if (!x)
            return 0;
        ssize_t n = 0;
        if (SSL_get_verify_result(ssl) == X509_V_OK) {
            unsigned char *der = NULL;
            int len = i2d_X509(x, &der);
            if (len > 0)
                n = sc_tls_copy(buf, cap, (const char *)der, (size_t)len);
            OPENSSL_free(der);
        }
        X509_free(x);
        return n;
    }
    default:
        return 0;
    }
}

static const sc_io_ops sc_io_tls_ops = {
    .name = "tls",
    .read = sc_tls_read,
    .write = sc_tls_write,
    .flush = sc_tls_flush,
    .wants = sc_tls_wants,
    .close = sc_tls_close,
    .release = sc_tls_release,
    .tick = sc_tls_tick,
    .info = sc_tls_info,
};

int sc_io_tls_push(sc_conn *c, sc_tls *tls)
{
    sc_io_tls *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    t->ssl = SSL_new(tls->ctx);
    BIO *bio = t->ssl ? BIO_new(sc_bio_method) : NULL;
    if (!bio) {
        SSL_free(t->ssl);
        free(t);
        ERR_clear_error();
        return -1;
    }
    BIO_set_data(bio, t);
    SSL_set_bio(t->ssl, bio, bio); /* the SSL owns the BIO */
    SSL_set_app_data(t->ssl, t);
    SSL_set_accept_state(t->ssl);
    t->tls = tls;
    sc_tls_ref(tls);
    t->started_ms = c->loop->now_ms ? c->loop->now_ms : sc_now_ms();
    if (c->loop->settings.proxy_protocol)
        t->state = SC_TLS_PREAMBLE; /* the PROXY header comes before the handshake */
    sc_io_push(c, &t->io, &sc_io_tls_ops);
    return 0;
}

/* ---- a certificate described for Python ----------------------------------------
 *
 * Records [kind u8][length u32 little-endian][bytes]; Python builds the dict
 * ssl.SSLSocket.getpeercert() returns from them (socketify/tls.py). */
enum {
    SC_CD_SUBJECT_RDN = 1, /* a new relative distinguished name of the subject */
    SC_CD_SUBJECT_ATTR,    /* "name\0value" in the current subject RDN */
    SC_CD_ISSUER_RDN,
    SC_CD_ISSUER_ATTR,
    SC_CD_VERSION,    /* decimal */
    SC_CD_SERIAL,     /* upper-case hex */
    SC_CD_NOT_BEFORE, /* "Jun  1 00:00:00 2026 GMT" */
    SC_CD_NOT_AFTER,
    SC_CD_SAN /* "type\0value": DNS, email, URI, IP Address */
};

typedef struct sc_cd {
    char *buf;
    size_t cap;
    size_t len;
} sc_cd;

static void sc_cd_put(sc_cd *d, int kind, const char *a, size_t an, const char *b, size_t bn)
{
    size_t total = an + (b ? 1 + bn : 0);
    unsigned char head[5] = {
        (unsigned char)kind, (unsigned char)(total & 0xff), (unsigned char)((total >> 8) & 0xff),
        (unsigned char)((total >> 16) & 0xff), (unsigned char)((total >> 24) & 0xff)};
    const char *parts[3] = {(const char *)head, a, b};
    size_t lens[3] = {5, an, b ? bn : 0};
    for (int i = 0; i < 3; i++) {
        if (i == 2 && b) {
            if (d->len < d->cap)
                d->buf[d->len] = 0;
            d->len++;
        }
        for (size_t k = 0; k < lens[i]; k++, d->len++)
            if (d->len < d->cap)
                d->buf[d->len] = parts[i][k];
    }
}

static void sc_cd_name(sc_cd *d, const X509_NAME *name, int rdn_kind)
{
    int last_set = -1;
    for (int i = 0; i < X509_NAME_entry_count(name); i++) {
        const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
        int set = X509_NAME_ENTRY_set(e);
        if (set != last_set) {
            sc_cd_put(d, rdn_kind, "", 0, NULL, 0);
            last_set = set;
        }
        const ASN1_OBJECT *obj = X509_NAME_ENTRY_get_object(e);
        int nid = OBJ_obj2nid(obj);
        char oid[128];
        const char *label = nid != NID_undef ? OBJ_nid2ln(nid) : NULL;
        if (!label) {
            OBJ_obj2txt(oid, sizeof oid, obj, 1);
            label = oid;
        }
        unsigned char *utf8 = NULL;
        int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
        if (n >= 0)
            sc_cd_put(d, rdn_kind + 1, label, strlen(label), (const char *)utf8, (size_t)n);
        OPENSSL_free(utf8);
    }
}

static void sc_cd_bio(sc_cd *d, int kind, BIO *m)
{
    char *p = NULL;
    long n = BIO_get_mem_data(m, &p);
    sc_cd_put(d, kind, p ? p : "", n > 0 ? (size_t)n : 0, NULL, 0);
    (void)BIO_reset(m);
}

static void sc_cd_san(sc_cd *d, X509 *x)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    if (!names)
        return;
    for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        const char *type = NULL;
        const ASN1_STRING *s = NULL;
        char ip[64];
        switch (g->type) {
        case GEN_DNS:
            type = "DNS";
            s = g->d.dNSName;
            break;
        case GEN_EMAIL:
            type = "email";
            s = g->d.rfc822Name;
            break;
        case GEN_URI:
            type = "URI";
            s = g->d.uniformResourceIdentifier;
            break;
        case GEN_IPADD: {
            const unsigned char *b = ASN1_STRING_get0_data(g->d.iPAddress);
            int n = ASN1_STRING_length(g->d.iPAddress);
            if (n == 4) {
                snprintf(ip, sizeof ip, "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
            } else if (n == 16) {
                int w = 0;
                for (int k = 0; k < 16; k += 2)
                    w += snprintf(ip + w, sizeof ip - (size_t)w, "%s%X", k ? ":" : "",
                                  (unsigned)(b[k] << 8 | b[k + 1]));
            } else {
                continue;
            }
            sc_cd_put(d, SC_CD_SAN, "IP Address", 10, ip, strlen(ip));
            continue;
        }
        default:
            continue;
        }
        sc_cd_put(d, SC_CD_SAN, type, strlen(type), (const char *)ASN1_STRING_get0_data(s),
                  (size_t)ASN1_STRING_length(s));
    }
    GENERAL_NAMES_free(names);
}

int sc_tls_describe_cert(const char *der, size_t len, char *buf, size_t cap)
{
    if (!der || !len || len > INT32_MAX)
        return SC_EINVAL;
    const unsigned char *p = (const unsigned char *)der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    BIO *m = BIO_new(BIO_s_mem());
    if (!x || !m) {
        X509_free(x);
        BIO_free(m);
        ERR_clear_error();
        return SC_EINVAL;
    }
    sc_cd d = {buf, buf ? cap : 0, 0};
    sc_cd_name(&d, X509_get_subject_name(x), SC_CD_SUBJECT_RDN);
    sc_cd_name(&d, X509_get_issuer_name(x), SC_CD_ISSUER_RDN);
    BIO_printf(m, "%ld", X509_get_version(x) + 1);
    sc_cd_bio(&d, SC_CD_VERSION, m);
    i2a_ASN1_INTEGER(m, X509_get0_serialNumber(x));
    sc_cd_bio(&d, SC_CD_SERIAL, m);
    ASN1_TIME_print(m, X509_get0_notBefore(x));
    sc_cd_bio(&d, SC_CD_NOT_BEFORE, m);
    ASN1_TIME_print(m, X509_get0_notAfter(x));
    sc_cd_bio(&d, SC_CD_NOT_AFTER, m);
    sc_cd_san(&d, x);
    BIO_free(m);
    X509_free(x);
    ERR_clear_error();
    return d.len > INT32_MAX ? SC_EINVAL : (int)d.len;
}

/* ---- a certificate for an identity (the TestClient's client_cert=) ------------- */

static int sc_tls_subject(X509_NAME *name, const char *subject)
{
    const char *p = subject;
    while (*p) {
        const char *end = strchr(p, '\n');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        if (!eq || eq == p)
            return 0;
        char field[128];
        size_t fn = (size_t)(eq - p);
        if (fn >= sizeof field)
            return 0;
        memcpy(field, p, fn);
        field[fn] = 0;
        if (!X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, (const unsigned char *)eq + 1,
                                        (int)(n - fn - 1), -1, 0))
            return 0;
        p += n;
        if (*p == '\n')
            p++;
    }
    return 1;
}

int sc_tls_identity_cert(const char *subject, const char *sans, uint32_t days, char *buf,
                         size_t cap)
{
    if (!subject || !*subject || !days)
        return SC_EINVAL;
    int rc = SC_EINVAL;
    EVP_PKEY *key = NULL;
    X509 *x = X509_new();
    EVP_PKEY_CTX *kctx = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);
    unsigned char *der = NULL;
    if (!x || !kctx || EVP_PKEY_keygen_init(kctx) <= 0 ||
        EVP_PKEY_CTX_set_ec_paramgen_curve_nid(kctx, NID_X9_62_prime256v1) <= 0 ||
        EVP_PKEY_keygen(kctx, &key) <= 0)
        goto done;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(sc_now_ms() & 0x7fffffff));
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400L);
    X509_set_pubkey(x, key);
    if (!sc_tls_subject(X509_get_subject_name(x), subject) ||
        !X509_set_issuer_name(x, X509_get_subject_name(x)))
        goto done;
    if (sans && *sans) {
        X509V3_CTX v3;
        X509V3_set_ctx_nodb(&v3);
        X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, sans);
        if (!ext)
            goto done;
        int added = X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
        if (!added)
            goto done;
    }
    if (!X509_sign(x, key, EVP_sha256()))
        goto done;
    int len = i2d_X509(x, &der);
    if (len <= 0)
        goto done;
    if (buf && (size_t)len <= cap)
        memcpy(buf, der, (size_t)len);
    rc = len;
done:
    OPENSSL_free(der);
    EVP_PKEY_CTX_free(kctx);
    EVP_PKEY_free(key);
    X509_free(x);
    ERR_clear_error();
    return rc;
}
