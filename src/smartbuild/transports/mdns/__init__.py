"""smartbuild.transports.mdns."""
