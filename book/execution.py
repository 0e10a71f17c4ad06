# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # How this build ran
#
# Each notebook of the book was executed by papermill before the book was rendered (Jupyter
# Book itself never executes anything). The table shows, per notebook, how long it took, its
# status, the profile and the machine; below it, the versions of the key packages.

# %% tags=["parameters", "remove-cell"]
profile = "mini"
overrides = {}

# %% tags=["hide-input"]
from fairlab import book, notebook

prof = notebook.start(profile, overrides)

# %%
book.execution_frame(prof.name)

# %%
book.package_frame(prof.name)
