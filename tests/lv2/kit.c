#include "kit.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int tk_failures;

uint32_t tk_rnd(uint32_t *state)
{
    uint32_t r = *state;
    r ^= r << 13;
    r ^= r >> 17;
    r ^= r << 5;
    *state = r;
    return r;
}

int tk_block_size(uint32_t *state, int max)
{
    uint32_t r = tk_rnd(state) % 16;
    if (r == 0)
        return 1;
    if (r == 1)
        return max;
    return 1 + (int)(tk_rnd(state) % (uint32_t)max);
}

char *tk_path_in(const char *dir, const char *name)
{
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

void tk_mkdir_p(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, 0777);
            *p = '/';
        }
    mkdir(buf, 0777);
}

void tk_sh(const char *fmt, const char *a, const char *b)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, fmt, a, b);
    if (system(cmd) != 0) {
        fprintf(stderr, "FAIL: %s\n", cmd);
        exit(1);
    }
}

int tk_contains(const char *hay, const char *needle)
{
    return hay && strstr(hay, needle) != NULL;
}

hh_host *tk_host(const char *lv2_dir, const char *uri, double rate, int max_block, hh_work_mode mode)
{
    hh_opts o = {lv2_dir, uri, rate, max_block, mode, getenv("HISS_LV2_VERBOSE") != NULL};
    return hh_new(&o);
}

hh_work_mode tk_mode(const char *name)
{
    return strcmp(name, "immediate") == 0 ? HH_WORK_IMMEDIATE
           : strcmp(name, "threaded") == 0 ? HH_WORK_THREADED
                                            : HH_WORK_DEFERRED;
}

int tk_count_events(const hh_host *h, const char *prop, int from)
{
    int c = 0;
    for (int i = from; i < hh_event_count(h); i++)
        c += strcmp(hh_event_at(h, i)->property, prop) == 0;
    return c;
}

double tk_max_err(const float *a, const float *b, long from, long to, double tol, long *bad)
{
    double m = 0;
    *bad = -1;
    for (long t = from; t < to; t++) {
        double d = fabs((double)a[t] - (double)b[t]);
        if (!(d <= m))
            m = d;
        if (!(d <= tol) && *bad < 0)
            *bad = t;
    }
    return m;
}

void tk_check_equal(const char *what, const float *y, const float *ref, long from, long to, double tol)
{
    long bad;
    double e = tk_max_err(y, ref, from, to, tol, &bad);
    CHECK(bad < 0, "%s: frame %ld: plugin %.9g, engine %.9g (max difference %.3g over [%ld, %ld), tolerance %g)",
          what, bad, bad >= 0 ? y[bad] : 0.0, bad >= 0 ? ref[bad] : 0.0, e, from, to, tol);
    printf("  %s: frames [%ld, %ld): max |plugin - engine| = %.3g\n", what, from, to, e);
}

int tk_rt_control(void)
{
    if (!hh_rtcheck_present()) {
        fprintf(stderr, "FAIL: rtcheck.so is not preloaded (LD_PRELOAD); the real-time test cannot count\n");
        return -1;
    }
    hh_rtcheck_arm(1);
    void *volatile q = malloc(64);
    free(q);
    pthread_mutex_t mx = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&mx);
    pthread_mutex_unlock(&mx);
    FILE *volatile fp = fopen("/dev/null", "r");
    hh_rtcheck_arm(0);
    if (fp)
        fclose(fp);
    unsigned long control = hh_rtcheck_total();
    CHECK(control >= 4, "the checker counted %lu of malloc, free, mutex lock, fopen", control);
    printf("  checker control: malloc, free, lock, fopen counted %lu calls\n", control);
    {
        extern void hiss_rtcheck_reset(void) __attribute__((weak));
        if (hiss_rtcheck_reset)
            hiss_rtcheck_reset();
    }
    CHECK(hh_rtcheck_total() == 0, "checker reset");
    return 0;
}

int tk_finish(const char *test_case, int rc)
{
    if (tk_failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", test_case, tk_failures);
        return 1;
    }
    if (rc == 0)
        printf("%s: all checks passed\n", test_case);
    return rc;
}
