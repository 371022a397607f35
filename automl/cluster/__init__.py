"""Scale-out on Dask: one switch (``--cluster ADDRESS`` or ``local:N``, ``EASEL_DASK_SCHEDULER``
for the app's builds), the search's trials as Dask tasks, and batch scoring partition by
partition on the workers.

Importing this package imports no Dask: :func:`parse_address` checks an address without it, and
Dask is loaded only when :func:`connect` is called, so a machine without the ``cluster`` extra
(``pip install 'easel[cluster]'``) works as before and says what to install when asked for a
cluster.
"""

from __future__ import annotations

from automl.cluster._connect import (
    ENV_VAR,
    MAX_LOCAL_WORKERS,
    Cluster,
    ClusterAddress,
    connect,
    parse_address,
    using,
)

__all__ = [
    "ENV_VAR",
    "MAX_LOCAL_WORKERS",
    "Cluster",
    "ClusterAddress",
    "connect",
    "parse_address",
    "using",
]
