/* fuzz_replay.h - a main() that runs a libFuzzer target on files, without libFuzzer.
 *
 * Included at the end of a fuzz_*.c target: with -DSC_FUZZ_STANDALONE (gcc, the test
 * suite's corpus replays) it defines main(), which feeds each file named on the command
 * line to LLVMFuzzerTestOneInput; otherwise it adds nothing.
 */
#ifndef SC_FUZZ_REPLAY_H
#define SC_FUZZ_REPLAY_H
#ifdef SC_FUZZ_STANDALONE
#include <stdint.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            perror(argv[i]);
            return 2;
        }
        static uint8_t data[1 << 20];
        size_t n = fread(data, 1, sizeof data, f);
        fclose(f);
        LLVMFuzzerTestOneInput(data, n);
    }
    printf("%d inputs ran\n", argc - 1);
    return 0;
}
#endif
#endif
