#!/bin/sh
# Meta-trains the shipped weights, evaluates them and regenerates
# src/core/weights_builtin.c.  Run from the repository root after `make`.
# About 5 minutes on 2 cores (meta-training ~4 min, eval ~1 min per suite).
set -e
DB=${DB:-build/meta.db}
rm -f "$DB" "$DB-wal" "$DB-shm"
build/optirsd meta-train --config deploy/meta/mlp_lopt.conf --db "$DB" --out build/mlp_lopt.bin
build/optirsd eval --weights mlp_lopt --suite train --db "$DB"
build/optirsd eval --weights mlp_lopt --suite validation --db "$DB"
/usr/bin/python3 deploy/meta/gen_builtin.py --db "$DB" mlp_lopt
