/* TRY(x): evaluate x, an int-returning step, and return its value from the enclosing function
 * when it is negative (a negative errno). For engine code that chains port and loader steps. */
#ifndef CORRAL_ENGINES_TRY_H
#define CORRAL_ENGINES_TRY_H

#define TRY(x)                         \
        do {                           \
                int r_ = (x);          \
                if (r_ < 0)            \
                        return r_;     \
        } while (0)

#endif
