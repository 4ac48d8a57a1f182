"""pdebug: read Envoy config dumps and explain what an Istio sidecar is doing."""

__version__ = "0.1.0"
