#!/usr/bin/env bash
# Side by side with Fluent Bit on this machine, in the same run (see
# docs/benchmarks.md, "Side by side with Fluent Bit"). Uses the reference
# tools built outside the project by ../shared/anchors (never committed):
# $ANCHORS/bin/{fluent-bit,genlogs,sink,benchrun,manywriter} and the Fluent
# Bit configurations in $ANCHORS_CONFIGS (default $ANCHORS/configs). ANCHORS
# must be set: where those tools were built.
#
#   bench/sidebyside/run.sh backlog   [RUNS]   1 GiB of JSON lines, one file, http NDJSON
#   bench/sidebyside/run.sh many      [RUNS]   1000 files at 1 line/s each for 60 s, http
#
# DROVER is the drover binary (default: bin/drover, `make build`). Results
# are appended as JSON lines to $OUT (default ./sidebyside.jsonl).
set -euo pipefail
: "${ANCHORS:?set ANCHORS to the directory the reference tools were built in (see ../shared/anchors)}"
ANCHORS_CONFIGS=${ANCHORS_CONFIGS:-$ANCHORS/configs}
DROVER=${DROVER:-bin/drover}
OUT=${OUT:-$PWD/sidebyside.jsonl}
WORK=${WORK:-$(mktemp -d -t sidebyside.XXXXXX)}
DATA=${DATA:-$WORK/bench-1g.log}
what=${1:-backlog}
runs=${2:-3}
bin=$ANCHORS/bin
SINK_PID=
cleanup() { [ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT

start_sink() {
	"$bin/sink" -http 127.0.0.1:18080 -tcp "" >"$WORK/sink.log" 2>&1 &
	SINK_PID=$!
	for _ in $(seq 100); do curl -fs http://127.0.0.1:18080/stats >/dev/null && return; sleep 0.1; done
	echo "sink did not start" >&2; exit 1
}
reset_sink() { curl -fs -X POST http://127.0.0.1:18080/reset >/dev/null; }
load() { cut -d' ' -f1 /proc/loadavg; }

drover_conf() { # $1: source block
	cat <<CONF
data_dir = "$WORK/data-$RANDOM$RANDOM"
admin {
  address = "127.0.0.1:0"
}
$1
sink "http" "out" {
  inputs = ["in"]
  uri    = "http://127.0.0.1:18080/ingest"
}
CONF
}

# cpu_of PID: user+system CPU seconds of a process.
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{print ($14+$15)/hz}' "/proc/$1/stat"; }
div() { awk "BEGIN{printf \"%.4f\", ($1)/$2}"; }
rss_of() { awk '/VmHWM/{print $2/1024}' "/proc/$1/status"; }

backlog() {
	[ -f "$DATA" ] || "$bin/genlogs" -o "$DATA" -size 1073741824 -seed 42
	lines=$(wc -l <"$DATA"); bytes=$(stat -c %s "$DATA")
	start_sink
	for i in $(seq "$runs"); do
		# A fresh data_dir each run: no checkpoint from the run before.
		drover_conf "source \"file\" \"in\" {
  include = [\"$DATA\"]
}" >"$WORK/drover-backlog.hcl"
		for who in drover fluent-bit; do
			reset_sink
			echo "load $(load) before $who run $i" >&2
			if [ $who = drover ]; then
				cmd=("$DROVER" run --config "$WORK/drover-backlog.hcl")
			else
				cmd=("$bin/fluent-bit" -c "$ANCHORS_CONFIGS/fluentbit-http-tuned.conf")
			fi
			BENCH_FILE=$DATA "$bin/benchrun" -name "backlog-http-$who" -lines "$lines" -bytes "$bytes" \
				-done sinkhttp:http://127.0.0.1:18080/stats -out "$OUT" -log "$WORK/$who-$i.log" -timeout 5m -- "${cmd[@]}"
			echo "load $(load) after" >&2
		done
	done
}

many() {
	dir=$WORK/many; rm -rf "$dir"; mkdir -p "$dir"
	start_sink
	for i in $(seq "$runs"); do
		drover_conf "source \"file\" \"in\" {
  include = [\"$dir/*.log\"]
}" >"$WORK/drover-many.hcl"
		for who in drover fluent-bit; do
			rm -rf "$dir"; mkdir -p "$dir"
			reset_sink
			# The files exist (empty) before the shipper starts; it follows
			# them while they are written, then idles for 30 s.
			"$bin/manywriter" -dir "$dir" -files 1000 -rate 1 -duration 0s >/dev/null 2>&1 || true
			if [ $who = drover ]; then
				"$DROVER" run --config "$WORK/drover-many.hcl" >"$WORK/$who-many-$i.log" 2>&1 &
			else
				MANY_DIR=$dir "$bin/fluent-bit" -c "$ANCHORS_CONFIGS/fluentbit-many.conf" >"$WORK/$who-many-$i.log" 2>&1 &
			fi
			pid=$!
			sleep 5
			l0=$(load); c0=$(cpu_of $pid)
			"$bin/manywriter" -dir "$dir" -files 1000 -rate 1 -duration 60s >/dev/null 2>&1
			sleep 2
			c1=$(cpu_of $pid)
			sleep 30
			c2=$(cpu_of $pid); rss=$(rss_of $pid); l1=$(load)
			kill -TERM $pid; wait $pid 2>/dev/null || true
			got=$(curl -fs http://127.0.0.1:18080/stats)
			echo "{\"name\":\"many-1000-$who\",\"cores_writing\":$(div "$c1-$c0" 62),\"cores_idle\":$(div "$c2-$c1" 30),\"peak_rss_mib\":$rss,\"load_before\":$l0,\"load_after\":$l1,\"sink\":$got}" | tee -a "$OUT"
		done
	done
}

"$what"
