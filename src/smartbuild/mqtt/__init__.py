"""The MQTT bridge (a face of the hub: states, commands, Home Assistant discovery) and the fleet.

``MqttBridge(settings=None)`` is the face ``hub run`` starts; ``None`` reads the site's ``mqtt:``
block. aiomqtt is an optional extra: ``pip install 'smartbuild[mqtt]'``.
"""
