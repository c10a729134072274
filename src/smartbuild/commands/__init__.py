"""smartbuild.commands."""
