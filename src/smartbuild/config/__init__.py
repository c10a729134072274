"""smartbuild.config."""
