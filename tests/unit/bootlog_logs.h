/* Real ESP8266 and ESP32-family boot logs for test_bootlog.c, byte for byte from the public traces
 * cited next to each one (esp-rom.md §6 and GitHub issues). Header-only data. */
#ifndef CORRAL_TEST_BOOTLOG_LOGS_H
#define CORRAL_TEST_BOOTLOG_LOGS_H

/* esp8266/Arduino#8240 (https://github.com/esp8266/Arduino/issues/8240), also cited in esp-rom.md §6.1 */
static const char E8266_8240[] =
        " ets Jan  8 2013,rst cause:2, boot mode:(3,6)\n\n"
        "load 0x40100000, len 31320, room 16 \ntail 8\nchksum 0xef\n"
        "load 0x00000000, len 0, room 0 \ntail 0\nchksum 0xef\n"
        "load 0x00000000, len 0, room 8 \ntail 0\nchksum 0xef\n"
        "csum 0xef\ncsum err\nets_main.c \n";

/* esp8266/Arduino#8890 (https://github.com/esp8266/Arduino/issues/8890), captured at 74880 */
static const char E8266_8890[] =
        " ets Jan  8 2013,rst cause:2, boot mode:(3,6)\n\n"
        "load 0x4010f000, len 3584, room 16 \ntail 0\nchksum 0xef\ncsum 0xef\ncsum err\nets_main.c \n";

/* esp8266/Arduino#435 (https://github.com/esp8266/Arduino/issues/435): the reporter's terminal
 * wrote CR LF as the text "<\r><\n>" on each line. */
static const char E8266_435[] =
        " ets Jan  8 2013,rst cause:2, boot mode:(3,6)<\\r><\\n><\\r><\\n>\n"
        "load 0x40100000, len 28780, room 16 <\\r><\\n>\n"
        "tail 12<\\r><\\n>\n"
        "chksum 0x00<\\r><\\n>\n"
        "ho 0 tail 12 room 4<\\r><\\n>\n"
        "load 0x3ffe8000, len 1580, room 12 <\\r><\\n>\n"
        "tail 0<\\r><\\n>\n"
        "chksum 0x4c<\\r><\\n>\n"
        "load 0x3ffe8630, len 36588, room 8 <\\r><\\n>\n"
        "tail 4<\\r><\\n>\n"
        "chksum 0xb1<\\r><\\n>\n"
        "csum 0xb1<\\r><\\n>\n"
        "csum err<\\r><\\n>\n"
        "ets_main.c \n";

/* espressif/ESP8266_NONOS_SDK#304 (https://github.com/espressif/ESP8266_NONOS_SDK/issues/304) */
static const char E8266_NONOS_304[] =
        " ets Jan  8 2013,rst cause:2, boot mode:(3,6)\n\n"
        "load 0x40100000, len 1856, room 16\ntail 0\nchksum 0xef\n"
        "load 0x00000000, len 0, room 8\ntail 0\nchksum 0xef\n"
        "load 0x00000000, len 0, room 0\ntail 0\nchksum 0xef\n"
        "csum 0xef\ncsum err\nets_main.c\n";

/* esp8266/Arduino#2829, comment by faelpinho (https://github.com/esp8266/Arduino/issues/2829):
 * after erasing, GPIO0 high. Espressif's check: a line ending in ets_main.c = erased flash. */
static const char E8266_2829_ERASED[] =
        " ets Jan  8 2013,rst cause:2, boot mode:(3,6)\n\nets_main.c ";

/* esp8266/Arduino#9016 (https://github.com/esp8266/Arduino/issues/9016): GPIO0 low at reset */
static const char E8266_9016[] = "ets Jan  8 2013,rst cause:2, boot mode:(1,7)\n";

/* esp8266/Arduino#2829, turn 6 by not4unco (https://github.com/esp8266/Arduino/issues/2829):
 * a stack dump, then resets with boot mode (1,6), the last one by the watchdog. */
static const char E8266_2829_DL[] =
        "11:19:05.917 -> 3fffff70:  3fffdad0 00001388 3ffee93c 40203d93  \n"
        "11:19:05.917 -> 3fffff80:  00000000 00000000 00000000 00000000  \n"
        "11:19:05.917 -> 3fffff90:  00000000 00000000 00000001 402064b1  \n"
        "11:19:05.917 -> 3fffffa0:  3fffdad0 00000000 3ffeec24 4020653c  \n"
        "11:19:05.917 -> <<<stack<<<\n"
        "11:19:05.917 -> \n"
        "11:19:05.917 ->  ets Jan  8 2013,rst cause:2, boot mode:(1,6)\n"
        "11:19:05.917 -> \n"
        "11:19:10.020 -> \n"
        "11:19:10.020 ->  ets Jan  8 2013,rst cause:4, boot mode:(1,6)\n"
        "11:19:10.020 -> \n"
        "11:19:10.020 -> wdt reset\n";

/* esp8266/Arduino#9122 (https://github.com/esp8266/Arduino/issues/9122): watchdog reset loop; the
 * application's 115200 output reads as garbage at 74880. */
static const char E8266_9122[] =
        " ets Jan  8 2013,rst cause:4, boot mode:(3,7)\n\n"
        "wdt reset\n"
        "load 0x4010f000, len 3424, room 16 \ntail 0\nchksum 0x2e\n"
        "load 0x3fff20b8, len 40, room 8 \ntail 0\nchksum 0x2b\ncsum 0x2b\nv0004fc60\n~ld\n"
        "\xef\xbf\xbd\xef\xbf\xbdn\xef\xbf\xbdr\xef\xbf\xbd\xef\xbf\xbdn|\xef\xbf\xbdl\xef\xbf\xbdl`bbrl"
        "\xef\xbf\xbdnb\xef\xbf\xbdnl`\xef\xbf\xbdrl\xef\xbf\xbdl\xef\xbf\xbd\xef\xbf\xbd\n"
        " ets Jan  8 2013,rst cause:4, boot mode:(3,7)\n";

/* ktauchathuranga/morse-encoder#2 (https://github.com/ktauchathuranga/morse-encoder/issues/2):
 * a normal ROM boot handing over to an Arduino sketch (no MicroPython). */
static const char E8266_MORSE_2[] =
        "ets Jan  8 2013,rst cause:1, boot mode:(3,7)\n\n"
        "load 0x4010f000, len 3424, room 16\ntail 0\nchksum 0x2e\n"
        "load 0x3fff20b8, len 40, room 8\ntail 0\nchksum 0x2b\ncsum 0x2b\nv00041b20\n~ld\n";

/* micropython/micropython#1908 (https://github.com/micropython/micropython/issues/1908): one
 * capture at 115200; the ROM's 74880 output reads as garbage, then MicroPython's banner. */
static const char E8266_MP_1908[] =
        "rll▒▒|▒l▒|\n"
        "▒\n"
        "l▒\n"
        "b|▒▒▒▒r▒b▒\n"
        "b▒▒nn▒lnn▒▒▒\n"
        "bp\n"
        "lblrlp▒n▒\n"
        "▒\n"
        "l\n"
        "b\n"
        "n▒|▒\n"
        "▒\n"
        "▒\n"
        "b▒▒nn▒l▒▒l`▒nnl▒l`nr▒▒▒n\n"
        "▒b▒``▒n\n"
        "▒▒b▒nl▒\n"
        "▒▒nn▒\n"
        "▒lp▒n▒\n"
        "r▒▒▒▒▒\n"
        "b\n"
        "n▒|l▒\n"
        "▒b▒▒nn▒l▒\n"
        "l`▒nn\n"
        "l`nr▒▒▒n\n"
        "▒\n"
        "▒lp▒n▒\n"
        "r▒▒▒▒▒▒l\n"
        "b\n"
        "n▒|▒▒▒p⌎b▒▒nn▒\n"
        "l`▒nnl▒l`nr▒▒▒n\n"
        "bl`r▒▒n\n"
        "bl`<\n"
        "l▒▒|▒▒rrnb▒▒l\n"
        "▒\n"
        "▒b▒l\n"
        "b쌜▒▒\n"
        "b\n"
        "▒lrldon't use rtc mem data\n"
        "l\n"
        "l▒▒|▒▒rrnb▒▒l▒▒p▒\n"
        "▒b▒\n"
        "b쌜▒▒\n"
        "▒\n"
        "b▒\n"
        "▒lrl▒\n"
        "l▒▒|▒▒rrnb▒▒ll▒p\n"
        "b▒\n"
        "b쌜▒▒▒\n"
        "b▒lblrl▒▒rl▒▒▒b\n"
        "l▒br|▒\n"
        "b\n"
        "ll\n"
        "▒▒▒lb▒▒n▒nn▒\n"
        "▒l▒|▒l\n"
        "▒\n"
        "l▒▒l▒▒▒▒▒▒l`▒n▒▒▒▒b\n"
        "▒\n"
        "▒b\n"
        "▒▒▒b\n"
        "l▒b▒lrlr▒n▒▒▒\n"
        "▒▒n▒▒▒▒brb▒▒b쎜▒l▒▒\n"
        "▒lbl▒▒ln▒prl▒\n"
        "l▒▒|▒▒rrnb▒could not find module 'boot'\n"
        "\n"
        ">>>\n"
        "MicroPython v1.6-214-ge5c39a3 on 2016-03-13; ESP module with ESP8266\n"
        "Type \"help()\" for more information.\n"
        ">>> #4 ets_task(40100470, 2, 3fff8a04, 16)\n"
        "task prio out of range: 2\n"
        "task prio out of range: 2\n";

/* micropython/micropython#1914 (https://github.com/micropython/micropython/issues/1914); the
 * "## ... ##" lines are the reporter's own placeholders for binary data. */
static const char E8266_MP_1914[] =
        "ets Jan  8 2013,rst cause:2, boot mode:(3,6)\n"
        "load 0x40100000, len 30512, room 16 \ntail 0\nchksum 0x93\n"
        "load 0x3ffe8000, len 924, room 8 \ntail 4\nchksum 0x94\n"
        "load 0x3ffe83a0, len 26224, room 4 \ntail 12\nchksum 0x9d\ncsum 0x9d\n"
        "## line of binary data ##\n"
        " ldon't use rtc mem data\n"
        "## three lines of binary data ##\n"
        "could not find module 'boot'\n"
        "MicroPython v1.6-246-gb894551-dirty on 2016-03-20; ESP module with ESP8266\n"
        "Type \"help()\" for more information.\n"
        "#5 ets_task(401004e8, 2, 3fff8a14, 16)\n"
        "ets_alt_task: ets_run\n";

/* micropython/micropython#1957 (https://github.com/micropython/micropython/issues/1957): the
 * banner, a fatal exception, a reset, again and again. */
static const char E8266_MP_1957[] =
        "#4 ets_task(40100264, 3, 3fff95b8, 4)\n"
        "MicroPython v1.6-340-ga0cb4ed on 2016-04-02; ESP module with ESP8266\n"
        "Type \"help()\" for more information.\n"
        ">>> Fatal exception 0(IllegalInstructionCause):\n"
        "epc1=0x402151c0, epc2=0x00000000, epc3=0x00000000, excvaddr=0x00000000, depc=0x00000000\n"
        "\n"
        " ets Jan  8 2013,rst cause:2, boot mode:(3,2)\n"
        "\n"
        "load 0x40100000, len 31840, room 16 \n"
        "tail 0\n"
        "chksum 0x8b\n"
        "load 0x3ffe8000, len 1000, room 8 \n"
        "tail 0\n"
        "chksum 0x60\n"
        "load 0x3ffe83f0, len 29880, room 8 \n"
        "tail 0\n"
        "chksum 0x80\n"
        "csum 0x80\n"
        "$śž|˙�r{ocŹŚdl$‡cě$#ěŚśśăě#Çdsdldśž|˙�;socŽÄŚŚä#ěŚcäÄÜśścě‡lrl„lśź|ţ�{;gc‡„$Śś€ä�c„bě„śÜśŚÇx€#älbdrl‡�;d„źăŚcdŚc{|ŚcdlŹ‡źlcäň'ç€noăÄdŕ|„$„l„‡däçcould not find module 'boot'\n"
        "\n"
        "#4 ets_task(40100264, 3, 3fff95b8, 4)\n"
        "MicroPython v1.6-340-ga0cb4ed on 2016-04-02; ESP module with ESP8266\n"
        "Type \"help()\" for more information.\n"
        ">>> ty@@t€DPD I‡`-=Mh]KfEŐ˙‘HVůrÄˇbaRb€f`U PPôW·Ţ˙r.Sf'!\t‘Ç`-=MĹŕ˙Vö‘baRb€f`U PPô(LoadStoreAlignmentCause):\n"
        "epc1=0x4022b25f, epc2=0x00000000, epc3=0x00000000, excvaddr=0x402291a2, depc=0x00000000\n"
        "\n"
        " ets Jan  8 2013,rst cause:2, boot mode:(3,2)\n"
        "\n"
        "load 0x40100000, len 31840, room 16 \n"
        "tail 0\n"
        "chksum 0x8b\n"
        "load 0x3ffe8000, len 1000";

/* micropython/micropython#2864 (https://github.com/micropython/micropython/issues/2864): the banner,
 * a crash, one reset, then the 115200 output garbled at 74880. */
static const char E8266_MP_2864[] =
        "MicroPython v1.8.7-213-gaac2db9 on 2017-02-12; ESP module with ESP8266\n"
        "Type \"help()\" for more information.\n"
        ">>> prinFatal exception 4(Level1InterruptCause):\n"
        "epc1=0x400005cb, epc2=0x00000000, epc3=0x00000000, excvaddr=0x00000000, depc=0x00000000\n"
        "\n"
        " ets Jan  8 2013,rst cause:2, boot mode:(3,6)\n"
        "\n"
        "load 0x40100000, len 32120, room 16 \n"
        "tail 8\n"
        "chksum 0xdb\n"
        "load 0x3ffe8000, len 1088, room 0 \n"
        "tail 0\n"
        "chksum 0xfc\n"
        "load 0x3ffe8440, len 3000, room 8 \n"
        "tail 0\n"
        "chksum 0x18\n"
        "csum 0x18\n"
        "l��r��yr�'b����8�p�lp�������p�lll��r��  yr�'b��lb��p��p�������p��#l`��������rn�������l��b���b�����l�b��bl`ľ��8�ǒ���\?b����lr����8����r����8���ffe8440, len 3000, room 8 \n"
        "tail 0\n"
        "chksum 0x18\n"
        "csum 0x18\n";

/* esp-rom.md §6.1 normal boot, from esptool's boot-mode-selection.rst (exact bytes). */
static const char E8266_ROM_DOC[] =
        "\r\n ets Jan  8 2013,rst cause:2, boot mode:(3,6)\r\n\r\n"
        "load 0x40100000, len 24236, room 16 \r\ntail 12\r\nchksum 0xb7\r\nho 0 tail 12 room 4\r\n"
        "load 0x3ffe8000, len 3008, room 12 \r\ntail 4\r\nchksum 0x2c\r\n"
        "load 0x3ffe8bc0, len 4816, room 4 \r\ntail 12\r\nchksum 0x46\r\ncsum 0x46\r\n";

/* esp-rom.md §6.2 download mode (boot-mode-selection.rst; esp-serial-flasher#79) */
static const char E32_DOC_DOWNLOAD[] =
        "ets Jun  8 2016 00:22:57\r\n\r\n"
        "rst:0x1 (POWERON_RESET),boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\nwaiting for download\r\n";

/* esp-rom.md §6.2 erased flash, old ROM (esphome/issues#632, esp-idf#4589) */
static const char E32_DOC_BLANK[] =
        "ets Jun  8 2016 00:22:57\r\n\r\n"
        "rst:0x10 (RTCWDT_RTC_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\nflash read err, 1000\r\nets_main.c 371 \r\n";

/* esp-rom.md §6.2 normal boot (lmarzen/esp32-weather-epd#142, ECO3) up to the ROM's hand-over */
static const char E32_DOC_NORMAL[] =
        "ets Jul 29 2019 12:21:46\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n"
        "configsip: 0, SPIWP:0xee\r\nclk_drv:0x00,q_drv:0x00,d_drv:0x00,cs0_drv:0x00,hd_drv:0x00,wp_drv:0x00\r\n"
        "mode:DIO, clock div:2\r\nload:0x3fff0030,len:1184\r\nload:0x40078000,len:13232\r\n"
        "load:0x40080400,len:3028\r\nentry 0x400805e4\r\n";

/* esp-rom.md §6.2 ESP32-C6 download mode (esp-serial-flasher#151) */
static const char E32_C6_DOWNLOAD[] =
        "ESP-ROM:esp32c6-20220919\r\nBuild:Sep 19 2022\r\n"
        "rst:0x1 (POWERON),boot:0x4 (DOWNLOAD(USB/UART0/SDIO_FEI_FEO))\r\nwaiting for download\r\n";

/* esp-rom.md §6.2 ESP32-C3 blank flash (esp-idf#12110) */
static const char E32_C3_BLANK[] =
        "ESP-ROM:esp32c3-api1-20210207\r\nBuild:Feb  7 2021\r\n"
        "rst:0x7 (TG0WDT_SYS_RST),boot:0x8 (SPI_FAST_FLASH_BOOT)\r\nSaved PC:0x4004d1f8\r\n"
        "invalid header: 0xffffffff\r\n";

/* esphome/issues#632 (https://github.com/esphome/issues/issues/632), with the terminal's time stamps */
static const char E32_ESPHOME_632[] =
        "[13:16:42.487] ets_main.c 371 \n"
        "[13:16:42.487] \n"
        "[13:16:42.887] ets Jun  8 2016 00:22:57\n"
        "[13:16:42.887] \n"
        "[13:16:42.887] rst:0x10 (RTCWDT_RTC_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\n"
        "[13:16:42.887] flash read err, 1000\n"
        "[13:16:42.893] ets_main.c 371 \n"
        "[13:16:42.893] ets Jun  8 2016 00:22:57\n"
        "[13:16:43.286] \n"
        "[13:16:43.286] rst:0x10 (RTCWDT_RTC_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\n"
        "[13:16:43.293] flash read err, 1000\n"
        "[13:16:43.293] ets_main.c 371 \n"
        "[13:16:43.293] \n"
        "[13:27:11.936] ets Jun  8 2016 00:22:57\n"
        "[13:27:11.936] \n"
        "[13:27:11.936] rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\n"
        "[13:27:11.945] flash read err, 1000\n"
        "[13:27:11.945] ets_main.c 371 \n"
        "[13:27:11.945] ets Jun  8 2016 00:22:57\n"
        "[13:27:12.345] \n"
        "[13:27:12.345] rst:0x10 (RTCWDT_RTC_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\n"
        "[13:27:12.345] flash read err, 1000\n"
        "[13:27:12.345] ets_main.c 371 \n"
        "[13:27:12.345] \n"
        "[13:27:12.746] ets Jun  8 2016 00:22:57\n"
        "[13:27:12.746] \n"
        "[13:27:12.746] rst:0x10 (RTCWDT_RTC_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\n"
        "[13:27:12.746] flash read err, 1000\n"
        "[13:27:12.752] ets_main.c 371 \n"
        "[13:27:12.752] ets Jun  8 2016 00:22:57\n"
        "[13:27:13.146] \n"
        "[13:27:13.146] rst:0x10 (RTCWDT_RTC_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\n"
        "[13:27:13.154] flash read err, 1000\n"
        "[13:27:13.154] ets_main.c 371 \n"
        "[13:27:13.154] \n";

/* espressif/esp-idf#1778 (https://github.com/espressif/esp-idf/issues/1778) */
#define E32_1778_CYCLE "rst:0x1 (POWERON_RESET),boot:0x17 (SPI_FAST_FLASH_BOOT)\nflash read err, 1000\n" \
                       "ets_main.c 371 \nets Jun  8 2016 00:22:57\n\n"

static const char E32_IDF_1778[] = E32_1778_CYCLE E32_1778_CYCLE E32_1778_CYCLE E32_1778_CYCLE
        E32_1778_CYCLE E32_1778_CYCLE E32_1778_CYCLE E32_1778_CYCLE
        "rst:0x1 (POWERON_RESET),boot:0x17 (SPI_FAST_FLASH_BOOT)\nflash read err, 1000\n"
        "ets_main.c 371 \nets Jun  8 2016 00:22:57\n";

/* Ai-Thinker-Open/ESP32-A1S-AudioKit#49 (https://github.com/Ai-Thinker-Open/ESP32-A1S-AudioKit/issues/49),
 * ECO3 ROM: 8x invalid header per cycle */
#define E32_A1S_CYCLE "rst:0x10 (RTCWDT_RTC_RESET),boot:0x1f (SPI_FAST_FLASH_BOOT)\n" \
        "invalid header: 0xffffffff\ninvalid header: 0xffffffff\ninvalid header: 0xffffffff\n" \
        "invalid header: 0xffffffff\ninvalid header: 0xffffffff\ninvalid header: 0xffffffff\n" \
        "invalid header: 0xffffffff\ninvalid header: 0xffffffff\nets Jul 29 2019 12:21:46\n\n"

static const char E32_A1S_49[] = E32_A1S_CYCLE E32_A1S_CYCLE E32_A1S_CYCLE E32_A1S_CYCLE;

/* espressif/esp-idf#13302 (https://github.com/espressif/esp-idf/issues/13302), as posted
 * (the boot strap value is cut off; some lines read "Oxffffffff" with a letter O) */
static const char E32_IDF_13302[] =
        "rst:0x10 (RTCWDT_RTC_RESET),boot:0x\n"
        "invalid header: Oxffffffff\ninvalid header: Oxffffffff\ninvalid header: 0xffffffff\n"
        "invalid header: 0xffffffff\ninvalid header: 0xffffffff\ninvalid header: Oxffffffff\n"
        "invalid header: 0xffffffff\n";

/* espressif/esp-idf#10948 (https://github.com/espressif/esp-idf/issues/10948) */
static const char E32_IDF_10948[] =
        "rst:0x10 (RTCWDT_RTC_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\n"
        "invalid header: 0x88a0f530\ninvalid header: 0x88a0f530\ninvalid header: 0x88a0f530\n"
        "invalid header: 0x88a0f530\ninvalid header: 0x88a0f530\ninvalid header: 0x88a0f530\n"
        "invalid header: 0x88a0f530\n";

/* toblum/ESPTeamsPresence#16 (https://github.com/toblum/ESPTeamsPresence/issues/16) */
static const char E32_TEAMS_16[] =
        "[19:02:56]rst:0x10 (RTCWDT_RTC_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\n"
        "[19:02:56]invalid header: 0x6c63206e\n[19:02:56]invalid header: 0x6c63206e\n"
        "[19:02:56]invalid header: 0x6c63206e\n[19:02:56]invalid header: 0x6c63206e\n"
        "[19:02:56]invalid header: 0x6c63206e\n[19:02:56]invalid header: 0x6c63206e\n"
        "[19:02:56]invalid header: 0x6c63206e\n[19:02:56]ets Jul 29 2019 12:21:46\n[19:02:56]\n"
        "[19:02:56]rst:0x10 (RTCWDT_RTC_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\n"
        "[19:02:56]invalid header: 0x6c63206e\n[19:02:56]invalid header: 0x6c63206e\n"
        "[19:02:56]invalid header: 0x6c63206e\n[19:02:56]invalid header: 0x6c63206e\n"
        "[19:02:56]invalid header: 0x6c63206e\n[19:02:56]invalid header: 0x6c63206e\n"
        "[19:02:56]invalid header: 0x6c63206e\n[19:02:56]ets Jul 29 2019 12:21:46\n";

/* esp-rs/esp-idf-template#27 (https://github.com/esp-rs/esp-idf-template/issues/27), ESP32-C3 */
static const char E32_C3_TEMPLATE_27[] =
        "ESP-ROM:esp32c3-api1-20210207\nBuild:Feb  7 2021\n"
        "rst:0x1 (POWERON),boot:0xc (SPI_FAST_FLASH_BOOT)\nSPIWP:0xee\nmode:DIO, clock div:1\n"
        "load:0x3fcd6100,len:0x172c\nload:0x3ce00000,len:0x92840\nload:0x08000000,len:0x0\n"
        "Checksum failure. Calculated 0x18 stored 0x00\nets_main.c 333 \n"
        "ESP-ROM:esp32c3-api1-20210207\nBuild:Feb  7 2021\n"
        "rst:0x7 (TG0WDT_SYS_RST),boot:0xc (SPI_FAST_FLASH_BOOT)\nSaved PC:0x40047ed2\n";

/* espressif/esp-idf#10692 (https://github.com/espressif/esp-idf/issues/10692), ESP32-S3; the
 * "... (loops) ..." line is the reporter's */
static const char E32_S3_IDF_10692[] =
        "ESP-ROM:esp32s3-20210327\nBuild:Mar 27 2021\n"
        "rst:0x7 (TG0WDT_SYS_RST),boot:0x8 (SPI_FAST_FLASH_BOOT)\nSaved PC:0x40043ac8\nSPIWP:0xee\n"
        "mode:DIO, clock div:1\nload:0x3fcd0108,len:0x1634\nload:0x403b6000,len:0xe74\n"
        "load:0x403ba000,len:0x31c8\nChecksum failure. Calculated 0x8e stored 0xde\nets_main.c 329\n"
        "... (loops) ...\n";

/* micropython/micropython-esp32#9 (https://github.com/micropython/micropython-esp32/issues/9):
 * QIO on a DIO board, the ROM reads a header of all ones */
static const char E32_MP_ESP32_9[] =
        "rst:0x10 (RTCWDT_RTC_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\nconfigsip: 0, SPIWP:0x00\n"
        "clk_drv:0x00,q_drv:0x00,d_drv:0x00,cs0_drv:0x00,hd_drv:0x00,wp_drv:0x00\nmode:QIO, clock div:2\n"
        "load:0x3ffc0008,len:4\nload:0xffffffff,len:-1\nets Jun  8 2016 00:22:57\n";

/* jczic/ESP32-MPY-Jama#11 (https://github.com/jczic/ESP32-MPY-Jama/issues/11): a REPL session,
 * machine.reset(), the ROM, MicroPython again */
static const char E32_JAMA_11[] =
        "MicroPython v1.19.1 on 2022-06-18; ESP32 module (spiram) with ESP32\n"
        "Type \"help()\" for more information.\n>>>\n>>> import machine\n>>> machine.reset()\n"
        "ets Jun  8 2016 00:22:57\n\n"
        "rst:0xc (SW_CPU_RESET),boot:0x3f (SPI_FAST_FLASH_BOOT)\nconfigsip: 0, SPIWP:0xee\n"
        "clk_drv:0x00,q_drv:0x00,d_drv:0x00,cs0_drv:0x00,hd_drv:0x00,wp_drv:0x00\nmode:DIO, clock div:2\n"
        "load:0x3fff0030,len:4540\nho 0 tail 12 room 4\nload:0x40078000,len:12788\nload:0x40080400,len:4176\n"
        "entry 0x40080680\n"
        "MicroPython v1.19.1 on 2022-06-18; ESP32 module (spiram) with ESP32\n"
        "Type \"help()\" for more information.\n>>>\n>>>\n>>>\n";

/* espressif/arduino-esp32#577, comment by LucaH360 (https://github.com/espressif/arduino-esp32/issues/577) */
static const char E32_ARDUINO_577[] =
        "17:29:34.313 -> ets Jul 29 2019 12:21:46\n"
        "17:29:34.313 -> \n"
        "17:29:34.313 -> rst:0x1 (POWERON_RESET),boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\n"
        "17:29:34.313 -> waiting for download\n";

/* espressif/esp-idf#4589 (https://github.com/espressif/esp-idf/issues/4589): one flash read error at
 * power-on, then a normal boot into the ESP-IDF bootloader; the terminal wrote "<CR><LF>", "<ESC>"
 * and "?" for bytes it could not show. */
static const char E32_IDF_4589[] =
        "06-01-2020 18:37:27.909 [RX] - e??ts Jun  8 2016 00:22:57<CR><LF>\n"
        "<CR><LF>\n"
        "rst:0x1 (POWERON_RESET),boot:0x17 (SP??I_FAST_FLASH_BOOT)<CR><LF>\n"
        "flash read err, 1000<CR><LF>\n"
        "ets_main.c 371 <CR><LF>\n\n"
        "06-01-2020 18:37:28.275 [RX] - ??ets? Jun  8 2016 00:22:57<CR><LF>\n"
        "<CR><LF>\n"
        "rst:0x10 (RTCWDT_RTC_RESET),boot:0x17 (SPI_FAST_FLASH_BOOT)<CR><LF>\n"
        "configsip: 0, SPIWP:0xee<CR><LF>\n"
        "clk_drv:0x00??,q_drv:0x00,d_drv:0x00,cs0_drv:0x00,hd_drv:0x00,wp_drv:0x00<CR><LF>\n"
        "mo??d?e:DIO, clock div:2<CR><LF>\n"
        "load:0x3fff0018,len:4<CR><LF>\n"
        "load:0x3fff001c,len?:6276<CR><LF>\n"
        "load:0x40078000,len:11624<CR><LF>\n"
        "load:0x40080400,len:6648<CR><LF>\n"
        "en?try 0x40080764<CR><LF>\n"
        "<ESC>I (29) boot: ESP-IDF GIT-NOTFOUND 2nd stage bootloader<ESC><CR><LF>\n";

/* lvgl-micropython/lvgl_micropython#360 (https://github.com/lvgl-micropython/lvgl_micropython/issues/360),
 * ESP32-S3: a crash, "Rebooting...", the ROM, MicroPython crashing again */
static const char E32_S3_LVGL_360[] =
        "ELF file SHA256: \n\nRebooting...\nESP-ROM:esp32s3-20210327\nBuild:Mar 27 2021\n"
        "rst:0xc (RTC_SW_CPU_RST),boot:0x28 (SPI_FAST_FLASH_BOOT)\nSaved PC:0x40376344\nSPIWP:0xee\n"
        "mode:DIO, clock div:2\nload:0x3fce2820,len:0xeb0\nload:0x403c8700,len:0x4\n"
        "load:0x403c8704,len:0xc1c\nload:0x403cb700,len:0x2fa4\nentry 0x403c88ac\n\n"
        "A fatal error occurred. The crash dump printed below may be used to help\n"
        "determine what caused it. If you are not already running the most recent\n"
        "version of MicroPython, consider upgrading. New versions often fix bugs.\n\n"
        "To learn more about how to debug and/or report this crash visit the wiki\n"
        "page at: https://github.com/micropython/micropython/wiki/ESP32-debugging\n\n"
        "LVGL MicroPython \nIDF version : 67c1de1e\n"
        "Machine     : Generic ESP32S3 module with Octal-SPIRAM with ESP32S3\n\n"
        "Guru Meditation Error: Core  0 panic'ed (IllegalInstruction). Exception was unhandled.\n";

/* EmenstaNougat/ESP32-BlueJammer#19 (https://github.com/EmenstaNougat/ESP32-BlueJammer/issues/19) */
static const char E32_BLUEJAMMER_19[] =
        "rst:0x10 (RTCWDT_RTC_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\nflash read err, 988\nets_main.c 384";

#endif
