"""Experiment scripts (run as ``python -m experiments.<name>``)."""
