"""The test bed: two real Kubernetes API servers on this machine (see tests/testbed/README.md)."""
