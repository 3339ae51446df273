#!/bin/sh
# Multi-task optimizer (docs/meta-learning.md#multi-task-optimizer): three
# arms at equal meta-training budget (the same total inner steps), all
# warm-started from the shipped mlp_lopt, then each evaluated on each
# domain's test-suite entries (horizon 1000, 2 seeds):
#   shared  one network on the union of the three domain configs' tasks
#           (shared.conf, 600 outer steps);
#   film    the same with film = 1: a shared trunk plus one FiLM row per
#           domain, each task training its domain's row (film.conf);
#   sep     three networks, each on its domain's tasks for 200 outer steps
#           (sep_DOMAIN.conf), evaluated on its own domain only;
#   base    no training: the shipped mlp_lopt, every arm's starting point;
#   film_trunk  the film arm's record on its trunk alone (eval --film-trunk:
#           no row), to see what the rows add.
# From the repository root (ARMS: any of base shared film film_trunk sep, default all; B: the
# binary, default build/optirsd):
#   sh deploy/meta/experiments/multitask/run.sh DB OUTDIR
# summarise.py OUTDIR prints the table.  Runs one thread at a time.
set -eu
DB=${1:?db} OUT=${2:?outdir}
D=deploy/meta/experiments/multitask
B=${B:-build/optirsd}
ARMS=${ARMS:-base shared film film_trunk sep}
mkdir -p "$OUT"
train() {   # CONF NAME: once (a finished log is kept)
    if [ -f "$OUT/$2.train.log" ] && grep -q '^stored weights' "$OUT/$2.train.log"; then return; fi
    /usr/bin/time -f "wall %e s" $B meta-train --config "$1" --db "$DB" --threads 1 > "$OUT/$2.train.log" 2>&1
    tail -2 "$OUT/$2.train.log"
}
evaluate() {   # RECORD DOMAIN [TAG FLAG]: into OUT/TAG.DOMAIN.eval (TAG: RECORD)
    f="$OUT/${3:-$1}.$2.eval"
    if [ -f "$f" ] && grep -q '^summary (' "$f"; then return; fi
    /usr/bin/time -f "wall %e s" $B eval --weights "$1" --suite test --domain "$2" --horizons 1000 --seeds 2 --threads 1 --db "$DB" ${4:-} > "$f" 2>&1
    grep -E '^summary' "$f" || tail -3 "$f"
}
for a in $ARMS; do
    case $a in
    shared|film)
        train $D/$a.conf mt_$a
        for d in vision text tabular; do evaluate mt_$a $d; done ;;
    film_trunk)
        for d in vision text tabular; do evaluate mt_film $d mt_film_trunk --film-trunk; done ;;
    base)
        for d in vision text tabular; do evaluate mlp_lopt $d; done ;;
    sep)
        for d in vision text tabular; do train $D/sep_$d.conf mt_sep_$d; evaluate mt_sep_$d $d; done ;;
    *) echo "unknown arm $a" >&2; exit 2 ;;
    esac
done
