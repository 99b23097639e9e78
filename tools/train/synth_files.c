/* Reading and checking the synth training data. The checks are those whose failure would train
 * a model on something else than what the manifest says: a file changed since it was rendered
 * (SHA-256), notes that do not cover the audio exactly, a rate other than the manifest's. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audiofile.h"
#include "json.h"
#include "sha256.h"
#include "synth_files.h"

#define NOTES_MAGIC "hiss-synth-notes 1"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap + 1);
    size_t got;
    while (b && (got = fread(b + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *nb = realloc(b, 2 * cap + 1);
            if (!nb) {
                free(b);
                b = NULL;
                break;
            }
            b = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (b)
        b[n] = 0;
    *len = n;
    return b;
}

static const char *str_at(const json_value *o, const char *key)
{
    const json_value *v = json_get(o, key);
    return v && v->type == JSON_STRING ? v->str : NULL;
}

static int copy_str(char *dst, size_t cap, const char *src)
{
    if (!src || strlen(src) >= cap)
        return -1;
    strcpy(dst, src);
    return 0;
}

int hs_manifest_load(const char *path, hs_manifest *m, char *msg, size_t n)
{
    memset(m, 0, sizeof *m);
    struct stat sb;
    if (stat(path, &sb) != 0) {
        snprintf(msg, n, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (S_ISDIR(sb.st_mode))
        snprintf(m->path, sizeof m->path, "%s/manifest.json", path);
    else
        snprintf(m->path, sizeof m->path, "%s", path);
    size_t len;
    char *text = slurp(m->path, &len);
    if (!text) {
        snprintf(msg, n, "%s: cannot read the manifest", m->path);
        return -1;
    }
    json_value root;
    json_error je;
    if (json_parse(text, len, &root, &je) != JSON_OK) {
        snprintf(msg, n, "%s: not JSON (%s at byte %zu)", m->path, je.msg, je.offset);
        free(text);
        return -1;
    }
    free(text);
    ht_sha256_file(m->path, m->sha);
    int bad = 0;
    const char *fmt = str_at(&root, "format");
    const json_value *rate = json_get(&root, "sample_rate");
    const json_value *ins = json_get(&root, "instrument");
    if (!fmt || strcmp(fmt, NOTES_MAGIC) != 0) {
        snprintf(msg, n, "%s: \"format\" is not \"%s\": not a synth-notes manifest of tools/data",
                 m->path, NOTES_MAGIC);
        bad = 1;
    } else if (!rate || rate->type != JSON_NUMBER || !(rate->num > 0)) {
        snprintf(msg, n, "%s: \"sample_rate\" missing or not a positive number", m->path);
        bad = 1;
    } else if (!ins || ins->type != JSON_OBJECT) {
        snprintf(msg, n, "%s: \"instrument\" missing (what was recorded)", m->path);
        bad = 1;
    } else {
        m->rate = rate->num;
        const json_value *prog = json_get(ins, "program"), *bank = json_get(ins, "bank");
        if (copy_str(m->soundfont, sizeof m->soundfont, str_at(ins, "soundfont")) ||
            copy_str(m->soundfont_sha, sizeof m->soundfont_sha, str_at(ins, "soundfont_sha256")) ||
            copy_str(m->instrument, sizeof m->instrument, str_at(ins, "name")) || !prog ||
            !prog->is_int || !bank || !bank->is_int) {
            snprintf(msg, n,
                     "%s: \"instrument\" needs soundfont, soundfont_sha256, name, bank and program",
                     m->path);
            bad = 1;
        } else {
            m->program = (int)prog->i;
            m->bank = (int)bank->i;
        }
    }
    json_free(&root);
    return bad ? -1 : 0;
}

/* A path of the manifest is relative to the manifest's directory. */
static void beside_manifest(const hs_manifest *m, const char *file, char *out, size_t cap)
{
    const char *slash = strrchr(m->path, '/');
    if (file[0] == '/' || !slash)
        snprintf(out, cap, "%s", file);
    else
        snprintf(out, cap, "%.*s/%s", (int)(slash - m->path), m->path, file);
}

int hs_notes_read(const char *path, ht_note **notes, int *n_notes, double *rate, size_t *total,
                  char *msg, size_t n)
{
    *notes = NULL;
    *n_notes = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(msg, n, "%s: %s", path, strerror(errno));
        return -1;
    }
    char line[512];
    int lineno = 0, cap = 0, count = 0, bad = 0;
    ht_note *v = NULL;
    size_t at = 0;
    *rate = 0;
    while (!bad && fgets(line, sizeof line, f)) {
        lineno++;
        if (lineno == 1) {
            if (strncmp(line, NOTES_MAGIC, strlen(NOTES_MAGIC)) != 0) {
                snprintf(msg, n, "%s: line 1 is not \"%s\"", path, NOTES_MAGIC);
                bad = 1;
            }
            continue;
        }
        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (strncmp(line, "sample_rate ", 12) == 0) {
            *rate = atof(line + 12);
            continue;
        }
        unsigned long long s, l, on;
        int note, vel;
        char extra;
        if (sscanf(line, "%llu %llu %llu %d %d %c", &s, &l, &on, &note, &vel, &extra) != 5) {
            snprintf(msg, n, "%s:%d: expected 'start length on_length note velocity'", path,
                     lineno);
            bad = 1;
        } else if (s != at) {
            snprintf(msg, n, "%s:%d: the note starts at sample %llu, the previous one ends at %zu "
                             "(notes lie end to end)",
                     path, lineno, s, at);
            bad = 1;
        } else if (l < 2 || on < 1 || on >= l || note < 0 || note > 127 || vel < 1 || vel > 127) {
            snprintf(msg, n,
                     "%s:%d: length %llu, on_length %llu, note %d, velocity %d: expected "
                     "0 < on_length < length, note 0..127, velocity 1..127",
                     path, lineno, l, on, note, vel);
            bad = 1;
        } else {
            if (count == cap) {
                cap = cap ? 2 * cap : 256;
                ht_note *nv = realloc(v, (size_t)cap * sizeof *nv);
                if (!nv) {
                    snprintf(msg, n, "%s: out of memory", path);
                    bad = 1;
                    break;
                }
                v = nv;
            }
            v[count++] = (ht_note){(size_t)s, (size_t)l, (size_t)on, note, vel};
            at += (size_t)l;
        }
    }
    fclose(f);
    if (!bad && (count == 0 || !(*rate > 0))) {
        snprintf(msg, n, "%s: %s", path, count ? "no sample_rate line" : "no notes");
        bad = 1;
    }
    if (bad) {
        free(v);
        return -1;
    }
    *notes = v;
    *n_notes = count;
    *total = at;
    return 0;
}

int hs_split_load(const hs_manifest *m, const char *name, hs_split *s, char *msg, size_t n)
{
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    size_t len;
    char *text = slurp(m->path, &len);
    json_value root;
    if (!text || json_parse(text, len, &root, NULL) != JSON_OK) {
        free(text);
        snprintf(msg, n, "%s: cannot read the manifest", m->path);
        return -1;
    }
    free(text);
    const json_value *sp = json_get(json_get(&root, "splits"), name);
    const char *audio = str_at(sp, "audio"), *notes = str_at(sp, "notes");
    const char *asha = str_at(sp, "audio_sha256"), *nsha = str_at(sp, "notes_sha256");
    if (!audio || !notes || !asha || !nsha) {
        snprintf(msg, n, "%s: splits.%s needs audio, notes, audio_sha256 and notes_sha256",
                 m->path, name);
        json_free(&root);
        return -1;
    }
    beside_manifest(m, audio, s->audio, sizeof s->audio);
    beside_manifest(m, notes, s->notes, sizeof s->notes);
    char want_a[65], want_n[65];
    snprintf(want_a, sizeof want_a, "%s", asha);
    snprintf(want_n, sizeof want_n, "%s", nsha);
    json_free(&root);
    if (ht_sha256_file(s->audio, s->audio_sha) || ht_sha256_file(s->notes, s->notes_sha)) {
        snprintf(msg, n, "%s: cannot read", ht_sha256_file(s->audio, s->audio_sha) ? s->audio
                                                                                   : s->notes);
        return -1;
    }
    if (strcmp(s->audio_sha, want_a) != 0 || strcmp(s->notes_sha, want_n) != 0) {
        const int a = strcmp(s->audio_sha, want_a) != 0;
        snprintf(msg, n, "%s: SHA-256 %s, the manifest says %s: the file changed since it was "
                         "made (run tools/data/make-synth-data.sh again)",
                 a ? s->audio : s->notes, a ? s->audio_sha : s->notes_sha, a ? want_a : want_n);
        return -1;
    }
    double nrate;
    size_t total;
    if (hs_notes_read(s->notes, &s->note, &s->n_notes, &nrate, &total, msg, n))
        return -1;
    float *x;
    size_t frames;
    int rate, channels;
    if (hiss_af_read(s->audio, &x, &frames, &channels, &rate, msg, n)) {
        hs_split_free(s);
        return -1;
    }
    if (channels != 1) {
        snprintf(msg, n, "%s has %d channels: the notes are recorded in one (mono)", s->audio,
                 channels);
        free(x);
        hs_split_free(s);
        return -1;
    }
    if ((double)rate != m->rate || nrate != m->rate) {
        snprintf(msg, n, "%s is %d Hz and %s says %g Hz, the manifest %g Hz", s->audio, rate,
                 s->notes, nrate, m->rate);
        free(x);
        hs_split_free(s);
        return -1;
    }
    if (frames != total) {
        snprintf(msg, n, "%s has %zu samples, its notes (%s) %zu", s->audio, frames, s->notes,
                 total);
        free(x);
        hs_split_free(s);
        return -1;
    }
    s->cls = malloc(frames);
    if (!s->cls) {
        snprintf(msg, n, "%s: out of memory", s->audio);
        free(x);
        hs_split_free(s);
        return -1;
    }
    for (size_t i = 0; i < frames; i++) {
        if (!isfinite(x[i])) {
            snprintf(msg, n, "%s: sample %zu is not a finite number", s->audio, i);
            free(x);
            hs_split_free(s);
            return -1;
        }
        const double a = x[i] < 0 ? -x[i] : x[i];
        s->peak = a > s->peak ? a : s->peak;
        s->cls[i] = (unsigned char)hiss_synth_mulaw_encode(x[i]);
    }
    s->n = frames;
    free(x);
    return 0;
}

void hs_split_free(hs_split *s)
{
    free(s->note);
    free(s->cls);
    s->note = NULL;
    s->cls = NULL;
}
