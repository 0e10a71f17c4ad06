"""Studies: what each notebook computes from the registry's runs and shows (tables, figures' data, claim checks).

Studies orchestrate experiments and present their results; they store nothing, so they are
left out of the code version that keys the results registry.
"""
