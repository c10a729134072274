"""Home Assistant's documented MQTT discovery keys, transcribed from its MQTT integration docs.

Sources: home-assistant.io `integrations/mqtt` (device discovery: `dev`, `o`, `cmps`; the device
and origin abbreviations; topic `<prefix>/device/<object_id>/config` with ids of
[a-zA-Z0-9_-]) and the per-platform pages `sensor.mqtt`, `binary_sensor.mqtt`, `number.mqtt`,
`switch.mqtt`, `select.mqtt` (configuration variables and device classes).
"""

from __future__ import annotations

ID = r"^[a-zA-Z0-9_-]+$"
TOPIC = r"^(?P<prefix>[a-zA-Z0-9_-]+)/device/(?P<object_id>[a-zA-Z0-9_-]+)/config$"

DEVICE = {"cns", "connections", "cu", "configuration_url", "hw", "hw_version", "ids",
          "identifiers", "mf", "manufacturer", "mdl", "model", "mdl_id", "model_id", "name",
          "sa", "suggested_area", "sn", "serial_number", "sw", "sw_version", "via_device"}  # fmt: skip
ORIGIN = {"name", "sw", "sw_version", "url", "support_url"}
# keys of the device-based payload outside dev/o/cmps (shared options and QoS, encoding)
TOP = {"dev", "device", "o", "origin", "cmps", "components", "availability", "availability_mode",
       "availability_template", "availability_topic", "payload_available",
       "payload_not_available", "state_topic", "command_topic", "qos", "encoding"}  # fmt: skip
AVAILABILITY = {"topic", "payload_available", "payload_not_available", "value_template"}

COMMON = {"p", "platform", "name", "unique_id", "object_id", "availability", "availability_mode",
          "availability_topic", "availability_template", "payload_available",
          "payload_not_available", "enabled_by_default", "entity_category", "entity_picture",
          "icon", "json_attributes_topic", "json_attributes_template", "qos", "encoding"}  # fmt: skip
PLATFORMS: dict[str, set[str]] = {
    "sensor": {"state_topic", "value_template", "device_class", "unit_of_measurement",
               "state_class", "expire_after", "force_update", "last_reset_value_template",
               "options", "suggested_display_precision"},
    "binary_sensor": {"state_topic", "value_template", "device_class", "payload_on",
                      "payload_off", "expire_after", "force_update", "off_delay"},
    "number": {"state_topic", "value_template", "command_topic", "command_template",
               "device_class", "unit_of_measurement", "min", "max", "step", "mode",
               "optimistic", "payload_reset", "retain"},
    "switch": {"state_topic", "value_template", "command_topic", "command_template",
               "device_class", "payload_on", "payload_off", "state_on", "state_off",
               "optimistic", "retain"},
    "select": {"state_topic", "value_template", "command_topic", "command_template",
               "options", "optimistic", "retain"},
}  # fmt: skip
REQUIRED: dict[str, set[str]] = {
    "sensor": {"state_topic"},
    "binary_sensor": {"state_topic"},
    "number": {"command_topic"},
    "switch": {"command_topic"},
    "select": {"command_topic", "options"},
}
SENSOR_CLASSES = {"apparent_power", "aqi", "atmospheric_pressure", "battery", "carbon_dioxide",
                  "carbon_monoxide", "current", "data_rate", "data_size", "date", "distance",
                  "duration", "energy", "energy_storage", "enum", "frequency", "gas", "humidity",
                  "illuminance", "irradiance", "moisture", "monetary", "nitrogen_dioxide",
                  "nitrogen_monoxide", "nitrous_oxide", "ozone", "ph", "pm1", "pm10", "pm25",
                  "power_factor", "power", "precipitation", "precipitation_intensity", "pressure",
                  "reactive_power", "signal_strength", "sound_pressure", "speed",
                  "sulphur_dioxide", "temperature", "timestamp", "volatile_organic_compounds",
                  "voltage", "volume", "volume_flow_rate", "volume_storage", "water", "weight",
                  "wind_speed"}  # fmt: skip
NUMBER_CLASSES = SENSOR_CLASSES - {"date", "enum", "timestamp"}
BINARY_CLASSES = {"battery", "battery_charging", "carbon_monoxide", "cold", "connectivity", "door",
                  "garage_door", "gas", "heat", "light", "lock", "moisture", "motion", "moving",
                  "occupancy", "opening", "plug", "power", "presence", "problem", "running",
                  "safety", "smoke", "sound", "tamper", "update", "vibration", "window"}  # fmt: skip
STATE_CLASSES = {"measurement", "total", "total_increasing"}
NUMBER_MODES = {"auto", "box", "slider"}
