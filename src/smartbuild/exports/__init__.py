"""Exports of the site inventory: the points schedule as CSV, Brick TTL and Project Haystack JSON.

Pure functions on the loaded site and the templates: no device is contacted, nothing is written
but the text they return. rdflib (for Brick) is an optional extra, imported when used.
"""
