"""One module per notebook: what its page computes from the registry's records and shows.

Pages orchestrate the papers' experiments and present their results (tables against the reported
numbers, figures' data, claim checks); they store nothing, so they are left out of the code
version that keys the results registry.
"""
