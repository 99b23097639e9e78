/* hiss-train where libsndfile is missing: the synth mode, which reads its WAV files itself,
 * works; fx training (recording pairs in any format libsndfile reads) says what it needs. */
#include <stdio.h>
#include <string.h>

#include "synth_main.h"

int main(int argc, char **argv)
{
    if (ht_synth_wanted(argc, argv))
        return ht_synth_main(argc, argv);
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            ht_synth_usage(stdout);
            printf("\nThis hiss-train was built without libsndfile: fx training (--dry/--wet) "
                   "is not available.\n");
            return 0;
        }
    fprintf(stderr, "hiss-train: built without libsndfile, so only synth training (--synth) is "
                    "available; fx training reads its recordings through libsndfile "
                    "(pkg-config sndfile, e.g. apt-get install libsndfile1-dev) at build time\n");
    return 2;
}
