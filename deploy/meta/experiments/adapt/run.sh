#!/bin/sh
# Few-shot specialisation of mlp_lopt to deep_mlp (docs/meta-learning.md#few-shot-specialisation-of-a-learned-optimizer):
# every arm for meta-training seeds 1..3, then each record on the test split
# of deep_mlp (test.suite), in two lanes of one thread each.  Meta-training is
# deterministic, so an OUTDIR/<record>.test.eval already complete is kept.
# From the repository root:
#   sh deploy/meta/experiments/adapt/run.sh DB OUTDIR
set -eu
DB=${1:?db} OUT=${2:?outdir}
D=deploy/meta/experiments/adapt
B=build/optirsd
mkdir -p "$OUT"
. deploy/meta/experiments/lib.sh
for s in 1 2 3; do
    train $D/adapt_deep_mlp.conf adapt_deep_s$s $s mlp_lopt
    train $D/scratch_deep_mlp.conf scratch_deep_s$s $s none
    train $D/maml_general.conf maml_general_s$s $s mlp_lopt
    train $D/adapt_deep_mlp.conf adapt_maml_deep_s$s $s maml_general_s$s
    train $D/multi_general.conf multi_general_s$s $s mlp_lopt
    train $D/adapt_deep_mlp.conf adapt_multi_deep_s$s $s multi_general_s$s
done
evals() { evaluate $D/test.suite test "$@"; }
evals mlp_lopt maml_general_s1 adapt_deep_s1 adapt_deep_s2 adapt_deep_s3 scratch_deep_s1 scratch_deep_s2 &
evals multi_general_s1 adapt_maml_deep_s1 adapt_maml_deep_s2 adapt_maml_deep_s3 adapt_multi_deep_s1 adapt_multi_deep_s2 \
      adapt_multi_deep_s3 scratch_deep_s3
wait
