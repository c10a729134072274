"""The application core every face drives (CLI, hub, MQTT bridge, report): ``session.Session``."""
