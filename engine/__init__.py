"""ClawOps engine: the headless control plane."""
