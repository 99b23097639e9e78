/* The real type of one compilation of the training math: float, or double when HT_DOUBLE is
 * defined. Every source that includes this is compiled twice (see CMakeLists.txt). */
#ifndef HISS_TRAIN_REAL_H
#define HISS_TRAIN_REAL_H

#include <math.h>

#include "hiss_train.h"

#ifdef HT_DOUBLE
typedef double real;
#define HT_FN(n) ht_d_##n
#define R_EXP exp
#define R_LOG log
#define R_LOG1P log1p
#define R_SQRT sqrt
#else
#include "fastmath.h"
typedef float real;
#define HT_FN(n) ht_f_##n
/* the engine's exp: vectorises, and keeps the trainer's float forward close to the engine's */
#define R_EXP hiss_exp
#define R_LOG logf
#define R_LOG1P log1pf
#define R_SQRT sqrtf
#endif

#endif
