"""Kubeconfig files as kubectl reads them, checked before the kubernetes client sees them.

The client's loader trusts its input: a kubeconfig that is YAML but not a mapping, or has a field of
the wrong type, fails deep inside it with an ``AttributeError``; and it runs credential plugins
(``users[].user.exec``, the ``gcp`` auth-provider's ``cmd-path``) with no timeout, so a plugin waiting
for a login that never comes hangs meshnb for ever. Here every file is checked first (messages name
the file and the field, never a value: kubeconfigs hold credentials), and meshnb runs the plugins
itself, in their own process group, killed at ``credential_timeout``; the client gets the token (or
client certificate) they returned, and a refresh hook that runs the plugin again, bounded, when the
credential expires.

>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "config"
>>> _ = path.write_text("contexts: [{name: east, context: {cluster: east, user: east}}]")
>>> read_kubeconfig(str(path)).contexts
['east']
>>> _ = path.write_text("contexts: {name: east}")
>>> try:
...     read_kubeconfig(str(path))
... except ConfigError as exc:
...     print(str(exc).split(": ", 1)[1])
contexts must be a list, not a mapping
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import os
import re
import signal
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from meshnb.errors import ConfigError

if TYPE_CHECKING:
    from kubernetes.client import ApiClient, Configuration

__all__ = ["Kubeconfig", "kubeconfig_path", "read_kubeconfig"]

log = logging.getLogger("meshnb")

#: Seconds a credential plugin may take before meshnb stops it.
CREDENTIAL_TIMEOUT = 30.0
_MAX_PLUGIN_OUTPUT = 1 << 20

# The fields meshnb and the kubernetes client read, and the type each must have; others pass unread.
_ENTRY_FIELDS: dict[str, tuple[str, dict[str, type]]] = {
    "clusters": (
        "cluster",
        {
            "server": str,
            "certificate-authority": str,
            "certificate-authority-data": str,
            "insecure-skip-tls-verify": bool,
            "proxy-url": str,
            "tls-server-name": str,
        },
    ),
    "contexts": ("context", {"cluster": str, "user": str, "namespace": str}),
    "users": (
        "user",
        {
            "token": str,
            "tokenFile": str,
            "client-certificate": str,
            "client-certificate-data": str,
            "client-key": str,
            "client-key-data": str,
            "username": str,
            "password": str,
            "exec": dict,
            "auth-provider": dict,
        },
    ),
}
_KINDS = {str: "a string", bool: "true or false", dict: "a mapping", list: "a list"}


def _kind(value: object) -> str:
    if value is None:
        return "empty"
    return next((name for kind, name in _KINDS.items() if isinstance(value, kind)), type(value).__name__)


@dataclass(frozen=True)
class Kubeconfig:
    """The kubeconfig files of one path (``$KUBECONFIG``'s form: files joined by ``os.pathsep``)."""

    path: str
    contexts: list[str]

    def client(
        self,
        context: str,
        configuration: Configuration,
        *,
        credential_timeout: float = CREDENTIAL_TIMEOUT,
    ) -> ApiClient:
        """An ``ApiClient`` for ``context``, built with ``configuration``.

        Credential plugins run here, bounded by ``credential_timeout``. Raises :class:`ConfigError` for
        anything that stops it.
        """
        from kubernetes import client, config
        from kubernetes.config.kube_config import KubeConfigLoader, KubeConfigMerger

        try:
            merged = KubeConfigMerger(self.path).config
            user = _user_entry(merged, context)
            plugin = _plugin(user, context, credential_timeout) if user is not None else None
            if plugin is not None:
                user.value["user"] = {**plugin.static_user(), **_without_plugins(user.value["user"])}
            loader = KubeConfigLoader(config_dict=merged, active_context=context, config_persister=None)
            loader.load_and_set(configuration)
        except ConfigError:
            raise
        except config.ConfigException as exc:  # the client's messages name keys, not values
            raise ConfigError(f"context {context!r} in kubeconfig {self.path}: {exc}") from exc
        except Exception as exc:  # its loader fails on forms we did not foresee in many ways
            raise ConfigError(
                f"context {context!r} in kubeconfig {self.path}: cannot be used ({type(exc).__name__})"
            ) from exc
        if plugin is not None and plugin.expires:
            # kubernetes' Configuration sets the hook to None in __init__, so its inferred type is None
            configuration.refresh_api_key_hook = plugin.refresh  # type: ignore[assignment]
        return client.ApiClient(configuration=configuration)


def kubeconfig_path(kubeconfig: str | os.PathLike[str] | None) -> str:
    """The files of ``kubeconfig`` (default ``$KUBECONFIG``, else ``~/.kube/config``), ``~`` expanded.

    Raises :class:`ConfigError` when none of them is a file.

    >>> kubeconfig_path("/nonexistent/a")
    Traceback (most recent call last):
    ...
    meshnb.errors.ConfigError: kubeconfig /nonexistent/a does not exist or is not a file
    """
    path = os.fspath(kubeconfig) if kubeconfig is not None else os.environ.get("KUBECONFIG", "~/.kube/config")
    files = [os.path.expanduser(p) for p in path.split(os.pathsep) if p]
    if not any(os.path.isfile(f) for f in files):
        raise ConfigError(f"kubeconfig {path or '(empty)'} does not exist or is not a file")
    return os.pathsep.join(files)


def read_kubeconfig(path: str) -> Kubeconfig:
    """Read and check every file of ``path``; the contexts in kubectl's order (first file wins)."""
    import yaml

    contexts: list[str] = []
    for file in (p for p in path.split(os.pathsep) if p):
        if not os.path.isfile(file):
            continue
        try:
            with open(file, "rb") as handle:
                doc = yaml.safe_load(handle)
        except yaml.YAMLError as exc:
            raise ConfigError(f"cannot read kubeconfig {file}: {_yaml_problem(exc)}") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read kubeconfig {file}: {type(exc).__name__}: {exc}") from exc
        _check_file(doc, file)
        contexts += [c["name"] for c in (doc or {}).get("contexts") or [] if c["name"] not in contexts]
    return Kubeconfig(path, contexts)


def _yaml_problem(exc: BaseException) -> str:
    """Describe a YAML error without quoting the file (the line could hold a token)."""
    import yaml

    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return f"not valid YAML ({exc.problem}{where})"
    return "not valid YAML"


def _check_file(doc: Any, file: str) -> None:
    """The form the client expects, or a ConfigError naming the file and the field."""

    def fail(where: str, expected: str, value: object) -> ConfigError:
        return ConfigError(f"kubeconfig {file}: {where} must be {expected}, not {_kind(value)}")

    if doc is None:
        return  # an empty file is an empty kubeconfig, as for kubectl
    if not isinstance(doc, dict):
        raise ConfigError(f"kubeconfig {file}: not a kubeconfig (a YAML mapping), but {_kind(doc)}")
    if "current-context" in doc and not isinstance(doc["current-context"], (str, type(None))):
        raise fail("current-context", "a string", doc["current-context"])
    for section, (inner, fields) in _ENTRY_FIELDS.items():
        entries = doc.get(section)
        if entries is None:
            continue
        if not isinstance(entries, list):
            raise fail(section, "a list", entries)
        for index, entry in enumerate(entries):
            where = f"{section}[{index}]"
            if not isinstance(entry, dict):
                raise fail(where, "a mapping", entry)
            if not isinstance(entry.get("name"), str) or not entry["name"]:
                raise fail(f"{where}.name", "a non-empty string", entry.get("name"))
            body = entry.get(inner)
            if body is None:
                continue
            if not isinstance(body, dict):
                raise fail(f"{where}.{inner}", "a mapping", body)
            for field, kind in fields.items():
                if body.get(field) is not None and not isinstance(body[field], kind):
                    raise fail(f"{where}.{inner}.{field}", _KINDS[kind], body[field])
            if section == "users":
                _check_plugins(body, f"{where}.user", fail)


def _check_plugins(user: dict, where: str, fail) -> None:
    plugin = user.get("exec")
    if plugin is not None:
        if not isinstance(plugin.get("command"), str) or not plugin["command"]:
            raise fail(f"{where}.exec.command", "a non-empty string", plugin.get("command"))
        args = plugin.get("args")
        if args is not None and not (isinstance(args, list) and all(isinstance(a, str) for a in args)):
            raise fail(f"{where}.exec.args", "a list of strings", args)
        env = plugin.get("env")
        if env is not None and not (
            isinstance(env, list)
            and all(isinstance(e, dict) and isinstance(e.get("name"), str) for e in env)
            and all(isinstance(e.get("value", ""), str) for e in env)
        ):
            raise fail(f"{where}.exec.env", "a list of {name, value} strings", env)
    provider = user.get("auth-provider")
    if provider is not None:
        if not isinstance(provider.get("name"), str):
            raise fail(f"{where}.auth-provider.name", "a string", provider.get("name"))
        settings = provider.get("config")
        if settings is not None and not (
            isinstance(settings, dict) and all(isinstance(v, str) for v in settings.values())
        ):
            raise fail(f"{where}.auth-provider.config", "a mapping of strings", settings)


def _user_entry(merged: Any, context: str) -> Any:
    """The merged kubeconfig's user entry (a ConfigNode) that ``context`` names, if any."""
    found = merged["contexts"].get_with_name(context, safe=True)
    name = found["context"].safe_get("user") if found is not None and "context" in found else None
    return merged["users"].get_with_name(name, safe=True) if name else None


def _without_plugins(user: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in user.items() if k not in ("exec", "auth-provider")}


# ----------------------------------------------------------------------------------------- plugins
@dataclass
class _Credential:
    token: str | None = None
    cert_pem: str | None = None
    key_pem: str | None = None
    expiry: dt.datetime | None = None

    def __repr__(self) -> str:
        return f"_Credential(token={'<redacted>' if self.token else None}, expiry={self.expiry})"


class _Plugin:
    """One user's credential plugin: run it bounded, remember what it returned until it expires."""

    def __init__(
        self, context: str, argv: list[str], env: dict[str, str], cwd: str | None, timeout: float, read
    ):
        self.context, self.argv, self.env, self.cwd, self.timeout = context, argv, env, cwd, timeout
        self._read = read  # stdout (text) -> _Credential
        self._lock = threading.Lock()
        self.credential = self._run()

    @property
    def expires(self) -> bool:
        return self.credential.expiry is not None

    def static_user(self) -> dict[str, str]:
        """The kubeconfig user fields that hand the client what the plugin returned."""
        cred = self.credential
        if cred.token:
            return {"token": cred.token}
        return {
            "client-certificate-data": base64.b64encode((cred.cert_pem or "").encode()).decode(),
            "client-key-data": base64.b64encode((cred.key_pem or "").encode()).decode(),
        }

    def refresh(self, configuration: Configuration) -> None:
        """The client calls this before each request: run the plugin again once the token expired."""
        with self._lock:
            expiry = self.credential.expiry
            if expiry is None or dt.datetime.now(dt.UTC) < expiry - dt.timedelta(seconds=10):
                return
            self.credential = self._run()
            if self.credential.token:
                configuration.api_key["BearerToken"] = f"Bearer {self.credential.token}"

    def _run(self) -> _Credential:
        name = os.path.basename(self.argv[0])
        what = f"context {self.context!r}: the credential plugin {name!r}"
        log.debug("%s: running it (timeout %gs)", what, self.timeout)
        try:
            proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,  # never waits for a person at a prompt
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,  # its own process group: killed whole, children too
            )
        except OSError as exc:
            raise ConfigError(f"{what} could not be started: {exc.strerror or exc}") from exc
        try:
            out, err = proc.communicate(timeout=self.timeout)
        except BaseException as exc:  # the timeout, or Ctrl-C: never leave it running
            _kill_group(proc)
            if isinstance(exc, subprocess.TimeoutExpired):
                raise ConfigError(
                    f"{what} did not finish within {self.timeout:g}s and was stopped (run it by hand "
                    "to see what it waits for: a login, a prompt, the network)"
                ) from None
            raise
        if proc.returncode != 0:
            last = _scrub(err.decode("utf-8", "replace").strip().splitlines()[-1:] or [""])
            raise ConfigError(f"{what} exited {proc.returncode}" + (f": {last}" if last else ""))
        if len(out) > _MAX_PLUGIN_OUTPUT:
            raise ConfigError(f"{what} printed {len(out):,} bytes, not a credential")
        try:
            credential = self._read(out.decode("utf-8"))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:  # never quote it: a token
            why = type(exc).__name__
            raise ConfigError(f"{what} printed no credential meshnb can read ({why})") from None
        if not credential.token and not (credential.cert_pem and credential.key_pem):
            raise ConfigError(f"{what} returned neither a token nor a client certificate and key")
        return credential


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()


def _scrub(lines: list[str]) -> str:
    """A plugin's last line of errors, clipped, with anything token-like blanked."""
    text = lines[0][:200]
    text = re.sub(r"eyJ[\w-]+\.[\w-]+\.[\w-]*", "<redacted>", text)
    return re.sub(r"(?i)(token|password|secret)([\"']?\s*[:=]\s*)\S+", r"\1\2<redacted>", text)


def _plugin(user: Any, context: str, timeout: float) -> _Plugin | None:
    """The plugin ``user`` asks for, already run once; None for users without one."""
    body = user.value.get("user") or {}
    base = os.path.dirname(os.path.abspath(user.path)) if user.path else None
    if "exec" in body:
        spec = body["exec"]
        argv = [spec["command"], *(spec.get("args") or [])]
        env = {**os.environ, **{e["name"]: e.get("value", "") for e in spec.get("env") or []}}
        info = {"apiVersion": spec.get("apiVersion", ""), "kind": "ExecCredential"}
        env["KUBERNETES_EXEC_INFO"] = json.dumps({**info, "spec": {"interactive": False}})
        return _Plugin(context, argv, env, base, timeout, _exec_credential)
    provider = body.get("auth-provider") or {}
    settings = provider.get("config") or {}
    if provider.get("name") == "gcp" and settings.get("cmd-path"):
        if "cmd-args" in settings:
            argv = [settings["cmd-path"], *settings["cmd-args"].split()]
        else:
            argv = settings["cmd-path"].split()
        keys = (settings.get("token-key") or "{.access_token}", settings.get("expiry-key") or "")
        return _Plugin(context, argv, dict(os.environ), base, timeout, lambda o: _gcp_credential(o, *keys))
    return None


def _exec_credential(out: str) -> _Credential:
    """An ExecCredential (client.authentication.k8s.io) as an exec plugin prints it."""
    status = json.loads(out)["status"]
    return _Credential(
        token=status.get("token"),
        cert_pem=status.get("clientCertificateData"),
        key_pem=status.get("clientKeyData"),
        expiry=_timestamp(status.get("expirationTimestamp")),
    )


def _gcp_credential(out: str, token_key: str, expiry_key: str) -> _Credential:
    """What ``gcloud config config-helper --format=json`` prints, read at kubectl's JSONPath keys."""
    doc = json.loads(out)
    token = _jsonpath(doc, token_key)
    if not isinstance(token, str):
        raise ValueError("no token at the token-key")
    expiry = _jsonpath(doc, expiry_key) if expiry_key else None
    return _Credential(token=token, expiry=_timestamp(expiry if isinstance(expiry, str) else None))


def _jsonpath(doc: Any, path: str) -> Any:
    """The simple JSONPath kubeconfigs use: ``{.credential.access_token}``."""
    for part in path.strip("{}").strip(".").split("."):
        doc = doc.get(part) if isinstance(doc, dict) else None
    return doc


def _timestamp(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)
