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
# # Fair text-to-image fine-tuning: the distributional alignment loss and adjusted DFT
#
# Shen et al. {cite}`shen2024finetuning` debias a text-to-image model itself. For a prompt such as
# "a photo of the face of a {occupation}, a person", a batch of N images is generated and
#
# 1. a **training classifier** reads each face's gender, race and age; **optimal transport** of those
#    predictions to N labels drawn from a user-chosen distribution (a balanced gender, four equally likely
#    race classes, 25 % old) gives each image a target, kept only where the transport is confident (≥ 0.8);
# 2. the **distributional alignment loss** is the cross-entropy of the classifier's logits against those
#    targets, averaged over all N images, plus semantic-preservation terms that hold each image close to the
#    original model's image from the same noise (CLIP and DINO, their pixel gradient attenuated inside the face
#    where the target changes it, and a face embedding);
# 3. the loss is back-propagated through the sampler — **direct fine-tuning** — with the **adjusted gradient**:
#    each step's U-Net input is detached, so only the direct paths remain, and each step's gradient is scaled
#    by a coefficient — which, the paper finds, stabilises training where the exact gradient explodes.
#
# What trains is a LoRA on the text encoder (the paper's main runs), a LoRA on the U-Net, or five soft prefix
# tokens. The evaluation reads the debiased model's images with a **separate** classifier and reports, per test
# prompt, the bias $\frac{1}{\binom K2}\sum_{i<j}|f_i-f_j|$ of the K class frequencies (K = 2 gender, 4 race,
# 8 gender × race), and Freq(old) for age, as the mean ± standard deviation over test prompts.
#
# **In `mini`** the biased model is the AIM-Fair chapter's miniature Stable Diffusion fine-tuned on an
# *occupation world*: sixty one-word occupations whose gender, race and age skews and signature cues
# (hat, eyeglasses, hair colour) were drawn from stated distributions before anything was trained, rendered by
# FaceWorld (see {doc}`00_data`). The training classifier is learned here on balanced renders; the evaluation
# classifier is FaceWorld's oracle network; the CLIP, DINO and face networks are FaceWorld-pretrained stand-ins.
# The `paper` profile runs the same code on Stable Diffusion v1.5.

# %% tags=["parameters", "remove-cell"]
profile: str = "mini"  # smoke, mini or paper, or the path of a profile file
overrides: dict = {}  # profile keys to change, e.g. {"dal.runs.iterations": 40}

# %% tags=["hide-input"]
from IPython.display import display

from fairlab import figures, notebook
from fairlab.pages import dal as page
from fairlab.reports import check_claims, publish, record_figure

study = notebook.start(profile, overrides)  # the profile and the registry of its records
prof = study.profile

# %%
page.scale_table(prof)

# %% [markdown]
# ## The biased model
#
# In `mini`, the occupation world's design: each occupation's share of men, of the WMELH race class and of old
# faces, and its cues, beside what the fine-tuned miniature model draws for it as the evaluation classifier reads
# its images (all sixty occupations; the test occupations were seen in this fine-tune, as Stable Diffusion saw
# every occupation in pre-training, but never in debiasing). The column "old read in its renders" is the evaluation
# classifier on the very renders the model was fine-tuned on: what the measurement makes of the design itself.

# %%
if page.miniature(prof):  # Stable Diffusion has no design to compare with
    design = page.learned_vs_designed(study)
    notebook.say(page.learned_sentence(design))
    notebook.say(page.age_sentence(study))
    display(design.round(2))

# %% [markdown]
# ## The classifiers and the floor
#
# In `mini`: FaceWorld shows race only through skin tone. In the occupation world each race class has a tone of its
# own; still, the evaluation classifier misreads some faces, so even a perfectly fair generator measures as
# slightly biased. The floor below is that bias: held-out balanced renders, read by the evaluation classifier and
# cut into test-prompt-sized groups. The training classifier (whose gradient drives the loss) and the evaluation
# classifier share no weights or training images; their agreement says how far one may stand in for the other.

# %%
if page.miniature(prof):  # with Stable Diffusion, the paper's classifiers are read from dal.perception_dir
    display(page.classifiers(study))
    display(page.floor(study))

# %% [markdown]
# ## Figure 1: the exact and the adjusted gradient
#
# The paper's toy direct fine-tuning problem, "minimising average CLIP & DINO similarity", trained under the
# three gradients (here: the mean similarity between the images of a batch under the two stand-in encoders),
# and the scale of the gradient that reaches each sampler step's noise prediction. The paper's right panel
# plots the gradient with respect to the parameters through each step, $|R\,A_t B_t\,\partial\epsilon/\partial\theta|$;
# the right panel here stops before the U-Net's Jacobian: $|A_t B_t R|$ (exact), $|A_t R|$ (no coefficient),
# $|\mathrm{coef}_t A_t R|$ (adjusted).

# %%
losses, scales = page.figure1_frames(study)
figures.gradient_panels(losses, scales, title="Figure 1: three gradients on the toy objective")
record_figure("dal_dft", "Figure 1", prof, page.figure1_note(prof))

# %%
publish(check_claims("dal_dft", "Figure 1", prof, page.figure1_claims(losses)))

# %% [markdown]
# ## Table 1: debiasing gender, race and both
#
# Each run fine-tunes a text-encoder LoRA on the training occupations toward its target and is evaluated on the
# unseen test occupations; the paper's four other methods are shown as printed (they are not rerun here).

# %%
table1 = publish(page.table1(study))
table1

# %% [markdown]
# Semantic preservation. The paper measures it with CLIP-T (image–prompt similarity) and with CLIP-I and DINO
# (similarity to the original model's image from the same noise). Here the cue fidelity (how often the
# occupation's signature cues are still seen) stands in for CLIP-T, the FaceWorld-pretrained ResNet-18 and
# DenseNet-121 for CLIP-I and DINO, and a held-out ResNet-50 the loss never read checks that a run did not
# merely satisfy its own regularisers. The stand-ins' scales differ from CLIP's and DINO's: compare the changes,
# not the values.

# %%
page.preservation_table(study)

# %% [markdown]
# ## Table 5: aligning age while debiasing gender and race

# %%
table5 = publish(page.table5(study))
table5

# %% [markdown]
# ## Figure 4: Freq(old) per test occupation

# %%
figures.frequency_bars(page.figure4_frame(study), page.AGE_TARGET, "Freq(age = old)",
                       title="Figure 4: Freq(old) per test occupation, original vs debiased G×R & aligned age")
record_figure("dal_dft", "Figure 4", prof)

# %% [markdown]
# ## Figure 3: the same noise before and after
#
# The original model and the gender × race run on three test occupations; in each pair of rows, images in one
# column start from the same noise. Under each image, the evaluation classifier's gender (height: its confidence)
# and most likely race class.

# %%
rows, gender, race = page.figure3_rows(study)
figures.attribute_grid(rows, gender, race, page.RACES, title="Figure 3: original vs debiased for gender × race")
record_figure("dal_dft", "Figure 3", prof)

# %% [markdown]
# ## What trains: a text-encoder LoRA, a U-Net LoRA or a soft prefix
#
# The paper's main runs train a LoRA on the text encoder; it also trains the U-Net, or only five soft prefix
# tokens prepended to every prompt. Each of the three, trained toward a balanced gender:

# %%
page.trained_table(study)

# %% [markdown]
# ## The claims, checked

# %%
publish(check_claims("dal_dft", "Table 1", prof, page.table1_claims(study)))

# %%
publish(check_claims("dal_dft", "Table 5", prof, page.table5_claims(study)))
