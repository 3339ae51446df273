#!/bin/sh
# Meta-trains the shipped weights records — mlp_lopt (three stages:
# mlp_lopt_base.conf and mlp_lopt_net.conf train its per-parameter network,
# then mlp_lopt.conf trains only its per-tensor step scale), its domain
# records mlp_lopt.vision, mlp_lopt.text and mlp_lopt.tabular (each starts
# from mlp_lopt), lstm_lopt and nn_adam (two stages each: lstm_lopt_base.conf
# and nn_adam_base.conf, then lstm_lopt.conf and nn_adam.conf on the issue-15
# robustness mix), and issue 18's attn_lopt, graph_lopt and mem_lopt (each
# from its untrained default) — evaluates each on the train,
# selection and test suites of deploy/eval/ (the domain records on their
# domain's test entries; horizons 1000 and 5000, 5 seeds, next to lr-tuned
# Adam and Adam@1e-3), and regenerates src/core/lopt/weights_builtin.c from
# the records.
#
# Run from the repository root after `make -j2 build/optirsd`:
#     deploy/meta/train_all.sh
# then `make -j2 build/optirsd` again to compile the new weights in.
# Environment: DB (default build/meta.db, recreated), THREADS (default 2),
# EVAL (default 1; 0 skips the evaluations: the weights alone).
# Each meta-train's per-step progress goes to build/meta-train-NAME.log; the
# eval tables go to stdout.  Meta-training is deterministic (same configs and
# seeds -> the same weights, bit for bit), whatever the thread count.
# Measured on the shared 2-core machine: see deploy/meta/README.md.
set -e
DB=${DB:-build/meta.db}
THREADS=${THREADS:-2}
EVAL=${EVAL:-1}
# One BLAS thread per worker: the workers already use every core.
OPENBLAS_NUM_THREADS=1
export OPENBLAS_NUM_THREADS
rm -f "$DB" "$DB-wal" "$DB-shm"
start=$(date +%s)
train() {
    build/optirsd meta-train --config "deploy/meta/$1.conf" --db "$DB" --threads "$THREADS" --out "build/$1.bin" \
        > "build/meta-train-$1.log"
    tail -n 1 "build/meta-train-$1.log"
    echo "[train_all] $1 meta-trained ($(( $(date +%s) - start )) s so far)"
}
evaluate() {
    [ "$EVAL" = 0 ] && return 0
    for suite in train selection test; do
        build/optirsd eval --weights "$1" --suite "$suite" --db "$DB" --horizons 1000,5000 --seeds 5 \
            --threads "$THREADS"
    done
    echo "[train_all] $1 evaluated ($(( $(date +%s) - start )) s so far)"
}
train mlp_lopt_base
train mlp_lopt_net
train mlp_lopt
train mlp_lopt_vision
train mlp_lopt_text
train mlp_lopt_tabular
train lstm_lopt_base
train lstm_lopt
train nn_adam_base
train nn_adam
train attn_lopt
train graph_lopt
train mem_lopt
evaluate mlp_lopt
evaluate lstm_lopt
evaluate nn_adam
evaluate attn_lopt
evaluate graph_lopt
evaluate mem_lopt
if [ "$EVAL" != 0 ]; then
    for d in vision text tabular; do
        build/optirsd eval --weights "mlp_lopt.$d" --suite test --domain "$d" --db "$DB" --horizons 1000,5000 \
            --seeds 5 --threads "$THREADS"
    done
fi
/usr/bin/python3 deploy/meta/gen_builtin.py --db "$DB" mlp_lopt lstm_lopt nn_adam mlp_lopt.vision mlp_lopt.text \
    mlp_lopt.tabular attn_lopt graph_lopt mem_lopt
echo "[train_all] done in $(( $(date +%s) - start )) s; now rebuild: make -j2 build/optirsd"
