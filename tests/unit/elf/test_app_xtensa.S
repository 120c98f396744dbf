/* test_app.c by hand for Xtensa (Debian has an Xtensa assembler, binutils-xtensa-lx106, but no
 * compiler small enough): the same functions, each on test_app.c's line, with the .loc line
 * records a compiler would emit; call0 as the ESP8266's ABI (an ESP32 ELF differs in ABI only). */
        .file   "test_app.c"
        .file 1 "main/test_app.c"
        .text
        .align  4
        .global read_sensor
        .type   read_sensor, @function
read_sensor:
        .loc 1 5 0
        movi    a3, 3
        mull    a2, a2, a3
        movi    a4, 0
        l32i    a4, a4, 0
        add     a2, a2, a4
        ret
        .size   read_sensor, .-read_sensor
        .align  4
        .global test_three
        .type   test_three, @function
test_three:
        .loc 1 6 0
        addi    a1, a1, -16
        s32i    a0, a1, 0
        movi    a2, 2
        call0   read_sensor
        addi    a2, a2, 1
        l32i    a0, a1, 0
        addi    a1, a1, 16
        ret
        .size   test_three, .-test_three
        .align  4
        .global app_main
        .type   app_main, @function
app_main:
        .loc 1 7 0
        addi    a1, a1, -16
        s32i    a0, a1, 0
        call0   test_three
        addi    a2, a2, -7
        l32i    a0, a1, 0
        addi    a1, a1, 16
        ret
        .size   app_main, .-app_main
