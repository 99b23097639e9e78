#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <sndfile.h>

#include "train_cli_util.h"

void tcli_init(tcli *t, const char *dir, const char *exe, const char *prefix, const char *mode)
{
    memset(t, 0, sizeof *t);
    snprintf(t->dir, sizeof t->dir, "%s", dir);
    t->exe = exe;
    t->prefix = prefix;
    t->mode = mode;
    mkdir(t->dir, 0755);
}

void tcli_path(const tcli *t, char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", t->dir, name);
}

int tcli_run(const tcli *t, const char *args, const char *log)
{
    char cmd[8192], lp[1200];
    tcli_path(t, lp, sizeof lp, log);
    const int w = snprintf(cmd, sizeof cmd, "cd '%s' && %s'%s' %s%s > '%s' 2>&1", t->dir,
                           t->prefix, t->exe, t->mode, args, lp);
    if (w < 0 || (size_t)w >= sizeof cmd)
        return -1;
    const int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

char *tcli_slurp(const tcli *t, const char *name, size_t *len)
{
    char p[1200];
    tcli_path(t, p, sizeof p, name);
    FILE *f = fopen(p, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    const long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) {
        b[n] = 0;
        if (len)
            *len = (size_t)n;
    }
    return b;
}

int tcli_contains(const tcli *t, const char *file, const char *needle)
{
    char *s = tcli_slurp(t, file, NULL);
    const int r = s && strstr(s, needle);
    if (!r && s)
        printf("---- %s ----\n%s-----\n", file, s);
    free(s);
    return r;
}

int tcli_same_file(const tcli *t, const char *a, const char *b)
{
    size_t na, nb;
    char *x = tcli_slurp(t, a, &na), *y = tcli_slurp(t, b, &nb);
    const int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

void tcli_check(tcli *t, int ok, const char *what)
{
    printf("%s: %s\n", ok ? "ok  " : "FAIL", what);
    t->fails += !ok;
}

int tcli_write_wav(const tcli *t, const char *name, const float *x, size_t n, int rate)
{
    char p[1200];
    tcli_path(t, p, sizeof p, name);
    SF_INFO info = {0};
    info.samplerate = rate;
    info.channels = 1;
    info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
    SNDFILE *sf = sf_open(p, SFM_WRITE, &info);
    if (!sf)
        return -1;
    const sf_count_t w = sf_writef_float(sf, x, (sf_count_t)n);
    sf_close(sf);
    return w == (sf_count_t)n ? 0 : -1;
}

void tcli_check_csv(tcli *t, const char *name, const char *header, int epochs)
{
    char *csv = tcli_slurp(t, name, NULL);
    int lines = 0;
    for (char *c = csv; c && *c; c++)
        lines += *c == '\n';
    tcli_check(t, csv && strncmp(csv, header, strlen(header)) == 0 && lines == epochs + 1,
               "the CSV log has a header and one line per epoch");
    free(csv);
}

void tcli_check_png(tcli *t, const char *name)
{
    size_t len = 0;
    char *png = tcli_slurp(t, name, &len);
    tcli_check(t, png && len > 8 && memcmp(png, "\x89PNG\r\n\x1a\n", 8) == 0, "the plot is a PNG");
    free(png);
}

void tcli_check_stop_resume(tcli *t, const char *common, const char *stop, const char *whole,
                            int (*same_tensors)(const tcli *t, const char *a, const char *b))
{
    char args[2048], log1[64], log2[64], a[80], b[80], ca[80], cb[80];
    snprintf(log1, sizeof log1, "%s1.log", stop);
    snprintf(log2, sizeof log2, "%s2.log", stop);
    snprintf(args, sizeof args, "%s -o %s.safetensors --stop-after 1", common, stop);
    int st = tcli_run(t, args, log1);
    tcli_check(t, st == 0 && tcli_contains(t, log1, "continue with --resume"),
               "--stop-after 1 stops");
    snprintf(args, sizeof args, "%s -o %s.safetensors --resume", common, stop);
    st = tcli_run(t, args, log2);
    tcli_check(t, st == 0 && tcli_contains(t, log2, "resuming from"), "--resume continues");
    snprintf(a, sizeof a, "%s.safetensors", whole);
    snprintf(b, sizeof b, "%s.safetensors", stop);
    snprintf(ca, sizeof ca, "%s.ckpt", whole);
    snprintf(cb, sizeof cb, "%s.ckpt", stop);
    tcli_check(t, same_tensors(t, a, b) && tcli_same_file(t, ca, cb),
               "stop + resume gives the parameters and checkpoint bytes of one uninterrupted run");
}
