"""smartbuild.sim."""
