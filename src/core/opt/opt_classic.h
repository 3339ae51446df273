/* opt_classic.h — the classic optimizers: SGD, Adam, AdamW, RMSprop, Adagrad.
 *
 * Each follows torch.optim (1.13, single-tensor path) formula for formula and
 * in the same order of float32 operations, with float32 state.  The update
 * each writes is the term torch adds to the parameters (for AdamW, whose
 * torch step first rescales the parameters, the new parameters minus the old
 * ones), so params + update reproduces torch's parameters to within
 * float32 rounding.  Their state lives in one block of `nbuf` vectors of n
 * floats; save/load round-trips it bit for bit.  Reached through the registry
 * (opt_find); these declarations are for tests and the registry table.
 * Thread rules: as opt.h. */
#ifndef OPTIRS_OPT_CLASSIC_H
#define OPTIRS_OPT_CLASSIC_H

#include "opt.h"

extern const opt_vtbl opt_sgd_vtbl;
extern const opt_vtbl opt_adam_vtbl;
extern const opt_vtbl opt_adamw_vtbl;
extern const opt_vtbl opt_rmsprop_vtbl;
extern const opt_vtbl opt_adagrad_vtbl;

#endif
