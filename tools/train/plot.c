/* hiss-train's loss curve, drawn with cairo: training loss and validation ESR per epoch on a
 * log scale, decade grid lines, a legend (or, for synth models, bits per sample on a linear
 * scale). */
#include <cairo.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>

#include "plot.h"

#define W 800
#define H 480
#define LEFT 80.0
#define RIGHT 20.0
#define TOP 20.0
#define BOTTOM 50.0

static int usable(double v, int lg)
{
    return isfinite(v) && (!lg || v > 0.0);
}

static double axis(double v, int lg)
{
    return lg ? log10(v) : v;
}

static void curve(cairo_t *cr, const double *v, int n, double lo, double hi, int lg, double r,
                  double g, double b)
{
    const double pw = W - LEFT - RIGHT, ph = H - TOP - BOTTOM;
    int pen = 0;
    cairo_set_source_rgb(cr, r, g, b);
    cairo_set_line_width(cr, 2.0);
    for (int i = 0; i < n; i++) {
        if (!usable(v[i], lg)) {
            pen = 0;
            continue;
        }
        double x = LEFT + (n > 1 ? pw * i / (n - 1) : pw / 2);
        double y = TOP + ph * (hi - axis(v[i], lg)) / (hi - lo);
        if (pen)
            cairo_line_to(cr, x, y);
        else
            cairo_move_to(cr, x, y);
        pen = 1;
        cairo_arc(cr, x, y, 2.5, 0, 6.283185307179586);
        cairo_move_to(cr, x, y);
    }
    cairo_stroke(cr);
}

int plot_curves_png(const char *path, const double *train, const double *val, int n,
                    const char *label_a, const char *label_b, int log_scale)
{
    const int lg = log_scale;
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (usable(train[i], lg)) {
            lo = fmin(lo, axis(train[i], lg));
            hi = fmax(hi, axis(train[i], lg));
        }
        if (usable(val[i], lg)) {
            lo = fmin(lo, axis(val[i], lg));
            hi = fmax(hi, axis(val[i], lg));
        }
    }
    if (!(lo <= hi)) {
        lo = lg ? -1 : 0;
        hi = lg ? 0 : 1;
    }
    /* grid: decades, or steps of 1, 2 or 5 times a power of ten (about 5 to 10 lines) */
    double step = 1;
    if (!lg) {
        const double span = hi - lo > 1e-9 ? hi - lo : 1;
        step = pow(10, floor(log10(span)));
        if (span / step < 2.5)
            step /= 5;
        else if (span / step < 5)
            step /= 2;
    }
    lo = floor(lo / step) * step;
    hi = ceil(hi / step) * step;
    if (hi <= lo)
        hi = lo + step;

    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 13);

    const double pw = W - LEFT - RIGHT, ph = H - TOP - BOTTOM;
    char label[32];
    for (int k = 0; lo + k * step <= hi + 1e-9 * step; k++) {
        const double d = lo + k * step;
        double y = TOP + ph * (hi - d) / (hi - lo);
        cairo_set_source_rgb(cr, 0.85, 0.85, 0.85);
        cairo_set_line_width(cr, 1);
        cairo_move_to(cr, LEFT, y);
        cairo_line_to(cr, LEFT + pw, y);
        cairo_stroke(cr);
        if (lg)
            snprintf(label, sizeof label, "1e%d", (int)lround(d));
        else
            snprintf(label, sizeof label, "%g", d);
        cairo_set_source_rgb(cr, 0, 0, 0);
        cairo_move_to(cr, 10, y + 4);
        cairo_show_text(cr, label);
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_rectangle(cr, LEFT, TOP, pw, ph);
    cairo_stroke(cr);
    for (int i = 0; i < n; i++) {
        int step = n > 10 ? (n + 9) / 10 : 1;
        if (i % step && i != n - 1)
            continue;
        double x = LEFT + (n > 1 ? pw * i / (n - 1) : pw / 2);
        snprintf(label, sizeof label, "%d", i + 1);
        cairo_move_to(cr, x - 4, H - BOTTOM + 18);
        cairo_show_text(cr, label);
    }
    cairo_move_to(cr, LEFT + pw / 2 - 20, H - 10);
    cairo_show_text(cr, "epoch");

    curve(cr, train, n, lo, hi, lg, 0.12, 0.35, 0.75);
    curve(cr, val, n, lo, hi, lg, 0.85, 0.35, 0.1);
    cairo_set_source_rgb(cr, 0.12, 0.35, 0.75);
    cairo_move_to(cr, LEFT + pw - 220, TOP + 20);
    cairo_show_text(cr, label_a);
    cairo_set_source_rgb(cr, 0.85, 0.35, 0.1);
    cairo_move_to(cr, LEFT + pw - 220, TOP + 38);
    cairo_show_text(cr, label_b);

    cairo_destroy(cr);
    cairo_surface_flush(s);
    cairo_status_t st = cairo_surface_write_to_png(s, path);
    cairo_surface_destroy(s);
    if (st != CAIRO_STATUS_SUCCESS) {
        errno = EIO;
        return -1;
    }
    return 0;
}
