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
# # Reproducibility status
#
# Every table and figure of the three papers, the notebook that reproduces it, and what this
# build found. "*k* / *n* cells within tolerance" counts the printed numbers our value lies within
# the column's tolerance of (rows a paper copied from other work, or that contradict themselves,
# are shown in their tables but not counted); "*k* / *n* claims hold" counts the paper's
# statements about a table or figure that our numbers support. An item is **reproduced** when
# every compared cell lies within its tolerance and every checked claim holds, **compared** when
# numbers were compared but not all are within, **drawn** when only its figure was made. Items
# whose chapter is not yet in the book say so. The links lead to each item on its page and to
# its files: every table as CSV (row, metric, paper, ours, difference, within_tolerance), every
# figure as PNG and SVG.

# %% tags=["parameters", "remove-cell"]
profile: str = "mini"  # smoke, mini or paper, or the path of a profile file
overrides: dict = {}  # profile keys to change, e.g. {"win_adult.n_runs": 3}

# %% tags=["hide-input"]
from fairlab import notebook, reports

study = notebook.start(profile, overrides)  # the profile and the registry of its records
prof = study.profile

# %%
status = reports.status_table(prof.name)
status.style.hide(axis="index").set_caption(f"Status of every table and figure ({prof.name} profile)")

# %%
counts = status.groupby(["paper", "status"]).size().unstack(fill_value=0)
counts

# %% [markdown]
# ## Every table and figure of this build, as files
#
# The paper's tables are under `tables/<paper>/`; every other table a page shows, and every
# figure, under the page's own folder.

# %%
files = reports.files_table(prof.name)
files.style.hide(axis="index").set_caption(f"{len(files)} files written by this build ({prof.name} profile)")
