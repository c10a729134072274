"""smartbuild.sim.building."""
