"""smartbuild.profiles."""
