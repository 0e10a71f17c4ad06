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
import pandas as pd

from fairlab import book, notebook

prof = notebook.start(profile, overrides)
log = book.read_execution_log(prof.name)
sections = {page.name: log[page.name] for page in book.toc_pages() if page.is_notebook and page.name in log and page.name != "execution"}

# %%
pd.DataFrame([
    {"notebook": name, "status": entry["status"], "seconds": entry["seconds"], "started (UTC)": entry["started_utc"],
     "device": entry["device"], "python": entry["python"], "git commit": (entry.get("git_commit") or "—")[:10],
     "fairlab code": entry["code_version"]}
    for name, entry in sections.items()
]).set_index("notebook")

# %%
versions = pd.DataFrame({name: entry["packages"] for name, entry in sections.items()})
versions.index.name = "package"
versions
