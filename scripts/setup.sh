#!/usr/bin/env bash
# Set up semcom on a fresh machine: a virtual environment in .venv with the pinned CPU build
# of PyTorch, Sionna (no ray tracing) and the package itself. Idempotent: a second run is quick.
#   scripts/setup.sh         runtime only
#   scripts/setup.sh --dev   runtime + test tools
# Optional data from Debian (Fashion-MNIST, wallpaper photos for training) is installed when
# apt-get is usable; its absence is reported, never fatal.
set -euo pipefail
cd "$(dirname "$0")/.."
extras=""
[ "${1:-}" = "--dev" ] && extras="[dev]"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv"
  "$PY" -m venv .venv
fi
pipq() { .venv/bin/python -m pip install --disable-pip-version-check -q "$@" 2>&1 | grep -v "is ignored: it is neither" || true; }
if ! .venv/bin/python -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('2.13.0') else 1)" 2>/dev/null; then
  echo "[setup] installing torch==2.13.0 (CPU build)"
  pipq torch==2.13.0
fi
if ! .venv/bin/python -c "import sionna.phy" 2>/dev/null; then
  echo "[setup] installing sionna-no-rt==2.2.0"
  pipq sionna-no-rt==2.2.0
fi
# mediapipe 0.10.21 is the last release that ships its FaceMesh model and runs offline; it pins
# numpy<2 but runs beside numpy 2, so it is installed without its dependency pins, its real
# dependencies listed by hand (the prt keypoint application and the VL-SCC 1D source use it).
if ! .venv/bin/python -c "import mediapipe" 2>/dev/null; then
  echo "[setup] installing mediapipe==0.10.21 (face landmarks)"
  pipq absl-py flatbuffers "protobuf>=4.25.3,<5" attrs sentencepiece "opencv-python-headless<5"
  pipq --no-deps mediapipe==0.10.21
fi
stamp=".venv/.semcom-installed${extras}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "[setup] installing semcom${extras}"
  pipq -e ".${extras}"
  .venv/bin/python -c "import torch, sionna.phy, semcom" 
  touch "$stamp"
fi
# Optional Debian data packages (offline-capable corpora); best effort.
if [ "${SEMCOM_SKIP_APT:-0}" != "1" ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
  want=""
  for p in dataset-fashion-mnist mate-backgrounds plasma-workspace-wallpapers visp-images-data; do
    dpkg -s "$p" >/dev/null 2>&1 || want="$want $p"
  done
  if [ -n "$want" ]; then
    echo "[setup] installing optional data packages:$want"
    (timeout 600 apt-get update -qq >/dev/null 2>&1 && \
     DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq --no-install-recommends $want >/dev/null 2>&1) \
     || echo "[setup] note: optional data packages not installed ($want); features that need them will say so"
  fi
fi
echo "[setup] ready: .venv/bin/semcom"
