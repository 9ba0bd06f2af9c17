"""ipywidgets panels: controls -> a diagnostic -> rendered result (no Kubernetes calls here)."""
