#!/usr/bin/env bash
# Report the CPU trainings of docs/training.md ("The best CPU models", "SNR-adaptive DeepJSCC"):
#   1. semcom train curves     held-out PSNR versus training minutes, the new and the older checkpoints
#   2. semcom train snr-sweep  the SNR-adaptive ADJSCC against the single-SNR DeepJSCC models, -2..20 dB
#   3. semcom compare          at SPP 0.125 (CBR 1/24, matched to ADJSCC's channel uses) and at SPP 0.25
#                              (CBR 1/12, matched to the SPP 0.25 DeepJSCC): the learned models, HEIF +
#                              capacity, HEIF and JPEG2000 + 5G LDPC with the MCS adapted to the SNR
#                              (bit-true link), AWGN at -4, -2, 0, 5, 10 dB, the whole test photos.
#   4. semcom compare          SCC and VL-SCC 2D (105 minutes) at SPP 0.125 (matched to the 105-minute
#                              SCC) against the 105-minute DeepJSCC at 5 dB, HEIF + capacity and HEIF +
#                              5G LDPC, AWGN at -2, 0, 5, 10 dB; the photos are centre-cropped to
#                              multiples of 64 (what the older, tiled _long checkpoints needed; kept so that
#                              a re-run measures the committed record's photos)
#   4b. semcom compare         the DeepJSCC trained at 0 dB (115 minutes) at SPP 0.125 against HEIF + capacity and
#                              HEIF + 5G LDPC, as step 3 (a comparison of its own, so that adding the model did
#                              not re-run the others; its references are step 3's, re-measured)
#
# The older SCC / VL-SCC 2D (scc_awgn10_spp0125_long, vlscc2d_awgn10_long) are retired: their weights are
# no longer shipped. Step 4 then compares only the 105-minute ones; the committed
# results/train/compare_scc_vlscc/compare.json and train_curves.json, measured with the older
# checkpoints beside the new ones before they were retired, stay the record of old against new. To
# measure them again, set SCC_OLD / VLSCC2D_OLD to the retired .pt files and add their metadata .json
# to OLD_CHECKPOINTS (both from git history: git show d9988ea:src/semcom/checkpoints/<name>.pt > <name>.pt,
# and the same for <name>.json, which holds the SHA-256 the loader checks).
# The 15-minute DeepJSCC at 10 dB (deepjscc_awgn10_spp0125_long), superseded by the 105-minute one at
# 5 dB, is retired the same way: steps 1-3 leave it out unless DEEPJSCC_0125 names its .pt file (and
# OLD_CHECKPOINTS its .json, for the curves); the committed train_curves.json, train_snr_sweep.json and
# compare_spp0125/compare.json, measured with it, stay the record (its files: git show
# 51a986a:src/semcom/checkpoints/deepjscc_awgn10_spp0125_long.pt, and .json).
#   4c. semcom compare         the 5 dB DeepJSCC with encoder-side refinement (REFINE_STEPS Adam steps per image at
#                              the channel's SNR, semcom.models.refine) beside the plain one, HEIF + capacity and
#                              HEIF + 5G LDPC, as step 3
#   4d. semcom compare         the same with REFINE_MORE_STEPS steps at REFINE_MORE_SNR (the goal's SNRs)
#   4e. semcom compare         at and below 0 dB (LOW_SNR): the refined and plain 5 dB DeepJSCC, the 0 dB DeepJSCC,
#                              HEIF + capacity and HEIF + 5G LDPC whose adapted MCS now reaches the 38.214 rows
#                              below rate 1/5 (bit repetition; before, it stopped at MCS 3) and decodes below rate
#                              1/3 in int16: the margin below 0 dB against the full-strength baseline
#   4f. semcom compare         the same models at DOWNSCALE_SNR against HEIF + capacity and HEIF + 5G LDPC that may
#                              lower the image's resolution (separation option downscale=4: the best of full, half and
#                              quarter size for each payload), labelled heif_capacity / heif_ldpc_adapted there, beside
#                              the full-resolution ones (heif_capacity_full, heif_ldpc_adapted_full)
#   5. semcom train gaps       the learned systems of the comparisons against HEIF + capacity / LDPC
# Everything lands in OUT (default results/train) with its JSON (provenance) and plots; the log
# report_training.log records the wall time and the load average of every step. The sweep (one
# process) runs beside the comparisons (WORKERS processes); its output is in OUT/snr_sweep.out.
#
#   scripts/report_training.sh [OUT]
#
# Environment (defaults: the committed checkpoints and the settings above):
#   SEMCOM          the semcom command (default: semcom on the PATH, else .venv/bin/semcom, else python3 -m semcom.cli)
#   ADJSCC          SNR-adaptive checkpoint, SPP 0.125        (adjscc_awgn_m2to20_spp0125)
#   ADJSCC_LOW      SNR-adaptive checkpoint, SPP 0.125, trained at -4..8 dB (adjscc_awgn_m4to8_spp0125)
#   DEEPJSCC_025    single-SNR DeepJSCC at SPP 0.25           (deepjscc_awgn5_spp025)
#   DEEPJSCC_0125   an older single-SNR DeepJSCC at SPP 0.125 for steps 2-3, label deepjscc_spp0125
#                   (none: the 15-minute one at 10 dB is retired, see above)
#   DEEPJSCC_0125_5 single-SNR DeepJSCC at SPP 0.125, 105 minutes at 5 dB (deepjscc_awgn5_spp0125)
#   DEEPJSCC_0125_0 single-SNR DeepJSCC at SPP 0.125, 115 minutes at 0 dB (deepjscc_awgn0_spp0125)
#   SCC             SCC at SPP 0.125, 105 minutes at 10 dB     (scc_awgn10_spp0125_105min)
#   VLSCC2D         VL-SCC 2D (about SPP 0.125), 105 minutes at 10 dB (vlscc2d_awgn10_105min)
#   SCC_OLD         an older SCC at SPP 0.125 for step 4, label scc_long (none: retired, see above)
#   VLSCC2D_OLD     an older VL-SCC 2D for step 4, label vlscc2d_long   (none: retired, see above)
#   OLD_CHECKPOINTS earlier checkpoints drawn as final points on the curves (none)
#   IMAGES          all: every test photo whole (centre-cropped to multiples of 4); tiny for a quick check
#   SWEEP_SNR       SNR grid of the sweep ("-2 0 2 5 10 15 20")
#   COMPARE_SNR     SNR grid of the comparisons of step 3 ("-4,-2,0,5,10")
#   SCC_SNR         SNR grid of the SCC / VL-SCC comparison of step 4 ("-2,0,5,10")
#   LINK            the separation systems' link: "link=adaptive" (bit-true 5G LDPC, adapted MCS; default)
#                   or "link=bler_table,adapt=true" (the BLER tables, faster)
#   WORKERS         worker processes of semcom compare (2)
#   REFINE_STEPS    refinement steps per image of step 4c (100)
#   REFINE_MORE_STEPS, REFINE_MORE_SNR   steps and SNR grid of step 4d (200; "0,5")
#   LOW_SNR         SNR grid of step 4e ("-4,-2,0")
#   DOWNSCALE_SNR   SNR grid of step 4f ("-4,-2,0,5")
#   SKIP            step names not to run (e.g. "compare_spp025" when only the SPP 0.125 models changed;
#                   the log then records the steps that ran, appended to the previous log)
#   DRY_RUN=1       print the commands without running them
set -euo pipefail
cd "$(dirname "$0")/.."

OUT="${1:-results/train}"
if [ -z "${SEMCOM:-}" ]; then
  if command -v semcom >/dev/null 2>&1; then SEMCOM=semcom
  elif [ -x .venv/bin/semcom ]; then SEMCOM=.venv/bin/semcom
  else SEMCOM="${PYTHON:-python3} -m semcom.cli"; fi
fi
ADJSCC="${ADJSCC:-adjscc_awgn_m2to20_spp0125}"
ADJSCC_LOW="${ADJSCC_LOW:-adjscc_awgn_m4to8_spp0125}"
DEEPJSCC_025="${DEEPJSCC_025:-deepjscc_awgn5_spp025}"
DEEPJSCC_0125="${DEEPJSCC_0125:-}"
DEEPJSCC_0125_5="${DEEPJSCC_0125_5:-deepjscc_awgn5_spp0125}"
DEEPJSCC_0125_0="${DEEPJSCC_0125_0:-deepjscc_awgn0_spp0125}"
SCC="${SCC:-scc_awgn10_spp0125_105min}"
VLSCC2D="${VLSCC2D:-vlscc2d_awgn10_105min}"
SCC_OLD="${SCC_OLD:-}"
VLSCC2D_OLD="${VLSCC2D_OLD:-}"
OLD_CHECKPOINTS="${OLD_CHECKPOINTS:-}"
IMAGES="${IMAGES:-all}"
SWEEP_SNR="${SWEEP_SNR:--2 0 2 5 10 15 20}"
COMPARE_SNR="${COMPARE_SNR:--4,-2,0,5,10}"
SCC_SNR="${SCC_SNR:--2,0,5,10}"
LINK="${LINK:-link=adaptive}"
WORKERS="${WORKERS:-2}"
REFINE_STEPS="${REFINE_STEPS:-100}"
REFINE_MORE_STEPS="${REFINE_MORE_STEPS:-200}"
REFINE_MORE_SNR="${REFINE_MORE_SNR:-0,5}"
LOW_SNR="${LOW_SNR:--4,-2,0}"
DOWNSCALE_SNR="${DOWNSCALE_SNR:--4,-2,0,5}"
LOG="$OUT/report_training.log"

SKIP="${SKIP:-}"
step() {  # step NAME COMMAND...: print it, run it (unless DRY_RUN or in SKIP), log its wall time and load average
  local name="$1"; shift
  case " $SKIP " in *" $name "*) echo "(skipped: $name)"; return 0;; esac
  echo "+ $*"
  [ -n "${DRY_RUN:-}" ] && return 0
  local t0; t0=$(date +%s)
  "$@"
  echo "$name: $(( $(date +%s) - t0 )) s, load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')," \
       "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >> "$LOG"
}

if [ -z "${DRY_RUN:-}" ]; then
  mkdir -p "$OUT"
  header="# scripts/report_training.sh $OUT ($(getconf _NPROCESSORS_ONLN) cores)${SKIP:+, skipped: $SKIP}"
  if [ -n "$SKIP" ]; then echo "$header" >> "$LOG"; else echo "$header" > "$LOG"; fi
fi

# shellcheck disable=SC2086  # SEMCOM, OLD_CHECKPOINTS and SWEEP_SNR are word lists
step curves $SEMCOM train curves "$DEEPJSCC_025" "$DEEPJSCC_0125_5" "$DEEPJSCC_0125_0" "$ADJSCC" "$ADJSCC_LOW" "$SCC" "$VLSCC2D" $OLD_CHECKPOINTS --out "$OUT"
# The sweep runs on one core beside the comparisons (their workers take the others); waited for before the gaps.
# The older DeepJSCC at SPP 0.125 only when given (retired)
old_dj=()
old_dj_spec=()
[ -z "$DEEPJSCC_0125" ] || { old_dj+=("$DEEPJSCC_0125"); old_dj_spec+=("deepjscc:ckpt=$DEEPJSCC_0125,label=deepjscc_spp0125"); }
sweep=""
# shellcheck disable=SC2086
if [ -n "${DRY_RUN:-}" ]; then
  step snr-sweep $SEMCOM train snr-sweep --checkpoint "$ADJSCC" "$ADJSCC_LOW" ${old_dj[@]+"${old_dj[@]}"} "$DEEPJSCC_0125_5" "$DEEPJSCC_0125_0" "$DEEPJSCC_025" \
      --snr $SWEEP_SNR --images "$IMAGES" --out "$OUT"
else
  case " $SKIP " in
    *" snr-sweep "*) echo "(skipped: snr-sweep)";;  # the committed snr_sweep.out stays as it is
    *) step snr-sweep $SEMCOM train snr-sweep --checkpoint "$ADJSCC" "$ADJSCC_LOW" ${old_dj[@]+"${old_dj[@]}"} \
           "$DEEPJSCC_0125_5" "$DEEPJSCC_0125_0" "$DEEPJSCC_025" --snr $SWEEP_SNR --images "$IMAGES" --out "$OUT" \
           > "$OUT/snr_sweep.out" 2>&1 &
       sweep=$!;;
  esac
fi

separation="separation:codec=heif,link=capacity,label=heif_capacity \
separation:codec=heif,$LINK,label=heif_ldpc_adapted \
separation:codec=jpeg2000,$LINK,label=jpeg2000_ldpc_adapted"
# shellcheck disable=SC2086
step compare_spp0125 $SEMCOM compare \
    --systems "adjscc:ckpt=$ADJSCC,label=adjscc_spp0125" "adjscc:ckpt=$ADJSCC_LOW,label=adjscc_low_spp0125" \
               ${old_dj_spec[@]+"${old_dj_spec[@]}"} "deepjscc:ckpt=$DEEPJSCC_0125_5,label=deepjscc5_spp0125" $separation \
    --images "$IMAGES" --crop 4 --snr "$COMPARE_SNR" --channel awgn --cbr match:adjscc_spp0125 \
    --workers "$WORKERS" --no-progress --out "$OUT/compare_spp0125"
# shellcheck disable=SC2086
step compare_spp025 $SEMCOM compare \
    --systems "deepjscc:ckpt=$DEEPJSCC_025,label=deepjscc_spp025" $separation \
    --images "$IMAGES" --crop 4 --snr "$COMPARE_SNR" --channel awgn --cbr match:deepjscc_spp025 \
    --workers "$WORKERS" --no-progress --out "$OUT/compare_spp025"
# SCC / VL-SCC 2D: --crop 64 (the photos of the committed record, which the tiled _long checkpoints needed);
# the older checkpoints only when given (retired)
old_scc=()
[ -z "$SCC_OLD" ] || old_scc+=("scc:ckpt=$SCC_OLD,label=scc_long")
[ -z "$VLSCC2D_OLD" ] || old_scc+=("vlscc2d:ckpt=$VLSCC2D_OLD,label=vlscc2d_long")
# shellcheck disable=SC2086
step compare_scc $SEMCOM compare \
    --systems "scc:ckpt=$SCC,label=scc_105min" "vlscc2d:ckpt=$VLSCC2D,label=vlscc2d_105min" \
               ${old_scc[@]+"${old_scc[@]}"} "deepjscc:ckpt=$DEEPJSCC_0125_5,label=deepjscc5_spp0125" \
               separation:codec=heif,link=capacity,label=heif_capacity "separation:codec=heif,$LINK,label=heif_ldpc_adapted" \
    --images "$IMAGES" --crop 64 --snr "$SCC_SNR" --channel awgn --cbr match:scc_105min \
    --workers "$WORKERS" --no-progress --out "$OUT/compare_scc_vlscc"
# shellcheck disable=SC2086
step compare_0db $SEMCOM compare \
    --systems "deepjscc:ckpt=$DEEPJSCC_0125_0,label=deepjscc0_spp0125" \
               separation:codec=heif,link=capacity,label=heif_capacity "separation:codec=heif,$LINK,label=heif_ldpc_adapted" \
    --images "$IMAGES" --crop 4 --snr "$COMPARE_SNR" --channel awgn --cbr match:deepjscc0_spp0125 \
    --workers "$WORKERS" --no-progress --out "$OUT/compare_spp0125_0db"
# 4c / 4d: the 5 dB DeepJSCC with the transmitter refining its symbols per image (semcom.models.refine), beside itself
refine_compare() {  # refine_compare STEP_NAME STEPS LABEL SNR_GRID OUT_SUBDIR
  # shellcheck disable=SC2086
  step "$1" $SEMCOM compare \
      --systems "deepjscc:ckpt=$DEEPJSCC_0125_5,refine=$2,label=$3" "deepjscc:ckpt=$DEEPJSCC_0125_5,label=deepjscc5_spp0125" \
                 separation:codec=heif,link=capacity,label=heif_capacity "separation:codec=heif,$LINK,label=heif_ldpc_adapted" \
      --images "$IMAGES" --crop 4 --snr "$4" --channel awgn --cbr match:deepjscc5_spp0125 \
      --workers "$WORKERS" --no-progress --out "$OUT/$5"
}
refine_compare compare_refine "$REFINE_STEPS" deepjscc5_refine_spp0125 "$COMPARE_SNR" compare_spp0125_refine
# 4d: REFINE_MORE_STEPS steps (twice the transmitter's compute) at the goal's SNRs only
refine_compare compare_refine_more "$REFINE_MORE_STEPS" "deepjscc5_refine${REFINE_MORE_STEPS}_spp0125" "$REFINE_MORE_SNR" \
    compare_spp0125_refine_more
# 4e: the 5G baseline at full strength at and below 0 dB (MCS 0-2 by bit repetition), beside the models
# shellcheck disable=SC2086
step compare_low_mcs $SEMCOM compare \
    --systems "deepjscc:ckpt=$DEEPJSCC_0125_5,refine=$REFINE_STEPS,label=deepjscc5_refine_spp0125" \
               "deepjscc:ckpt=$DEEPJSCC_0125_5,label=deepjscc5_spp0125" "deepjscc:ckpt=$DEEPJSCC_0125_0,label=deepjscc0_spp0125" \
               separation:codec=heif,link=capacity,label=heif_capacity "separation:codec=heif,$LINK,label=heif_ldpc_adapted" \
    --images "$IMAGES" --crop 4 --snr "$LOW_SNR" --channel awgn --cbr match:deepjscc5_spp0125 \
    --workers "$WORKERS" --no-progress --out "$OUT/compare_spp0125_low_mcs"
# 4f: the separation baselines that may also lower the resolution (downscale=4), beside the full-resolution ones
# shellcheck disable=SC2086
step compare_downscale $SEMCOM compare \
    --systems "deepjscc:ckpt=$DEEPJSCC_0125_5,refine=$REFINE_STEPS,label=deepjscc5_refine_spp0125" \
               "deepjscc:ckpt=$DEEPJSCC_0125_5,label=deepjscc5_spp0125" "deepjscc:ckpt=$DEEPJSCC_0125_0,label=deepjscc0_spp0125" \
               separation:codec=heif,link=capacity,downscale=4,label=heif_capacity \
               "separation:codec=heif,$LINK,downscale=4,label=heif_ldpc_adapted" \
               separation:codec=heif,link=capacity,label=heif_capacity_full "separation:codec=heif,$LINK,label=heif_ldpc_adapted_full" \
    --images "$IMAGES" --crop 4 --snr "$DOWNSCALE_SNR" --channel awgn --cbr match:deepjscc5_spp0125 \
    --workers "$WORKERS" --no-progress --out "$OUT/compare_spp0125_downscale"
if [ -n "$sweep" ]; then
  wait "$sweep" || { echo "snr-sweep failed:"; cat "$OUT/snr_sweep.out"; exit 1; }
  cat "$OUT/snr_sweep.out"
fi
# shellcheck disable=SC2086
step gaps $SEMCOM train gaps "$OUT/compare_spp0125/compare.json" "$OUT/compare_spp025/compare.json" \
    "$OUT/compare_scc_vlscc/compare.json" "$OUT/compare_spp0125_0db/compare.json" "$OUT/compare_spp0125_refine/compare.json" "$OUT/compare_spp0125_refine_more/compare.json" \
    "$OUT/compare_spp0125_low_mcs/compare.json" "$OUT/compare_spp0125_downscale/compare.json" --out "$OUT"
[ -n "${DRY_RUN:-}" ] || cat "$LOG"
