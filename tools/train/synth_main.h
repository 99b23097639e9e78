/* hiss-train's synth mode (synth_main.c), entered by --synth. */
#ifndef HISS_TRAIN_SYNTH_MAIN_H
#define HISS_TRAIN_SYNTH_MAIN_H

#include <stdio.h>

/* 1 when the arguments ask for synth training (--synth among them). */
int ht_synth_wanted(int argc, char **argv);
void ht_synth_usage(FILE *f);
/* The whole run; returns the exit status. */
int ht_synth_main(int argc, char **argv);

#endif
