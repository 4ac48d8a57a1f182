"""Kubernetes: a sidecar in a pod, read through the API server's port-forward.

One module per job, each importing only those above it:

* :mod:`~pdebug.sources.kube.config`: which cluster (kubeconfig, context, service account);
* :mod:`~pdebug.sources.kube.pod`: :class:`Pod`, the typed view of a pod object;
* :mod:`~pdebug.sources.kube.target`: ``[KIND/]NAME[.NS]`` parsed, a workload's pods;
* :mod:`~pdebug.sources.kube.api`: :class:`KubeCluster`, the read-only API session;
* :mod:`~pdebug.sources.kube.forward`: :class:`PodForward`, GETs over a port-forward;
* :mod:`~pdebug.sources.kube.source`: :class:`KubeSource`, the SOURCE ``pod/x``,
  ``x.ns``, ``deploy/x``...

The ``kubernetes`` package is imported lazily, inside methods, so that reading a file never
pays for it: importing any part of it runs ``kubernetes/__init__``, which imports
``config``, ``stream``, ``watch``, ``dynamic``... (about 0.25 s), paid by every command that
talks to a cluster. pdebug only reads the cluster: ``get``/``list`` on pods and workloads
and ``create`` on ``pods/portforward``. Every :class:`KubeCluster`, :class:`PodForward` and
:class:`KubeSource` is a context manager that closes what it opened.
"""

from __future__ import annotations

from pdebug.sources.kube.api import KubeCluster
from pdebug.sources.kube.config import SERVICE_ACCOUNT_DIR
from pdebug.sources.kube.forward import PodForward
from pdebug.sources.kube.pod import Pod, name_of, pod_state, running_and_ready, sidecar_problem
from pdebug.sources.kube.source import KubeSource
from pdebug.sources.kube.target import KubeTarget, owned_pods, parse_target, selector_text

__all__ = [
    "SERVICE_ACCOUNT_DIR",
    "KubeCluster",
    "KubeSource",
    "KubeTarget",
    "Pod",
    "PodForward",
    "name_of",
    "owned_pods",
    "parse_target",
    "pod_state",
    "running_and_ready",
    "selector_text",
    "sidecar_problem",
]
