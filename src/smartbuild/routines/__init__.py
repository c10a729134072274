"""Routines: when (triggers), whether (conditions) and what (steps), as YAML; pure, no I/O."""
