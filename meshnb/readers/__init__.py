"""Readers: real tool output (Envoy, istioctl, curl, certificates, istiod's log) into DataFrames.

One public function per kind of input, each returning a DataFrame of a schema in :mod:`meshnb.schemas`:
:func:`read_endpoints` (Envoy ``/clusters``, ``istioctl proxy-config endpoint``, config dumps),
:func:`read_certs` (PEM), :func:`read_istiod_log` (``kubectl logs`` of istiod) and :func:`read_curl`
(the guide's curl loop). Readers import nothing above them (no backend, no check).

>>> from meshnb.readers import read_curl
>>> read_curl("Hello version: v2, instance: helloworld-v2-7d4b9").loc[0, "version"]
'v2'
"""

from meshnb.readers.certs import read_certs
from meshnb.readers.curl import read_curl
from meshnb.readers.endpoints import read_endpoints
from meshnb.readers.istiod_log import read_istiod_log

__all__ = ["read_certs", "read_curl", "read_endpoints", "read_istiod_log"]
