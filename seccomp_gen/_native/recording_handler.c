/* seccomp-gen's SIGSYS handler for seccomp_gen.recording(): record a syscall, then perform it.
 *
 * recording() loads a filter (built by hand in seccomp_gen/recorders/inprocess.py) that sends
 * every x86_64 syscall of this process to SECCOMP_RET_TRAP, except
 *   - calls made from the one `syscall` instruction in this file (seccomp_data.instruction_pointer
 *     equals sgen_rec_syscall_ret, the address right after it): the calls this handler performs;
 *   - a few numbers that cannot be re-executed from a signal handler (rt_sigreturn, clone, clone3,
 *     fork, vfork, exit, exit_group, execve, execveat), which are allowed directly.
 * The kernel skips a trapped call and raises SIGSYS in the calling thread. This handler
 *   1. counts the call in a per-number counter (exact, lock-free atomics), per (nr, call site)
 *      in a fixed lock-free table (see rec_site_count) and, while there is room, appends
 *      (arch, nr, tid, args, result) to a preallocated ring (one atomic fetch-add reserves a
 *      slot; a full ring only counts what it had to drop);
 *   2. performs the call itself through sgen_rec_do_syscall with the caller's six argument
 *      registers and puts the result in the caller's RAX, so the libc wrapper sees exactly what
 *      the kernel returned (and sets errno from it, as always);
 *   3. emulates the three calls whose effect would otherwise be undone by rt_sigreturn, which
 *      restores the signal mask and the alternate stack from the ucontext: rt_sigprocmask
 *      changes uc_sigmask (SIGSYS is never blocked: a trapped call with SIGSYS blocked would
 *      kill the process), sigaltstack is performed and copied into uc_stack, and rt_sigaction
 *      may not replace this handler (EPERM).
 * While recording is off ("pass-through", after the with-block: a seccomp filter cannot be
 * removed) step 1 is skipped and calls are just performed.
 *
 * Async-signal-safe: no locks, no allocation, no libc calls except through the raw syscall
 * instruction below; errno is saved and restored.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#if !defined(__x86_64__)
#error "seccomp-gen's recording handler reads x86_64 registers; other arches are not supported"
#endif

#ifndef SYS_SECCOMP
#define SYS_SECCOMP 1
#endif
#define REC_NR_MAX 1024
#define REC_RING 32768
#define REC_SITES 4096 /* a power of two */

/* long sgen_rec_do_syscall(long nr, long a0, long a1, long a2, long a3, long a4, long a5):
 * the only syscall instruction the filter lets through. */
__asm__(
    ".text\n"
    ".globl sgen_rec_do_syscall\n"
    ".type sgen_rec_do_syscall,@function\n"
    "sgen_rec_do_syscall:\n"
    "    movq %rdi, %rax\n"
    "    movq %rsi, %rdi\n"
    "    movq %rdx, %rsi\n"
    "    movq %rcx, %rdx\n"
    "    movq %r8, %r10\n"
    "    movq %r9, %r8\n"
    "    movq 8(%rsp), %r9\n"
    ".globl sgen_rec_syscall_insn\n"
    "sgen_rec_syscall_insn:\n"
    "    syscall\n"
    ".globl sgen_rec_syscall_ret\n"
    "sgen_rec_syscall_ret:\n"
    "    ret\n"
    ".size sgen_rec_do_syscall,.-sgen_rec_do_syscall\n");

long sgen_rec_do_syscall(long nr, long a0, long a1, long a2, long a3, long a4, long a5);
extern char sgen_rec_syscall_ret[];

/* Must match seccomp_gen/_native/recording_handler.py RING_RECORD ("=IIiiq6Q", 72 bytes). */
struct rec_entry {
    uint32_t ready;     /* 1 once the slot is written */
    uint32_t arch;
    int32_t nr;
    int32_t tid;
    int64_t ret;        /* what the call returned (-errno on failure) */
    uint64_t args[6];
};

/* Must match seccomp_gen/_native/recording_handler.py SITE_RECORD ("=QiIQ", 24 bytes). */
struct rec_site {
    uint64_t ip;        /* the call site: the address right after the syscall instruction */
    int32_t nr;
    uint32_t state;     /* 0 free, 1 being claimed, 2 (ip, nr) written */
    uint64_t count;
};

static struct rec_entry rec_ring[REC_RING];
static struct rec_site rec_sites[REC_SITES];
static unsigned long rec_unsited[REC_NR_MAX]; /* per nr: calls that found no free site slot */
static unsigned long rec_head;              /* slots reserved (may exceed REC_RING) */
static unsigned long rec_counts[REC_NR_MAX];
static unsigned long rec_other;             /* numbers >= REC_NR_MAX */
static unsigned long rec_trapped;
static volatile int rec_on;
static struct sigaction rec_old;
static int rec_installed;

/* Count a call of ``nr`` made at ``ip`` (open addressing, linear probing). A slot is claimed
 * with one compare-and-swap and skipped while another claim of it is in flight: never waiting
 * keeps this safe in a handler that a nested signal may interrupt mid-claim, at the price of a
 * rare second slot for the same (ip, nr), which the reader adds up. A full table counts the
 * call in rec_unsited[nr] (nr < REC_NR_MAX here). */
static void rec_site_count(uint64_t ip, int32_t nr)
{
    uint64_t h = (ip ^ (uint64_t)(uint32_t)nr * 0x9e3779b97f4a7c15ULL) * 0xbf58476d1ce4e5b9ULL;
    for (unsigned i = 0; i < REC_SITES; i++) {
        struct rec_site *s = &rec_sites[((h >> 40) + i) & (REC_SITES - 1)];
        uint32_t state = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
        if (state == 0) {
            uint32_t free_ = 0;
            if (__atomic_compare_exchange_n(&s->state, &free_, 1, 0, __ATOMIC_ACQUIRE,
                                            __ATOMIC_ACQUIRE)) {
                s->ip = ip;
                s->nr = nr;
                __atomic_store_n(&s->count, 1, __ATOMIC_RELAXED);
                __atomic_store_n(&s->state, 2, __ATOMIC_RELEASE);
                return;
            }
            state = free_;
        }
        if (state == 2 && s->ip == ip && s->nr == nr) {
            __atomic_add_fetch(&s->count, 1, __ATOMIC_RELAXED);
            return;
        }
    }
    __atomic_add_fetch(&rec_unsited[nr], 1, __ATOMIC_RELAXED);
}

static void rec_handler(int sig, siginfo_t *info, void *vctx)
{
    int saved_errno = errno;
    ucontext_t *uc = (ucontext_t *)vctx;
    greg_t *g = uc->uc_mcontext.gregs;
    long nr, ret;
    long a[6];
    (void)sig;

    if (info->si_code != SYS_SECCOMP) {
        errno = saved_errno;
        return;     /* a SIGSYS sent with kill(): nothing to perform */
    }
    nr = info->si_syscall;
    a[0] = g[REG_RDI]; a[1] = g[REG_RSI]; a[2] = g[REG_RDX];
    a[3] = g[REG_R10]; a[4] = g[REG_R8]; a[5] = g[REG_R9];

    if (nr == SYS_rt_sigprocmask) {
        /* rt_sigreturn restores uc_sigmask: change that, not the handler's own mask. */
        int how = (int)a[0];
        const uint64_t *set = (const uint64_t *)a[1];
        uint64_t *old = (uint64_t *)a[2];
        uint64_t *mask = (uint64_t *)&uc->uc_sigmask;
        uint64_t keep = ~((1ULL << (SIGKILL - 1)) | (1ULL << (SIGSTOP - 1)) |
                          (1ULL << (SIGSYS - 1)));
        if (a[3] != 8) {
            ret = -EINVAL;
        } else if (set && how != SIG_BLOCK && how != SIG_UNBLOCK && how != SIG_SETMASK) {
            ret = -EINVAL;
        } else {
            uint64_t cur = *mask;
            if (old)
                *old = cur;
            if (set) {
                if (how == SIG_BLOCK)
                    cur |= *set;
                else if (how == SIG_UNBLOCK)
                    cur &= ~*set;
                else
                    cur = *set;
                *mask = cur & keep;
            }
            ret = 0;
        }
    } else if (nr == SYS_rt_sigaction && a[0] == SIGSYS && a[1] != 0) {
        ret = -EPERM;   /* the recording handler must stay */
    } else {
        ret = sgen_rec_do_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
        if (nr == SYS_sigaltstack && a[0] != 0 && ret == 0) {
            /* rt_sigreturn restores uc_stack: make it the new alternate stack. */
            stack_t now;
            if (sgen_rec_do_syscall(SYS_sigaltstack, 0, (long)&now, 0, 0, 0, 0) == 0)
                uc->uc_stack = now;
        }
    }
    g[REG_RAX] = (greg_t)ret;

    if (rec_on) {
        unsigned long slot;
        __atomic_add_fetch(&rec_trapped, 1, __ATOMIC_RELAXED);
        if (nr >= 0 && nr < REC_NR_MAX) {
            __atomic_add_fetch(&rec_counts[nr], 1, __ATOMIC_RELAXED);
            /* si_call_addr is the caller's saved ip (== REG_RIP here): the address right after
             * its syscall instruction, the convention of PTRACE_GET_SYSCALL_INFO and
             * seccomp_data.instruction_pointer, which every backend records. */
            rec_site_count((uint64_t)(uintptr_t)info->si_call_addr, (int32_t)nr);
        } else
            __atomic_add_fetch(&rec_other, 1, __ATOMIC_RELAXED);
        slot = __atomic_fetch_add(&rec_head, 1, __ATOMIC_RELAXED);
        if (slot < REC_RING) {
            struct rec_entry *e = &rec_ring[slot];
            int i;
            e->arch = (uint32_t)info->si_arch;
            e->nr = (int32_t)nr;
            e->tid = (int32_t)sgen_rec_do_syscall(SYS_gettid, 0, 0, 0, 0, 0, 0);
            e->ret = ret;
            for (i = 0; i < 6; i++)
                e->args[i] = (uint64_t)a[i];
            __atomic_store_n(&e->ready, 1, __ATOMIC_RELEASE);
        }
    }
    errno = saved_errno;
}

/* Make rec_handler the SIGSYS action (once). SA_NODEFER: SIGSYS must never be blocked, or a
 * trapped call made while it is (in a nested signal handler) would kill the process. */
int sgen_rec_install(void)
{
    struct sigaction sa;
    if (rec_installed)
        return 0;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = rec_handler;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSYS, &sa, &rec_old) != 0)
        return -errno;
    rec_installed = 1;
    return 0;
}

/* Put the previous SIGSYS action back; only before the filter is loaded (if loading failed). */
int sgen_rec_uninstall(void)
{
    if (!rec_installed)
        return 0;
    if (sigaction(SIGSYS, &rec_old, 0) != 0)
        return -errno;
    rec_installed = 0;
    return 0;
}

/* 1 if rec_handler is still the SIGSYS action. */
int sgen_rec_installed(void)
{
    struct sigaction cur;
    if (sigaction(SIGSYS, 0, &cur) != 0)
        return -errno;
    return (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == rec_handler;
}

/* Start recording afresh (counters and ring cleared) or stop (pass-through). */
void sgen_rec_start(void)
{
    memset(rec_counts, 0, sizeof rec_counts);
    rec_other = 0;
    rec_trapped = 0;
    __atomic_store_n(&rec_head, 0, __ATOMIC_SEQ_CST);
    memset(rec_ring, 0, sizeof rec_ring);
    memset(rec_sites, 0, sizeof rec_sites);
    memset(rec_unsited, 0, sizeof rec_unsited);
    __atomic_store_n(&rec_on, 1, __ATOMIC_SEQ_CST);
}

void sgen_rec_stop(void) { __atomic_store_n(&rec_on, 0, __ATOMIC_SEQ_CST); }

void *sgen_rec_ret_addr(void) { return (void *)sgen_rec_syscall_ret; }
void *sgen_rec_ring(void) { return rec_ring; }
void *sgen_rec_sites(void) { return rec_sites; }
unsigned long *sgen_rec_unsited(void) { return rec_unsited; }
int sgen_rec_sites_size(void) { return REC_SITES; }
int sgen_rec_site_size(void) { return (int)sizeof(struct rec_site); }
unsigned long *sgen_rec_counts(void) { return rec_counts; }
unsigned long sgen_rec_head(void) { return __atomic_load_n(&rec_head, __ATOMIC_ACQUIRE); }
unsigned long sgen_rec_other(void) { return __atomic_load_n(&rec_other, __ATOMIC_RELAXED); }
unsigned long sgen_rec_trapped(void) { return __atomic_load_n(&rec_trapped, __ATOMIC_RELAXED); }
int sgen_rec_ring_size(void) { return REC_RING; }
int sgen_rec_nr_max(void) { return REC_NR_MAX; }
int sgen_rec_entry_size(void) { return (int)sizeof(struct rec_entry); }
