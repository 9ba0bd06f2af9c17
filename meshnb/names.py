"""Validation of what users type before it reaches a cluster or a command line.

>>> validate_name("helloworld")
'helloworld'
>>> validate_selector("app=helloworld,version in (v1,v2)")
'app=helloworld,version in (v1,v2)'
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from meshnb.errors import InvalidName

__all__ = [
    "match_selector",
    "validate_cluster_name",
    "validate_name",
    "validate_path",
    "validate_port",
    "validate_selector",
]

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_PREFIX = r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
_LABEL_KEY = _LABEL_PREFIX + r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
_LABEL_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_REQUIREMENT = re.compile(
    rf"^\s*(!?{_LABEL_KEY}"
    rf"|{_LABEL_KEY}\s*(=|==|!=)\s*{_LABEL_VALUE}"
    rf"|{_LABEL_KEY}\s+(in|notin)\s+\(\s*{_LABEL_VALUE}(\s*,\s*{_LABEL_VALUE})*\s*\))\s*$"
)
_DATA_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_PATH = re.compile(r"^/[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*$")


def validate_cluster_name(name: object) -> str:
    """Return ``name`` if it can be a cluster's name in Istio, else raise InvalidName.

    A remote secret holds the cluster's kubeconfig under a data key named after the cluster, so the
    name follows the rule of a Secret's data keys (Istio's default cluster name is ``Kubernetes``).

    >>> validate_cluster_name("Kubernetes"), validate_cluster_name("gke_prod.east-1")
    ('Kubernetes', 'gke_prod.east-1')
    """
    if not isinstance(name, str) or not name or len(name) > 253 or not _DATA_KEY.match(name):
        raise InvalidName(
            f"invalid cluster name {name!r}: use letters, digits, '-', '_' and '.', at most 253 characters "
            "(it is the data key of the cluster's remote secret)"
        )
    return name


def validate_name(name: object, kind: str = "name", *, subdomain: bool = False) -> str:
    """Return ``name`` if it is a valid DNS-1123 label (or subdomain), else raise InvalidName.

    InvalidName is also raised for what is not a string: ``None``, a number.
    """
    pattern, limit = (_DNS_SUBDOMAIN, 253) if subdomain else (_DNS_LABEL, 63)
    if not isinstance(name, str) or not name or len(name) > limit or not pattern.match(name):
        raise InvalidName(
            f"invalid {kind} {name!r}: use lower-case letters, digits and '-'"
            + (" and '.'" if subdomain else "")
            + f", at most {limit} characters, starting and ending with a letter or digit"
        )
    return name


def _split_requirements(selector: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def validate_selector(selector: str | None) -> str | None:
    """Return a Kubernetes label selector unchanged if it is well formed, else raise InvalidName."""
    if selector is None or selector == "":
        return selector
    if not isinstance(selector, str) or len(selector) > 1024:
        raise InvalidName(f"invalid label selector {selector!r}")
    for requirement in _split_requirements(selector):
        if not _REQUIREMENT.match(requirement):
            raise InvalidName(f"invalid label selector {selector!r} (at {requirement.strip()!r})")
    return selector


def validate_path(path: str) -> str:
    """Return an HTTP path (``/hello``) if it is safe to put in a URL, else raise InvalidName."""
    if not isinstance(path, str) or len(path) > 2048 or not _PATH.match(path):
        raise InvalidName(f"invalid HTTP path {path!r}: it must start with '/' and hold no spaces or quotes")
    return path


def validate_port(port: int) -> int:
    """Return ``port`` if it is an int in 1..65535, else raise InvalidName."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidName(f"invalid port {port!r}: use a number from 1 to 65535")
    return port


def _requirement_matches(requirement: str, labels: Mapping[str, str]) -> bool:
    requirement = requirement.strip()
    set_match = re.match(r"^(\S+)\s+(in|notin)\s+\((.*)\)$", requirement)
    if set_match:
        key, op, values = set_match.groups()
        members = {value.strip() for value in values.split(",")}
        return (labels.get(key) in members) if op == "in" else (labels.get(key) not in members)
    for op in ("!=", "==", "="):
        if op in requirement:
            key, value = (part.strip() for part in requirement.split(op, 1))
            return (labels.get(key) != value) if op == "!=" else (labels.get(key) == value)
    if requirement.startswith("!"):
        return requirement[1:].strip() not in labels
    return requirement in labels


def match_selector(selector: str | None, labels: Mapping[str, str]) -> bool:
    """Whether ``labels`` satisfy a (validated) Kubernetes label selector.

    >>> match_selector("app=helloworld,version in (v1,v2)", {"app": "helloworld", "version": "v2"})
    True
    """
    checked = validate_selector(selector)  # the selector itself, once it is known to be well formed
    if not checked:
        return True
    return all(_requirement_matches(part, labels) for part in _split_requirements(checked))
