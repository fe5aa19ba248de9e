/* A proxy ucrtbase.dll for Wine: it implements the C99 complex functions that Wine 8's ucrtbase
 * leaves unimplemented (numpy 2 aborts at import: "Unimplemented function ucrtbase.dll.crealf")
 * and forwards every other export to Wine's own ucrtbase, copied beside it as ucrtbasw.dll (the
 * .def file is written from that copy's export table by build/windows/wine_prefix.py).
 * Installed into the build and test prefixes' system32 only; never shipped.
 *
 * MSVC's complex types are structs (_Dcomplex is {double _Val[2]}); on x64 a 16-byte struct is
 * passed by reference and returned through a hidden pointer, an 8-byte one in a register. GCC
 * gives plain C structs the same ABI, so the functions take and return structs and use
 * libmingwex's _Complex implementations inside. MSVC's long double is double. */
#include <complex.h>
#include <math.h>

typedef struct { double v[2]; } dcomplex;
typedef struct { float v[2]; } fcomplex;

static double _Complex dc(dcomplex z) { return __builtin_complex(z.v[0], z.v[1]); }
static float _Complex fc(fcomplex z) { return __builtin_complex(z.v[0], z.v[1]); }
static dcomplex dd(double _Complex z) { dcomplex r = {{creal(z), cimag(z)}}; return r; }
static fcomplex ff(float _Complex z) { fcomplex r = {{crealf(z), cimagf(z)}}; return r; }

#define UNARY(name)                                                       \
    dcomplex pa_##name(dcomplex z) { return dd(name(dc(z))); }            \
    fcomplex pa_##name##f(fcomplex z) { return ff(name##f(fc(z))); }      \
    dcomplex pa_##name##l(dcomplex z) { return dd(name(dc(z))); }
#define REAL(name)                                                        \
    double pa_##name(dcomplex z) { return name(dc(z)); }                  \
    float pa_##name##f(fcomplex z) { return name##f(fc(z)); }             \
    double pa_##name##l(dcomplex z) { return name(dc(z)); }

UNARY(cacos) UNARY(cacosh) UNARY(casin) UNARY(casinh) UNARY(catan) UNARY(catanh)
UNARY(ccos) UNARY(ccosh) UNARY(cexp) UNARY(clog) UNARY(conj) UNARY(cproj)
UNARY(csin) UNARY(csinh) UNARY(csqrt) UNARY(ctan) UNARY(ctanh)
REAL(cabs) REAL(carg) REAL(cimag) REAL(creal)

static const double LN10 = 2.302585092994045684;
dcomplex pa_clog10(dcomplex z) { return dd(clog(dc(z)) / LN10); }
fcomplex pa_clog10f(fcomplex z) { return ff(clogf(fc(z)) / (float)LN10); }
dcomplex pa_clog10l(dcomplex z) { return pa_clog10(z); }
double pa_norm(dcomplex z) { return z.v[0] * z.v[0] + z.v[1] * z.v[1]; }
float pa_normf(fcomplex z) { return z.v[0] * z.v[0] + z.v[1] * z.v[1]; }
double pa_norml(dcomplex z) { return pa_norm(z); }
dcomplex pa_cpow(dcomplex x, dcomplex y) { return dd(cpow(dc(x), dc(y))); }
fcomplex pa_cpowf(fcomplex x, fcomplex y) { return ff(cpowf(fc(x), fc(y))); }
dcomplex pa_cpowl(dcomplex x, dcomplex y) { return pa_cpow(x, y); }

dcomplex pa__Cbuild(double re, double im) { dcomplex r = {{re, im}}; return r; }
fcomplex pa__FCbuild(float re, float im) { fcomplex r = {{re, im}}; return r; }
dcomplex pa__LCbuild(double re, double im) { return pa__Cbuild(re, im); }
dcomplex pa__Cmulcc(dcomplex x, dcomplex y) { return dd(dc(x) * dc(y)); }
fcomplex pa__FCmulcc(fcomplex x, fcomplex y) { return ff(fc(x) * fc(y)); }
dcomplex pa__LCmulcc(dcomplex x, dcomplex y) { return pa__Cmulcc(x, y); }
dcomplex pa__Cmulcr(dcomplex x, double y) { return dd(dc(x) * y); }
fcomplex pa__FCmulcr(fcomplex x, float y) { return ff(fc(x) * y); }
dcomplex pa__LCmulcr(dcomplex x, double y) { return pa__Cmulcr(x, y); }
