# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,jupytext,-jupytext.text_representation.jupytext_version,-jupytext.text_representation.format_version
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
profile: str = "mini"  # smoke, mini or paper, or the path of a profile file
overrides: dict = {}  # profile keys to change, e.g. {"win_adult.n_runs": 3}

# %% tags=["hide-input"]
from fairlab import book, notebook

study = notebook.start(profile, overrides)  # the profile and the registry of its records
prof = study.profile

# %%
book.execution_frame(prof.name)

# %% [markdown]
# ## Where the results were computed
#
# Every stored result records the device its networks ran on and its compute time. Per notebook
# and device (a record's seconds include any record it had to compute first):

# %%
book.compute_summary(prof.name)

# %% [markdown]
# Every record, with the notebook that computed it:

# %% tags=["hide-output"]
book.records_frame(prof.name)

# %% [markdown]
# ## How fast the engine's paths are
#
# `make bench` times each of fairlab's paths against its reference in the same run; a ratio above 1
# means fairlab's path is faster. On the CPU only the ratios carry over between machines.

# %%
book.benchmark_frame()

# %% [markdown]
# ## Package versions

# %%
book.package_frame(prof.name)
