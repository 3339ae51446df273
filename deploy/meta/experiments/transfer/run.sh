#!/bin/sh
# Transfer between domains (docs/meta-learning.md#transfer-between-domains):
# for each pair SOURCE -> TARGET and each seed (SEEDS, default 1 2 3), the target's config (target_TARGET.conf, 60
# outer steps of the adapt recipe) meta-trained twice with the same seed --
# warm-started from the source domain's record (init_weights) and from the
# default initialisation -- then both records, and the source record
# unadapted, evaluated on the target domain's held-out tasks
# (heldout_TARGET.suite: none is a task trained on; horizon 1000, 3 seeds).
# summarise.py reads OUTDIR and prints the table.  From the repository root:
#   sh deploy/meta/experiments/transfer/run.sh DB OUTDIR
set -eu
DB=${1:?db} OUT=${2:?outdir}
D=deploy/meta/experiments/transfer
B=build/optirsd
EVAL_SEEDS=${EVAL_SEEDS:-3}
SEEDS=${SEEDS:-1 2 3}
mkdir -p "$OUT"
. deploy/meta/experiments/lib.sh
# no synthetic record is shipped: the synthetic source is made here (40 steps on quadratics)
train $D/source_synthetic.conf tr_src_synthetic 1 none
# PAIRS: "name source-record target-domain"
PAIRS="vision_text:mlp_lopt.vision:text synthetic_vision:tr_src_synthetic:vision vision_tabular:mlp_lopt.vision:tabular"
for p in $PAIRS; do
    IFS=: read -r n src tgt <<E
$p
E
    for s in $SEEDS; do
        train $D/target_$tgt.conf ${n}_warm_s$s $s "$src"
        train $D/target_$tgt.conf ${n}_scratch_s$s $s none
        evaluate $D/heldout_$tgt.suite heldout ${n}_warm_s$s ${n}_scratch_s$s
    done
done
for p in $PAIRS; do
    IFS=: read -r n src tgt <<E
$p
E
    # the source record before any step on the target (its eval file is per target)
    f="$OUT/$src.heldout_$tgt.eval"
    if [ ! -f "$f" ] || ! grep -q '^summary (' "$f"; then
        $B eval --weights "$src" --suite-file $D/heldout_$tgt.suite --horizons 1000 --seeds "$EVAL_SEEDS" --threads 1 --db "$DB" > "$f" 2>&1
        grep -E '^summary' "$f"
    fi
done
