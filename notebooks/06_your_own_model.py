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
# # Using the methods on your own model
#
# Two of the methods this book reproduces act on a model you already have, and each is one
# function that takes plain PyTorch objects (`pip install fairlab` installs them without the
# book):
#
# * `fairlab.selective_mask(model, real, biased_synthetic, balanced_synthetic, k)` — AIM-Fair's
#   selective mask generation: which parameter tensors of your biased classifier to fine-tune on
#   balanced synthetic data. `real`, `biased_synthetic` and `balanced_synthetic` are iterables of
#   `(images, targets)` batches (a `DataLoader` each). It returns a mask; `mask.apply(model)`
#   freezes every other tensor, and you fine-tune on the balanced synthetic data with your own
#   loop and an optimiser over the parameters that still require gradients.
# * `fairlab.neutralized_head(linear, features, labels, groups, rank, alpha, privileged)` —
#   weight importance neutralization: your model's last layer (`nn.Linear`), its inputs on the new
#   task's training data, the labels and a two-valued sensitive attribute give a two-layer
#   `nn.Sequential` to fine-tune in the layer's place, the rest of the network frozen.
#
# Below, each is called on what the chapters used — chapter 02's pre-trained classifier with its
# R, S1 and S2, and chapter 04's pre-trained Adult network — and checked against what the chapter
# computed.

# %% tags=["parameters", "remove-cell"]
profile: str = "mini"  # smoke, mini or paper, or the path of a profile file
overrides: dict = {}  # profile keys to change

# %% tags=["hide-input"]
from fairlab import neutralized_head, notebook, selective_mask
from fairlab.pages import your_own_model as page

study = notebook.start(profile, overrides)  # the profile and the registry of its records
prof = study.profile

# %% [markdown]
# ## Selective mask generation
#
# Your biased classifier (here chapter 02's Baseline: ResNet-18 with one logit, trained on the
# biased real subset), and three sets of training batches: the real data R, synthetic data S1
# with the real data's bias (1 : 9, or as estimated: `aimfair.s1_ratio`) and balanced synthetic
# data S2.

# %%
label, seed = page.first_setting(study)
model = page.pretrained_classifier(study, label, seed)
real, biased_synthetic, balanced_synthetic = page.smg_batches(study, label, seed)
mask = selective_mask(model, real, biased_synthetic, balanced_synthetic, k=prof.aimfair.top_k)
model = mask.apply(model)  # every tensor outside the mask is frozen: fine-tune `model` on S2 next
print(f"{label}, seed {seed}: {len(mask)} of {len(mask.names)} tensors trainable "
      f"({mask.scalar_share:.1%} of the scalars)")

# %%
agreement = page.mask_agreement(study, mask, label, seed)
agreement

# %%
notebook.say(page.mask_sentence(agreement))

# %% [markdown]
# ## Weight importance neutralization
#
# Your pre-trained network's last layer and its inputs on the new task's training data (here
# chapter 04's unfair pre-trained network on UCI Adult, sex as the sensitive attribute, male the
# privileged group). α = ½ is the paper's method; the rank is the chapter's.

# %%
layer, features, labels, sex = page.adult_last_layer(study)
head = neutralized_head(layer, features, labels, sex, rank=prof.win_adult.rank, alpha=0.5, privileged=1)
head  # fine-tune these two layers in place of `layer`, the rest of the network frozen

# %%
comparison = page.head_agreement(study, head, layer, features, labels, sex)
comparison

# %%
notebook.say(page.head_sentence(comparison))
