/* seccomp-gen's open-addressing hash table for its compiled loops (notify_supervisor.c,
 * trace_loop.c): fixed-width slots of 64-bit words, grown on demand, so nothing is ever full.
 * Included by each C helper; _native/build.py ships it beside the source it compiles. */
#ifndef SGEN_TABLE_H
#define SGEN_TABLE_H
#include <errno.h>
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

#endif
