"""The domain model: devices, readings, candidates, write outcomes, events and the role vocabulary.

Nothing here knows a protocol; every other layer may import it, it imports none of them.
"""
