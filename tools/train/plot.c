/* The loss plot: decade grid lines, labelled with a built-in 5x7 font (so no font library is
 * needed), the two curves, and a legend. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"
#include "png.h"

#define W 800
#define H 480
#define LEFT 80
#define RIGHT 20
#define TOP 20
#define BOTTOM 50
#define SCALE 2 /* font pixels per glyph pixel */

typedef struct canvas {
    uint8_t *px;
} canvas;

typedef struct rgb {
    uint8_t r, g, b;
} rgb;

static void dot(canvas *c, int x, int y, rgb col)
{
    if (x < 0 || y < 0 || x >= W || y >= H)
        return;
    uint8_t *p = c->px + ((size_t)y * W + x) * 3;
    p[0] = col.r;
    p[1] = col.g;
    p[2] = col.b;
}

static void line(canvas *c, int x0, int y0, int x1, int y1, rgb col, int thick)
{
    const int dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    int err = dx + dy;
    for (;;) {
        for (int a = 0; a < thick; a++)
            for (int b = 0; b < thick; b++)
                dot(c, x0 + a - thick / 2, y0 + b - thick / 2, col);
        if (x0 == x1 && y0 == y1)
            break;
        const int e2 = 2 * err;
        if (e2 >= dy) {
            err += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            err += dx;
            y0 += sy;
        }
    }
}

/* 5x7 glyphs, one byte per row, bit 4 = leftmost column. */
typedef struct glyph {
    char ch;
    uint8_t row[7];
} glyph;

static const glyph FONT[] = {
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}},
    {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}},
    {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}},
    {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}},
    {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}},
    {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {'-', {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}},
    {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}},
    {'e', {0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E}},
    {'a', {0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F}},
    {'c', {0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E}},
    {'d', {0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F}},
    {'h', {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11}},
    {'i', {0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E}},
    {'l', {0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'n', {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11}},
    {'o', {0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E}},
    {'p', {0x00, 0x00, 0x1E, 0x11, 0x1E, 0x10, 0x10}},
    {'r', {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10}},
    {'s', {0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E}},
    {'t', {0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06}},
    {'v', {0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04}},
    {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}},
    {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}},
    {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}},
};

/* Draws s with its top-left at (x, y); returns the width drawn. Unknown characters are blanks. */
static int text(canvas *c, int x, int y, const char *s, rgb col)
{
    int x0 = x;
    for (; *s; s++, x += 6 * SCALE) {
        const glyph *g = NULL;
        for (size_t i = 0; i < sizeof FONT / sizeof *FONT; i++)
            if (FONT[i].ch == *s)
                g = &FONT[i];
        if (!g)
            continue;
        for (int r = 0; r < 7; r++)
            for (int k = 0; k < 5; k++)
                if (g->row[r] & (0x10 >> k))
                    for (int a = 0; a < SCALE; a++)
                        for (int b = 0; b < SCALE; b++)
                            dot(c, x + k * SCALE + a, y + r * SCALE + b, col);
    }
    return x - x0;
}

static int text_width(const char *s)
{
    return (int)strlen(s) * 6 * SCALE;
}

static int ok(double v)
{
    return isfinite(v) && v > 0;
}

int plot_loss_png(const char *path, const double *train, const double *val, int n)
{
    canvas c = {malloc((size_t)W * H * 3)};
    if (!c.px)
        return -1;
    memset(c.px, 255, (size_t)W * H * 3);
    const rgb black = {0, 0, 0}, grid = {220, 220, 220}, blue = {31, 119, 180},
              red = {214, 39, 40};
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n; i++) {
        const double v[2] = {train[i], val[i]};
        for (int k = 0; k < 2; k++)
            if (ok(v[k])) {
                lo = fmin(lo, v[k]);
                hi = fmax(hi, v[k]);
            }
    }
    int d0 = -3, d1 = 0; /* decades shown */
    if (isfinite(lo)) {
        d0 = (int)floor(log10(lo));
        d1 = (int)ceil(log10(hi));
        if (d1 <= d0)
            d1 = d0 + 1;
    }
    const int pw = W - LEFT - RIGHT, ph = H - TOP - BOTTOM;
    const int xmax = n > 1 ? n : 2;
#define PX(e) (LEFT + (int)lround((double)((e) - 1) / (xmax - 1) * pw))
#define PY(v) (TOP + (int)lround((d1 - log10(v)) / (d1 - d0) * ph))
    char buf[32];
    for (int d = d0; d <= d1; d++) {
        const int y = PY(pow(10.0, d));
        line(&c, LEFT, y, W - RIGHT, y, grid, 1);
        snprintf(buf, sizeof buf, "1e%d", d);
        text(&c, LEFT - 8 - text_width(buf), y - 7, buf, black);
    }
    int step = 1;
    while ((xmax - 1) / step > 10)
        step = step == 1 ? 2 : step == 2 ? 5 : step * 2;
    for (int e = 1; e <= xmax; e = e == 1 && step > 1 ? step : e + step) {
        const int x = PX(e);
        line(&c, x, TOP + ph, x, TOP + ph + 5, black, 1);
        snprintf(buf, sizeof buf, "%d", e);
        text(&c, x - text_width(buf) / 2, TOP + ph + 9, buf, black);
    }
    text(&c, LEFT + pw / 2 - text_width("epoch") / 2, H - 18, "epoch", black);
    line(&c, LEFT, TOP, LEFT, TOP + ph, black, 1);
    line(&c, LEFT, TOP + ph, W - RIGHT, TOP + ph, black, 1);
    const double *series[2] = {train, val};
    const rgb cols[2] = {blue, red};
    for (int k = 0; k < 2; k++) {
        int px = -1, py = -1;
        for (int i = 0; i < n; i++) {
            const double v = series[k][i];
            if (!ok(v)) {
                px = -1;
                continue;
            }
            const int x = PX(i + 1), y = PY(v);
            if (px >= 0)
                line(&c, px, py, x, y, cols[k], 2);
            else
                line(&c, x, y, x, y, cols[k], 4);
            px = x;
            py = y;
        }
    }
    const char *names[2] = {"train loss", "val ESR"};
    for (int k = 0; k < 2; k++) {
        const int y = TOP + 12 + 22 * k, x = W - RIGHT - 12 - text_width("train loss") - 40;
        line(&c, x, y + 7, x + 30, y + 7, cols[k], 2);
        text(&c, x + 38, y, names[k], black);
    }
#undef PX
#undef PY
    const int r = png_write_rgb(path, c.px, W, H);
    free(c.px);
    return r;
}
