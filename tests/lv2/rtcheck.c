/* rtcheck.so: counts calls that real-time code must not make (allocation, locks, file and stdio
 * I/O, sleeping), but only on a thread that armed it. Preload it (LD_PRELOAD) into the test host,
 * which arms it around each call into the plugin's audio functions.
 *
 * The allocator is reached through glibc's __libc_* entry points, so counting needs no dlsym
 * (which itself allocates); everything else is resolved with dlsym(RTLD_NEXT) in a constructor,
 * before any thread is armed. The flag is initial-exec TLS: reading it never allocates. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

enum {
    K_MALLOC, K_FREE, K_CALLOC, K_REALLOC, K_MEMALIGN, K_MMAP,
    K_MUTEX, K_RWLOCK, K_SPIN, K_COND, K_SEM_WAIT,
    K_OPEN, K_READ, K_WRITE, K_CLOSE, K_STDIO, K_SLEEP,
    N_KINDS
};
static const char *const kind_names[N_KINDS] = {
    "malloc", "free", "calloc", "realloc", "aligned allocation", "mmap/munmap",
    "pthread mutex lock", "pthread rwlock lock", "spin lock", "condition wait", "semaphore wait",
    "open", "read", "write", "close", "stdio (fopen/fread/fwrite/printf...)", "sleep"};

static __thread int armed __attribute__((tls_model("initial-exec")));
static atomic_ulong counts[N_KINDS];
static void *_Atomic first_caller[N_KINDS];
static const char *_Atomic first_name[N_KINDS];

static void hit(int k, const char *name, void *caller)
{
    if (atomic_fetch_add(&counts[k], 1) == 0) {
        atomic_store(&first_caller[k], caller);
        atomic_store(&first_name[k], name);
    }
}

#define HIT(k, name)                                             \
    do {                                                         \
        if (armed)                                               \
            hit(k, name, __builtin_return_address(0));           \
    } while (0)

EXPORT void hiss_rtcheck_arm(int on)
{
    armed = on;
}

EXPORT unsigned long hiss_rtcheck_total(void)
{
    unsigned long t = 0;
    for (int k = 0; k < N_KINDS; k++)
        t += atomic_load(&counts[k]);
    return t;
}

EXPORT void hiss_rtcheck_reset(void)
{
    for (int k = 0; k < N_KINDS; k++) {
        atomic_store(&counts[k], 0);
        atomic_store(&first_caller[k], NULL);
    }
}

EXPORT void hiss_rtcheck_report(void)
{
    for (int k = 0; k < N_KINDS; k++) {
        unsigned long c = atomic_load(&counts[k]);
        if (!c)
            continue;
        Dl_info info = {0};
        void *at = atomic_load(&first_caller[k]);
        dladdr(at, &info);
        fprintf(stderr, "rtcheck: %lu call(s) to %s; first: %s from %s in %s\n", c, kind_names[k],
                atomic_load(&first_name[k]), info.dli_sname ? info.dli_sname : "?",
                info.dli_fname ? info.dli_fname : "?");
    }
}

/* ---- allocation ---------------------------------------------------------------------------- */

extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

EXPORT void *malloc(size_t n)
{
    HIT(K_MALLOC, "malloc");
    return __libc_malloc(n);
}

EXPORT void free(void *p)
{
    HIT(K_FREE, "free");
    __libc_free(p);
}

EXPORT void *calloc(size_t a, size_t b)
{
    HIT(K_CALLOC, "calloc");
    return __libc_calloc(a, b);
}

EXPORT void *realloc(void *p, size_t n)
{
    HIT(K_REALLOC, "realloc");
    return __libc_realloc(p, n);
}

EXPORT void *memalign(size_t a, size_t n)
{
    HIT(K_MEMALIGN, "memalign");
    return __libc_memalign(a, n);
}

EXPORT void *aligned_alloc(size_t a, size_t n)
{
    HIT(K_MEMALIGN, "aligned_alloc");
    return __libc_memalign(a, n);
}

EXPORT int posix_memalign(void **out, size_t a, size_t n)
{
    HIT(K_MEMALIGN, "posix_memalign");
    if (a < sizeof(void *) || (a & (a - 1)) != 0)
        return EINVAL;
    void *p = __libc_memalign(a, n);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

EXPORT void *valloc(size_t n)
{
    HIT(K_MEMALIGN, "valloc");
    return __libc_memalign((size_t)sysconf(_SC_PAGESIZE), n);
}

/* ---- everything else: the next definition, found once ------------------------------------ */

#define REAL_DECL(ret, name, args) static ret(*real_##name) args
REAL_DECL(void *, mmap, (void *, size_t, int, int, int, off_t));
REAL_DECL(int, munmap, (void *, size_t));
REAL_DECL(int, pthread_mutex_lock, (pthread_mutex_t *));
REAL_DECL(int, pthread_mutex_trylock, (pthread_mutex_t *));
REAL_DECL(int, pthread_mutex_timedlock, (pthread_mutex_t *, const struct timespec *));
REAL_DECL(int, pthread_rwlock_rdlock, (pthread_rwlock_t *));
REAL_DECL(int, pthread_rwlock_wrlock, (pthread_rwlock_t *));
REAL_DECL(int, pthread_spin_lock, (pthread_spinlock_t *));
REAL_DECL(int, pthread_cond_wait, (pthread_cond_t *, pthread_mutex_t *));
REAL_DECL(int, pthread_cond_timedwait, (pthread_cond_t *, pthread_mutex_t *, const struct timespec *));
REAL_DECL(int, sem_wait, (sem_t *));
REAL_DECL(int, sem_timedwait, (sem_t *, const struct timespec *));
REAL_DECL(int, open, (const char *, int, ...));
REAL_DECL(int, open64, (const char *, int, ...));
REAL_DECL(int, openat, (int, const char *, int, ...));
REAL_DECL(int, creat, (const char *, mode_t));
REAL_DECL(int, __open_2, (const char *, int));
REAL_DECL(int, __open64_2, (const char *, int));
REAL_DECL(ssize_t, read, (int, void *, size_t));
REAL_DECL(ssize_t, write, (int, const void *, size_t));
REAL_DECL(ssize_t, pread, (int, void *, size_t, off_t));
REAL_DECL(ssize_t, pwrite, (int, const void *, size_t, off_t));
REAL_DECL(ssize_t, readv, (int, const struct iovec *, int));
REAL_DECL(ssize_t, writev, (int, const struct iovec *, int));
REAL_DECL(ssize_t, __read_chk, (int, void *, size_t, size_t));
REAL_DECL(int, close, (int));
REAL_DECL(FILE *, fopen, (const char *, const char *));
REAL_DECL(FILE *, fopen64, (const char *, const char *));
REAL_DECL(FILE *, fdopen, (int, const char *));
REAL_DECL(FILE *, freopen, (const char *, const char *, FILE *));
REAL_DECL(int, fclose, (FILE *));
REAL_DECL(size_t, fread, (void *, size_t, size_t, FILE *));
REAL_DECL(size_t, fwrite, (const void *, size_t, size_t, FILE *));
REAL_DECL(int, fflush, (FILE *));
REAL_DECL(int, fputs, (const char *, FILE *));
REAL_DECL(int, puts, (const char *));
REAL_DECL(int, fputc, (int, FILE *));
REAL_DECL(int, putchar, (int));
REAL_DECL(int, vfprintf, (FILE *, const char *, va_list));
REAL_DECL(int, vprintf, (const char *, va_list));
REAL_DECL(int, vdprintf, (int, const char *, va_list));
REAL_DECL(int, __vfprintf_chk, (FILE *, int, const char *, va_list));
REAL_DECL(int, __vprintf_chk, (int, const char *, va_list));
REAL_DECL(unsigned, sleep, (unsigned));
REAL_DECL(int, usleep, (useconds_t));
REAL_DECL(int, nanosleep, (const struct timespec *, struct timespec *));
REAL_DECL(int, clock_nanosleep, (clockid_t, int, const struct timespec *, struct timespec *));

#define RESOLVE(name) \
    (real_##name ? (void)0 : (void)(real_##name = (__typeof__(real_##name))dlsym(RTLD_NEXT, #name)))

__attribute__((constructor)) static void resolve_all(void)
{
    RESOLVE(mmap); RESOLVE(munmap);
    RESOLVE(pthread_mutex_lock); RESOLVE(pthread_mutex_trylock); RESOLVE(pthread_mutex_timedlock);
    RESOLVE(pthread_rwlock_rdlock); RESOLVE(pthread_rwlock_wrlock); RESOLVE(pthread_spin_lock);
    RESOLVE(pthread_cond_wait); RESOLVE(pthread_cond_timedwait);
    RESOLVE(sem_wait); RESOLVE(sem_timedwait);
    RESOLVE(open); RESOLVE(open64); RESOLVE(openat); RESOLVE(creat); RESOLVE(__open_2);
    RESOLVE(__open64_2);
    RESOLVE(read); RESOLVE(write); RESOLVE(pread); RESOLVE(pwrite); RESOLVE(readv); RESOLVE(writev);
    RESOLVE(__read_chk); RESOLVE(close);
    RESOLVE(fopen); RESOLVE(fopen64); RESOLVE(fdopen); RESOLVE(freopen); RESOLVE(fclose);
    RESOLVE(fread); RESOLVE(fwrite); RESOLVE(fflush); RESOLVE(fputs); RESOLVE(puts); RESOLVE(fputc);
    RESOLVE(putchar); RESOLVE(vfprintf); RESOLVE(vprintf); RESOLVE(vdprintf);
    RESOLVE(__vfprintf_chk); RESOLVE(__vprintf_chk);
    RESOLVE(sleep); RESOLVE(usleep); RESOLVE(nanosleep); RESOLVE(clock_nanosleep);
}

/* Wrapper for a function with fixed arguments. */
#define WRAP(k, ret, name, params, args)          \
    EXPORT ret name params                        \
    {                                             \
        HIT(k, #name);                            \
        RESOLVE(name);                            \
        return real_##name args;                  \
    }

WRAP(K_MMAP, void *, mmap, (void *a, size_t n, int p, int f, int fd, off_t o), (a, n, p, f, fd, o))
WRAP(K_MMAP, int, munmap, (void *a, size_t n), (a, n))
WRAP(K_MUTEX, int, pthread_mutex_lock, (pthread_mutex_t *m), (m))
WRAP(K_MUTEX, int, pthread_mutex_trylock, (pthread_mutex_t *m), (m))
WRAP(K_MUTEX, int, pthread_mutex_timedlock, (pthread_mutex_t *m, const struct timespec *t), (m, t))
WRAP(K_RWLOCK, int, pthread_rwlock_rdlock, (pthread_rwlock_t *l), (l))
WRAP(K_RWLOCK, int, pthread_rwlock_wrlock, (pthread_rwlock_t *l), (l))
WRAP(K_SPIN, int, pthread_spin_lock, (pthread_spinlock_t *l), (l))
WRAP(K_COND, int, pthread_cond_wait, (pthread_cond_t *c, pthread_mutex_t *m), (c, m))
WRAP(K_COND, int, pthread_cond_timedwait, (pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *t),
     (c, m, t))
WRAP(K_SEM_WAIT, int, sem_wait, (sem_t *s), (s))
WRAP(K_SEM_WAIT, int, sem_timedwait, (sem_t *s, const struct timespec *t), (s, t))
WRAP(K_OPEN, int, creat, (const char *p, mode_t m), (p, m))
WRAP(K_OPEN, int, __open_2, (const char *p, int f), (p, f))
WRAP(K_OPEN, int, __open64_2, (const char *p, int f), (p, f))
WRAP(K_READ, ssize_t, read, (int fd, void *b, size_t n), (fd, b, n))
WRAP(K_WRITE, ssize_t, write, (int fd, const void *b, size_t n), (fd, b, n))
WRAP(K_READ, ssize_t, pread, (int fd, void *b, size_t n, off_t o), (fd, b, n, o))
WRAP(K_WRITE, ssize_t, pwrite, (int fd, const void *b, size_t n, off_t o), (fd, b, n, o))
WRAP(K_READ, ssize_t, readv, (int fd, const struct iovec *v, int n), (fd, v, n))
WRAP(K_WRITE, ssize_t, writev, (int fd, const struct iovec *v, int n), (fd, v, n))
WRAP(K_READ, ssize_t, __read_chk, (int fd, void *b, size_t n, size_t bl), (fd, b, n, bl))
WRAP(K_CLOSE, int, close, (int fd), (fd))
WRAP(K_STDIO, FILE *, fopen, (const char *p, const char *m), (p, m))
WRAP(K_STDIO, FILE *, fopen64, (const char *p, const char *m), (p, m))
WRAP(K_STDIO, FILE *, fdopen, (int fd, const char *m), (fd, m))
WRAP(K_STDIO, FILE *, freopen, (const char *p, const char *m, FILE *f), (p, m, f))
WRAP(K_STDIO, int, fclose, (FILE *f), (f))
WRAP(K_STDIO, size_t, fread, (void *b, size_t s, size_t n, FILE *f), (b, s, n, f))
WRAP(K_STDIO, size_t, fwrite, (const void *b, size_t s, size_t n, FILE *f), (b, s, n, f))
WRAP(K_STDIO, int, fflush, (FILE *f), (f))
WRAP(K_STDIO, int, fputs, (const char *s, FILE *f), (s, f))
WRAP(K_STDIO, int, puts, (const char *s), (s))
WRAP(K_STDIO, int, fputc, (int c, FILE *f), (c, f))
WRAP(K_STDIO, int, putchar, (int c), (c))
WRAP(K_STDIO, int, vfprintf, (FILE *f, const char *fmt, va_list ap), (f, fmt, ap))
WRAP(K_STDIO, int, vprintf, (const char *fmt, va_list ap), (fmt, ap))
WRAP(K_STDIO, int, vdprintf, (int fd, const char *fmt, va_list ap), (fd, fmt, ap))
WRAP(K_STDIO, int, __vfprintf_chk, (FILE *f, int fl, const char *fmt, va_list ap), (f, fl, fmt, ap))
WRAP(K_STDIO, int, __vprintf_chk, (int fl, const char *fmt, va_list ap), (fl, fmt, ap))
WRAP(K_SLEEP, unsigned, sleep, (unsigned s), (s))
WRAP(K_SLEEP, int, usleep, (useconds_t u), (u))
WRAP(K_SLEEP, int, nanosleep, (const struct timespec *t, struct timespec *r), (t, r))
WRAP(K_SLEEP, int, clock_nanosleep, (clockid_t c, int f, const struct timespec *t, struct timespec *r),
     (c, f, t, r))

/* The variadic ones: open's mode is there only with O_CREAT or O_TMPFILE. */
static mode_t open_mode(int flags, va_list ap)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

EXPORT int open(const char *p, int flags, ...)
{
    HIT(K_OPEN, "open");
    RESOLVE(open);
    va_list ap;
    va_start(ap, flags);
    mode_t m = open_mode(flags, ap);
    va_end(ap);
    return real_open(p, flags, m);
}

EXPORT int open64(const char *p, int flags, ...)
{
    HIT(K_OPEN, "open64");
    RESOLVE(open64);
    va_list ap;
    va_start(ap, flags);
    mode_t m = open_mode(flags, ap);
    va_end(ap);
    return real_open64(p, flags, m);
}

EXPORT int openat(int dir, const char *p, int flags, ...)
{
    HIT(K_OPEN, "openat");
    RESOLVE(openat);
    va_list ap;
    va_start(ap, flags);
    mode_t m = open_mode(flags, ap);
    va_end(ap);
    return real_openat(dir, p, flags, m);
}

#define WRAP_PRINTF(name, fixed_params, call)   \
    EXPORT int name fixed_params                \
    {                                           \
        HIT(K_STDIO, #name);                    \
        va_list ap;                             \
        va_start(ap, fmt);                      \
        int r = call;                           \
        va_end(ap);                             \
        return r;                               \
    }

WRAP_PRINTF(printf, (const char *fmt, ...), (RESOLVE(vprintf), real_vprintf(fmt, ap)))
WRAP_PRINTF(fprintf, (FILE *f, const char *fmt, ...), (RESOLVE(vfprintf), real_vfprintf(f, fmt, ap)))
WRAP_PRINTF(dprintf, (int fd, const char *fmt, ...), (RESOLVE(vdprintf), real_vdprintf(fd, fmt, ap)))
WRAP_PRINTF(__printf_chk, (int fl, const char *fmt, ...),
            (RESOLVE(__vprintf_chk), real___vprintf_chk(fl, fmt, ap)))
WRAP_PRINTF(__fprintf_chk, (FILE *f, int fl, const char *fmt, ...),
            (RESOLVE(__vfprintf_chk), real___vfprintf_chk(f, fl, fmt, ap)))
