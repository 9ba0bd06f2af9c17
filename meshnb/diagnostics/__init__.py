"""Diagnostics: one module per section of Istio's multicluster guide (a Mesh in, a Finding out)."""
