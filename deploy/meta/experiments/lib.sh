# Shared by the experiment scripts (adapt/run.sh, transfer/run.sh); sourced, not run.
# They set B (the optirsd binary), DB and OUT first.
# train CONF NAME SEED INIT: meta-trains a copy of CONF with its name and seed
# replaced and init_weights set to INIT (none: no warm start, the default
# initialisation); the log (one "step N/M  meta-loss ..." line per outer step)
# is OUT/NAME.train.log.
train() {
    sed -e "s/^name = .*/name = $2/" -e "s/^seed = .*/seed = $3/" -e "/^init_weights = /d" "$1" > "$OUT/$2.conf"
    if [ "$4" != none ]; then echo "init_weights = $4" >> "$OUT/$2.conf"; fi
    $B meta-train --config "$OUT/$2.conf" --db "$DB" --threads 1 > "$OUT/$2.train.log" 2>&1
    tail -1 "$OUT/$2.train.log"
}
# evaluate SUITEFILE TAG RECORD...: optirsd eval of each record on SUITEFILE
# (horizon 1000, 5 seeds unless EVAL_SEEDS is set) into OUT/RECORD.TAG.eval;
# an output already complete is kept (meta-training is deterministic).
evaluate() {
    suite=$1 tag=$2
    shift 2
    for w in "$@"; do
        f="$OUT/$w.$tag.eval"
        if [ -f "$f" ] && grep -q '^summary (' "$f"; then continue; fi
        $B eval --weights "$w" --suite-file "$suite" --horizons 1000 --seeds "${EVAL_SEEDS:-5}" --threads 1 --db "$DB" > "$f" 2>&1
        grep -E '^summary' "$f"
    done
}
