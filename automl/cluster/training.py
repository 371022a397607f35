"""The final LightGBM model of a big table trained on the cluster, with LightGBM's own Dask
interface (``lightgbm.DaskLGBMClassifier`` / ``DaskLGBMRegressor``): :class:`DaskFinalFit`, the
tabular pipeline's ``ClusterFitter``.

The rows go to the workers in partitions of raw rows (PART_ROWS at most); each worker encodes
its partitions with the build's fitted preparation, so the encoded table exists only on the
workers, as one dask array. LightGBM then trains one model across the workers (data-parallel:
each worker builds histograms of its rows and they are summed over sockets between the
workers), with the search's configuration and its number of rounds. The result is the usual
LightGBM booster, saved as every LightGBM model is: predicting needs no cluster.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import warnings
from concurrent.futures import CancelledError

import numpy as np
import pandas as pd

from automl.candidates import Candidate, FitContext
from automl.candidates._lightgbm import LightGBMCandidate
from automl.cluster._connect import Cluster, _shown
from automl.errors import ClusterError
from automl.preprocess import Preprocessor

PART_ROWS = 250_000  # raw rows per partition sent to a worker (about 100 MB of 50 columns)
# LightGBM's sockets between the workers give up after this many minutes without an answer
# (LightGBM's own default is 120): a worker lost mid-fit stops the others within it.
SOCKET_MINUTES = 5


def _encode(rows: pd.DataFrame, pre: Preprocessor) -> np.ndarray:
    """Run on a worker: a partition of raw rows as the trees read them."""
    return pre.transform_tree(rows)


def _quiet_stdout() -> None:
    """Run on a local cluster's workers (this computer's processes, whose output is the
    command's): LightGBM's network lines go nowhere, not into the command's output."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


class DaskFinalFit:
    """Trains a final LightGBM model on the workers of ``cluster``."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.client = cluster.client
        self._quiet = False

    @property
    def workers(self) -> int:
        return self.cluster.slots

    def fit_lightgbm(
        self,
        cand: Candidate,
        rows: pd.DataFrame,
        y: np.ndarray,
        pre: Preprocessor,
        categorical: list[int],
        ctx: FitContext,
    ) -> Candidate:
        """``cand``'s configuration and rounds trained on ``rows`` and ``y`` across the workers;
        a ``ClusterError`` in words when the cluster cannot finish it."""
        if not isinstance(cand, LightGBMCandidate):
            raise TypeError("only a LightGBM model trains with LightGBM's Dask interface")
        import dask.array as da
        import lightgbm as lgb

        params = cand.fixed_iterations()
        rounds = int(params["n_estimators"])
        model = type(cand)(params)
        lgb_params = model._lgb_params(ctx, len(y))
        lgb_params.pop("num_threads", None)  # each worker uses its own threads
        minutes = max(1, min(SOCKET_MINUTES, math.ceil(ctx.seconds_left() / 60)))
        lgb_params["time_out"] = minutes
        estimator = lgb.DaskLGBMRegressor if ctx.task == "regression" else lgb.DaskLGBMClassifier
        try:
            if self.cluster._local is not None and not self._quiet:
                self.client.run(_quiet_stdout)
                self._quiet = True
            n = len(y)
            parts = max(self.workers, math.ceil(n / PART_ROWS))
            bounds = np.linspace(0, n, parts + 1).astype(int)
            spans = [(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
            shared_pre = self.client.scatter(pre, broadcast=True, hash=False)
            # the partitions dealt out to the workers in turn, each with its labels (LightGBM
            # trains on the workers that hold a part), one at a time: this computer holds one
            # partition's copy at most
            addresses = self.cluster.workers()
            raw, labels = [], []
            for i, (a, b) in enumerate(spans):
                where = [addresses[i % len(addresses)]]
                raw.append(self.client.scatter(rows.iloc[a:b], workers=where, hash=False))
                labels.append(self.client.scatter(y[a:b], workers=where, hash=False))
            encoded = self.client.map(_encode, raw, pre=shared_pre, pure=False)
            width = pre.transform_tree(rows.iloc[:1]).shape[1]
            X = da.concatenate(
                [
                    da.from_delayed(f, shape=(b - a, width), dtype=np.float32)
                    for f, (a, b) in zip(encoded, spans, strict=True)
                ]
            )
            Y = da.concatenate(
                [
                    da.from_delayed(f, shape=(b - a,), dtype=y.dtype)
                    for f, (a, b) in zip(labels, spans, strict=True)
                ]
            )
            fitter = estimator(client=self.client, n_estimators=rounds, **lgb_params)
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")  # LightGBM's notes on the threads it sets
                fitter.fit(X, Y, categorical_feature=categorical)
            booster = fitter.booster_
        except ClusterError:
            raise
        except Exception as exc:  # whatever stopped the workers: said in words below
            raise ClusterError(_why(exc)) from None
        model.fitted_ = booster
        model.n_iterations_ = max(int(booster.current_iteration()), 1)
        return model


def _why(exc: BaseException) -> str:
    """What stopped the training on the cluster, in words."""
    from distributed import KilledWorker

    if isinstance(exc, KilledWorker):
        return "a worker stopped during the training (its process or machine was lost)"
    if isinstance(exc, (CancelledError, OSError, TimeoutError)):
        return "the connection to the cluster or between its workers was lost"
    name = type(exc).__name__
    if name == "LightGBMError":
        return (
            "the workers could not train together (LightGBM said: "
            f"{_shown(str(exc).splitlines()[0] if str(exc) else name)}); check that the "
            "workers can reach each other on TCP ports (docs/scale-out.md)"
        )
    return f"the training on the cluster failed ({_shown(name + ': ' + str(exc))})"
