"""smartbuild.transports.modbus."""
