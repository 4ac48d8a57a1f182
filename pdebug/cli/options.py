"""The options commands share, defined once, and the groups of them that are one value.

Like kubectl's ConfigFlags, the options that say how to reach a live proxy (``-n``,
``--context``, ``--kubeconfig``, ``--admin-port``, ``--container``, ``--timeout`` and,
where a command has it, ``--max-body``) are one group: :func:`live_options` adds them to
a command's signature and hands the command one
:class:`~pdebug.sources.LiveOptions` value (``live``). :func:`proxy_options` adds SOURCE,
``--admin`` and ``--bundle`` to them (one :class:`ProxyOptions`, ``proxy``), and
:func:`istiod_options` ``-i``, ``-r`` and ``--istiod`` (one
:class:`~pdebug.sources.base.IstiodChoice`, ``control``). Commands hand the SOURCE words
(SOURCE, ``--admin``, ``--bundle``: :attr:`ProxyOptions.words`) to the library as typed;
it parses them once (:func:`~pdebug.sources.spec.spec_of`). :func:`word_of` parses the
words of the commands that take several (``diff``, ``rootca``, ``assert``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

# Defined without Typer (a plain table runs without it); these are their names here too.
from pdebug.cli._run import ProxyOptions as ProxyOptions
from pdebug.cli.completion import complete_format, complete_source
from pdebug.sources.base import IstiodChoice, LiveOptions

if TYPE_CHECKING:
    from pdebug.sources.spec import SourceSpec

F = TypeVar("F", bound=Callable[..., Any])


def option_in(panel: str, *names: str, **settings: Any) -> Any:
    """A Typer option shown in the help panel ``panel`` (Live proxy, istiod...)."""
    return typer.Option(*names, rich_help_panel=panel, **settings)


#: The longest --timeout (or --watch) taken: a week. Past about 3e8 s the OS refuses it
#: ("timestamp out of range": exit 5 for --timeout inf).
MAX_SECONDS = 7 * 86400.0

SourceArg = Annotated[
    str | None,
    typer.Argument(
        metavar="SOURCE",
        help="A saved dump ('-' = stdin, .gz ok), an Envoy admin URL (http://127.0.0.1:15000, "
        "localhost:15000), or a pod: pod/NAME, NAME.NS, deploy/NAME, sts/NAME, ds/NAME, "
        "svc/NAME. -f/--file FILE is the same (istioctl's flag).",
        show_default=False,
        autocompletion=complete_source,
    ),
]
_LIVE = "Live proxy"
BundleOpt = Annotated[
    str | None,
    typer.Option(
        "--bundle",
        metavar="FILE",
        help="Read SOURCE (pod/NAME, NAME, NAME.NS; -n for the namespace) from this "
        "snapshot or dump bundle: the same as FILE:NAME.NS.",
        show_default=False,
    ),
]
AdminOpt = Annotated[
    str | None,
    option_in(_LIVE, "--admin", help="Envoy admin URL (instead of SOURCE).", metavar="URL"),
]
NamespaceOpt = Annotated[
    str | None,
    option_in(_LIVE, "--namespace", "-n", help="Namespace of the pod or workload.", metavar="NS"),
]
ContextOpt = Annotated[
    str | None,
    option_in(_LIVE, "--context", help="Kubeconfig context.", metavar="NAME"),
]
KubeconfigOpt = Annotated[
    str | None,
    option_in(
        _LIVE,
        "--kubeconfig",
        "-c",
        help="Kubeconfig file (default $KUBECONFIG, ~/.kube/config).",
        metavar="FILE",
    ),
]
AdminPortOpt = Annotated[
    int,
    option_in(
        _LIVE,
        "--admin-port",
        help="Envoy admin port inside the pod.",
        metavar="PORT",
        min=1,
        max=65535,
    ),
]
ContainerOpt = Annotated[
    str,
    option_in(_LIVE, "--container", help="Sidecar container name.", metavar="NAME"),
]
TimeoutOpt = Annotated[
    float,
    option_in(
        _LIVE,
        "--timeout",
        help="Seconds a whole request to the proxy (or the API server) may take.",
        metavar="SECONDS",
        min=0.1,
        max=MAX_SECONDS,
    ),
]


def _size(text: str) -> int:
    """``--max-body`` SIZE -> bytes (a usage error otherwise)."""
    from pdebug.sources.httpget import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


MaxBodyOpt = Annotated[
    int | None,
    option_in(
        _LIVE,
        "--max-body",
        help="The largest answer to accept from a live proxy (default 1GiB, or "
        "$PDEBUG_MAX_BODY), e.g. 2GiB, 500M.",
        metavar="SIZE",
        parser=_size,
        show_default=False,
    ),
]

OutputOpt = Annotated[
    str,
    typer.Option(
        "--output",
        "-o",
        help="table (also: short), wide, json, yaml or markdown.",
        metavar="FORMAT",
        autocompletion=complete_format,
    ),
]
KeysOpt = Annotated[
    str | None,
    typer.Option(
        "--keys",
        help="Key spelling of json/yaml: dump (as the dump spells them; Envoy writes "
        "snake_case) or camel (protobuf JSON's lowerCamelCase, as istioctl -o json|yaml "
        "prints them: statsConfig, edsClusterConfig; map keys and Struct contents kept), "
        "and YAML keys sorted as istioctl's YAML sorts them (JSON keeps the dump's order). "
        "Values stay Envoy's (istioctl re-encodes them, drops defaults set explicitly; its "
        "pc all -o json prints the dump as fetched, snake_case from Envoy). "
        "Default: $PDEBUG_KEYS, else dump.",
        metavar="SPELLING",
        show_default=False,
    ),
]
ClustersJsonOpt = Annotated[
    str | None,
    typer.Option(
        "--clusters-json",
        help="A saved GET /clusters?format=json (or text /clusters) of the same proxy, for "
        "live endpoint health.",
        metavar="FILE",
    ),
]
PortOpt = Annotated[
    int | None, typer.Option("--port", help="Only this port.", metavar="PORT", min=0, max=65535)
]
NoRedactOpt = Annotated[
    bool,
    typer.Option("--no-redact", help="Keep tokens and header values (private keys stay hidden)."),
]
AllStatsOpt = Annotated[
    bool,
    typer.Option(
        "--all-stats",
        help="Save every stat; by default only those written since the proxy started "
        "(/stats?usedonly: a stat not saved is zero).",
    ),
]

_ISTIOD = "istiod"  # the help panel of the options that find and reach istiod
IstioNamespaceOpt = Annotated[
    str | None,
    option_in(
        _ISTIOD,
        "--istio-namespace",
        "-i",
        help="Where istiod runs (default istio-system).",
        metavar="NS",
        show_default=False,
    ),
]
RevisionOpt = Annotated[
    str | None,
    option_in(
        _ISTIOD,
        "--revision",
        "-r",
        help="The control plane revision (istiod pods labelled istio.io/rev=REV).",
        metavar="REV",
    ),
]
IstiodOpt = Annotated[
    str | None,
    option_in(
        _ISTIOD,
        "--istiod",
        help="Ask istiod at this URL (e.g. http://127.0.0.1:15014 after your own "
        "port-forward) instead of finding its pods.",
        metavar="URL",
    ),
]
ProxyIdOpt = Annotated[
    str | None,
    option_in(
        _ISTIOD,
        "--proxy-id",
        help="The proxy's ID for istiod (default: the pod's POD.NS, or the dump's node ID).",
        metavar="POD.NS",
    ),
]


def istiod_options(before: str | None = None) -> Callable[[F], F]:
    """Add ``-i``, ``-r`` and ``--istiod``; the command gets them as one ``control``.

    ``control`` is an :class:`~pdebug.sources.base.IstiodChoice` (which istiod to ask);
    the options come before the command's parameter ``before``, or after its own.
    """
    group: list[GroupOption] = [
        ("istio_namespace", IstioNamespaceOpt, None),
        ("revision", RevisionOpt, None),
        ("istiod", IstiodOpt, None),
    ]
    return option_group(group, "control", _istiod_choice, before)


def _istiod_choice(
    istio_namespace: str | None, revision: str | None, istiod: str | None
) -> IstiodChoice:
    return IstiodChoice(istio_namespace, revision, istiod)


def output_file_option(help: str) -> Any:  # noqa: A002
    """``-o/--output FILE``: where a command that writes a file writes it."""
    return typer.Option("--output", "-o", metavar="FILE", help=help)


FailOnOpt = Annotated[
    str,
    typer.Option(
        "--fail-on",
        help="Exit 1 when a finding is at or above: error, warning, info or never.",
        metavar="LEVEL",
    ),
]
IgnoreOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--ignore", help="Do not run this check (repeatable, or CODE,CODE).", metavar="CODE"
    ),
]
CertDaysOpt = Annotated[
    float,
    typer.Option(
        "--cert-days",
        help="Warn about certificates expiring within N days.",
        min=0,
        max=36500,  # a century; past it the dates overflow (inf was exit 5)
        metavar="N",
    ),
]


def live_options(
    *,
    namespace: bool = True,
    pod: bool = True,
    timeout: float = 30.0,
    max_body: bool = False,
) -> Callable[[F], F]:
    """Add the live options to a command; it gets them as one ``live: LiveOptions``.

    Args:
        namespace: Add ``-n/--namespace`` (commands whose ``-n`` selects, not reaches,
            declare their own and pass False).
        pod: Add ``--admin-port`` and ``--container`` (how to reach a sidecar in a pod).
        timeout: The default of ``--timeout``.
        max_body: Add ``--max-body`` (``pdebug dump``).

    The options come after the command's own, in the order of the help's "Live proxy"
    panel: ``-n``, ``--context``, ``--kubeconfig``, ``--admin-port``, ``--container``,
    ``--timeout``, ``--max-body``.
    """
    group = _live_group(namespace=namespace, pod=pod, timeout=timeout, max_body=max_body)
    return option_group(group, "live", LiveOptions)


def _live_group(
    *, namespace: bool = True, pod: bool = True, timeout: float = 30.0, max_body: bool = False
) -> list[GroupOption]:
    """The live options, in the order of the help's "Live proxy" panel."""
    group: list[GroupOption] = []
    if namespace:
        group.append(("namespace", NamespaceOpt, None))
    group += [("context", ContextOpt, None), ("kubeconfig", KubeconfigOpt, None)]
    if pod:
        group += [("admin_port", AdminPortOpt, 15000), ("container", ContainerOpt, "istio-proxy")]
    group.append(("timeout", TimeoutOpt, timeout))
    if max_body:
        group.append(("max_body", MaxBodyOpt, None))
    return group


def _proxy_options(
    source: str | None, admin: str | None, bundle: str | None = None, **live: Any
) -> ProxyOptions:
    return ProxyOptions(source, admin, bundle, LiveOptions(**live))


def proxy_options(*, bundle: bool = True) -> Callable[[F], F]:
    """Add SOURCE, ``--admin``, ``--bundle`` and the live options to a command.

    The command reads one proxy; it gets them as one ``proxy: ProxyOptions``
    (``proxy.words``, ``proxy.live``). ``bundle=False`` leaves ``--bundle`` out.

    ``--admin`` and ``--bundle`` come after the command's own options, then the "Live
    proxy" panel as :func:`live_options` adds it.
    """
    group: list[GroupOption] = [("source", SourceArg, None), ("admin", AdminOpt, None)]
    if bundle:
        group.append(("bundle", BundleOpt, None))
    group += _live_group()
    return option_group(group, "proxy", _proxy_options)


#: One option of a group: (parameter name, its ``Annotated`` Typer type, its default).
GroupOption = tuple[str, Any, Any]


#: ``option_group(..., before=FIRST)``: the group's options come before the command's own.
FIRST = "*"


def option_group(
    group: list[GroupOption], into: str, build: Callable[..., Any], before: str | None = None
) -> Callable[[F], F]:
    """Add ``group``'s options after a command's own; it gets ``build(**them)`` as ``into``.

    The command declares ``into`` (keyword-only) instead of the options. Typer sees the
    options in the command's signature, in ``group``'s order: after the command's own, or
    just before its parameter ``before`` (:data:`FIRST`: before all of them).
    """

    def decorate(func: F) -> F:
        return _GroupedCommand(func, tuple(group), into, build, before)  # type: ignore[return-value]

    return decorate


class _GroupedCommand:
    """A command with an option group added; called with the group, it passes one value.

    Typer reads the signature only when it builds the command that runs (``main`` builds
    just that one), so the signature is made then, not at import: evaluating a command's
    annotations costs about a millisecond, and there are some thirty commands.
    """

    def __init__(
        self,
        func: Callable[..., Any],
        group: tuple[GroupOption, ...],
        into: str,
        build: Callable[..., Any],
        before: str | None = None,
    ) -> None:
        functools.update_wrapper(self, func)
        self._func = func
        self._group = group
        self._into = into
        self._build = build
        self._before = before

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name, _, _ in self._group}
        kwargs[self._into] = self._build(**values)
        return self._func(*args, **kwargs)

    @functools.cached_property
    def __signature__(self) -> inspect.Signature:
        """The command's own parameters (without ``into``), the group's options among them."""
        signature = inspect.signature(self._func, eval_str=True)
        own = [p for p in signature.parameters.values() if p.name != self._into]
        names = [p.name for p in own]
        at = (
            0
            if self._before == FIRST
            else next((i for i, name in enumerate(names) if name == self._before), len(own))
        )
        kind = own[at].kind if at < len(own) else inspect.Parameter.KEYWORD_ONLY
        added = [
            inspect.Parameter(name, kind, annotation=ann, default=value)
            for name, ann, value in self._group
        ]
        return signature.replace(parameters=own[:at] + added + own[at:])


def word_of(
    text: str, what: str = "SOURCE", bundle: str | None = None, live: LiveOptions | None = None
) -> SourceSpec:
    """One SOURCE word parsed (``OTHER``, ``--expected``...); with ``--bundle B``, B's proxy."""
    from pdebug.sources.spec import in_bundle, word_spec

    if bundle is not None:
        return in_bundle(bundle, text, live.namespace if live else None)
    return word_spec(text, what)


def words_of(texts: list[str] | None) -> tuple[SourceSpec, ...]:
    """Several SOURCE words (``pdebug assert FILE SOURCE...``), each parsed once."""
    return tuple(word_of(text) for text in texts or ())
