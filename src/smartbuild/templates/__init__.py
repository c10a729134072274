"""smartbuild.templates."""
