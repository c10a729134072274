"""smartbuild.transports."""
