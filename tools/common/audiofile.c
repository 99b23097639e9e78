#define _POSIX_C_SOURCE 200809L
#include "audiofile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
    const char *ext;
    int major;
} aliases[] = {
    {"ogg", SF_FORMAT_OGG},
    {"aif", SF_FORMAT_AIFF},
    {"aifc", SF_FORMAT_AIFF},
    {"wave", SF_FORMAT_WAV},
};

int hiss_af_major_for_path(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash + 1 : path, '.');
    if (!dot || !dot[1])
        return 0;
    const char *ext = dot + 1;
    int count = 0;
    sf_command(NULL, SFC_GET_FORMAT_MAJOR_COUNT, &count, sizeof count);
    for (int i = 0; i < count; i++) {
        SF_FORMAT_INFO fi = {.format = i};
        if (sf_command(NULL, SFC_GET_FORMAT_MAJOR, &fi, sizeof fi) == 0 && fi.extension &&
            strcasecmp(fi.extension, ext) == 0)
            return fi.format & SF_FORMAT_TYPEMASK;
    }
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcasecmp(aliases[i].ext, ext) == 0)
            return aliases[i].major;
    return 0;
}

void hiss_af_list_extensions(char *buf, size_t n)
{
    const char *seen[128];
    int n_seen = 0;
    size_t used = 0;
    buf[0] = '\0';
    int count = 0;
    sf_command(NULL, SFC_GET_FORMAT_MAJOR_COUNT, &count, sizeof count);
    int total = count + (int)(sizeof aliases / sizeof aliases[0]);
    for (int i = 0; i < total && n_seen < 128; i++) {
        const char *ext = NULL;
        if (i < count) {
            SF_FORMAT_INFO fi = {.format = i};
            if (sf_command(NULL, SFC_GET_FORMAT_MAJOR, &fi, sizeof fi) == 0)
                ext = fi.extension;
        } else {
            ext = aliases[i - count].ext;
        }
        int dup = !ext;
        for (int k = 0; k < n_seen && !dup; k++)
            dup = strcasecmp(seen[k], ext) == 0;
        if (dup) /* "wav" names three containers */
            continue;
        seen[n_seen++] = ext;
        int w = snprintf(buf + used, n - used, "%s%s", used ? ", " : "", ext);
        if (w < 0 || (size_t)w >= n - used)
            break;
        used += (size_t)w;
    }
}

static const char *table_name(int format, int major)
{
    int count = 0;
    sf_command(NULL, major ? SFC_GET_FORMAT_MAJOR_COUNT : SFC_GET_FORMAT_SUBTYPE_COUNT, &count,
               sizeof count);
    for (int i = 0; i < count; i++) {
        SF_FORMAT_INFO fi = {.format = i};
        if (sf_command(NULL, major ? SFC_GET_FORMAT_MAJOR : SFC_GET_FORMAT_SUBTYPE, &fi,
                       sizeof fi) == 0 &&
            fi.format == format)
            return fi.name;
    }
    return "?";
}

const char *hiss_af_major_name(int format)
{
    return table_name(format & SF_FORMAT_TYPEMASK, 1);
}

const char *hiss_af_subtype_name(int format)
{
    return table_name(format & SF_FORMAT_SUBMASK, 0);
}

static int fits(int format, int channels, int rate)
{
    SF_INFO info = {0};
    info.format = format;
    info.channels = channels;
    info.samplerate = rate;
    return sf_format_check(&info);
}

int hiss_af_pick_format(int major, int want, int in_format, int channels, int rate, int *format,
                        char *msg, size_t n)
{
    if (want) {
        if (fits(major | want, channels, rate)) {
            *format = major | want;
            return 0;
        }
        snprintf(msg, n, "%s cannot hold %s samples (%d channels, %d Hz)",
                 hiss_af_major_name(major), hiss_af_subtype_name(want), channels, rate);
        return -1;
    }
    int in_sub = in_format & SF_FORMAT_SUBMASK;
    int order[4] = {0, SF_FORMAT_FLOAT, SF_FORMAT_PCM_24, SF_FORMAT_PCM_16};
    if (in_sub == SF_FORMAT_FLOAT || in_sub == SF_FORMAT_PCM_24 || in_sub == SF_FORMAT_PCM_16)
        order[0] = in_sub;
    for (int i = 0; i < 4; i++)
        if (order[i] && fits(major | order[i], channels, rate)) {
            *format = major | order[i];
            return 0;
        }
    int count = 0;
    sf_command(NULL, SFC_GET_FORMAT_SUBTYPE_COUNT, &count, sizeof count);
    for (int i = 0; i < count; i++) {
        SF_FORMAT_INFO fi = {.format = i};
        if (sf_command(NULL, SFC_GET_FORMAT_SUBTYPE, &fi, sizeof fi) == 0 &&
            fits(major | fi.format, channels, rate)) {
            *format = major | fi.format;
            return 0;
        }
    }
    snprintf(msg, n, "%s cannot hold %d channels at %d Hz", hiss_af_major_name(major), channels,
             rate);
    return -1;
}

int hiss_af_read(const char *path, float **x, size_t *frames, int *channels, int *rate, char *msg,
                 size_t n)
{
    *x = NULL;
    SF_INFO info;
    memset(&info, 0, sizeof info);
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    if (!sf) {
        snprintf(msg, n, "%s: %s", path, sf_strerror(NULL));
        return -1;
    }
    if (info.frames <= 0 || info.channels < 1) {
        snprintf(msg, n, "%s: no audio frames", path);
        sf_close(sf);
        return -1;
    }
    const size_t nf = (size_t)info.frames, ch = (size_t)info.channels;
    float *buf = malloc(nf * ch * sizeof *buf);
    if (!buf) {
        snprintf(msg, n, "%s: out of memory for %zu frames", path, nf);
        sf_close(sf);
        return -1;
    }
    const sf_count_t got = sf_readf_float(sf, buf, info.frames);
    sf_close(sf);
    if (got != info.frames) {
        snprintf(msg, n, "%s: read %lld of %lld frames", path, (long long)got,
                 (long long)info.frames);
        free(buf);
        return -1;
    }
    *x = buf;
    *frames = nf;
    *channels = info.channels;
    *rate = info.samplerate;
    return 0;
}

int hiss_af_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (stat(a, &sa) != 0 || stat(b, &sb) != 0)
        return 0;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int hiss_af_writer_open(hiss_af_writer *w, const char *path, SF_INFO *info, char *msg, size_t n)
{
    memset(w, 0, sizeof *w);
    w->fd = -1;
    size_t len = strlen(path);
    w->tmp_path = malloc(len + 32);
    w->path = malloc(len + 1);
    if (!w->tmp_path || !w->path) {
        snprintf(msg, n, "%s: out of memory", path);
        hiss_af_writer_abort(w);
        return -1;
    }
    memcpy(w->path, path, len + 1);
    snprintf(w->tmp_path, len + 32, "%s.hiss-tmp-XXXXXX", path);
    w->fd = mkstemp(w->tmp_path);
    if (w->fd < 0) {
        snprintf(msg, n, "%s: cannot create a temporary file next to it: %s", path,
                 strerror(errno));
        free(w->tmp_path);
        w->tmp_path = NULL;
        hiss_af_writer_abort(w);
        return -1;
    }
    /* mkstemp makes the file private (0600); give it what a plainly created file would get. */
    mode_t mask = umask(0);
    umask(mask);
    if (fchmod(w->fd, 0666 & ~mask) != 0) {
        snprintf(msg, n, "%s: %s", w->tmp_path, strerror(errno));
        hiss_af_writer_abort(w);
        return -1;
    }
    /* The descriptor stays ours (close_desc false), so it is closed exactly once. */
    w->sf = sf_open_fd(w->fd, SFM_WRITE, info, SF_FALSE);
    if (!w->sf) {
        snprintf(msg, n, "%s: cannot write %s / %s: %s", path, hiss_af_major_name(info->format),
                 hiss_af_subtype_name(info->format), sf_strerror(NULL));
        hiss_af_writer_abort(w);
        return -1;
    }
    return 0;
}

int hiss_af_writer_commit(hiss_af_writer *w, char *msg, size_t n)
{
    int rc = 0;
    if (w->sf) {
        /* sf_write_sync flushes libsndfile's header and buffers while errors can still be seen */
        sf_write_sync(w->sf);
        int e = sf_error(w->sf);
        if (e != SF_ERR_NO_ERROR) {
            snprintf(msg, n, "%s: %s", w->path, sf_error_number(e));
            rc = -1;
        }
        if (sf_close(w->sf) != 0 && rc == 0) {
            snprintf(msg, n, "%s: closing failed", w->path);
            rc = -1;
        }
        w->sf = NULL;
    }
    if (w->fd >= 0) {
        if (fsync(w->fd) != 0 && errno != EINVAL && rc == 0) {
            snprintf(msg, n, "%s: %s", w->path, strerror(errno));
            rc = -1;
        }
        if (close(w->fd) != 0 && rc == 0) {
            snprintf(msg, n, "%s: %s", w->path, strerror(errno));
            rc = -1;
        }
        w->fd = -1;
    }
    if (rc == 0 && rename(w->tmp_path, w->path) != 0) {
        snprintf(msg, n, "%s: cannot rename %s into place: %s", w->path, w->tmp_path,
                 strerror(errno));
        rc = -1;
    }
    if (rc != 0) {
        hiss_af_writer_abort(w);
        return -1;
    }
    free(w->tmp_path);
    free(w->path);
    w->tmp_path = w->path = NULL;
    return 0;
}

void hiss_af_writer_abort(hiss_af_writer *w)
{
    if (w->sf)
        sf_close(w->sf);
    w->sf = NULL;
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    if (w->tmp_path)
        unlink(w->tmp_path);
    free(w->tmp_path);
    free(w->path);
    w->tmp_path = w->path = NULL;
}
