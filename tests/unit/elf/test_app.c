/* A firmware-like app for the ELF symbol tests, built at test time by ./build for ARM Cortex-M and
 * RISC-V (clang + lld) and the host (gcc). Each function is one line, so every address inside it
 * has that line: test_elf_symbols.c and tests/integration/hil_backtrace.test.mjs assert them. */
volatile int *volatile sensor_reg;
__attribute__((noinline)) int read_sensor(int ch) { return ch * 3 + *sensor_reg; } /* line 5 */
__attribute__((noinline)) int test_three(void) { return read_sensor(2) + 1; } /* line 6 */
int app_main(void) { return test_three() - 7; } /* line 7 */
int main(void) { return app_main(); } /* line 8 */
