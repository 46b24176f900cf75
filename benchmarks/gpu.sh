#!/usr/bin/env bash
# Run the benchmark tables on JAX's default backend (a GPU or TPU when one is present, else
# the CPU) and write one JSON with the device info and every benchmark's results:
#
#   benchmarks/gpu.sh [--quick] [OUT.json]       # default OUT: benchmarks/results/<platform>.json
#   python benchmarks/readme_table.py OUT.json   # the README's markdown tables from it
#
# Runs bench_mpis_chimpanzees.py (K 10 15 20; --quick: 5 10), bench_memory_budget.py (a small
# K with a budget that forces chunks), bench_nuts_chimpanzees.py --quick, and
# bench_sharding.py where there are 2 or more devices (on the CPU: 8 virtual ones). A
# benchmark that fails is recorded with its exit status and log tail; the others still run.
# Needs JAXIS_DATA_DIR (the chimpanzee data). JAX_PLATFORMS is passed through when set
# (JAX_PLATFORMS=cpu benchmarks/gpu.sh --quick runs the CPU on a GPU machine).
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
out=""
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) out="$a" ;;
  esac
done
# The scripts default to the CPU when JAX_PLATFORMS is unset; empty means JAX's default.
export JAX_PLATFORMS="${JAX_PLATFORMS-}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
: "${JAXIS_DATA_DIR:?set JAXIS_DATA_DIR to the directory holding chimpanzees.npz}"
platform=$(python -c 'import jax; print(jax.default_backend())')
ndev=$(python -c 'import jax; print(jax.device_count())')
out="${out:-benchmarks/results/$platform.json}"
mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
echo "platform $platform ($ndev devices); writing $out"

if [ "$quick" = 1 ]; then
  mpis_K=(5 10); mem=(10 --budget 6e7 --compare-K 10); shard_K=(4)
else
  mpis_K=(10 15 20); mem=(20 --budget 2e9 --compare-K 15); shard_K=(4 8 12)
fi

# name, then the command; each writes its JSON to $tmp/<name>.json
run() {
  local name=$1; shift
  local t0 rc=0
  t0=$(date +%s)
  echo "== $name: $*"
  "$@" --json "$tmp/$name.json" >"$tmp/$name.log" 2>&1 || rc=$?
  tail -n 25 "$tmp/$name.log"
  printf '%s\t%s\t%s\t%s\n' "$name" "$rc" "$(( $(date +%s) - t0 ))" "$*" >>"$tmp/index.tsv"
}
: >"$tmp/index.tsv"

run mpis_chimpanzees python benchmarks/bench_mpis_chimpanzees.py "${mpis_K[@]}"
run memory_budget python benchmarks/bench_memory_budget.py "${mem[@]}"
run nuts_chimpanzees python benchmarks/bench_nuts_chimpanzees.py --quick
if [ "$platform" = cpu ] || [ "$ndev" -ge 2 ]; then
  run sharding python benchmarks/bench_sharding.py "${shard_K[@]}"
else
  printf 'sharding\tskipped\t0\tbench_sharding.py needs 2 or more %s devices\n' "$platform" \
    >>"$tmp/index.tsv"
fi

python - "$tmp" "$out" "$quick" "$(( $(date +%s) - start ))" "$load_start" <<'EOF'
import json, os, platform, sys, time
import jax

tmp, out, quick, seconds, load_start = sys.argv[1:]
doc = {"platform": jax.default_backend(), "devices": [str(d) for d in jax.devices()],
       "device_kind": jax.devices()[0].device_kind, "jax": jax.__version__,
       "host": platform.node(), "cpu_count": os.cpu_count(), "quick": quick == "1",
       "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seconds": float(seconds),
       "load_average_start": load_start,
       "load_average_end": " ".join(f"{x:.2f}" for x in os.getloadavg()), "benchmarks": {}}
for line in open(os.path.join(tmp, "index.tsv")):
    name, rc, secs, command = line.rstrip("\n").split("\t")
    path, log = os.path.join(tmp, name + ".json"), os.path.join(tmp, name + ".log")
    entry = {"command": command.split(), "seconds": float(secs), "rc": None, "result": None}
    if rc == "skipped":
        entry.update(status="skipped", reason=command, command=[])
    else:
        entry["rc"] = int(rc)
        entry["status"] = "ok" if rc == "0" and os.path.exists(path) else "failed"
        if os.path.exists(path):
            entry["result"] = json.load(open(path))
        entry["log_tail"] = open(log).read()[-3000:]
    doc["benchmarks"][name] = entry
with open(out, "w") as f:
    json.dump(doc, f, indent=1)
print(f"wrote {out}: " + ", ".join(f"{k} {v['status']}" for k, v in doc["benchmarks"].items()))
EOF
