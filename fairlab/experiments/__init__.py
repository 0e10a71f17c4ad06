"""Experiments: the papers' protocols composed from the methods, stored in the results registry.

Each function builds a plain-data configuration, asks the registry for the record and
computes it only when it is missing.  Notebooks call these functions and the report helpers.
"""
