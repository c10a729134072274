"""The hub: smartbuild's long-lived face — schedules, overrides, polling, routines and bridges in one loop."""
