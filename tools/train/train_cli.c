#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "train_cli.h"

void ht_cli_defaults(ht_cli *c, hiss_io io)
{
    memset(c, 0, sizeof *c);
    c->o = ht_train_opts_default();
    c->o.batch = 16;
    c->o.window = 4096;
    c->o.lr = 5e-3;
    c->o.lr_min = -1; /* lr / 100 unless given */
    const long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    c->o.threads = ncpu > 0 ? (int)(ncpu < 64 ? ncpu : 64) : 1;
    c->cfg.io = io;
    c->cfg.d_model = 16;
    c->cfg.n_layer = 2;
    c->cfg.d_state = 16;
    c->cfg.d_conv = 4;
    c->cfg.rms_eps = 1e-5f;
    c->expand = 2;
    c->seed = 1;
    c->lr_warmup = 100;
    c->window_min = 1;
}

static int int_option(hiss_argv *a, const char *prog, const ht_int_opt *o)
{
    const char *v = NULL;
    const int m = hiss_opt_checked(a, prog, NULL, o->name, &v);
    long x;
    if (m <= 0)
        return m;
    if (hiss_parse_long(v, o->lo, o->hi, &x) != 0) {
        fprintf(stderr, "%s: --%s '%s': expected a whole number from %ld to %ld\n", prog, o->name,
                v, o->lo, o->hi);
        return -1;
    }
    *o->field = (int)x;
    return 1;
}

static int real_option(hiss_argv *a, const char *prog, const ht_real_opt *o)
{
    const char *v = NULL;
    const int m = hiss_opt_checked(a, prog, NULL, o->name, &v);
    double x;
    if (m <= 0)
        return m;
    if (hiss_parse_double(v, &x) != 0 || x < o->lo || x > o->hi) {
        fprintf(stderr, "%s: --%s '%s': expected a number from %g to %g\n", prog, o->name, v,
                o->lo, o->hi);
        return -1;
    }
    *o->field = x;
    return 1;
}

/* A flag: 1 (and *field = value), 0 or -1 as hiss_opt_checked. */
static int flag_option(hiss_argv *a, const char *prog, const char *s, const char *l, int *field,
                       int value)
{
    const int m = hiss_opt_checked(a, prog, s, l, NULL);
    if (m > 0)
        *field = value;
    return m;
}

static int string_option(hiss_argv *a, const char *prog, const char *s, const char *l,
                         const char **field)
{
    return hiss_opt_checked(a, prog, s, l, field);
}

/* The option at a->i when it is a shared one or one of the mode's numbers: 1 taken, 0 not one of
 * them, -1 a usage error (said). */
static int shared_option(hiss_argv *a, const char *prog, ht_cli *c, const ht_cli_mode *mode)
{
    const ht_int_opt shared_ints[] = {
        {"d-model", &c->cfg.d_model, 1, HISS_MAX_D_MODEL},
        {"n-layer", &c->cfg.n_layer, 1, HISS_MAX_LAYERS},
        {"d-state", &c->cfg.d_state, 1, HISS_MAX_D_STATE},
        {"d-conv", &c->cfg.d_conv, 1, HISS_MAX_D_CONV},
        {"expand", &c->expand, 1, 64},
        {"dt-rank", &c->cfg.dt_rank, 1, HISS_MAX_D_INNER},
        {"epochs", &c->epochs, 1, 1000000},
        {"stop-after", &c->stop_after, 1, 1000000},
        {"batch", &c->o.batch, 1, 65536},
        {"window", &c->o.window, c->window_min, 1 << 22},
        {"seed", &c->seed, 0, 2147483647},
        {"threads", &c->o.threads, 1, 1024},
        {"lr-warmup", &c->lr_warmup, 0, 100000000},
    };
    const ht_real_opt shared_reals[] = {
        {"lr", &c->o.lr, 1e-9, 10},
        {"lr-min", &c->o.lr_min, 0, 10},
        {"weight-decay", &c->o.weight_decay, 0, 10},
        {"clip", &c->o.clip, 0, 1e9},
    };
    int m = 0;
    for (size_t k = 0; !m && k < sizeof shared_ints / sizeof *shared_ints; k++)
        m = int_option(a, prog, &shared_ints[k]);
    for (size_t k = 0; !m && k < mode->n_ints; k++)
        m = int_option(a, prog, &mode->ints[k]);
    for (size_t k = 0; !m && k < sizeof shared_reals / sizeof *shared_reals; k++)
        m = real_option(a, prog, &shared_reals[k]);
    for (size_t k = 0; !m && k < mode->n_reals; k++)
        m = real_option(a, prog, &mode->reals[k]);
    const char *v = NULL;
    if (!m && (m = string_option(a, prog, NULL, "schedule", &v)) > 0) {
        if (strcmp(v, "cosine") == 0)
            c->o.schedule = HT_SCHED_COSINE;
        else if (strcmp(v, "step") == 0)
            c->o.schedule = HT_SCHED_STEP;
        else {
            hiss_usage_error(prog, "--schedule '%s': expected cosine or step%s", v, "");
            m = -1;
        }
    }
    if (!m)
        m = string_option(a, prog, "o", "output", &c->out);
    if (!m)
        m = string_option(a, prog, NULL, "checkpoint", &c->checkpoint);
    if (!m)
        m = string_option(a, prog, NULL, "log", &c->log);
    if (!m)
        m = string_option(a, prog, NULL, "epoch-models", &c->epoch_models);
    if (!m)
        m = flag_option(a, prog, NULL, "resume", &c->resume, 1);
    if (!m)
        m = flag_option(a, prog, NULL, "no-plot", &c->no_plot, 1);
    if (!m)
        m = flag_option(a, prog, "q", "quiet", &c->quiet, 1);
    return m;
}

int ht_cli_parse(int argc, char **argv, const char *prog, ht_cli *c, const ht_cli_mode *mode,
                 int *done)
{
    hiss_argv a = {argc, argv, 1};
    *done = 0;
    while (a.i < argc && !*done) {
        const char *arg = argv[a.i];
        if (arg[0] != '-' || arg[1] == '\0')
            return hiss_usage_error(prog, "unexpected argument '%s'%s", arg, "");
        int m = shared_option(&a, prog, c, mode);
        if (!m)
            m = mode->option(&a, mode->ctx, done);
        if (m < 0)
            return HT_EXIT_USAGE;
        if (!m)
            return hiss_usage_error(prog, "unknown option '%s'%s", arg, mode->unknown_hint);
    }
    return 0;
}

int ht_cli_finish(ht_cli *c, const char *prog)
{
    c->o.seed = (uint64_t)c->seed;
    c->o.lr_warmup_steps = c->lr_warmup;
    if (c->o.lr_min < 0)
        c->o.lr_min = c->o.lr / 100;
    c->cfg.d_inner = c->expand * c->cfg.d_model;
    if (c->cfg.d_inner > HISS_MAX_D_INNER)
        return hiss_usage_error(prog, "--expand x --d-model is above the engine's limit for "
                                      "d_inner%s%s",
                                "", "");
    if (!c->cfg.dt_rank)
        c->cfg.dt_rank = (c->cfg.d_model + 15) / 16;
    return 0;
}
