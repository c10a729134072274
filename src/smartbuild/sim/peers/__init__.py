"""smartbuild.sim.peers."""
