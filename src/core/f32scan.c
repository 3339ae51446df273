/* f32scan.c — the all-finite pass of f32scan.h. */
#include "f32scan.h"

#include "vecmath.h"

/* Floats checked between two looks at the sums: a non-finite value ends
 * the pass within one block. */
#define F32SCAN_BLOCK 4096

int f32scan_all_finite(const float *v, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t end = n - i > F32SCAN_BLOCK ? i + F32SCAN_BLOCK : n;
        vm_f32 a = vm_splat(0), b = a, c = a, d = a;
        for (; i + 4 * VM_W <= end; i += 4 * VM_W) {
            vm_f32 x = vm_load(v + i, VM_W), y = vm_load(v + i + VM_W, VM_W);
            vm_f32 z = vm_load(v + i + 2 * VM_W, VM_W), w = vm_load(v + i + 3 * VM_W, VM_W);
            a += x - x;
            b += y - y;
            c += z - z;
            d += w - w;
        }
        for (; i < end; i += VM_W) {
            size_t k = end - i < VM_W ? end - i : VM_W;
            vm_f32 x = vm_load(v + i, k);
            a += x - x;
        }
        vm_f32 s = (a + b) + (c + d);
        if (s[0] != 0 || s[1] != 0 || s[2] != 0 || s[3] != 0) return 0;   /* a NaN compares unequal */
    }
    return 1;
}
