/* test_topics.c - topics and subscribers: the operations, the hook and its
 * counts, subscription order, publishing with an excluded sender, the busy
 * guard, removal on close, a randomised comparison with a plain matrix
 * model, and shared messages.  LeakSanitizer checks that free frees all. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "topics.h"

#include "check.h"

#define S(lit) lit, (sizeof lit - 1)

/* the hook writes "sub:topic:new:old;" into a log */
typedef struct hooklog {
    char text[4096];
    size_t len;
    sc_pubsub *ps; /* to try changes from inside the hook */
    int tried;
    int try_result;
} hooklog;

static void hook(void *ctx, uint64_t sub, const char *topic, size_t len, uint32_t now,
                 uint32_t before)
{
    hooklog *h = ctx;
    int n = snprintf(h->text + h->len, sizeof h->text - h->len, "%llu:%.*s:%u:%u;",
                     (unsigned long long)sub, (int)len, topic, now, before);
    if (n > 0 && (size_t)n < sizeof h->text - h->len)
        h->len += (size_t)n;
    if (h->ps) {
        h->tried++;
        h->try_result = sc_pubsub_subscribe(h->ps, 999, S("inside"));
    }
}

static void test_basics_and_hook(void)
{
    hooklog h = {0};
    sc_pubsub *ps = sc_pubsub_new(hook, &h);
    CHECK(ps != NULL);
    CHECK(sc_pubsub_subscribe(ps, 1, S("news")) == 1);
    CHECK(sc_pubsub_subscribe(ps, 1, S("news")) == 0); /* already: no hook */
    CHECK(sc_pubsub_subscribe(ps, 2, S("news")) == 1);
    CHECK(sc_pubsub_subscribe(ps, 2, S("chat")) == 1);
    CHECK(sc_pubsub_num_subscribers(ps, S("news")) == 2);
    CHECK(sc_pubsub_num_subscribers(ps, S("chat")) == 1);
    CHECK(sc_pubsub_num_subscribers(ps, S("nothing")) == 0);
    CHECK(sc_pubsub_num_topics(ps) == 2);
    CHECK(sc_pubsub_is_subscribed(ps, 1, S("news")) == 1);
    CHECK(sc_pubsub_is_subscribed(ps, 1, S("chat")) == 0);
    CHECK(sc_pubsub_is_subscribed(ps, 3, S("news")) == 0);
    CHECK(sc_pubsub_unsubscribe(ps, 1, S("chat")) == 0);
    CHECK(sc_pubsub_unsubscribe(ps, 1, S("news")) == 1);
    CHECK(sc_pubsub_unsubscribe(ps, 1, S("news")) == 0);
    CHECK(sc_pubsub_unsubscribe(ps, 2, S("chat")) == 1);
    CHECK(sc_pubsub_num_topics(ps) == 1); /* "chat" went with its last subscriber */
    CHECK(sc_pubsub_num_subscribers(ps, S("news")) == 1);
    CHECK(strcmp(h.text, "1:news:1:0;2:news:2:1;2:chat:1:0;1:news:1:2;2:chat:0:1;") == 0);
    CHECK(sc_pubsub_subscribe(ps, 0, S("news")) == SC_EINVAL); /* 0 is never a handle */
    sc_pubsub_free(ps); /* with a subscription left: LeakSanitizer checks */
}

static void test_no_hook_and_odd_names(void)
{
    sc_pubsub *ps = sc_pubsub_new(NULL, NULL);
    CHECK(sc_pubsub_subscribe(ps, 5, "", 0) == 1); /* the empty topic is a topic */
    CHECK(sc_pubsub_subscribe(ps, 5, NULL, 0) == 0);
    CHECK(sc_pubsub_subscribe(ps, 5, "a\0b", 3) == 1);
    CHECK(sc_pubsub_subscribe(ps, 5, "a\0c", 3) == 1); /* bytes after a NUL count */
    CHECK(sc_pubsub_subscribe(ps, 5, "a", 1) == 1);
    CHECK(sc_pubsub_topic_count(ps, 5) == 4);
    CHECK(sc_pubsub_is_subscribed(ps, 5, "a\0c", 3) == 1);
    CHECK(sc_pubsub_is_subscribed(ps, 5, "a\0d", 3) == 0);
    CHECK(sc_pubsub_subscribe(ps, 5, NULL, 4) == SC_EINVAL);
    char long_name[5000];
    memset(long_name, 'x', sizeof long_name);
    CHECK(sc_pubsub_subscribe(ps, 6, long_name, sizeof long_name) == 1);
    CHECK(sc_pubsub_num_subscribers(ps, long_name, sizeof long_name) == 1);
    CHECK(sc_pubsub_num_subscribers(ps, long_name, sizeof long_name - 1) == 0);
    sc_pubsub_free(ps);
    sc_pubsub_free(NULL);
}

static void test_topics_in_subscription_order(void)
{
    sc_pubsub *ps = sc_pubsub_new(NULL, NULL);
    static const char *const names[] = {"a", "bb", "ccc", "dddd", "eeeee"};
    for (int i = 0; i < 5; i++)
        sc_pubsub_subscribe(ps, 7, names[i], strlen(names[i]));
    sc_pubsub_unsubscribe(ps, 7, S("bb"));
    sc_pubsub_unsubscribe(ps, 7, S("eeeee"));
    sc_pubsub_subscribe(ps, 7, S("bb"));
    static const char *const want[] = {"a", "ccc", "dddd", "bb"};
    CHECK(sc_pubsub_topic_count(ps, 7) == 4);
    for (uint32_t i = 0; i < 4; i++) {
        const char *name;
        size_t len;
        CHECK(sc_pubsub_topic_at(ps, 7, i, &name, &len) == SC_OK);
        CHECK(len == strlen(want[i]) && memcmp(name, want[i], len) == 0);
    }
    const char *name;
    size_t len;
    CHECK(sc_pubsub_topic_at(ps, 7, 4, &name, &len) == SC_EINVAL);
    CHECK(sc_pubsub_topic_at(ps, 8, 0, &name, &len) == SC_EINVAL);
    CHECK(sc_pubsub_topic_count(ps, 8) == 0);
    sc_pubsub_free(ps);
}

typedef struct visits {
    uint64_t ids[64];
    int n;
    int stop_after;
    sc_pubsub *ps;
    int change_result;
} visits;

static int visit(void *ctx, uint64_t sub)
{
    visits *v = ctx;
    v->ids[v->n++] = sub;
    if (v->ps)
        v->change_result = sc_pubsub_unsubscribe(v->ps, sub, S("room"));
    return v->stop_after && v->n >= v->stop_after;
}

static int has(const uint64_t *ids, int n, uint64_t id)
{
    for (int i = 0; i < n; i++)
        if (ids[i] == id)
            return 1;
    return 0;
}

static void test_publish_iteration(void)
{
    sc_pubsub *ps = sc_pubsub_new(NULL, NULL);
    for (uint64_t id = 1; id <= 5; id++)
        sc_pubsub_subscribe(ps, id, S("room"));
    sc_pubsub_subscribe(ps, 9, S("other"));

    visits v = {0};
    CHECK(sc_pubsub_for_each(ps, S("room"), 3, visit, &v) == 4);
    CHECK(v.n == 4 && !has(v.ids, 4, 3) && has(v.ids, 4, 1) && has(v.ids, 4, 5));
    memset(&v, 0, sizeof v);
    CHECK(sc_pubsub_for_each(ps, S("room"), 0, visit, &v) == 5);
    memset(&v, 0, sizeof v);
    v.stop_after = 2;
    CHECK(sc_pubsub_for_each(ps, S("room"), 0, visit, &v) == 2 && v.n == 2);
    memset(&v, 0, sizeof v);
    CHECK(sc_pubsub_for_each(ps, S("nobody"), 0, visit, &v) == 0 && v.n == 0);

    /* changes from inside a visitor are refused, and the table is intact */
    memset(&v, 0, sizeof v);
    v.ps = ps;
    CHECK(sc_pubsub_for_each(ps, S("room"), 0, visit, &v) == 5);
    CHECK(v.change_result == SC_ESTATE);
    CHECK(sc_pubsub_num_subscribers(ps, S("room")) == 5);
    /* and allowed again afterwards */
    CHECK(sc_pubsub_unsubscribe(ps, 5, S("room")) == 1);

    uint64_t out[8];
    CHECK(sc_pubsub_collect(ps, S("room"), 2, out, 8) == 3);
    CHECK(!has(out, 3, 2) && has(out, 3, 1) && has(out, 3, 3) && has(out, 3, 4));
    CHECK(sc_pubsub_collect(ps, S("room"), 0, out, 2) == 4); /* only 2 copied */
    CHECK(sc_pubsub_collect(ps, S("room"), 0, NULL, 0) == 4);
    CHECK(sc_pubsub_collect(ps, S("none"), 0, out, 8) == 0);
    sc_pubsub_free(ps);
}

static void test_hook_cannot_change_table(void)
{
    hooklog h = {0};
    sc_pubsub *ps = sc_pubsub_new(hook, &h);
    h.ps = ps;
    CHECK(sc_pubsub_subscribe(ps, 1, S("t")) == 1);
    CHECK(h.tried == 1 && h.try_result == SC_ESTATE);
    CHECK(sc_pubsub_is_subscribed(ps, 999, S("inside")) == 0);
    h.ps = NULL;
    sc_pubsub_free(ps);
}

static void test_unsubscribe_all(void)
{
    hooklog h = {0};
    sc_pubsub *ps = sc_pubsub_new(hook, &h);
    sc_pubsub_subscribe(ps, 1, S("a"));
    sc_pubsub_subscribe(ps, 1, S("b"));
    sc_pubsub_subscribe(ps, 1, S("c"));
    sc_pubsub_subscribe(ps, 2, S("b"));
    h.len = 0;
    h.text[0] = '\0';
    CHECK(sc_pubsub_unsubscribe_all(ps, 1, 1) == 3);
    CHECK(strcmp(h.text, "1:a:0:1;1:b:1:2;1:c:0:1;") == 0);
    CHECK(sc_pubsub_num_topics(ps) == 1);
    CHECK(sc_pubsub_num_subscribers(ps, S("b")) == 1);
    CHECK(sc_pubsub_is_subscribed(ps, 2, S("b")) == 1);
    CHECK(sc_pubsub_topic_count(ps, 1) == 0);
    CHECK(sc_pubsub_unsubscribe_all(ps, 1, 1) == 0);
    /* without notify: silent */
    h.len = 0;
    h.text[0] = '\0';
    CHECK(sc_pubsub_unsubscribe_all(ps, 2, 0) == 1);
    CHECK(h.len == 0 && sc_pubsub_num_topics(ps) == 0);
    /* the ids can subscribe again */
    CHECK(sc_pubsub_subscribe(ps, 1, S("a")) == 1);
    sc_pubsub_free(ps);
}

/* Random operations against a matrix model. */
#define NSUB 40
#define NTOP 25

static void topic_name(int t, char *buf, size_t *len)
{
    *len = (size_t)snprintf(buf, 16, "topic-%d", t * 7919);
}

static void test_random_model(void)
{
    static unsigned char model[NSUB + 1][NTOP];
    static int order[NSUB + 1][NTOP]; /* subscription order per subscriber */
    static int norder[NSUB + 1];
    memset(model, 0, sizeof model);
    memset(norder, 0, sizeof norder);
    sc_pubsub *ps = sc_pubsub_new(NULL, NULL);
    uint64_t seed = 12345;
    int mismatches = 0;
    char name[16];
    size_t len;
    for (int step = 0; step < 60000; step++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        int s = (int)((seed >> 33) % NSUB) + 1, t = (int)((seed >> 45) % NTOP);
        int op = (int)((seed >> 20) % 100);
        topic_name(t, name, &len);
        if (op < 55) {
            int r = sc_pubsub_subscribe(ps, (uint64_t)s, name, len);
            mismatches += r != !model[s][t];
            if (!model[s][t])
                order[s][norder[s]++] = t;
            model[s][t] = 1;
        } else if (op < 95) {
            int r = sc_pubsub_unsubscribe(ps, (uint64_t)s, name, len);
            mismatches += r != model[s][t];
            if (model[s][t]) {
                int k = 0;
                while (order[s][k] != t)
                    k++;
                memmove(&order[s][k], &order[s][k + 1], sizeof(int) * (size_t)(norder[s] - k - 1));
                norder[s]--;
            }
            model[s][t] = 0;
        } else {
            int r = sc_pubsub_unsubscribe_all(ps, (uint64_t)s, 0);
            mismatches += r != norder[s];
            memset(model[s], 0, sizeof model[s]);
            norder[s] = 0;
        }
        if (step % 997 != 0)
            continue;
        /* full comparison */
        uint32_t ntopics = 0;
        for (int tt = 0; tt < NTOP; tt++) {
            topic_name(tt, name, &len);
            uint32_t count = 0;
            for (int ss = 1; ss <= NSUB; ss++) {
                count += model[ss][tt];
                mismatches += sc_pubsub_is_subscribed(ps, (uint64_t)ss, name, len) != model[ss][tt];
            }
            ntopics += count > 0;
            mismatches += sc_pubsub_num_subscribers(ps, name, len) != count;
            uint64_t ids[NSUB];
            uint32_t got = sc_pubsub_collect(ps, name, len, 1, ids, NSUB);
            mismatches += got != count - model[1][tt];
            for (uint32_t k = 0; k < got && k < NSUB; k++)
                mismatches += ids[k] == 1 || !model[ids[k]][tt];
        }
        mismatches += sc_pubsub_num_topics(ps) != ntopics;
        for (int ss = 1; ss <= NSUB; ss++) {
            mismatches += sc_pubsub_topic_count(ps, (uint64_t)ss) != (uint32_t)norder[ss];
            for (int k = 0; k < norder[ss]; k++) {
                const char *got;
                size_t glen;
                topic_name(order[ss][k], name, &len);
                mismatches +=
                    sc_pubsub_topic_at(ps, (uint64_t)ss, (uint32_t)k, &got, &glen) != SC_OK ||
                    glen != len || memcmp(got, name, len) != 0;
            }
        }
    }
    CHECK(mismatches == 0);
    sc_pubsub_free(ps);
}

static void test_many_topics_and_subscribers(void)
{
    /* enough to grow both bucket arrays several times */
    sc_pubsub *ps = sc_pubsub_new(NULL, NULL);
    char name[32];
    int ok = 1;
    for (uint64_t id = 1; id <= 3000; id++) {
        int n = snprintf(name, sizeof name, "t%llu", (unsigned long long)(id % 1500));
        ok &= sc_pubsub_subscribe(ps, id * 0x100000001ull, name, (size_t)n) == 1;
    }
    CHECK(ok);
    CHECK(sc_pubsub_num_topics(ps) == 1500);
    CHECK(sc_pubsub_num_subscribers(ps, S("t7")) == 2);
    CHECK(sc_pubsub_is_subscribed(ps, 7 * 0x100000001ull, S("t7")) == 1);
    CHECK(sc_pubsub_is_subscribed(ps, 1507 * 0x100000001ull, S("t7")) == 1);
    for (uint64_t id = 1; id <= 1500; id++)
        ok &= sc_pubsub_unsubscribe_all(ps, id * 0x100000001ull, 0) == 1;
    CHECK(ok);
    CHECK(sc_pubsub_num_subscribers(ps, S("t7")) == 1);
    CHECK(sc_pubsub_is_subscribed(ps, 7 * 0x100000001ull, S("t7")) == 0);
    CHECK(sc_pubsub_num_topics(ps) == 1500);
    sc_pubsub_free(ps);
}

static void test_shared_msg(void)
{
    sc_shared_msg *m = sc_shared_msg_new("hello", 5);
    CHECK(m && m->refs == 1 && m->len == 5 && memcmp(m->data, "hello", 5) == 0);
    CHECK(sc_shared_msg_acquire(m) == m && m->refs == 2);
    CHECK(sc_shared_msg_acquire(m) == m && m->refs == 3);
    sc_shared_msg_release(m);
    sc_shared_msg_release(m);
    CHECK(m->refs == 1 && memcmp(m->data, "hello", 5) == 0);
    sc_shared_msg_release(m); /* freed: LeakSanitizer would report otherwise */
    sc_shared_msg_release(NULL);

    sc_shared_msg *e = sc_shared_msg_new(NULL, 0);
    CHECK(e && e->len == 0);
    e->refs = UINT32_MAX;
    CHECK(sc_shared_msg_acquire(e) == NULL && e->refs == UINT32_MAX);
    e->refs = 1;
    sc_shared_msg_release(e);

    sc_shared_msg *big = sc_shared_msg_new(NULL, 1000);
    CHECK(big != NULL);
    memset(big->data, 1, 1000); /* writable, uninitialised on creation */
    sc_shared_msg_release(big);
    CHECK(sc_shared_msg_new("x", SIZE_MAX) == NULL);
}

int main(void)
{
    test_basics_and_hook();
    test_no_hook_and_odd_names();
    test_topics_in_subscription_order();
    test_publish_iteration();
    test_hook_cannot_change_table();
    test_unsubscribe_all();
    test_random_model();
    test_many_topics_and_subscribers();
    test_shared_msg();
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
