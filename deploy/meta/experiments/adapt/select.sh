#!/bin/sh
# The adaptation recipe's outer lr, chosen on the selection split of deep_mlp
# (selection.suite): adapt_deep_mlp.conf from mlp_lopt at each lr (seed 1), and
# mlp_lopt itself, each evaluated there.  From the repository root:
#   sh deploy/meta/experiments/adapt/select.sh DB OUTDIR
set -eu
DB=${1:?db} OUT=${2:?outdir}
D=deploy/meta/experiments/adapt
B=build/optirsd
mkdir -p "$OUT"
for lr in 0.0003 0.001 0.003; do
    sed -e "s/^name = .*/name = sel_lr$lr/" -e "s/^outer_lr = .*/outer_lr = $lr/" $D/adapt_deep_mlp.conf > "$OUT/sel_lr$lr.conf"
    $B meta-train --config "$OUT/sel_lr$lr.conf" --db "$DB" --threads 1 > "$OUT/sel_lr$lr.train.log" 2>&1
done
for w in mlp_lopt sel_lr0.0003 sel_lr0.001 sel_lr0.003; do
    $B eval --weights $w --suite-file $D/selection.suite --horizons 1000 --seeds 5 --threads 1 --db "$DB" \
        > "$OUT/$w.selection.eval" 2>&1
    echo "== $w"; grep -E '^deep_mlp|^summary|mean LO' "$OUT/$w.selection.eval"
done
