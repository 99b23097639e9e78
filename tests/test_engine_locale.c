/* Model files load the same under a locale whose decimal separator is a comma, as a host that
 * called setlocale(LC_ALL, "") may have set: an fx model and a synth model are saved in the C
 * locale, then loaded with LC_NUMERIC = de_DE.UTF-8; their sample rate and rms_eps must be what
 * was saved (strtod alone reads "9.99999975e-06" as 9 there and the load fails). When the system
 * has no such locale, one is built with localedef into the test's directory (LOCPATH); without
 * localedef or its de_DE source the test says so and skips (77). */
#define _POSIX_C_SOURCE 200809L
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnum.h"
#include "hiss.h"
#include "hiss_synth.h"

#include "check.h"

static int comma_locale(void)
{
    if (setlocale(LC_NUMERIC, "de_DE.UTF-8"))
        return 1;
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "localedef -i de_DE -f UTF-8 '%s/de_DE.UTF-8' >/dev/null 2>&1",
             HISS_TEST_TMP_DIR);
    if (system(cmd) == -1)
        return 0;
    /* glibc reads LOCPATH at every setlocale; localedef exits 1 on mere warnings */
    setenv("LOCPATH", HISS_TEST_TMP_DIR, 1);
    return setlocale(LC_NUMERIC, "de_DE.UTF-8") != NULL;
}

int main(void)
{
    hiss_config c = {0};
    c.d_model = 8;
    c.n_layer = 1;
    c.d_state = 4;
    c.d_conv = 3;
    c.sample_rate = 44100.5;
    c.rms_eps = 1e-5f;
    char fx[1024], sy[1024];
    snprintf(fx, sizeof fx, "%s/locale-fx.safetensors", HISS_TEST_TMP_DIR);
    snprintf(sy, sizeof sy, "%s/locale-synth.safetensors", HISS_TEST_TMP_DIR);
    hiss_model *m = NULL;
    hiss_synth_model *sm = NULL;
    hiss_error err;
    if (hiss_model_init(&c, 1, &m, &err) != HISS_OK || hiss_model_save(m, fx, &err) != HISS_OK ||
        hiss_synth_model_init(&c, "pitch,gate", 0, 1, &sm, &err) != HISS_OK ||
        hiss_synth_model_save(sm, sy, &err) != HISS_OK) {
        printf("FAIL: writing the models: %s\n", err.msg);
        return 1;
    }
    const float eps = hiss_model_config(m)->rms_eps;
    hiss_model_free(m);
    hiss_synth_model_free(sm);

    if (!comma_locale()) {
        printf("skipped: no de_DE.UTF-8 locale, and localedef could not make one (Debian: the "
               "locales package)\n");
        return 77;
    }
    const struct lconv *lc = localeconv();
    CHECK(strcmp(lc->decimal_point, ",") == 0, "de_DE.UTF-8's decimal point is '%s', not ','",
          lc->decimal_point);
    char buf[32];
    snprintf(buf, sizeof buf, "%.1f", 0.5);
    printf("LC_NUMERIC de_DE.UTF-8: 0.5 prints as %s\n", buf);

    m = NULL;
    const hiss_status st = hiss_model_load(fx, &m, &err);
    CHECK(st == HISS_OK, "fx model refused under de_DE: %s", err.msg);
    if (st == HISS_OK) {
        CHECK(hiss_model_config(m)->sample_rate == 44100.5 && hiss_model_config(m)->rms_eps == eps,
              "fx model read back as %.17g Hz, rms_eps %.9g (saved 44100.5, %.9g)",
              hiss_model_config(m)->sample_rate, (double)hiss_model_config(m)->rms_eps, (double)eps);
        hiss_model_free(m);
    }
    sm = NULL;
    const hiss_status ss = hiss_synth_model_load(sy, &sm, &err);
    CHECK(ss == HISS_OK, "synth model refused under de_DE: %s", err.msg);
    if (ss == HISS_OK) {
        CHECK(hiss_synth_model_config(sm)->sample_rate == 44100.5 &&
                  hiss_synth_model_config(sm)->rms_eps == eps,
              "synth model read back as %.17g Hz, rms_eps %.9g", hiss_synth_model_config(sm)->sample_rate,
              (double)hiss_synth_model_config(sm)->rms_eps);
        hiss_synth_model_free(sm);
    }
    /* the reader the plugin's knob ranges use, and the locale left as it was */
    char *end;
    const double v = hiss_strtod_c("0.25:2", &end);
    CHECK(v == 0.25 && *end == ':', "hiss_strtod_c(\"0.25:2\") = %g, stopped at '%s'", v, end);
    CHECK(strcmp(localeconv()->decimal_point, ",") == 0, "the caller's LC_NUMERIC was changed");
    remove(fx);
    remove(sy);
    printf("%s\n", failures ? "FAILED" : "models load the same under a decimal-comma locale");
    return failures ? 1 : 0;
}
