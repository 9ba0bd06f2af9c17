"""Readers: real tool output (Envoy, istioctl, curl, certificates, istiod) into DataFrames.

One public function per kind of input, each returning a DataFrame of a schema in :mod:`meshnb.schemas`:
:func:`read_endpoints` (Envoy ``/clusters``, ``istioctl proxy-config endpoint``, config dumps),
:func:`read_certs` (PEM, kubectl's base64, a whole Secret), :func:`read_istiod_log` (``kubectl logs``
of istiod), :func:`read_curl` (the guide's curl loop), :func:`read_remote_clusters` and
:func:`read_proxy_status` (istioctl's multicluster views), and istiod's debug views
(:func:`read_clusterz`, :func:`read_networkz`, :func:`read_endpoint_shards`, :func:`read_syncz`,
:func:`read_ambientz`), and
:func:`read_ztunnel` (ztunnel's config dump and ``istioctl ztunnel-config`` tables, as ``endpoints``).
:func:`read_any` detects which of these an input is. Readers import nothing above them (no backend,
no check).

>>> from meshnb.readers import read_curl
>>> read_curl("Hello version: v2, instance: helloworld-v2-7d4b9").loc[0, "version"]
'v2'
"""

from meshnb.readers.certs import read_certs
from meshnb.readers.curl import read_curl
from meshnb.readers.detect import read_any
from meshnb.readers.endpoints import read_endpoints
from meshnb.readers.istioctl_views import read_proxy_status, read_remote_clusters
from meshnb.readers.istiod_debug import (
    read_ambientz,
    read_clusterz,
    read_endpoint_shards,
    read_networkz,
    read_syncz,
)
from meshnb.readers.istiod_log import read_istiod_log
from meshnb.readers.ztunnel import read_ztunnel

__all__ = [
    "read_ambientz",
    "read_any",
    "read_certs",
    "read_clusterz",
    "read_curl",
    "read_endpoint_shards",
    "read_endpoints",
    "read_istiod_log",
    "read_networkz",
    "read_proxy_status",
    "read_remote_clusters",
    "read_syncz",
    "read_ztunnel",
]
