"""smartbuild.transports.ble."""
