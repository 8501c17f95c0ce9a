/* What seccomp-gen's compiled loops (notify_supervisor.c, trace_loop.c) share: an
 * open-addressing hash table (fixed-width slots of 64-bit words, grown on demand, so nothing is
 * ever full), the argument rows, and what Python teaches a loop and reads back from it (struct
 * sgen_taught and the sgen_* entry points at the end). Each loop differs only in where its
 * calls come from (waitpid and ptrace, or the notification ioctls). Included by each loop;
 * _native/build.py ships it beside the source it compiles (the bindings list it in HEADERS). */
#ifndef SGEN_TABLE_H
#define SGEN_TABLE_H
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A hash table of fixed-width slots of 64-bit words: [occupied][key words][value words]. */
struct table {
    uint64_t *slots;
    size_t cap; /* a power of two, or 0 before the first insert */
    size_t used;
    unsigned keyw;
    unsigned width;
};

static inline uint64_t mix(uint64_t h)
{
    /* splitmix64's finaliser: cheap and good enough for tids and syscall numbers */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

static inline uint64_t hash_key(const uint64_t *key, unsigned n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (unsigned i = 0; i < n; i++)
        h = mix(h ^ key[i]);
    return h;
}

static inline void table_init(struct table *t, unsigned keyw, unsigned valw)
{
    t->slots = NULL;
    t->cap = 0;
    t->used = 0;
    t->keyw = keyw;
    t->width = 1 + keyw + valw;
}

static inline uint64_t *table_find(const struct table *t, const uint64_t *key)
{
    if (!t->cap)
        return NULL;
    size_t mask = t->cap - 1;
    for (size_t i = hash_key(key, t->keyw) & mask;; i = (i + 1) & mask) {
        uint64_t *slot = t->slots + i * t->width;
        if (!slot[0])
            return NULL;
        if (!memcmp(slot + 1, key, t->keyw * sizeof *key))
            return slot + 1 + t->keyw;
    }
}

static inline int table_grow(struct table *t)
{
    size_t cap = t->cap ? t->cap * 2 : 256;
    uint64_t *slots = calloc(cap, t->width * sizeof *slots);
    if (!slots)
        return -ENOMEM;
    for (size_t j = 0; j < t->cap; j++) {
        const uint64_t *old = t->slots + j * t->width;
        if (!old[0])
            continue;
        for (size_t i = hash_key(old + 1, t->keyw) & (cap - 1);; i = (i + 1) & (cap - 1)) {
            uint64_t *slot = slots + i * t->width;
            if (!slot[0]) {
                memcpy(slot, old, t->width * sizeof *slot);
                break;
            }
        }
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return 0;
}

/* The value words of ``key``, inserted (zeroed) if missing; *fresh says which. NULL: no memory. */
static inline uint64_t *table_get(struct table *t, const uint64_t *key, int *fresh)
{
    uint64_t *value = table_find(t, key);
    *fresh = 0;
    if (value)
        return value;
    if ((t->used + 1) * 2 > t->cap && table_grow(t) < 0)
        return NULL;
    size_t mask = t->cap - 1;
    for (size_t i = hash_key(key, t->keyw) & mask;; i = (i + 1) & mask) {
        uint64_t *slot = t->slots + i * t->width;
        if (!slot[0]) {
            slot[0] = 1;
            memcpy(slot + 1, key, t->keyw * sizeof *key);
            t->used++;
            *fresh = 1;
            return slot + 1 + t->keyw;
        }
    }
}

/* Copy the key and value words of up to ``cap`` entries into ``out`` (keyw + value words each,
 * in slot order); returns how many entries. How Python reads a table's contents. */
static inline long table_dump(const struct table *t, uint64_t *out, long cap)
{
    long n = 0;
    unsigned words = t->width - 1;
    for (size_t i = 0; i < t->cap && n < cap; i++) {
        const uint64_t *slot = t->slots + i * t->width;
        if (slot[0])
            memcpy(out + (size_t)n++ * words, slot + 1, words * sizeof *out);
    }
    return n;
}

static inline uint64_t call_key(uint32_t arch, int32_t nr)
{
    return (uint64_t)arch << 32 | (uint32_t)nr;
}

/* How Python wants a syscall (arch, nr) handled; an unregistered one is SGEN_CALL_PYTHON. */
enum { SGEN_CALL_PYTHON = 0, SGEN_CALL_COUNT = 1, SGEN_CALL_ARGS = 2 };

/* Per-syscall classification: word 0 = kind | nidx << 8 | idx0 << 16 | idx1 << 24,
 * word 1 = distinct rows queued so far. */
#define CALL_KIND(w) ((unsigned)((w) & 0xff))
#define CALL_NIDX(w) ((unsigned)(((w) >> 8) & 0xff))
#define CALL_IDX(w, i) ((unsigned)(((w) >> (16 + 8 * (i))) & 0xff))

/* The classification word of a syscall; -EINVAL for indexes Python should never send. */
static inline int64_t call_how(int kind, unsigned nidx, unsigned idx0, unsigned idx1)
{
    if (kind == SGEN_CALL_ARGS && (nidx < 1 || nidx > 2 || idx0 > 5 || idx1 > 5))
        return -EINVAL;
    return (int64_t)((uint64_t)(kind & 0xff) | (uint64_t)nidx << 8 | (uint64_t)idx0 << 16 |
                     (uint64_t)idx1 << 24);
}

/* A distinct argument row, shared with Python (ROW in the bindings; size checked at load). */
struct sgen_row {
    uint32_t arch;
    int32_t nr;
    uint32_t nvals;
    uint32_t pad;
    uint64_t vals[2];
};

/* The distinct rows seen (a set) and those not yet taken by Python (a queue, arrival order). */
struct rows {
    struct table seen; /* (arch << 32 | nr, v0, v1) */
    struct sgen_row *queue;
    size_t n, cap;
};

static inline void rows_init(struct rows *r) { table_init(&r->seen, 3, 0); r->queue = NULL; r->n = r->cap = 0; }
static inline void rows_free(struct rows *r) { free(r->seen.slots); free(r->queue); }

/* Queue the row of a call classified ``how`` (an ARGS one) if it is new, up to ``cap`` distinct
 * rows per syscall (the argspec cap plus one: enough for Python to know the cap was exceeded,
 * and memory stays bounded). 0, or -ENOMEM. */
static inline int rows_add(struct rows *r, uint64_t *how, unsigned cap, uint32_t arch, int32_t nr,
                           const uint64_t *args)
{
    if (CALL_KIND(how[0]) != SGEN_CALL_ARGS || how[1] > cap)
        return 0;
    unsigned nvals = CALL_NIDX(how[0]);
    uint64_t row[3] = {call_key(arch, nr), args[CALL_IDX(how[0], 0)],
                       nvals > 1 ? args[CALL_IDX(how[0], 1)] : 0};
    int fresh;
    if (!table_get(&r->seen, row, &fresh))
        return -ENOMEM;
    if (!fresh || ++how[1] > cap)
        return 0;
    if (r->n == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 64;
        struct sgen_row *q = realloc(r->queue, ncap * sizeof *q);
        if (!q)
            return -ENOMEM;
        r->queue = q;
        r->cap = ncap;
    }
    r->queue[r->n++] = (struct sgen_row){
        .arch = arch, .nr = nr, .nvals = nvals, .vals = {row[1], row[2]}};
    return 0;
}

/* Move up to ``cap`` queued rows, oldest first, into ``out``; returns how many. */
static inline long rows_take(struct rows *r, struct sgen_row *out, long cap)
{
    size_t n = cap < 0 ? 0 : (size_t)cap;
    if (n > r->n)
        n = r->n;
    if (!n)
        return 0;
    memcpy(out, r->queue, n * sizeof *out);
    memmove(r->queue, r->queue + n, (r->n - n) * sizeof *out);
    r->n -= n;
    return (long)n;
}

/* What Python has taught a loop, and what the loop counted with it. What a loop counts must
 * equal what the Python loop counts, so it counts only calls Python has told it how to count:
 *   - per thread id a token: Python's (process, executable) lifetime; -1 (or none): ask Python,
 *     e.g. after an exec or an exit (Python then reads the new executable);
 *   - per syscall (arch << 32 | nr) its classification (call_how) and the rows it queued;
 *   - per (token, instruction pointer: the address right after the syscall instruction) the
 *     call-site id Python's SiteResolver named;
 *   - the (syscall, site id) pairs Python has counted once itself: the first call of each
 *     comes to Python (which samples the caller's stack there), as every call does in its own
 *     loop. That is looked up only when a (token, syscall, site) counter is new.
 * Each loop's state begins with its struct sgen_taught, so Python passes the loop's state to
 * the sgen_* entry points below. */
struct sgen_taught {
    struct table tids;       /* tid -> token */
    struct table calls;      /* arch << 32 | nr -> classification, rows queued */
    struct table site_of;    /* (token, ip) -> site id */
    struct table site_calls; /* (arch << 32 | nr, site id) Python has counted */
    struct table counts;     /* (token, arch << 32 | nr, site id) -> calls counted here */
    struct rows rows;        /* argument rows queued for Python */
    unsigned row_cap;        /* distinct rows kept per syscall (rows_add) */
    uint64_t *total;         /* calls let through here, in the caller's memory: a status line in
                                another thread may read it at any time, even after the free */
};

/* A counter as sgen_counts writes it: token, arch << 32 | nr, site id, calls. */
#define SGEN_COUNT_WORDS 4

static inline void taught_init(struct sgen_taught *t, unsigned row_cap, uint64_t *total)
{
    table_init(&t->tids, 1, 1);
    table_init(&t->calls, 1, 2);
    table_init(&t->site_of, 2, 1);
    table_init(&t->site_calls, 2, 0);
    table_init(&t->counts, 3, SGEN_COUNT_WORDS - 3);
    rows_init(&t->rows);
    t->row_cap = row_cap;
    t->total = total;
}

static inline void taught_free(struct sgen_taught *t)
{
    free(t->tids.slots);
    free(t->calls.slots);
    free(t->site_of.slots);
    free(t->site_calls.slots);
    free(t->counts.slots);
    rows_free(&t->rows);
}

/* The token of thread ``tid``; NULL when its calls are Python's (no token, or -1). */
static inline const uint64_t *taught_token(const struct sgen_taught *t, uint32_t tid)
{
    uint64_t key = tid;
    const uint64_t *token = table_find(&t->tids, &key);
    return token && (int64_t)*token >= 0 ? token : NULL;
}

/* A call a loop counts itself (taught_claim) and how (taught_account). */
struct sgen_call {
    uint64_t key[3]; /* token, arch << 32 | nr, site id */
    uint64_t *count; /* its counter; NULL: none yet */
    uint64_t *how;   /* its syscall's classification */
};

/* Whether the call (arch, nr) from ``ip`` of the thread with ``token`` is counted here (1, *c
 * filled in) or is Python's (0): a syscall Python has not classified (or wants every time), a
 * (token, ip) with no site id yet, or the first call of the syscall from that site. */
static inline int taught_claim(const struct sgen_taught *t, uint64_t token, uint32_t arch,
                               int32_t nr, uint64_t ip, struct sgen_call *c)
{
    uint64_t ck = call_key(arch, nr);
    c->how = table_find(&t->calls, &ck);
    if (!c->how || CALL_KIND(c->how[0]) == SGEN_CALL_PYTHON)
        return 0;
    uint64_t where[2] = {token, ip};
    const uint64_t *site = table_find(&t->site_of, where);
    if (!site)
        return 0;
    c->key[0] = token;
    c->key[1] = ck;
    c->key[2] = *site;
    c->count = table_find(&t->counts, c->key);
    if (!c->count) {
        uint64_t sc_key[2] = {ck, *site};
        if (!table_find(&t->site_calls, sc_key))
            return 0;
    }
    return 1;
}

/* Count a claimed call whose argument registers are ``args`` (and queue its row if it is a new
 * one); 0, or -ENOMEM. */
static inline int taught_account(struct sgen_taught *t, struct sgen_call *c, const uint64_t *args)
{
    int fresh;
    if (!c->count && !(c->count = table_get(&t->counts, c->key, &fresh)))
        return -ENOMEM;
    ++*c->count;
    return rows_add(&t->rows, c->how, t->row_cap, (uint32_t)(c->key[1] >> 32),
                    (int32_t)(uint32_t)c->key[1], args);
}

/* One more call let through here (after it was counted and resumed). */
static inline void taught_passed(struct sgen_taught *t)
{
    __atomic_store_n(t->total, *t->total + 1, __ATOMIC_RELAXED);
}

/* Set one table entry (key words, one value word); 0 or -ENOMEM. */
static inline int taught_set(struct table *t, const uint64_t *key, uint64_t value)
{
    int fresh;
    uint64_t *slot = table_get(t, key, &fresh);
    if (!slot)
        return -ENOMEM;
    slot[0] = value;
    return 0;
}

/* The entry points Python calls on a loop's state (through its struct sgen_taught, the state's
 * first member; _native/taught.py binds them). Defined here, not static: each loop is built
 * into a library of its own from one source file, so each library has one copy. */

int sgen_set_tid(struct sgen_taught *t, int tid, int64_t token)
{
    uint64_t key = (uint32_t)tid;
    return taught_set(&t->tids, &key, (uint64_t)token);
}

int sgen_set_call(struct sgen_taught *t, uint32_t arch, int32_t nr, int kind, unsigned nidx,
                  unsigned idx0, unsigned idx1)
{
    int64_t how = call_how(kind, nidx, idx0, idx1);
    uint64_t key = call_key(arch, nr);
    return how < 0 ? (int)how : taught_set(&t->calls, &key, (uint64_t)how);
}

int sgen_set_site(struct sgen_taught *t, int64_t token, uint64_t ip, int64_t site)
{
    uint64_t key[2] = {(uint64_t)token, ip};
    return taught_set(&t->site_of, key, (uint64_t)site);
}

/* Python has counted (arch, nr) from ``site`` (and sampled its caller): count the rest here. */
int sgen_set_site_call(struct sgen_taught *t, uint32_t arch, int32_t nr, int64_t site)
{
    uint64_t key[2] = {call_key(arch, nr), (uint64_t)site};
    int fresh;
    return table_get(&t->site_calls, key, &fresh) ? 0 : -ENOMEM;
}

/* The counters, SGEN_COUNT_WORDS words each (table_dump); how many there are. */
long sgen_ncounts(struct sgen_taught *t) { return (long)t->counts.used; }
long sgen_counts(struct sgen_taught *t, uint64_t *out, long cap)
{
    return table_dump(&t->counts, out, cap);
}

/* How many argument rows are queued for Python; move up to ``cap`` of them (oldest first) into
 * ``out``, returning how many. */
long sgen_nrows(struct sgen_taught *t) { return (long)t->rows.n; }
long sgen_take_rows(struct sgen_taught *t, struct sgen_row *out, long cap)
{
    return rows_take(&t->rows, out, cap);
}

/* The record sizes Python checks at load. */
unsigned sgen_count_size(void) { return SGEN_COUNT_WORDS * sizeof(uint64_t); }
unsigned sgen_row_size(void) { return sizeof(struct sgen_row); }

#endif
