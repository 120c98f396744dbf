/* UTF-8 repair: valid sequences kept, every other byte replaced by U+FFFD (the rule in utf8.h). */
#include "utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

size_t utf8_seq_len(const void *s, size_t n)
{
        const unsigned char *p = s;
        if (!n)
                return 0;
        unsigned c = p[0];
        size_t len;
        uint32_t cp;
        if (c < 0x80)
                return 1;
        if (c >= 0xC2 && c <= 0xDF) {
                len = 2;
                cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
                len = 3;
                cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
                len = 4;
                cp = c & 0x07;
        } else {
                return 0; /* continuation byte, C0/C1 (always overlong), F5..FF */
        }
        if (n < len)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((p[i] & 0xC0) != 0x80)
                        return 0;
                cp = cp << 6 | (p[i] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
                return 0;
        return len;
}

size_t utf8_repair(const void *in, size_t n, char *out)
{
        const unsigned char *p = in;
        size_t o = 0;
        for (size_t i = 0; i < n;) {
                size_t len = utf8_seq_len(p + i, n - i);
                if (len) {
                        memcpy(out + o, p + i, len);
                        o += len;
                        i += len;
                } else {
                        memcpy(out + o, UTF8_REPLACEMENT, 3);
                        o += 3;
                        i++;
                }
        }
        out[o] = '\0';
        return o;
}

json_t *utf8_json_string(const void *in, size_t n)
{
        if (!in)
                return json_string("");
        size_t i = 0, len;
        while (i < n && (len = utf8_seq_len((const char *)in + i, n - i)))
                i += len;
        if (i == n) /* the common case: already valid */
                return json_stringn_nocheck(in, n);
        if (n > (SIZE_MAX - 1) / 3)
                return NULL;
        char *clean = malloc(3 * n + 1);
        if (!clean)
                return NULL;
        len = utf8_repair(in, n, clean);
        json_t *j = json_stringn_nocheck(clean, len);
        free(clean);
        return j;
}
